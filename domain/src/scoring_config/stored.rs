//! How a [`ScoringConfig`] is stored in events and snapshots: the shape of the API document,
//! with every decimal as a string. The API writes numbers through `f64`, which can change the
//! last digit or the scale of a decimal; strings keep the value exactly as validated.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::scoring::{
    ActivityFrequencyConfig, BandsConfig, DealMomentumConfig, EngagementRecencyConfig,
    LifecycleStageConfig, ScoringConfig, Weights,
};

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
    #[serde(with = "decimal_map")]
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

/// A map of decimals, each as a string.
mod decimal_map {
    use std::collections::BTreeMap;

    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Exact(#[serde(with = "rust_decimal::serde::str")] Decimal);

    pub(super) fn serialize<S: Serializer>(
        map: &BTreeMap<String, Decimal>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_map(map.iter().map(|(k, v)| (k, Exact(*v))))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, Decimal>, D::Error> {
        let map = BTreeMap::<String, Exact>::deserialize(d)?;
        Ok(map.into_iter().map(|(k, Exact(v))| (k, v)).collect())
    }
}
