//! `POST /scoring/preview`: what a candidate configuration would do, without saving it.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use healthscore_domain::ids::ObjectType;
use healthscore_domain::scoring::{
    Band, ConfigDocument, ScoreReport, ScoringDocument, Subject, serialize_float,
    serialize_opt_float,
};
use healthscore_projections::read_models::queries::display_name;
use healthscore_projections::scoring::index::PortalObjects;
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::Portal;
use super::body::JsonBytes;
use super::config::ConfigInput;
use super::problem::{ApiError, Problem};
use super::scores::config_for;

/// How many of the biggest movers a preview lists.
const BIGGEST_MOVES: usize = 20;

/// A customer's band, or `insufficient_data` when it has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Scored healthy.
    Healthy,
    /// Scored at risk.
    AtRisk,
    /// Scored critical.
    Critical,
    /// Too little known to score.
    InsufficientData,
}

impl Outcome {
    fn of(report: &ScoreReport) -> Self {
        match report.band {
            Some(Band::Healthy) => Self::Healthy,
            Some(Band::AtRisk) => Self::AtRisk,
            Some(Band::Critical) => Self::Critical,
            None => Self::InsufficientData,
        }
    }
}

/// One customer whose score the candidate moves.
#[derive(Debug, Serialize, ToSchema)]
pub struct Move {
    /// The contact's HubSpot id.
    #[schema(example = "101")]
    customer_id: String,
    /// Its name (first and last, else email).
    name: Option<String>,
    /// Its score with the current configuration.
    #[serde(serialize_with = "serialize_float")]
    #[schema(value_type = f64, example = 72.5)]
    score_now: Decimal,
    /// Its score with the candidate.
    #[serde(serialize_with = "serialize_float")]
    #[schema(value_type = f64, example = 58.0)]
    score_candidate: Decimal,
    /// `score_candidate - score_now`.
    #[serde(serialize_with = "serialize_float")]
    #[schema(value_type = f64, example = -14.5)]
    delta: Decimal,
}

/// Outcome counts of one scorecard: how many subjects it scores now and with the candidate.
#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentPreview {
    /// `contact` or `company`.
    subject: Subject,
    /// The scorecard's name.
    scorecard: String,
    /// Subjects per outcome it scores now (none when the current configuration lacks it).
    bands_now: BTreeMap<Outcome, usize>,
    /// Subjects per outcome it scores with the candidate.
    bands_candidate: BTreeMap<Outcome, usize>,
    /// For the subjects it scores with the candidate: from each outcome now to each with it.
    transitions: BTreeMap<Outcome, BTreeMap<Outcome, usize>>,
}

/// A subject whose scorecard the candidate changes.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScorecardChange {
    /// `contact` or `company`.
    subject: Subject,
    /// Its HubSpot id.
    #[schema(example = "5001")]
    id: String,
    /// Its name.
    name: Option<String>,
    /// The scorecard scoring it now; null when it is not scored now.
    from: Option<String>,
    /// The scorecard scoring it with the candidate; null when it would not be scored.
    to: Option<String>,
}

/// How many subjects change scorecard, and the first of them.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ScorecardChanges {
    /// Subjects whose scorecard differs.
    count: usize,
    /// The first 50 of them, customers first, by id.
    subjects: Vec<ScorecardChange>,
}

