//! A CSM's own judgement of a customer or account (SCORING.md, "CSM sentiment"): green, yellow or
//! red with a note, recorded on the subject's stream and read by the `csm_sentiment` factor.

use serde::{Deserialize, Serialize};

/// The longest note accepted, in characters.
pub const MAX_NOTE_CHARS: usize = 2_000;

/// The CSM's call.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SentimentValue {
    /// All is well.
    Green,
    /// Worth watching.
    Yellow,
    /// In trouble.
    Red,
}

impl SentimentValue {
    /// Every value, best first.
    pub const ALL: [SentimentValue; 3] = [Self::Green, Self::Yellow, Self::Red];

    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Green => "green",
            Self::Yellow => "yellow",
            Self::Red => "red",
        }
    }

    /// The value with this JSON name, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == name)
    }
}
