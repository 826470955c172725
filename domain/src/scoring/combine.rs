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
    let weight = |factor: Factor| config.weights.get(factor);
    let applicable = values
        .iter()
        .filter_map(|(f, v)| v.map(|v| (weight(*f), v)))
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
        return Combined {
            status: ScoreStatus::InsufficientData,
            score: None,
            band: None,
            coverage,
            contributions: values.iter().map(|(f, _)| (*f, None)).collect(),
        };
    }

    let points = |w: Decimal, v: Decimal| w.saturating_mul(v) / weight_sum * Decimal::ONE_HUNDRED;
    let contributions = values
        .iter()
        .map(|(f, v)| (*f, v.map(|v| points(weight(*f), v))))
        .collect();
    let score = round(weighted_sum / weight_sum * Decimal::ONE_HUNDRED, 1);
    Combined {
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