/// What the candidate would change.
#[derive(Debug, Serialize, ToSchema)]
pub struct Preview {
    /// The time both configurations scored at (now).
    #[serde(serialize_with = "healthscore_domain::time::serialize")]
    #[schema(value_type = String, format = DateTime)]
    as_of: DateTime<Utc>,
    /// The version the candidate is compared with.
    current_version: u32,
    /// Customers scored.
    customers: usize,
    /// Customers per outcome with the current configuration.
    bands_now: BTreeMap<Outcome, usize>,
    /// Customers per outcome with the candidate.
    bands_candidate: BTreeMap<Outcome, usize>,
    /// From each outcome now to each with the candidate: how many customers.
    transitions: BTreeMap<Outcome, BTreeMap<Outcome, usize>>,
    /// The customers whose scores move most, biggest first (at most 20).
    biggest_moves: Vec<Move>,
    /// The mean change over the customers scored both ways, two decimals; null when none.
    #[serde(serialize_with = "serialize_opt_float")]
    #[schema(value_type = Option<f64>)]
    mean_delta: Option<Decimal>,
    /// Accounts scored both ways (0 unless both configurations have a company scorecard).
    accounts: usize,
    /// Per scorecard of either configuration: outcome counts and transitions.
    segments: Vec<SegmentPreview>,
    /// The subjects the candidate moves to another scorecard (or in or out of being scored).
    scorecard_changes: ScorecardChanges,
}

/// Subjects listed in `scorecard_changes`.
const LISTED_CHANGES: usize = 50;

pub(crate) fn name_of(objects: &PortalObjects, id: u64) -> Option<String> {
    subject_name(objects, Subject::Contact, id)
}

/// A subject's display name now.
pub(crate) fn subject_name(objects: &PortalObjects, subject: Subject, id: u64) -> Option<String> {
    let kind = subject.object_type();
    let state = objects.get(kind, id)?.current();
    let names: &[&str] = match kind {
        ObjectType::Contact => &["firstname", "lastname", "email"],
        _ => &["name"],
    };
    let properties: BTreeMap<String, String> = names
        .iter()
        .map(|name| ((*name).to_owned(), state.property(name).to_owned()))
        .collect();
    display_name(kind, &properties)
}

/// Band counts now and with a candidate configuration, the transitions between them and
/// the customers that move most. Nothing is saved.
#[utoipa::path(
    post, path = "/scoring/preview", tag = "configuration",
    request_body(content = ConfigInput, content_type = "application/json"),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "What the candidate would change", body = Preview),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The candidate is invalid: `errors` names each bad field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn preview(
    State(state): State<AppState>,
    Portal(portal): Portal,
    JsonBytes(body): JsonBytes,
) -> Result<Json<Preview>, ApiError> {
    let document = ConfigDocument::parse(&body)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    let candidate = super::config::validated(
        &state,
        portal,
        &document,
        "the candidate configuration is invalid",
    )
    .await?;
    let (version, current) = config_for(&state, portal, None).await?;
    state.scoring.catch_up().await?;
    let now = Utc::now();
    let score = |document: &ScoringDocument, subject| -> BTreeMap<u64, ScoreReport> {
        state
            .scoring
            .score_all_subjects(portal, subject, now, document)
            .into_iter()
            .map(|s| (s.id, s.report))
            .collect()
    };
    let mut per_segment: BTreeMap<(Subject, String), SegmentPreview> = BTreeMap::new();
    let mut changes = ScorecardChanges::default();
    let mut changed_ids: Vec<(Subject, u64, Option<String>, Option<String>)> = Vec::new();
    let mut customers = CustomerComparison::default();
    let mut accounts = 0;
    for subject in Subject::ALL {
        let before = score(&current, subject);
        let after = score(&candidate, subject);
        let ids: std::collections::BTreeSet<u64> =
            before.keys().chain(after.keys()).copied().collect();
        for id in ids {
            let (now_report, next_report) = (before.get(&id), after.get(&id));
            if subject == Subject::Contact && now_report.is_some() {
                customers.count += 1;
            }
            let (from, to) = (
                now_report.and_then(|r| r.scorecard.clone()),
                next_report.and_then(|r| r.scorecard.clone()),
            );
            if let (Some(report), Some(name)) = (now_report, &from) {
                let entry = segment_entry(&mut per_segment, subject, name);
                *entry.bands_now.entry(Outcome::of(report)).or_default() += 1;
            }
            if let (Some(report), Some(name)) = (next_report, &to) {
                let entry = segment_entry(&mut per_segment, subject, name);
                *entry
                    .bands_candidate
                    .entry(Outcome::of(report))
                    .or_default() += 1;
                if let Some(earlier) = now_report {
                    *entry
                        .transitions
                        .entry(Outcome::of(earlier))
                        .or_default()
                        .entry(Outcome::of(report))
                        .or_default() += 1;
                }
            }
            if from != to {
                changes.count += 1;
                if changed_ids.len() < LISTED_CHANGES {
                    changed_ids.push((subject, id, from, to));
                }
            }
            if let (Some(a), Some(b)) = (now_report, next_report) {
                match subject {
                    Subject::Contact => customers.add(id, a, b),
                    Subject::Company => accounts += 1,
                }
            }
        }
    }
    let CustomerComparison {
        count,
        bands_now,
        bands_candidate,
        transitions,
        mut movers,
    } = customers;
    movers.sort_by(|x, y| {
        (y.2 - y.1)
            .abs()
            .cmp(&(x.2 - x.1).abs())
            .then(x.0.cmp(&y.0))
    });
    let (biggest_moves, listed) = state.scoring.with_portal(portal, |objects| {
        let moves = movers
            .iter()
            .take(BIGGEST_MOVES)
            .map(|(id, now, candidate)| Move {
                customer_id: id.to_string(),
                name: name_of(objects, *id),
                score_now: *now,
                score_candidate: *candidate,
                delta: (*candidate - *now).round_dp(1),
            })
            .collect();
        let listed = changed_ids
            .into_iter()
            .map(|(subject, id, from, to)| ScorecardChange {
                subject,
                id: id.to_string(),
                name: subject_name(objects, subject, id),
                from,
                to,
            })
            .collect();
        (moves, listed)
    });
    changes.subjects = listed;
    Ok(Json(Preview {
        as_of: now,
        current_version: version,
        customers: count,
        bands_now,
        bands_candidate,
        transitions,
        biggest_moves,
        mean_delta: mean_delta(&movers),
        accounts,
        segments: per_segment.into_values().collect(),
        scorecard_changes: changes,
    }))
}

