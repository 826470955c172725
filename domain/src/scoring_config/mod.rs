//! A portal's scoring configuration (`GET`/`PUT /scoring/config`): one aggregate per portal
//! holding every accepted version. Version 1 is [`ScoringConfig::default`] and exists without
//! any event; each accepted update is the next immutable version.
//!
//! [`ScoringConfig::default`]: crate::scoring::ScoringConfig

mod aggregate;
mod commands;
mod error;
mod events;
mod stored;
#[cfg(test)]
mod tests;

pub use aggregate::{ConfigVersion, PortalScoringConfig, SCORING_CONFIG_STREAM};
pub use commands::ScoringConfigCommand;
pub use error::ScoringConfigError;
pub use events::{SCORECARDS_UPDATED, SCORING_CONFIG_UPDATED, ScoringConfigEvent};
pub use stored::StoredScorecard;
