//! Why a customer's health record refuses a command.

use rust_decimal::Decimal;

use crate::scoring::Band;

/// A score the health record cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustomerHealthError {
    /// A score comes with its band and insufficient data has neither; this had one without the
    /// other.
    #[error("a score and its band come together, got band {band:?} and score {score:?}")]
    ScoreBandMismatch {
        /// The band sent.
        band: Option<Band>,
        /// The score sent.
        score: Option<Decimal>,
    },
}
