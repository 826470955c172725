//! Facts recorded about a portal's scoring configuration.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::stored::ScoringConfigDef;
use crate::scoring::ScoringConfig;

/// What happened to a portal's scoring configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
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
}

/// The stable type name of [`ScoringConfigEvent::ScoringConfigUpdated`].
pub const SCORING_CONFIG_UPDATED: &str = "ScoringConfigUpdated";

impl DomainEvent for ScoringConfigEvent {
    fn event_type(&self) -> String {
        match self {
            Self::ScoringConfigUpdated { .. } => SCORING_CONFIG_UPDATED,
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}
