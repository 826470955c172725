//! A portal's connection to HubSpot, one stream per portal (`{portal}/connection`): how it was
//! connected (OAuth install or private-app token), each token refresh, when HubSpot refused the
//! refresh token (the portal must be re-authorised), and disconnects. The tokens themselves are
//! never in an event: they are kept encrypted beside the log, and the log says what happened.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

/// The `stream_type` of connection streams.
pub const CONNECTION_STREAM: &str = "connection";

/// How a portal was connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionMethod {
    /// Installed through the OAuth app (tokens expire and are refreshed).
    Oauth,
    /// A private-app access token (does not expire).
    PrivateApp,
}

/// Where a connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// Syncing with a working token.
    Connected,
    /// HubSpot refused the refresh token: someone must install the app again. No sync runs.
    NeedsReauthorisation,
    /// Disconnected by an operator: data and scores stay, syncing stops.
    Disconnected,
}

/// What can be asked of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionCommand {
    /// Connect (or connect again) with fresh tokens.
    Connect {
        /// OAuth or private app.
        method: ConnectionMethod,
        /// The scopes HubSpot granted.
        scopes: Vec<String>,
        /// Who installed or pasted the token (HubSpot's user for OAuth, the operator key else).
        by: Option<String>,
        /// When.
        at: DateTime<Utc>,
    },
    /// Record that the access token was refreshed.
    RecordRefresh {
        /// When the new access token expires.
        expires_at: DateTime<Utc>,
        /// When.
        at: DateTime<Utc>,
    },
    /// HubSpot refused the refresh token (`BAD_REFRESH_TOKEN`) or the token itself.
    RequireReauthorisation {
        /// HubSpot's words.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Stop syncing this portal; its data stays.
    Disconnect {
        /// When.
        at: DateTime<Utc>,
    },
}

/// What happened to a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ConnectionEvent {
    /// The portal was connected for the first time.
    Connected {
        /// OAuth or private app.
        method: ConnectionMethod,
        /// Granted scopes.
        scopes: Vec<String>,
        /// Who connected it.
        by: Option<String>,
        /// When.
        at: DateTime<Utc>,
    },
    /// The portal was connected again, after a disconnect or a refused refresh token, or with
    /// a new token.
    Reconnected {
        /// OAuth or private app.
        method: ConnectionMethod,
        /// Granted scopes.
        scopes: Vec<String>,
        /// Who connected it.
        by: Option<String>,
        /// When.
        at: DateTime<Utc>,
    },
    /// A new access token was obtained with the refresh token.
    TokenRefreshed {
        /// When it expires.
        expires_at: DateTime<Utc>,
        /// When.
        at: DateTime<Utc>,
    },
    /// The portal must be re-authorised; syncing stops until it is.
    ReauthorisationNeeded {
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Disconnected.
    Disconnected {
        /// When.
        at: DateTime<Utc>,
    },
}

impl DomainEvent for ConnectionEvent {
    fn event_type(&self) -> String {
        match self {
            Self::Connected { .. } => "Connected",
            Self::Reconnected { .. } => "Reconnected",
            Self::TokenRefreshed { .. } => "TokenRefreshed",
            Self::ReauthorisationNeeded { .. } => "ReauthorisationNeeded",
            Self::Disconnected { .. } => "Disconnected",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

/// A command that does not apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionError {
    /// The portal was never connected.
    #[error("the portal is not connected")]
    NotConnected,
}

/// A connection as its events tell it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    state: Option<ConnectionView>,
}

/// The connection as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionView {
    /// OAuth or private app.
    pub method: ConnectionMethod,
    /// Connected, needing re-authorisation, or disconnected.
    pub status: ConnectionStatus,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Who connected it last.
    pub connected_by: Option<String>,
    /// When it was first connected.
    pub connected_at: DateTime<Utc>,
    /// When it was last (re)connected.
    pub reconnected_at: Option<DateTime<Utc>>,
    /// When the current access token expires (OAuth only).
    pub token_expires_at: Option<DateTime<Utc>>,
    /// Why it needs re-authorisation, when it does.
    pub reason: Option<String>,
    /// When anything last happened to it.
    pub updated_at: DateTime<Utc>,
}

impl Connection {
    /// The connection, once connected.
    #[must_use]
    pub fn view(&self) -> Option<&ConnectionView> {
        self.state.as_ref()
    }

    /// Whether the portal should sync.
    #[must_use]
    pub fn is_active(&self) -> bool {
        self.state
            .as_ref()
            .is_some_and(|s| s.status == ConnectionStatus::Connected)
    }

