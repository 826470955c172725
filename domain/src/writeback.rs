//! Whether a portal's scores are written back to HubSpot: opt-in, one stream per portal
//! (`{portal}/writeback`), so the log tells who turned it on and when.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

/// The `stream_type` of write-back streams.
pub const WRITEBACK_STREAM: &str = "writeback";

/// Turn write-back on or off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetWriteback {
    /// On or off.
    pub enabled: bool,
    /// Who asked (the API key's name).
    pub by: String,
    /// The server's clock.
    pub at: DateTime<Utc>,
}

/// What happened to a portal's write-back setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WritebackEvent {
    /// Turned on.
    WritebackEnabled {
        /// Who.
        by: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Turned off.
    WritebackDisabled {
        /// Who.
        by: String,
        /// When.
        at: DateTime<Utc>,
    },
}

impl DomainEvent for WritebackEvent {
    fn event_type(&self) -> String {
        match self {
            Self::WritebackEnabled { .. } => "WritebackEnabled",
            Self::WritebackDisabled { .. } => "WritebackDisabled",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

/// Never refused: setting what is set records nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreachable")]
pub struct WritebackError;

/// A portal's write-back setting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Writeback {
    enabled: bool,
    since: Option<DateTime<Utc>>,
}

impl Writeback {
    /// Whether scores are written back.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// When it was last turned on or off.
    pub fn since(&self) -> Option<DateTime<Utc>> {
        self.since
    }
}

impl Aggregate for Writeback {
    const TYPE: &'static str = WRITEBACK_STREAM;
    type Command = SetWriteback;
    type Event = WritebackEvent;
    type Error = WritebackError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        if command.enabled == self.enabled {
            return Ok(());
        }
        let SetWriteback { enabled, by, at } = command;
        let event = if enabled {
            WritebackEvent::WritebackEnabled { by, at }
        } else {
            WritebackEvent::WritebackDisabled { by, at }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        let (enabled, at) = match event {
            WritebackEvent::WritebackEnabled { at, .. } => (true, at),
            WritebackEvent::WritebackDisabled { at, .. } => (false, at),
        };
        self.enabled = enabled;
        self.since = Some(at);
    }
}
