//! Why a scoring configuration refuses an update.

use crate::scoring::FieldError;

/// An update that is not accepted; nothing changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScoringConfigError {
    /// The document breaks one or more rules; every offending field is listed (422).
    #[error("invalid scoring configuration: {}", list(.0))]
    Invalid(Vec<FieldError>),
    /// `If-Match` named a version other than the current one (412).
    #[error("scoring configuration is at version {current}, not {expected}")]
    VersionMismatch {
        /// The current version.
        current: u32,
        /// The version the client expected.
        expected: u32,
    },
}

fn list(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
