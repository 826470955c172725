//! A portal's alert rules as an aggregate (one stream per portal, `{portal}/alert_rules`):
//! every version, so the alerter judges each band change by the rules in force when it was
//! recorded, and a rule never fires for history from before it existed. Version 1 is "no rules"
//! and needs no event.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use super::rules::AlertRule;

/// The `stream_type` of alert-rule streams.
pub const ALERT_RULES_STREAM: &str = "alert_rules";
/// The stable type name of [`AlertRulesEvent::AlertRulesReplaced`].
pub const ALERT_RULES_REPLACED: &str = "AlertRulesReplaced";

/// What the API asks of a portal's rules.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertRulesCommand {
    /// Replace every rule (validated by the caller).
    Replace {
        /// The new rules.
        rules: Vec<AlertRule>,
        /// `If-Match`: refused unless this is the current version.
        expected_version: Option<u32>,
        /// The server's clock.
        at: DateTime<Utc>,
    },
}

/// What happened to a portal's rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AlertRulesEvent {
    /// A new version replaced every rule.
    AlertRulesReplaced {
        /// Its number (2, 3, ...).
        version: u32,
        /// The rules from now on.
        rules: Vec<AlertRule>,
        /// When.
        replaced_at: DateTime<Utc>,
    },
}

impl DomainEvent for AlertRulesEvent {
    fn event_type(&self) -> String {
        ALERT_RULES_REPLACED.to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

/// Why rules were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertRulesError {
    /// `If-Match` named another version.
    #[error("the rules are at version {current}, not {expected}: fetch them again")]
    Stale {
        /// What the request expected.
        expected: u32,
        /// What is current.
        current: u32,
    },
}

/// A portal's rules now and since when.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertRules {
    version: u32,
    rules: Vec<AlertRule>,
    replaced_at: Option<DateTime<Utc>>,
}

impl AlertRules {
    /// The current version (1 before any rules were set).
    pub fn version(&self) -> u32 {
        self.version.max(1)
    }

    /// The rules in force.
    pub fn rules(&self) -> &[AlertRule] {
        &self.rules
    }

    /// When the current version was set (`None` for version 1).
    pub fn replaced_at(&self) -> Option<DateTime<Utc>> {
        self.replaced_at
    }
}

impl Aggregate for AlertRules {
    const TYPE: &'static str = ALERT_RULES_STREAM;
    type Command = AlertRulesCommand;
    type Event = AlertRulesEvent;
    type Error = AlertRulesError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let AlertRulesCommand::Replace {
            rules,
            expected_version,
            at,
        } = command;
        if let Some(expected) = expected_version
            && expected != self.version()
        {
            return Err(AlertRulesError::Stale {
                expected,
                current: self.version(),
            });
        }
        let event = AlertRulesEvent::AlertRulesReplaced {
            version: self.version() + 1,
            rules,
            replaced_at: at,
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        let AlertRulesEvent::AlertRulesReplaced {
            version,
            rules,
            replaced_at,
        } = event;
        self.version = version;
        self.rules = rules;
        self.replaced_at = Some(replaced_at);
    }
}
