//! One alert: decided once from the log (its stream id is derived from the band change it is
//! about, so two deciders, a restart or a replay find the stream taken and decide nothing new),
//! then delivered at least once. Every attempt is recorded: a claim before the call (so of
//! several instances one calls) and its outcome after.

use chrono::{DateTime, Duration, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use super::rules::Trigger;
use crate::scoring::Subject;

/// The `stream_type` of alert streams.
pub const ALERT_STREAM: &str = "alert";
/// The stable type name of [`AlertEvent::AlertRaised`].
pub const ALERT_RAISED: &str = "AlertRaised";

/// What the alert says, fixed when it is decided (every attempt sends the same body).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Raised {
    /// The public id (`webhook-id`).
    pub alert_id: String,
    /// The rule that fired.
    pub rule_id: String,
    /// What fired it.
    pub trigger: Trigger,
    /// The destination id.
    pub destination: String,
    /// Customer or account.
    pub subject: Subject,
    /// Its HubSpot id.
    pub subject_id: u64,
    /// The JSON body sent.
    pub body: String,
    /// When the change it reports happened.
    pub changed_at: DateTime<Utc>,
    /// When it was decided.
    pub raised_at: DateTime<Utc>,
    /// After this, a failed attempt is the last.
    pub give_up_at: DateTime<Utc>,
}

/// What the alerter asks of an alert.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertCommand {
    /// Record the decision.
    Raise(Box<Raised>),
    /// Claim the next attempt. Refused unless one is due, or the last claim is older than
    /// `stale_after` with no outcome (its process stopped): that one is recorded as failed.
    StartAttempt {
        /// The server's clock.
        at: DateTime<Utc>,
        /// How long an attempt may go without an outcome.
        stale_after: Duration,
    },
    /// Record how the claimed attempt ended; `retry_at` is when to try again (the caller's
    /// backoff), or `None` to give up.
    Finish {
        /// The attempt claimed.
        attempt: u32,
        /// The receiver's HTTP status, when it answered.
        status: Option<u16>,
        /// Why it failed; `None` for a delivery.
        error: Option<String>,
        /// The server's clock.
        at: DateTime<Utc>,
        /// When to try again after a failure.
        retry_at: Option<DateTime<Utc>>,
    },
    /// Try a failed (or waiting) alert again now, for another `window`.
    Retry {
        /// The server's clock.
        at: DateTime<Utc>,
        /// How long the new round of attempts may last.
        window: Duration,
    },
}

/// What happened to an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AlertEvent {
    /// It was decided.
    AlertRaised(Box<Raised>),
    /// An attempt was claimed.
    DeliveryAttempted {
        /// 1, 2, ...
        attempt: u32,
        /// When.
        started_at: DateTime<Utc>,
    },
    /// The receiver took it (2xx).
    DeliverySucceeded {
        /// Which attempt.
        attempt: u32,
        /// Its status.
        status: u16,
        /// When.
        at: DateTime<Utc>,
    },
    /// The attempt failed; `retry_at` is the next one, `None` means the alert failed.
    DeliveryFailed {
        /// Which attempt.
        attempt: u32,
        /// The receiver's status, when it answered.
        status: Option<u16>,
        /// Why, for a person (never a secret).
        error: String,
        /// When.
        at: DateTime<Utc>,
        /// The next attempt; `None`: given up.
        retry_at: Option<DateTime<Utc>>,
    },
    /// Someone asked for another round of attempts.
    RetryRequested {
        /// When.
        at: DateTime<Utc>,
        /// The new deadline.
        give_up_at: DateTime<Utc>,
    },
}

impl DomainEvent for AlertEvent {
    fn event_type(&self) -> String {
        match self {
            Self::AlertRaised(_) => ALERT_RAISED,
            Self::DeliveryAttempted { .. } => "DeliveryAttempted",
            Self::DeliverySucceeded { .. } => "DeliverySucceeded",
            Self::DeliveryFailed { .. } => "DeliveryFailed",
            Self::RetryRequested { .. } => "RetryRequested",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

/// Why an alert command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertError {
    /// Raise on an alert already decided (another decider got there first).
    #[error("this alert was decided already")]
    AlreadyRaised,
    /// The alert was never raised.
    #[error("no such alert")]
    Missing,
    /// No attempt is due.
    #[error("no attempt is due")]
    NotDue,
    /// Finish for an attempt that is not the one in flight.
    #[error("attempt {0} is not in flight")]
    NotInFlight(u32),
    /// Retry on a delivered alert.
    #[error("the alert was delivered: there is nothing to retry")]
    Delivered,
    /// Retry while an attempt is in flight.
    #[error("an attempt is in flight: wait for its outcome")]
    InFlight,
}

/// Where delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for the attempt due at `due`.
    Pending {
        /// When the next attempt is due.
        due: DateTime<Utc>,
    },
    /// An attempt was claimed at `since` and has no outcome yet.
    Sending {
        /// When it was claimed.
        since: DateTime<Utc>,
    },
    /// The receiver took it.
    Delivered {
        /// When.
        at: DateTime<Utc>,
    },
    /// Every attempt failed.
    Failed,
}

impl DeliveryState {
    /// `pending`, `sending`, `delivered` or `failed`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Pending { .. } => "pending",
            Self::Sending { .. } => "sending",
            Self::Delivered { .. } => "delivered",
            Self::Failed => "failed",
        }
    }
}

