//! `score_customer`: every factor of one customer at `t`, combined, as a serializable report.

use super::combine::combine_weighted;
use super::config::ScoringConfig;
use super::factors::{
    Detail, FactorOutcome, activity_frequency, csm_sentiment, custom_factor, customer_health,
    deal_value, engagement_recency, lifecycle_stage,
};
use super::model::{Band, CustomerFacts, Factor, FactorStatus, Link, ScoreStatus};
use super::momentum::deal_momentum;
use super::numbers::{round, serialize_decimal, serialize_float, serialize_opt_float};
use super::scorecards::{Scorecard, Subject};
use crate::sentiment::SentimentValue;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

/// A customer's score at `t`. Numbers serialize as JSON numbers (measures as floats).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ScoreReport {
    /// `scored` or `insufficient_data`.
    pub status: ScoreStatus,
    /// 0-100, one decimal (half away from zero); null unless scored.
    #[serde(serialize_with = "serialize_opt_float")]
    #[schema(value_type = Option<f64>)]
    pub score: Option<Decimal>,
    /// Null unless scored.
    pub band: Option<Band>,
    /// Share of the weight whose factors applied, to 4 decimals.
    #[serde(serialize_with = "serialize_float")]
    #[schema(value_type = f64)]
    pub coverage: Decimal,
    /// The scorecard that scored it (`default` for a v1 configuration); left out by the bare
    /// v1 function [`score_customer`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scorecard: Option<String>,
    /// Every factor of the scorecard, weight-0 ones included: the five of v1 in specification
    /// order, then (v2) customer_health for accounts, csm_sentiment and the custom factors.
    pub factors: Vec<FactorReport>,
    /// The companies and deals counted, and since when each is linked (left out without
    /// detail, and when there are none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub associations: Vec<Link>,
}

/// One factor's part in a [`ScoreReport`].
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FactorReport {
    /// The factor's name: a built-in one's, or a custom factor's key.
    #[serde(rename = "factor")]
    #[schema(example = "engagement_recency")]
    pub key: String,
    /// Which factor ([`Factor::Custom`] for every custom one).
    #[serde(skip)]
    pub factor: Factor,
    /// Its configured weight.
    #[serde(serialize_with = "serialize_decimal")]
    #[schema(value_type = f64)]
    pub weight: Decimal,
    /// `scored` or `not_applicable`.
    pub status: FactorStatus,
    /// The value in [0, 1] rounded to 4 decimals; null when N/A.
    #[serde(serialize_with = "serialize_opt_float")]
    #[schema(value_type = Option<f64>)]
    pub value: Option<Decimal>,
    /// Points contributed to the score, to 2 decimals (computed from unrounded values); null when
    /// N/A or when the customer is not scored.
    #[serde(serialize_with = "serialize_opt_float")]
    #[schema(value_type = Option<f64>)]
    pub contribution: Option<Decimal>,
    /// The inputs behind the value: dates, days, counts, per-deal amounts and probabilities, ...
    #[schema(value_type = Option<Object>)]
    pub detail: serde_json::Value,
}

/// Scores one customer at `t`. `portal_median` is R, the median of [`deal_value_total`] over
/// the portal's customers with a positive total (see [`portal_median`]).
///
/// [`deal_value_total`]: super::deal_value_total
/// [`portal_median`]: super::portal_median
pub fn score_customer(
    facts: &CustomerFacts,
    config: &ScoringConfig,
    t: DateTime<Utc>,
    portal_median: Option<Decimal>,
) -> ScoreReport {
    report(facts, config, t, portal_median, Detail::Explain)
}

/// [`score_customer`] with every factor's `detail` left null: the same status, score, band,
/// coverage, values and contributions, for rescoring many customers where only those are kept.
pub fn score_customer_without_detail(
    facts: &CustomerFacts,
    config: &ScoringConfig,
    t: DateTime<Utc>,
    portal_median: Option<Decimal>,
) -> ScoreReport {
    report(facts, config, t, portal_median, Detail::Skip)
}

fn report(
    facts: &CustomerFacts,
    config: &ScoringConfig,
    t: DateTime<Utc>,
    portal_median: Option<Decimal>,
    detail: Detail,
) -> ScoreReport {
    let outcomes = v1_outcomes(facts, config, t, portal_median, detail)
        .into_iter()
        .map(|(factor, outcome)| Line {
            key: factor.as_str().to_owned(),
            factor,
            weight: config.weights.get(factor),
            outcome,
        })
        .collect();
    assemble(outcomes, facts, config, detail, None)
}