fn segment_entry<'a>(
    segments: &'a mut BTreeMap<(Subject, String), SegmentPreview>,
    subject: Subject,
    name: &str,
) -> &'a mut SegmentPreview {
    segments
        .entry((subject, name.to_owned()))
        .or_insert_with(|| SegmentPreview {
            subject,
            scorecard: name.to_owned(),
            bands_now: BTreeMap::new(),
            bands_candidate: BTreeMap::new(),
            transitions: BTreeMap::new(),
        })
}

/// The customers scored both ways: what the preview always reported (v1).
#[derive(Default)]
struct CustomerComparison {
    /// Customers scored with the current configuration.
    count: usize,
    bands_now: BTreeMap<Outcome, usize>,
    bands_candidate: BTreeMap<Outcome, usize>,
    transitions: BTreeMap<Outcome, BTreeMap<Outcome, usize>>,
    movers: Vec<(u64, Decimal, Decimal)>,
}

impl CustomerComparison {
    fn add(&mut self, id: u64, now: &ScoreReport, candidate: &ScoreReport) {
        let (from, to) = (Outcome::of(now), Outcome::of(candidate));
        *self.bands_now.entry(from).or_default() += 1;
        *self.bands_candidate.entry(to).or_default() += 1;
        *self
            .transitions
            .entry(from)
            .or_default()
            .entry(to)
            .or_default() += 1;
        if let (Some(a), Some(b)) = (now.score, candidate.score) {
            self.movers.push((id, a, b));
        }
    }
}

fn mean_delta(movers: &[(u64, Decimal, Decimal)]) -> Option<Decimal> {
    (!movers.is_empty()).then(|| {
        let total: Decimal = movers.iter().map(|(_, a, b)| *b - *a).sum();
        (total / Decimal::from(movers.len())).round_dp(2)
    })
}
