//! Combining: coverage, insufficient data, rounding and band thresholds.

use super::dec;
use crate::scoring::{Band, Factor, ScoreStatus, ScoringConfig, Weights, band_for, combine};
use rust_decimal::Decimal;

fn all(value: &str) -> Vec<(Factor, Option<Decimal>)> {
    Factor::ALL.iter().map(|f| (*f, Some(dec(value)))).collect()
}

#[test]
fn coverage_below_the_minimum_gives_insufficient_data() {
    let values = vec![
        (Factor::EngagementRecency, None),
        (Factor::DealMomentum, None),
        (Factor::LifecycleStage, Some(dec("0.85"))),
        (Factor::ActivityFrequency, Some(dec("0.5"))),
        (Factor::DealValue, None),
    ];
    let combined = combine(&values, &ScoringConfig::default());
    assert_eq!(combined.status, ScoreStatus::InsufficientData);
    assert_eq!((combined.score, combined.band), (None, None));
    assert_eq!(combined.coverage, dec("0.35"));
    assert!(combined.contributions.iter().all(|(_, c)| c.is_none()));
}

#[test]
fn coverage_exactly_at_the_minimum_is_scored() {
    let config = ScoringConfig {
        min_coverage: dec("0.6"),
        ..ScoringConfig::default()
    };
    let mut values = all("0.5");
    values[1].1 = None;
    values[4].1 = None;
    let combined = combine(&values, &config);
    assert_eq!(combined.coverage, dec("0.6"));
    assert_eq!(combined.status, ScoreStatus::Scored);
    assert_eq!(combined.score, Some(dec("50.0")));
}

#[test]
fn a_weight_zero_factor_counts_neither_for_coverage_nor_score() {
    let weights = Weights {
        deal_value: dec("0"),
        engagement_recency: dec("45"),
        ..Weights::default()
    };
    let config = ScoringConfig {
        weights,
        ..ScoringConfig::default()
    };
    let mut values = all("1");
    values[4].1 = Some(dec("0"));
    let combined = combine(&values, &config);
    assert_eq!(combined.score, Some(dec("100.0")));
    assert_eq!(combined.coverage, dec("1"));
    assert_eq!(
        combined.contributions[4],
        (Factor::DealValue, Some(dec("0")))
    );
}

#[test]
fn nothing_applicable_is_insufficient_even_with_a_tiny_minimum() {
    let config = ScoringConfig {
        min_coverage: dec("0.0000001"),
        ..ScoringConfig::default()
    };
    let values: Vec<_> = Factor::ALL.iter().map(|f| (*f, None)).collect();
    assert_eq!(
        combine(&values, &config).status,
        ScoreStatus::InsufficientData
    );
}

#[test]
fn scores_round_half_away_from_zero() {
    let config = ScoringConfig::default();
    assert_eq!(combine(&all("0.7205"), &config).score, Some(dec("72.1")));
    assert_eq!(combine(&all("0.7215"), &config).score, Some(dec("72.2")));
    assert_eq!(combine(&all("0.72049"), &config).score, Some(dec("72.0")));
}

#[test]
fn the_band_follows_the_rounded_score() {
    let combined = combine(&all("0.69951"), &ScoringConfig::default());
    assert_eq!(
        (combined.score, combined.band),
        (Some(dec("70.0")), Some(Band::Healthy))
    );
}

#[test]
fn band_thresholds_are_inclusive_lower_bounds() {
    let bands = ScoringConfig::default().bands;
    assert_eq!(band_for(dec("100"), &bands), Band::Healthy);
    assert_eq!(band_for(dec("70.0"), &bands), Band::Healthy);
    assert_eq!(band_for(dec("69.9"), &bands), Band::AtRisk);
    assert_eq!(band_for(dec("40.0"), &bands), Band::AtRisk);
    assert_eq!(band_for(dec("39.9"), &bands), Band::Critical);
    assert_eq!(band_for(dec("0"), &bands), Band::Critical);
}

#[test]
fn contributions_add_up_to_the_unrounded_score() {
    let values = vec![
        (Factor::EngagementRecency, Some(dec("0.123456789"))),
        (Factor::DealMomentum, Some(dec("0.9"))),
        (Factor::LifecycleStage, None),
        (Factor::ActivityFrequency, Some(dec("0.33333"))),
        (Factor::DealValue, Some(dec("0.5"))),
    ];
    let combined = combine(&values, &ScoringConfig::default());
    let total: Decimal = combined.contributions.iter().filter_map(|(_, c)| *c).sum();
    let expected =
        (dec("25") * dec("0.123456789") + dec("18") + dec("20") * dec("0.33333") + dec("10"))
            / dec("85")
            * dec("100");
    assert!(
        (total - expected).abs() < dec("0.000000001"),
        "{total} vs {expected}"
    );
    assert_eq!(combined.score, Some(expected.round_dp(1)));
}
