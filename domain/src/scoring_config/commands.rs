//! What `PUT /scoring/config` asks a portal's scoring configuration to do.

use crate::scoring::ConfigDocument;
use chrono::{DateTime, Utc};

/// A request to change a portal's scoring configuration.
#[derive(Debug, Clone, PartialEq)]
pub enum ScoringConfigCommand {
    /// Replace the current configuration with a new version.
    UpdateScoringConfig {
        /// The configuration document as sent; validated with
        /// [`ScoringConfig::from_document`](crate::scoring::ScoringConfig::from_document).
        config: ConfigDocument,
        /// The version the client last saw (`If-Match`); `None` updates unconditionally.
        expected_version: Option<u32>,
        /// When the update was accepted.
        updated_at: DateTime<Utc>,
    },
}