/// The five v1 factors' outcomes, in specification order.
fn v1_outcomes(
    facts: &CustomerFacts,
    config: &ScoringConfig,
    t: DateTime<Utc>,
    portal_median: Option<Decimal>,
    detail: Detail,
) -> [(Factor, FactorOutcome); 5] {
    [
        (
            Factor::EngagementRecency,
            engagement_recency(facts, config, t, detail),
        ),
        (
            Factor::DealMomentum,
            deal_momentum(&facts.deals, config, t, detail),
        ),
        (
            Factor::LifecycleStage,
            lifecycle_stage(facts, config, detail),
        ),
        (
            Factor::ActivityFrequency,
            activity_frequency(facts, config, t, detail),
        ),
        (Factor::DealValue, deal_value(facts, portal_median, detail)),
    ]
}

/// One factor of a report before combining.
struct Line {
    key: String,
    factor: Factor,
    weight: Decimal,
    outcome: FactorOutcome,
}

fn assemble(
    lines: Vec<Line>,
    facts: &CustomerFacts,
    config: &ScoringConfig,
    detail: Detail,
    scorecard: Option<String>,
) -> ScoreReport {
    let weighted: Vec<(Decimal, Option<Decimal>)> =
        lines.iter().map(|l| (l.weight, l.outcome.value)).collect();
    let combined = combine_weighted(&weighted, config);
    let factors = lines
        .into_iter()
        .zip(combined.contributions)
        .map(|(line, contribution)| FactorReport {
            key: line.key,
            factor: line.factor,
            weight: line.weight,
            status: match line.outcome.value {
                Some(_) => FactorStatus::Scored,
                None => FactorStatus::NotApplicable,
            },
            value: line.outcome.value.map(|v| round(v, 4)),
            contribution: contribution.map(|c| round(c, 2)),
            detail: line.outcome.detail,
        })
        .collect();
    ScoreReport {
        status: combined.status,
        score: combined.score,
        band: combined.band,
        coverage: round(combined.coverage, 4),
        scorecard,
        factors,
        associations: match detail {
            Detail::Explain => facts.links.clone(),
            Detail::Skip => Vec::new(),
        },
    }
}

/// What a v2 scorecard reads beyond a customer's v1 facts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectFacts {
    /// The v1 facts. For an account, `contact` holds the company's own properties and
    /// `companies` its contacts' (P(s)): the factors read "the subject and its related
    /// objects" either way.
    pub facts: CustomerFacts,
    /// The latest sentiment recorded at or before `t` and not cleared since, with when.
    pub sentiment: Option<(SentimentValue, DateTime<Utc>)>,
    /// For an account: the scores of its contacts that are scored customers at `t`.
    pub member_scores: Vec<Decimal>,
}

/// Scores one subject at `t` with `scorecard` (the one its state selects). `portal_median` is
/// R over the portal's subjects of the scorecard's type. `extended` lists the v2 factors
/// (csm_sentiment, and customer_health for accounts) even when unweighted: true for every
/// scorecard of a `{"scorecards": [...]}` document, false for a v1 document's.
pub fn score_subject(
    subject: &SubjectFacts,
    scorecard: &Scorecard,
    extended: bool,
    t: DateTime<Utc>,
    portal_median: Option<Decimal>,
    explain: bool,
) -> ScoreReport {
    let detail = if explain {
        Detail::Explain
    } else {
        Detail::Skip
    };
    let config = &scorecard.config;
    let facts = &subject.facts;
    let mut lines: Vec<Line> = v1_outcomes(facts, config, t, portal_median, detail)
        .into_iter()
        .map(|(factor, outcome)| Line {
            key: factor.as_str().to_owned(),
            factor,
            weight: config.weights.get(factor),
            outcome,
        })
        .collect();
    let mut add = |factor: Factor, outcome: FactorOutcome| {
        lines.push(Line {
            key: factor.as_str().to_owned(),
            factor,
            weight: config.weights.get(factor),
            outcome,
        });
    };
    if scorecard.subject == Subject::Company
        && (extended || !config.weights.customer_health.is_zero())
    {
        add(
            Factor::CustomerHealth,
            customer_health(&subject.member_scores, detail),
        );
    }
    if extended || !config.weights.csm_sentiment.is_zero() {
        add(
            Factor::CsmSentiment,
            csm_sentiment(subject.sentiment, config, t, detail),
        );
    }
    for custom in &scorecard.custom_factors {
        lines.push(Line {
            key: custom.key.clone(),
            factor: Factor::Custom,
            weight: config.weight_of(&custom.key),
            outcome: custom_factor(custom, facts, t, detail),
        });
    }
    assemble(lines, facts, config, detail, Some(scorecard.name.clone()))
}
