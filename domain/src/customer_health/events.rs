//! Facts recorded about a customer's health.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::stored::{band, score};
use crate::scoring::Band;

/// What happened to a customer's health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CustomerHealthEvent {
    /// A score put the customer in another band than the last one recorded.
    CustomerBandChanged {
        /// The band before; `None` for a first band or after insufficient data.
        #[serde(with = "band")]
        old_band: Option<Band>,
        /// The band now; `None` when there is no longer enough data for a score.
        #[serde(with = "band")]
        new_band: Option<Band>,
        /// The score that caused the change (`None` with insufficient data), as an exact
        /// decimal string.
        #[serde(with = "score")]
        score: Option<Decimal>,
        /// The scoring-configuration version the score used.
        config_version: u32,
        /// The time `t` of that score.
        changed_at: DateTime<Utc>,
    },
    /// A score put an account (a company) in another band than the last one recorded.
    AccountBandChanged {
        /// The band before; `None` for a first band or after insufficient data.
        #[serde(with = "band")]
        old_band: Option<Band>,
        /// The band now; `None` when there is no longer enough data for a score.
        #[serde(with = "band")]
        new_band: Option<Band>,
        /// The score that caused the change, as an exact decimal string.
        #[serde(with = "score")]
        score: Option<Decimal>,
        /// The scoring-configuration version the score used.
        config_version: u32,
        /// The time `t` of that score.
        changed_at: DateTime<Utc>,
    },
}

/// The stable type name of [`CustomerHealthEvent::CustomerBandChanged`].
pub const CUSTOMER_BAND_CHANGED: &str = "CustomerBandChanged";

/// The stable type name of [`CustomerHealthEvent::AccountBandChanged`].
pub const ACCOUNT_BAND_CHANGED: &str = "AccountBandChanged";

impl DomainEvent for CustomerHealthEvent {
    fn event_type(&self) -> String {
        match self {
            Self::CustomerBandChanged { .. } => CUSTOMER_BAND_CHANGED,
            Self::AccountBandChanged { .. } => ACCOUNT_BAND_CHANGED,
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}
