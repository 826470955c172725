//! What the scorer asks a customer's health record to do.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::scoring::Band;

/// A request to record something about a customer's health.
#[derive(Debug, Clone, PartialEq)]
pub enum CustomerHealthCommand {
    /// The customer was scored; records a band change if the band moved.
    RecordScore {
        /// The band, or `None` when there was insufficient data for a score.
        band: Option<Band>,
        /// The score, or `None` when there was insufficient data.
        score: Option<Decimal>,
        /// The scoring-configuration version used.
        config_version: u32,
        /// The time `t` the customer was scored at.
        scored_at: DateTime<Utc>,
    },
    /// An account was scored (its stream is an `account_health` one); records an
    /// `AccountBandChanged` if the band moved.
    RecordAccountScore {
        /// The band, or `None` when there was insufficient data for a score.
        band: Option<Band>,
        /// The score, or `None` when there was insufficient data.
        score: Option<Decimal>,
        /// The scoring-configuration version used.
        config_version: u32,
        /// The time `t` the account was scored at.
        scored_at: DateTime<Utc>,
    },
}
