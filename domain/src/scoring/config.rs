//! The scoring configuration (`GET`/`PUT /scoring/config`) and its defaults. Parsing and
//! validation live in `parse`.

use super::model::Factor;
use super::numbers::{days_before, serialize_decimal, serialize_decimal_map};
use crate::sentiment::SentimentValue;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;

/// One configuration version, serialized with every section present, numbers as JSON numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ScoringConfig {
    /// Factor weights; they add up to 100.
    pub weights: Weights,
    /// Band thresholds on the 0-100 score.
    pub bands: BandsConfig,
    /// The share of weight (0, 1] that must be applicable for a score.
    #[serde(serialize_with = "serialize_decimal")]
    #[schema(value_type = f64)]
    pub min_coverage: Decimal,
    /// Settings of the engagement_recency factor.
    pub engagement_recency: EngagementRecencyConfig,
    /// Settings of the deal_momentum factor.
    pub deal_momentum: DealMomentumConfig,
    /// Settings of the lifecycle_stage factor.
    pub lifecycle_stage: LifecycleStageConfig,
    /// Settings of the activity_frequency factor.
    pub activity_frequency: ActivityFrequencyConfig,
    /// Settings of the csm_sentiment factor (v2; a scorecard writes them, a v1 document not).
    #[serde(skip_serializing)]
    pub csm_sentiment: CsmSentimentConfig,
    /// The weights of a scorecard's custom factors, by key (written inside `weights`).
    #[serde(skip_serializing)]
    pub custom_weights: BTreeMap<String, Decimal>,
}

/// Settings of csm_sentiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CsmSentimentConfig {
    /// Value in [0, 1] of each sentiment.
    pub values: SentimentValues,
    /// Days after which a sentiment no longer counts (> 0).
    #[serde(serialize_with = "serialize_decimal")]
    #[schema(value_type = f64)]
    pub expires_days: Decimal,
}

/// The value of each sentiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SentimentValues {
    /// Green (1.0 by default).
    #[serde(serialize_with = "serialize_decimal")]
    #[schema(value_type = f64)]
    pub green: Decimal,
    /// Yellow (0.5 by default).
    #[serde(serialize_with = "serialize_decimal")]
    #[schema(value_type = f64)]
    pub yellow: Decimal,
    /// Red (0.0 by default).
    #[serde(serialize_with = "serialize_decimal")]
    #[schema(value_type = f64)]
    pub red: Decimal,
}

impl SentimentValues {
    /// The value of `sentiment`.
    pub fn of(&self, sentiment: SentimentValue) -> Decimal {
        match sentiment {
            SentimentValue::Green => self.green,
            SentimentValue::Yellow => self.yellow,
            SentimentValue::Red => self.red,
        }
    }

    /// The value of `sentiment`, mutably.
    pub fn of_mut(&mut self, sentiment: SentimentValue) -> &mut Decimal {
        match sentiment {
            SentimentValue::Green => &mut self.green,
            SentimentValue::Yellow => &mut self.yellow,
            SentimentValue::Red => &mut self.red,
        }
    }
}

impl Default for CsmSentimentConfig {
    fn default() -> Self {
        CsmSentimentConfig {
            values: SentimentValues {
                green: Decimal::ONE,
                yellow: Decimal::new(5, 1),
                red: Decimal::ZERO,
            },
            expires_days: Decimal::from(90),
        }
    }
}