    /// The events a command records.
    pub fn decide(
        &self,
        command: ConnectionCommand,
    ) -> Result<Vec<ConnectionEvent>, ConnectionError> {
        let event = match command {
            ConnectionCommand::Connect {
                method,
                scopes,
                by,
                at,
            } => match self.state {
                None => ConnectionEvent::Connected {
                    method,
                    scopes,
                    by,
                    at,
                },
                Some(_) => ConnectionEvent::Reconnected {
                    method,
                    scopes,
                    by,
                    at,
                },
            },
            ConnectionCommand::RecordRefresh { expires_at, at } => {
                self.state.as_ref().ok_or(ConnectionError::NotConnected)?;
                ConnectionEvent::TokenRefreshed { expires_at, at }
            }
            ConnectionCommand::RequireReauthorisation { reason, at } => {
                let state = self.state.as_ref().ok_or(ConnectionError::NotConnected)?;
                if state.status != ConnectionStatus::Connected {
                    return Ok(Vec::new());
                }
                ConnectionEvent::ReauthorisationNeeded { reason, at }
            }
            ConnectionCommand::Disconnect { at } => {
                let state = self.state.as_ref().ok_or(ConnectionError::NotConnected)?;
                if state.status == ConnectionStatus::Disconnected {
                    return Ok(Vec::new());
                }
                ConnectionEvent::Disconnected { at }
            }
        };
        Ok(vec![event])
    }

    /// Applies one recorded event.
    pub fn apply_event(&mut self, event: ConnectionEvent) {
        match event {
            ConnectionEvent::Connected {
                method,
                scopes,
                by,
                at,
            } => {
                self.state = Some(ConnectionView {
                    method,
                    status: ConnectionStatus::Connected,
                    scopes,
                    connected_by: by,
                    connected_at: at,
                    reconnected_at: None,
                    token_expires_at: None,
                    reason: None,
                    updated_at: at,
                });
            }
            ConnectionEvent::Reconnected {
                method,
                scopes,
                by,
                at,
            } => {
                if let Some(state) = &mut self.state {
                    state.method = method;
                    state.status = ConnectionStatus::Connected;
                    state.scopes = scopes;
                    state.connected_by = by;
                    state.reconnected_at = Some(at);
                    state.token_expires_at = None;
                    state.reason = None;
                    state.updated_at = at;
                }
            }
            ConnectionEvent::TokenRefreshed { expires_at, at } => {
                if let Some(state) = &mut self.state {
                    state.token_expires_at = Some(expires_at);
                    state.updated_at = at;
                }
            }
            ConnectionEvent::ReauthorisationNeeded { reason, at } => {
                if let Some(state) = &mut self.state {
                    state.status = ConnectionStatus::NeedsReauthorisation;
                    state.reason = Some(reason);
                    state.updated_at = at;
                }
            }
            ConnectionEvent::Disconnected { at } => {
                if let Some(state) = &mut self.state {
                    state.status = ConnectionStatus::Disconnected;
                    state.updated_at = at;
                }
            }
        }
    }
}

impl Aggregate for Connection {
    const TYPE: &'static str = CONNECTION_STREAM;
    type Command = ConnectionCommand;
    type Event = ConnectionEvent;
    type Error = ConnectionError;
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
        self.apply_event(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(connection: &mut Connection, command: ConnectionCommand) -> usize {
        let events = connection.decide(command).expect("accepted");
        let n = events.len();
        for event in events {
            connection.apply_event(event);
        }
        n
    }

    fn connect(at: i64) -> ConnectionCommand {
        ConnectionCommand::Connect {
            method: ConnectionMethod::Oauth,
            scopes: vec!["crm.objects.contacts.read".to_owned()],
            by: Some("ana@example.test".to_owned()),
            at: DateTime::from_timestamp(at, 0).expect("time"),
        }
    }

    #[test]
    fn a_refused_refresh_stops_syncing_until_the_portal_is_connected_again() {
        let mut c = Connection::default();
        assert_eq!(
            c.decide(ConnectionCommand::Disconnect { at: Utc::now() }),
            Err(ConnectionError::NotConnected)
        );
        run(&mut c, connect(1));
        assert!(c.is_active());
        let reason = "BAD_REFRESH_TOKEN".to_owned();
        let at = Utc::now();
        assert_eq!(
            run(
                &mut c,
                ConnectionCommand::RequireReauthorisation {
                    reason: reason.clone(),
                    at
                }
            ),
            1
        );
        assert!(!c.is_active());
        assert_eq!(
            run(
                &mut c,
                ConnectionCommand::RequireReauthorisation { reason, at }
            ),
            0,
            "said once"
        );
        run(&mut c, connect(5));
        let view = c.view().expect("connected");
        assert_eq!(view.status, ConnectionStatus::Connected);
        assert_eq!(view.reason, None);
        assert_eq!(view.connected_at.timestamp(), 1, "first connected at 1");
        run(&mut c, ConnectionCommand::Disconnect { at });
        assert_eq!(
            c.view().map(|v| v.status),
            Some(ConnectionStatus::Disconnected)
        );
        assert_eq!(run(&mut c, ConnectionCommand::Disconnect { at }), 0);
    }
}
