//! The customer-health aggregate: the band a customer is in, as of its last recorded change.

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};

use super::commands::CustomerHealthCommand;
use super::error::CustomerHealthError;
use super::events::CustomerHealthEvent;
use super::stored::band;
use crate::scoring::Band;

/// The `stream_type` of customer-health streams (one stream per customer).
pub const CUSTOMER_HEALTH_STREAM: &str = "customer_health";

/// The `stream_type` of account-health streams (one per company; the same aggregate).
pub const ACCOUNT_HEALTH_STREAM: &str = "account_health";

/// A customer's health band, rebuilt from its stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerHealth {
    #[serde(with = "band")]
    band: Option<Band>,
    since: Option<DateTime<Utc>>,
}

impl CustomerHealth {
    /// The last recorded band; `None` before any band and while data is insufficient.
    pub fn band(&self) -> Option<Band> {
        self.band
    }

    /// When the band last changed; `None` if it never has.
    pub fn band_since(&self) -> Option<DateTime<Utc>> {
        self.since
    }

    /// The events `command` records, without applying them: a change when the band moved,
    /// nothing when it did not.
    pub fn decide(
        &self,
        command: CustomerHealthCommand,
    ) -> Result<Vec<CustomerHealthEvent>, CustomerHealthError> {
        let (account, band, score, config_version, scored_at) = match command {
            CustomerHealthCommand::RecordScore {
                band,
                score,
                config_version,
                scored_at,
            } => (false, band, score, config_version, scored_at),
            CustomerHealthCommand::RecordAccountScore {
                band,
                score,
                config_version,
                scored_at,
            } => (true, band, score, config_version, scored_at),
        };
        if band.is_some() != score.is_some() {
            return Err(CustomerHealthError::ScoreBandMismatch { band, score });
        }
        if band == self.band {
            return Ok(Vec::new());
        }
        let (old_band, new_band, changed_at) = (self.band, band, scored_at);
        Ok(vec![if account {
            CustomerHealthEvent::AccountBandChanged {
                old_band,
                new_band,
                score,
                config_version,
                changed_at,
            }
        } else {
            CustomerHealthEvent::CustomerBandChanged {
                old_band,
                new_band,
                score,
                config_version,
                changed_at,
            }
        }])
    }
}

impl Aggregate for CustomerHealth {
    const TYPE: &'static str = CUSTOMER_HEALTH_STREAM;
    type Command = CustomerHealthCommand;
    type Event = CustomerHealthEvent;
    type Error = CustomerHealthError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            CustomerHealthEvent::CustomerBandChanged {
                new_band,
                changed_at,
                ..
            }
            | CustomerHealthEvent::AccountBandChanged {
                new_band,
                changed_at,
                ..
            } => {
                self.band = new_band;
                self.since = Some(changed_at);
            }
        }
    }
}