/// The weight of each factor, decimals >= 0 adding up to 100; a factor left out weighs 0.
/// The v2 factors (customer_health, csm_sentiment, custom factors) are written only when
/// weighted, so a v1 configuration reads as it always has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Weights {
    /// Weight of engagement_recency.
    #[serde(serialize_with = "serialize_decimal")]
    #[schema(value_type = f64)]
    pub engagement_recency: Decimal,
    /// Weight of deal_momentum.
    #[serde(serialize_with = "serialize_decimal")]
    #[schema(value_type = f64)]
    pub deal_momentum: Decimal,
    /// Weight of lifecycle_stage.
    #[serde(serialize_with = "serialize_decimal")]
    #[schema(value_type = f64)]
    pub lifecycle_stage: Decimal,
    /// Weight of activity_frequency.
    #[serde(serialize_with = "serialize_decimal")]
    #[schema(value_type = f64)]
    pub activity_frequency: Decimal,
    /// Weight of deal_value.
    #[serde(serialize_with = "serialize_decimal")]
    #[schema(value_type = f64)]
    pub deal_value: Decimal,
    /// Weight of customer_health (company scorecards).
    #[serde(
        serialize_with = "serialize_decimal",
        skip_serializing_if = "Decimal::is_zero"
    )]
    #[schema(value_type = Option<f64>)]
    pub customer_health: Decimal,
    /// Weight of csm_sentiment.
    #[serde(
        serialize_with = "serialize_decimal",
        skip_serializing_if = "Decimal::is_zero"
    )]
    #[schema(value_type = Option<f64>)]
    pub csm_sentiment: Decimal,
    /// What [`Weights::get_mut`] answers for [`Factor::Custom`]: custom factors' weights live
    /// in [`ScoringConfig::custom_weights`], by key; nothing reads this.
    #[serde(skip)]
    #[schema(ignore)]
    pub(crate) unkeyed: Decimal,
}

impl Weights {
    /// Every weight zero, the starting point when parsing a `weights` object.
    pub const ZERO: Weights = Weights {
        engagement_recency: Decimal::ZERO,
        deal_momentum: Decimal::ZERO,
        lifecycle_stage: Decimal::ZERO,
        activity_frequency: Decimal::ZERO,
        deal_value: Decimal::ZERO,
        customer_health: Decimal::ZERO,
        csm_sentiment: Decimal::ZERO,
        unkeyed: Decimal::ZERO,
    };

    /// The weight of a built-in `factor` (0 for [`Factor::Custom`]: see [`Weights::of_key`]).
    pub fn get(&self, factor: Factor) -> Decimal {
        match factor {
            Factor::EngagementRecency => self.engagement_recency,
            Factor::DealMomentum => self.deal_momentum,
            Factor::LifecycleStage => self.lifecycle_stage,
            Factor::ActivityFrequency => self.activity_frequency,
            Factor::DealValue => self.deal_value,
            Factor::CustomerHealth => self.customer_health,
            Factor::CsmSentiment => self.csm_sentiment,
            Factor::Custom => Decimal::ZERO,
        }
    }

    /// The weight of a built-in `factor`, mutably (a custom one has its entry in `custom`).
    pub fn get_mut(&mut self, factor: Factor) -> &mut Decimal {
        match factor {
            Factor::EngagementRecency => &mut self.engagement_recency,
            Factor::DealMomentum => &mut self.deal_momentum,
            Factor::LifecycleStage => &mut self.lifecycle_stage,
            Factor::ActivityFrequency => &mut self.activity_frequency,
            Factor::DealValue => &mut self.deal_value,
            Factor::CustomerHealth => &mut self.customer_health,
            Factor::CsmSentiment => &mut self.csm_sentiment,
            Factor::Custom => &mut self.unkeyed,
        }
    }
}

/// Band thresholds: `0 < at_risk_min < healthy_min <= 100`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BandsConfig {
    /// Lowest score that is `healthy`.
    #[serde(serialize_with = "serialize_decimal")]
    #[schema(value_type = f64)]
    pub healthy_min: Decimal,
    /// Lowest score that is `at_risk`.
    #[serde(serialize_with = "serialize_decimal")]
    #[schema(value_type = f64)]
    pub at_risk_min: Decimal,
}

/// Settings of engagement_recency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct EngagementRecencyConfig {
    /// Days after which the value halves (> 0).
    #[serde(serialize_with = "serialize_decimal")]
    #[schema(value_type = f64)]
    pub half_life_days: Decimal,
}

/// Settings of deal_momentum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DealMomentumConfig {
    /// How far back p_then is read (> 0 days).
    #[serde(serialize_with = "serialize_decimal")]
    #[schema(value_type = f64)]
    pub window_days: Decimal,
    /// How far back a won deal's close date counts when no deal is open (> 0 days).
    #[serde(serialize_with = "serialize_decimal")]
    #[schema(value_type = f64)]
    pub won_lookback_days: Decimal,
}

