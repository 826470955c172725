//! The inputs scoring reads and the small enums its reports use.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// HubSpot property values by property name; HubSpot sends every value as a string.
pub type Properties = BTreeMap<String, String>;

/// Properties shared, not copied: a company or deal belongs to many customers, and the data
/// layer hands every one of them the same map.
pub type SharedProperties = Arc<Properties>;

/// Everything scoring needs about one customer at time `t`, built by the data layer from the
/// event log (events with `occurred_at <= t`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerFacts {
    /// The contact's properties resolved at `t`.
    pub contact: SharedProperties,
    /// Each associated, non-deleted company (C(c)), resolved at `t`.
    pub companies: Vec<SharedProperties>,
    /// D(c) at `t`: direct deals plus deals of the companies, deduplicated, non-deleted.
    pub deals: Vec<DealFacts>,
    /// `(object key, occurred_at epoch ms)` of the creation, property-change, association-change
    /// and restore events of the customer and of each deal in D(c). May include events outside
    /// the window: scoring keeps `t - window_days < occurred_at <= t` and counts distinct pairs.
    pub activity: Vec<(String, i64)>,
    /// How the customer reaches each company and deal above, for the report.
    pub links: Vec<Link>,
}

/// How a customer is linked to one of its companies or deals at `t`, as its report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Link {
    /// `company` or `deal`.
    #[serde(rename = "type")]
    pub object_type: crate::ids::ObjectType,
    /// The company's or deal's id.
    pub id: String,
    /// For a deal reached through a company, that company's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via_company: Option<String>,
    /// Since when the association holds.
    #[serde(serialize_with = "crate::time::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub since: chrono::DateTime<chrono::Utc>,
    /// True when `since` is a sync's estimate (the later of the two records' creation):
    /// HubSpot keeps no association history.
    pub since_estimated: bool,
}

/// One deal of D(c).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DealFacts {
    /// The deal's id, echoed in report details.
    pub id: String,
    /// The deal's properties at `t`.
    pub now: SharedProperties,
    /// The deal's properties at `t - deal_momentum.window_days`; `None` if it did not exist then.
    pub then: Option<SharedProperties>,
}

/// The factors: the five of v1 in the order of the specification ([`Factor::ALL`]), then the
/// v2 ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Factor {
    /// How recently sales last engaged the customer or one of its companies.
    EngagementRecency,
    /// Level and 30-day movement of open deals' probabilities.
    DealMomentum,
    /// The contact's lifecycle stage.
    LifecycleStage,
    /// How many distinct saves touched the customer and its deals lately.
    ActivityFrequency,
    /// The customer's not-lost deal value against the portal median.
    DealValue,
    /// An account's customers' mean score (company scorecards).
    CustomerHealth,
    /// The CSM's own sentiment.
    CsmSentiment,
    /// A custom factor on a HubSpot property; its report names its key.
    Custom,
}

impl Factor {
    /// The five v1 factors, in specification order.
    pub const ALL: [Factor; 5] = [
        Factor::EngagementRecency,
        Factor::DealMomentum,
        Factor::LifecycleStage,
        Factor::ActivityFrequency,
        Factor::DealValue,
    ];

    /// Every named factor: the five of v1, then customer_health and csm_sentiment.
    pub const BUILT_IN: [Factor; 7] = [
        Factor::EngagementRecency,
        Factor::DealMomentum,
        Factor::LifecycleStage,
        Factor::ActivityFrequency,
        Factor::DealValue,
        Factor::CustomerHealth,
        Factor::CsmSentiment,
    ];

    /// The factor's name as it appears in JSON (`engagement_recency`, ...; `custom` stands for
    /// any custom factor, whose reports carry its key).
    pub fn as_str(self) -> &'static str {
        match self {
            Factor::EngagementRecency => "engagement_recency",
            Factor::DealMomentum => "deal_momentum",
            Factor::LifecycleStage => "lifecycle_stage",
            Factor::ActivityFrequency => "activity_frequency",
            Factor::DealValue => "deal_value",
            Factor::CustomerHealth => "customer_health",
            Factor::CsmSentiment => "csm_sentiment",
            Factor::Custom => "custom",
        }
    }

    /// The v1 factor with this JSON name, if any.
    pub fn from_name(name: &str) -> Option<Factor> {
        Factor::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// The built-in factor (v1 or v2) with this JSON name, if any.
    pub fn from_any_name(name: &str) -> Option<Factor> {
        Factor::BUILT_IN.into_iter().find(|f| f.as_str() == name)
    }
}

/// The health band of a scored customer.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    /// Score at or above `bands.healthy_min`.
    Healthy,
    /// Score at or above `bands.at_risk_min`, below `bands.healthy_min`.
    AtRisk,
    /// Score below `bands.at_risk_min`.
    Critical,
}

impl Band {
    /// Every band, best first.
    pub const ALL: [Band; 3] = [Self::Healthy, Self::AtRisk, Self::Critical];

    /// The JSON name: `healthy`, `at_risk` or `critical`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::AtRisk => "at_risk",
            Self::Critical => "critical",
        }
    }
}

/// Whether a score could be given.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ScoreStatus {
    /// Coverage reached `min_coverage`; score and band are set.
    Scored,
    /// Coverage fell below `min_coverage`; score and band are null.
    InsufficientData,
}

impl ScoreStatus {
    /// The JSON name: `scored` or `insufficient_data`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scored => "scored",
            Self::InsufficientData => "insufficient_data",
        }
    }
}

/// Whether one factor had a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FactorStatus {
    /// The factor has a value in [0, 1].
    Scored,
    /// The factor is N/A for this customer.
    NotApplicable,
}
