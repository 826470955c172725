//! `score_customer`: every factor of one customer at `t`, combined, as a serializable report.

use super::combine::combine;
use super::config::ScoringConfig;
use super::factors::{
    Detail, FactorOutcome, activity_frequency, deal_value, engagement_recency, lifecycle_stage,
};
use super::model::{Band, CustomerFacts, Factor, FactorStatus, Link, ScoreStatus};
use super::momentum::deal_momentum;
use super::numbers::{round, serialize_decimal, serialize_float, serialize_opt_float};
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
    /// All five factors in specification order, weight-0 ones included.
    pub factors: Vec<FactorReport>,
    /// The companies and deals counted, and since when each is linked (left out without
    /// detail, and when there are none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub associations: Vec<Link>,
}

/// One factor's part in a [`ScoreReport`].
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FactorReport {
    /// Which factor.
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
    let outcomes: [(Factor, FactorOutcome); 5] = [
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
    ];
    let values: Vec<(Factor, Option<Decimal>)> =
        outcomes.iter().map(|(f, o)| (*f, o.value)).collect();
    let combined = combine(&values, config);
    let factors = outcomes
        .into_iter()
        .zip(combined.contributions)
        .map(|((factor, outcome), (_, contribution))| FactorReport {
            factor,
            weight: config.weights.get(factor),
            status: match outcome.value {
                Some(_) => FactorStatus::Scored,
                None => FactorStatus::NotApplicable,
            },
            value: outcome.value.map(|v| round(v, 4)),
            contribution: contribution.map(|c| round(c, 2)),
            detail: outcome.detail,
        })
        .collect();
    ScoreReport {
        status: combined.status,
        score: combined.score,
        band: combined.band,
        coverage: round(combined.coverage, 4),
        factors,
        associations: match detail {
            Detail::Explain => facts.links.clone(),
            Detail::Skip => Vec::new(),
        },
    }
}