/// Settings of lifecycle_stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LifecycleStageConfig {
    /// Value in [0, 1] per lifecycle stage id; a stage not in the map is N/A. A configured map
    /// replaces the default one whole.
    #[serde(serialize_with = "serialize_decimal_map")]
    #[schema(value_type = BTreeMap<String, f64>)]
    pub values: BTreeMap<String, Decimal>,
}

/// Settings of activity_frequency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ActivityFrequencyConfig {
    /// Events in `(t - window_days, t]` count (> 0 days).
    #[serde(serialize_with = "serialize_decimal")]
    #[schema(value_type = f64)]
    pub window_days: Decimal,
    /// Event count at which the value reaches 0.5 (> 0).
    #[serde(serialize_with = "serialize_decimal")]
    #[schema(value_type = f64)]
    pub half_saturation: Decimal,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            engagement_recency: Decimal::from(25),
            deal_momentum: Decimal::from(20),
            lifecycle_stage: Decimal::from(15),
            activity_frequency: Decimal::from(20),
            deal_value: Decimal::from(20),
            ..Weights::ZERO
        }
    }
}

impl Default for BandsConfig {
    fn default() -> Self {
        BandsConfig {
            healthy_min: Decimal::from(70),
            at_risk_min: Decimal::from(40),
        }
    }
}

impl Default for EngagementRecencyConfig {
    fn default() -> Self {
        EngagementRecencyConfig {
            half_life_days: Decimal::from(14),
        }
    }
}

impl Default for DealMomentumConfig {
    fn default() -> Self {
        DealMomentumConfig {
            window_days: Decimal::from(30),
            won_lookback_days: Decimal::from(90),
        }
    }
}

impl Default for LifecycleStageConfig {
    fn default() -> Self {
        let values = [
            ("subscriber", 15),
            ("lead", 30),
            ("marketingqualifiedlead", 40),
            ("salesqualifiedlead", 50),
            ("opportunity", 65),
            ("customer", 85),
            ("evangelist", 100),
        ]
        .into_iter()
        .map(|(stage, hundredths)| (stage.to_owned(), Decimal::new(hundredths, 2)))
        .collect();
        LifecycleStageConfig { values }
    }
}

impl Default for ActivityFrequencyConfig {
    fn default() -> Self {
        ActivityFrequencyConfig {
            window_days: Decimal::from(30),
            half_saturation: Decimal::from(4),
        }
    }
}

impl Default for ScoringConfig {
    fn default() -> Self {
        ScoringConfig {
            weights: Weights::default(),
            bands: BandsConfig::default(),
            min_coverage: Decimal::new(5, 1),
            engagement_recency: EngagementRecencyConfig::default(),
            deal_momentum: DealMomentumConfig::default(),
            lifecycle_stage: LifecycleStageConfig::default(),
            activity_frequency: ActivityFrequencyConfig::default(),
            csm_sentiment: CsmSentimentConfig::default(),
            custom_weights: BTreeMap::new(),
        }
    }
}

impl ScoringConfig {
    /// The weight of the factor named `key`, built-in or custom (0 when absent).
    pub fn weight_of(&self, key: &str) -> Decimal {
        match Factor::from_any_name(key) {
            Some(factor) => self.weights.get(factor),
            None => self.custom_weights.get(key).copied().unwrap_or_default(),
        }
    }

    /// Every weight, the custom ones included.
    pub fn all_weights(&self) -> impl Iterator<Item = Decimal> + '_ {
        Factor::BUILT_IN
            .into_iter()
            .map(|f| self.weights.get(f))
            .chain(self.custom_weights.values().copied())
    }

    /// `t - deal_momentum.window_days`: the instant whose deal state gives `DealFacts::then`.
    pub fn deal_momentum_then(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        days_before(t, self.deal_momentum.window_days)
    }

    /// `t - activity_frequency.window_days`: events strictly after it (and at or before `t`)
    /// count as activity.
    pub fn activity_window_start(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        days_before(t, self.activity_frequency.window_days)
    }
}