/// An alert as its stream tells it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    raised: Option<Box<Raised>>,
    state: Option<DeliveryState>,
    attempts: u32,
    last_status: Option<u16>,
    last_error: Option<String>,
}

impl Alert {
    /// What was decided; `None` before.
    pub fn raised(&self) -> Option<&Raised> {
        self.raised.as_deref()
    }

    /// Where delivery stands; `None` before the alert is raised.
    pub fn state(&self) -> Option<DeliveryState> {
        self.state
    }

    /// Attempts claimed so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The last failed attempt's status and reason.
    pub fn last_failure(&self) -> (Option<u16>, Option<&str>) {
        (self.last_status, self.last_error.as_deref())
    }

    /// When the next attempt is due (pending), or when a stale claim may be taken over.
    pub fn next_attempt_at(&self, stale_after: Duration) -> Option<DateTime<Utc>> {
        match self.state? {
            DeliveryState::Pending { due } => Some(due),
            DeliveryState::Sending { since } => Some(since + stale_after),
            DeliveryState::Delivered { .. } | DeliveryState::Failed => None,
        }
    }

    /// The events `command` records, without applying them.
    pub fn decide(&self, command: AlertCommand) -> Result<Vec<AlertEvent>, AlertError> {
        if let AlertCommand::Raise(raised) = command {
            return match self.raised {
                Some(_) => Err(AlertError::AlreadyRaised),
                None => Ok(vec![AlertEvent::AlertRaised(raised)]),
            };
        }
        let (Some(raised), Some(state)) = (&self.raised, self.state) else {
            return Err(AlertError::Missing);
        };
        match command {
            AlertCommand::Raise(_) => unreachable!("handled above"),
            AlertCommand::StartAttempt { at, stale_after } => {
                let next = AlertEvent::DeliveryAttempted {
                    attempt: self.attempts + 1,
                    started_at: at,
                };
                match state {
                    DeliveryState::Pending { due } if due <= at => Ok(vec![next]),
                    DeliveryState::Sending { since } if since + stale_after <= at => Ok(vec![
                        AlertEvent::DeliveryFailed {
                            attempt: self.attempts,
                            status: None,
                            error: "no outcome was recorded (the process stopped mid-attempt)"
                                .to_owned(),
                            at,
                            retry_at: Some(at),
                        },
                        next,
                    ]),
                    _ => Err(AlertError::NotDue),
                }
            }
            AlertCommand::Finish {
                attempt,
                status,
                error,
                at,
                retry_at,
            } => {
                if !matches!(state, DeliveryState::Sending { .. }) || attempt != self.attempts {
                    return Err(AlertError::NotInFlight(attempt));
                }
                Ok(vec![match error {
                    None => AlertEvent::DeliverySucceeded {
                        attempt,
                        status: status.unwrap_or(200),
                        at,
                    },
                    Some(error) => AlertEvent::DeliveryFailed {
                        attempt,
                        status,
                        error,
                        at,
                        retry_at: retry_at.filter(|next| *next <= raised.give_up_at),
                    },
                }])
            }
            AlertCommand::Retry { at, window } => match state {
                DeliveryState::Delivered { .. } => Err(AlertError::Delivered),
                DeliveryState::Sending { .. } => Err(AlertError::InFlight),
                DeliveryState::Pending { .. } | DeliveryState::Failed => {
                    Ok(vec![AlertEvent::RetryRequested {
                        at,
                        give_up_at: at + window,
                    }])
                }
            },
        }
    }
}

impl Aggregate for Alert {
    const TYPE: &'static str = ALERT_STREAM;
    type Command = AlertCommand;
    type Event = AlertEvent;
    type Error = AlertError;
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
            AlertEvent::AlertRaised(raised) => {
                self.state = Some(DeliveryState::Pending {
                    due: raised.raised_at,
                });
                self.raised = Some(raised);
            }
            AlertEvent::DeliveryAttempted {
                attempt,
                started_at,
            } => {
                self.attempts = attempt;
                self.state = Some(DeliveryState::Sending { since: started_at });
            }
            AlertEvent::DeliverySucceeded { at, .. } => {
                self.state = Some(DeliveryState::Delivered { at });
            }
            AlertEvent::DeliveryFailed {
                status,
                error,
                retry_at,
                ..
            } => {
                self.last_status = status;
                self.last_error = Some(error);
                self.state = Some(match retry_at {
                    Some(due) => DeliveryState::Pending { due },
                    None => DeliveryState::Failed,
                });
            }
            AlertEvent::RetryRequested { at, give_up_at } => {
                if let Some(raised) = &mut self.raised {
                    raised.give_up_at = give_up_at;
                }
                self.state = Some(DeliveryState::Pending { due: at });
            }
        }
    }
}

/// The wait before attempt `attempt + 1` after `attempt` failed: `base` doubled per attempt,
/// at most `cap`, scaled into its upper half by `jitter` in [0, 1) so receivers coming back
/// are not hit by every sender at once.
pub fn retry_delay(attempt: u32, base: Duration, cap: Duration, jitter: f64) -> Duration {
    let doubled = base
        .num_milliseconds()
        .saturating_mul(1_i64 << attempt.saturating_sub(1).min(30));
    let full = doubled.min(cap.num_milliseconds()).max(1);
    let jittered = full as f64 * (0.5 + 0.5 * jitter.clamp(0.0, 1.0));
    Duration::milliseconds(jittered as i64)
}
