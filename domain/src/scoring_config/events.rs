//! Facts recorded about a portal's scoring configuration.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::stored::{ScoringConfigDef, StoredScorecard};
use crate::scoring::{Population, ScoringConfig};

/// What happened to a portal's scoring configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
// A configuration changes a few times a month: its events' size does not matter, and boxing
// the config would complicate its exact-decimal serde for nothing.
#[allow(clippy::large_enum_variant)]
pub enum ScoringConfigEvent {
    /// A new configuration version was accepted and is now the current one.
    ScoringConfigUpdated {
        /// The new version number (2, 3, ...; version 1 is the defaults).
        version: u32,
        /// The complete configuration of this version, defaults filled in. Stored with its
        /// decimals as strings, so it reads back exactly as accepted.
        #[serde(with = "ScoringConfigDef")]
        config: ScoringConfig,
        /// When the version was accepted.
        updated_at: DateTime<Utc>,
    },
    /// A new version in the scorecards shape (v2) was accepted and is now the current one.
    ScorecardsUpdated {
        /// The new version number.
        version: u32,
        /// Every scorecard, in order, defaults filled in, decimals as strings.
        scorecards: Vec<StoredScorecard>,
        /// Who is a subject at all.
        #[serde(default)]
        population: Population,
        /// When the version was accepted.
        updated_at: DateTime<Utc>,
    },
}

/// The stable type name of [`ScoringConfigEvent::ScoringConfigUpdated`].
pub const SCORING_CONFIG_UPDATED: &str = "ScoringConfigUpdated";

/// The stable type name of [`ScoringConfigEvent::ScorecardsUpdated`].
pub const SCORECARDS_UPDATED: &str = "ScorecardsUpdated";

impl DomainEvent for ScoringConfigEvent {
    fn event_type(&self) -> String {
        match self {
            Self::ScoringConfigUpdated { .. } => SCORING_CONFIG_UPDATED,
            Self::ScorecardsUpdated { .. } => SCORECARDS_UPDATED,
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}
