//! Combining factor values into a score: coverage, the weighted mean, rounding and the band.

use super::config::{BandsConfig, ScoringConfig};
use super::model::{Band, Factor, ScoreStatus};
use super::numbers::round;
use rust_decimal::Decimal;

/// The outcome of [`combine`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Combined {
    /// `scored`, or `insufficient_data` when coverage < `min_coverage`.
    pub status: ScoreStatus,
    /// The score rounded to one decimal, half away from zero; `None` unless scored.
    pub score: Option<Decimal>,
    /// The band of the rounded score; `None` unless scored.
    pub band: Option<Band>,
    /// Sum of the applicable factors' weights / 100.
    pub coverage: Decimal,
    /// Per input entry, in input order: points contributed, unrounded (they add up to the
    /// unrounded score); `None` for an N/A factor or when not scored. A weight-0 factor with a
    /// value contributes 0.
    pub contributions: Vec<(Factor, Option<Decimal>)>,
}

/// Combines one value per factor (`None` = N/A, values in [0, 1]) with the configured weights.
/// A = the entries with a value and a weight > 0; coverage = sum of A's weights / 100; below
/// `min_coverage` (or with A empty) the result is `insufficient_data`; otherwise
/// score = 100 * sum(w * v) / sum(w) over A.
pub fn combine(values: &[(Factor, Option<Decimal>)], config: &ScoringConfig) -> Combined {
    let weighted: Vec<(Decimal, Option<Decimal>)> = values
        .iter()
        .map(|(f, v)| (config.weights.get(*f), *v))
        .collect();
    let outcome = combine_weighted(&weighted, config);
    Combined {
        status: outcome.status,
        score: outcome.score,
        band: outcome.band,
        coverage: outcome.coverage,
        contributions: values
            .iter()
            .map(|(f, _)| *f)
            .zip(outcome.contributions)
            .collect(),
    }
}

/// [`combine`] over `(weight, value)` pairs: custom factors have no [`Factor`] of their own.
pub(crate) struct WeightedOutcome {
    pub(crate) status: ScoreStatus,
    pub(crate) score: Option<Decimal>,
    pub(crate) band: Option<Band>,
    pub(crate) coverage: Decimal,
    /// Per input entry, in input order.
    pub(crate) contributions: Vec<Option<Decimal>>,
}

pub(crate) fn combine_weighted(
    values: &[(Decimal, Option<Decimal>)],
    config: &ScoringConfig,
) -> WeightedOutcome {
    let applicable = values
        .iter()
        .filter_map(|(w, v)| v.map(|v| (*w, v)))
        .filter(|(w, _)| *w > Decimal::ZERO);
    let (weight_sum, weighted_sum) =
        applicable.fold((Decimal::ZERO, Decimal::ZERO), |acc, (w, v)| {
            (
                acc.0.saturating_add(w),
                acc.1.saturating_add(w.saturating_mul(v)),
            )
        });
    let coverage = weight_sum / Decimal::ONE_HUNDRED;

    if weight_sum.is_zero() || coverage < config.min_coverage {
        return WeightedOutcome {
            status: ScoreStatus::InsufficientData,
            score: None,
            band: None,
            coverage,
            contributions: vec![None; values.len()],
        };
    }

    let points = |w: Decimal, v: Decimal| w.saturating_mul(v) / weight_sum * Decimal::ONE_HUNDRED;
    let contributions = values
        .iter()
        .map(|(w, v)| v.map(|v| points(*w, v)))
        .collect();
    let score = round(weighted_sum / weight_sum * Decimal::ONE_HUNDRED, 1);
    WeightedOutcome {
        status: ScoreStatus::Scored,
        score: Some(score),
        band: Some(band_for(score, &config.bands)),
        coverage,
        contributions,
    }
}

/// `healthy` at or above `healthy_min`, `at_risk` at or above `at_risk_min`, else `critical`.
pub fn band_for(score: Decimal, bands: &BandsConfig) -> Band {
    if score >= bands.healthy_min {
        Band::Healthy
    } else if score >= bands.at_risk_min {
        Band::AtRisk
    } else {
        Band::Critical
    }
}
