//! How a [`ScoringConfig`] is stored in events and snapshots: the shape of the API document,
//! with every decimal as a string. The API writes numbers through `f64`, which can change the
//! last digit or the scale of a decimal; strings keep the value exactly as validated.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::scoring::{
    ActivityFrequencyConfig, BandsConfig, Condition, CsmSentimentConfig, CustomFactor,
    DealMomentumConfig, EngagementRecencyConfig, LifecycleStageConfig, Population, Scorecard,
    ScoringConfig, ScoringDocument, SentimentValues, Shape, Subject, Weights,
};

/// `#[serde(with = "ScoringDocumentDef")]` for a [`ScoringDocument`] (the aggregate's state).
#[derive(Serialize, Deserialize)]
#[serde(remote = "ScoringDocument")]
pub(super) struct ScoringDocumentDef {
    shape: Shape,
    #[serde(with = "stored_scorecards")]
    scorecards: Vec<Scorecard>,
    population: Population,
}

mod stored_scorecards {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::StoredScorecard;
    use crate::scoring::Scorecard;

    pub(super) fn serialize<S: Serializer>(list: &[Scorecard], s: S) -> Result<S::Ok, S::Error> {
        let stored: Vec<StoredScorecard> = list.iter().cloned().map(StoredScorecard).collect();
        stored.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Scorecard>, D::Error> {
        let stored = Vec::<StoredScorecard>::deserialize(d)?;
        Ok(stored.into_iter().map(|s| s.0).collect())
    }
}

/// One scorecard as a `ScorecardsUpdated` event stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredScorecard(#[serde(with = "ScorecardDef")] pub Scorecard);

#[derive(Serialize, Deserialize)]
#[serde(remote = "Scorecard")]
struct ScorecardDef {
    name: String,
    subject: Subject,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    filter: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    custom_factors: Vec<CustomFactor>,
    #[serde(with = "ScoringConfigDef")]
    config: ScoringConfig,
}

/// `#[serde(with = "ScoringConfigDef")]` for a [`ScoringConfig`] field.
#[derive(Serialize, Deserialize)]
#[serde(remote = "ScoringConfig")]
pub(super) struct ScoringConfigDef {
    #[serde(with = "WeightsDef")]
    weights: Weights,
    #[serde(with = "BandsDef")]
    bands: BandsConfig,
    #[serde(with = "rust_decimal::serde::str")]
    min_coverage: Decimal,
    #[serde(with = "EngagementRecencyDef")]
    engagement_recency: EngagementRecencyConfig,
    #[serde(with = "DealMomentumDef")]
    deal_momentum: DealMomentumConfig,
    #[serde(with = "LifecycleStageDef")]
    lifecycle_stage: LifecycleStageConfig,
    #[serde(with = "ActivityFrequencyDef")]
    activity_frequency: ActivityFrequencyConfig,
    // Versions recorded before v2 have none: the defaults.
    #[serde(with = "CsmSentimentDef", default)]
    csm_sentiment: CsmSentimentConfig,
    #[serde(
        with = "crate::scoring::exact_decimal_map",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    custom_weights: BTreeMap<String, Decimal>,
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "Weights")]
struct WeightsDef {
    #[serde(with = "rust_decimal::serde::str")]
    engagement_recency: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    deal_momentum: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    lifecycle_stage: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    activity_frequency: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    deal_value: Decimal,
    #[serde(with = "rust_decimal::serde::str", default)]
    customer_health: Decimal,
    #[serde(with = "rust_decimal::serde::str", default)]
    csm_sentiment: Decimal,
    #[serde(skip)]
    unkeyed: Decimal,
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "BandsConfig")]
struct BandsDef {
    #[serde(with = "rust_decimal::serde::str")]
    healthy_min: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    at_risk_min: Decimal,
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "EngagementRecencyConfig")]
struct EngagementRecencyDef {
    #[serde(with = "rust_decimal::serde::str")]
    half_life_days: Decimal,
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "DealMomentumConfig")]
struct DealMomentumDef {
    #[serde(with = "rust_decimal::serde::str")]
    window_days: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    won_lookback_days: Decimal,
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "LifecycleStageConfig")]
struct LifecycleStageDef {
    #[serde(with = "crate::scoring::exact_decimal_map")]
    values: BTreeMap<String, Decimal>,
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "ActivityFrequencyConfig")]
struct ActivityFrequencyDef {
    #[serde(with = "rust_decimal::serde::str")]
    window_days: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    half_saturation: Decimal,
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "CsmSentimentConfig")]
struct CsmSentimentDef {
    #[serde(with = "SentimentValuesDef")]
    values: SentimentValues,
    #[serde(with = "rust_decimal::serde::str")]
    expires_days: Decimal,
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "SentimentValues")]
struct SentimentValuesDef {
    #[serde(with = "rust_decimal::serde::str")]
    green: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    yellow: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    red: Decimal,
}
