//! Where alerts go: a signed webhook or a Slack incoming webhook, one stream per destination
//! (`{portal}/alert_destination/{id}`). The URL and the signing secret are stored sealed by
//! the caller's vault: the log never holds them in clear.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

/// The `stream_type` of destination streams.
pub const ALERT_DESTINATION_STREAM: &str = "alert_destination";

/// How a destination is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DestinationKind {
    /// A POST of the alert's JSON, signed per the Standard Webhooks specification.
    Webhook,
    /// A Slack incoming-webhook URL: a readable message.
    Slack,
}

/// What the API asks of a destination.
#[derive(Debug, Clone, PartialEq)]
pub enum DestinationCommand {
    /// Create it.
    Add {
        /// Webhook or Slack.
        kind: DestinationKind,
        /// A name for people.
        name: String,
        /// The URL, sealed.
        url_sealed: String,
        /// The URL with any path and query hidden, for listings.
        url_shown: String,
        /// The signing secret, sealed (webhooks only).
        secret_sealed: Option<String>,
        /// The server's clock.
        at: DateTime<Utc>,
    },
    /// Delete it: alerts already decided for it fail their next attempt.
    Remove {
        /// The server's clock.
        at: DateTime<Utc>,
    },
}

/// What happened to a destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DestinationEvent {
    /// It was created.
    DestinationAdded {
        /// Webhook or Slack.
        kind: DestinationKind,
        /// A name for people.
        name: String,
        /// The URL, sealed.
        url_sealed: String,
        /// The URL with its path and query hidden.
        url_shown: String,
        /// The signing secret, sealed (webhooks only).
        secret_sealed: Option<String>,
        /// When.
        added_at: DateTime<Utc>,
    },
    /// It was deleted.
    DestinationRemoved {
        /// When.
        removed_at: DateTime<Utc>,
    },
}

impl DomainEvent for DestinationEvent {
    fn event_type(&self) -> String {
        match self {
            Self::DestinationAdded { .. } => "DestinationAdded",
            Self::DestinationRemoved { .. } => "DestinationRemoved",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

/// Why a destination command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    /// Add on an id in use.
    #[error("this destination exists already")]
    Exists,
    /// Remove on one that is not there.
    #[error("no such destination")]
    Missing,
}

/// A destination as its stream tells it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertDestination {
    added: Option<Added>,
    removed: bool,
}

/// What a live destination holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Added {
    /// Webhook or Slack.
    pub kind: DestinationKind,
    /// A name for people.
    pub name: String,
    /// The URL, sealed.
    pub url_sealed: String,
    /// The URL with its path and query hidden.
    pub url_shown: String,
    /// The signing secret, sealed.
    pub secret_sealed: Option<String>,
    /// When it was created.
    pub added_at: DateTime<Utc>,
}

impl AlertDestination {
    /// The destination, unless it was never created or was deleted.
    pub fn live(&self) -> Option<&Added> {
        self.added.as_ref().filter(|_| !self.removed)
    }
}

impl Aggregate for AlertDestination {
    const TYPE: &'static str = ALERT_DESTINATION_STREAM;
    type Command = DestinationCommand;
    type Event = DestinationEvent;
    type Error = DestinationError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let event = match command {
            DestinationCommand::Add { .. } if self.added.is_some() => {
                return Err(DestinationError::Exists);
            }
            DestinationCommand::Add {
                kind,
                name,
                url_sealed,
                url_shown,
                secret_sealed,
                at,
            } => DestinationEvent::DestinationAdded {
                kind,
                name,
                url_sealed,
                url_shown,
                secret_sealed,
                added_at: at,
            },
            DestinationCommand::Remove { .. } if self.live().is_none() => {
                return Err(DestinationError::Missing);
            }
            DestinationCommand::Remove { at } => {
                DestinationEvent::DestinationRemoved { removed_at: at }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            DestinationEvent::DestinationAdded {
                kind,
                name,
                url_sealed,
                url_shown,
                secret_sealed,
                added_at,
            } => {
                self.added = Some(Added {
                    kind,
                    name,
                    url_sealed,
                    url_shown,
                    secret_sealed,
                    added_at,
                });
            }
            DestinationEvent::DestinationRemoved { .. } => self.removed = true,
        }
    }
}
