//! Scoring any subject with a configuration document (SCORING.md v2): the scorecard its state
//! selects, the median of its type, and for an account the scores of its customers.

use chrono::{DateTime, Utc};
use healthscore_domain::scoring::{
    ScoreReport, ScoreStatus, ScoringDocument, Shape, Subject, score_subject,
};
use rayon::prelude::*;
use rust_decimal::Decimal;

use super::index::PortalObjects;

/// One subject's score.
#[derive(Debug, Clone)]
pub struct SubjectScore {
    /// The contact's or company's id.
    pub id: u64,
    /// The report (it names its scorecard).
    pub report: ScoreReport,
}

/// What every subject scored at one time shares: the document and each type's median.
pub struct Scorer<'a> {
    objects: &'a PortalObjects,
    document: &'a ScoringDocument,
    at: DateTime<Utc>,
    /// Each type's median, computed the first time a subject of that type is scored: a
    /// customer's score never pays for the accounts' median.
    customer_median: std::sync::OnceLock<Option<Decimal>>,
    account_median: std::sync::OnceLock<Option<Decimal>>,
}

impl<'a> Scorer<'a> {
    /// A scorer at `at`.
    pub fn new(
        objects: &'a PortalObjects,
        document: &'a ScoringDocument,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            objects,
            document,
            at,
            customer_median: std::sync::OnceLock::new(),
            account_median: std::sync::OnceLock::new(),
        }
    }

    /// Computes the medians scoring `subject` needs (an account's customers' too) now, before
    /// a parallel loop over subjects needs them: computed once, on every core.
    pub fn warm(&self, subject: Subject) {
        if self.document.scores(Subject::Contact) {
            self.median(Subject::Contact);
        }
        if subject == Subject::Company {
            self.median(Subject::Company);
        }
    }

    /// R of `subject`'s type at the scorer's time, computed once.
    fn median(&self, subject: Subject) -> Option<Decimal> {
        let cell = match subject {
            Subject::Contact => &self.customer_median,
            Subject::Company => &self.account_median,
        };
        *cell.get_or_init(|| {
            self.objects
                .subject_median_at(subject, self.at, &self.document.population)
        })
    }

    /// The time scored at.
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// `id`'s report, or None when it is not a subject of that type then (or no scorecard
    /// scores its type). `contact_score` gives an account's customers' scores (the caller
    /// may have them already); see [`Scorer::customer_score`].
    pub fn score(
        &self,
        subject: Subject,
        id: u64,
        explain: bool,
        contact_score: &(dyn Fn(u64) -> Option<Decimal> + Sync),
    ) -> Option<ScoreReport> {
        let t = self.at.timestamp_millis();
        if !self.document.scores(subject)
            || !self
                .objects
                .is_subject_at(subject, id, t, &self.document.population)
        {
            return None;
        }
        let extended = self.document.shape == Shape::Scorecards;
        match subject {
            Subject::Contact => {
                // The facts read the scorecard's windows: select it on the state at t first.
                let contact = self
                    .objects
                    .get(healthscore_domain::ids::ObjectType::Contact, id)?;
                let scorecard = self.document.select(subject, &contact.properties_at(t))?;
                let facts = self.objects.customer_subject_facts_at(
                    id,
                    self.at,
                    &scorecard.config,
                    explain,
                )?;
                Some(score_subject(
                    &facts,
                    scorecard,
                    extended,
                    self.at,
                    self.median(Subject::Contact),
                    explain,
                ))
            }
            Subject::Company => {
                let company = self
                    .objects
                    .get(healthscore_domain::ids::ObjectType::Company, id)?;
                let scorecard = self.document.select(subject, &company.properties_at(t))?;
                let mut facts =
                    self.objects
                        .account_facts_at(id, self.at, &scorecard.config, explain)?;
                facts.member_scores = self
                    .objects
                    .account_contacts_at(id, t)
                    .into_iter()
                    .filter_map(contact_score)
                    .collect();
                Some(score_subject(
                    &facts,
                    scorecard,
                    extended,
                    self.at,
                    self.median(Subject::Company),
                    explain,
                ))
            }
        }
    }

    /// Customer `id`'s score when it is a scored customer then (what customer_health reads).
    pub fn customer_score(&self, id: u64) -> Option<Decimal> {
        let report = self.score(Subject::Contact, id, false, &|_| None)?;
        (report.status == ScoreStatus::Scored)
            .then_some(report.score)
            .flatten()
    }

    /// One subject's explained report, its customers scored on the way.
    pub fn explain(&self, subject: Subject, id: u64) -> Option<ScoreReport> {
        self.score(subject, id, true, &|contact| self.customer_score(contact))
    }

    /// Every subject of a type at this time, scored on every core.
    pub fn score_all(&self, subject: Subject, explain: bool) -> Vec<SubjectScore> {
        let t = self.at.timestamp_millis();
        let ids = self
            .objects
            .subjects_at(subject, t, &self.document.population);
        self.score_ids(subject, &ids, explain)
    }

    /// The subjects among `ids` (the others are left out), scored on every core.
    pub fn score_ids(&self, subject: Subject, ids: &[u64], explain: bool) -> Vec<SubjectScore> {
        self.warm(subject);
        let customer_score = |contact: u64| self.customer_score(contact);
        ids.par_iter()
            .filter_map(|&id| {
                let report = self.score(subject, id, explain, &customer_score)?;
                Some(SubjectScore { id, report })
            })
            .collect()
    }
}
