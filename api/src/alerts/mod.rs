//! Alerts on health (issue #18): the rules and destinations a portal sets through the API, the
//! alerter that decides alerts from the band changes in the log, and their delivery.
//!
//! Decisions are exactly-once: an alert's stream id is derived from the band change it reports
//! and the rule that fired (`{portal}/alert/{rule}/{subject}/{id}/{health sequence}`), so a
//! second decider, a restart or a replay finds the stream taken. Delivery is at-least-once with
//! a stable `webhook-id` the receiver dedups on.

pub mod deliver;
pub mod drops;
pub mod payload;
pub mod signing;
pub mod worker;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cqrs_es::{AggregateError, CqrsFramework, EventStore as _};
use healthscore_domain::alerts::{
    Added, Alert, AlertCommand, AlertDestination, AlertError, AlertRule, AlertRules,
    AlertRulesCommand, AlertRulesError, DestinationCommand, DestinationError, DestinationKind,
};
use healthscore_domain::ids::PortalId;
use healthscore_projections::{AggregateStore, EventStore};
use sha2::{Digest, Sha256};

use crate::connections::Vault;

/// How alerts are delivered.
#[derive(Debug, Clone)]
pub struct AlertSettings {
    /// The dashboard's public base URL (links in alerts).
    pub public_url: String,
    /// The wait after a first failed attempt; doubled after each further one.
    pub retry_base: Duration,
    /// The longest wait between attempts.
    pub retry_cap: Duration,
    /// How long attempts go on before the alert is marked failed.
    pub retry_for: Duration,
    /// How long one attempt may take.
    pub attempt_timeout: Duration,
    /// How often score drops are looked for (`score_dropped` rules): each look scores the
    /// portal's subjects as of each rule's window start.
    pub drop_check_interval: Duration,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            public_url: "http://localhost:8080".to_owned(),
            retry_base: Duration::from_secs(30),
            retry_cap: Duration::from_secs(3600),
            retry_for: Duration::from_secs(24 * 3600),
            attempt_timeout: Duration::from_secs(10),
            drop_check_interval: Duration::from_secs(300),
        }
    }
}

impl AlertSettings {
    /// A claim with no outcome after this long is from a process that stopped mid-attempt.
    pub fn stale_after(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.attempt_timeout * 3).unwrap_or(chrono::Duration::MAX)
    }
}

/// Why an alert request was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum AlertsError {
    /// The rules' `If-Match` is stale.
    #[error(transparent)]
    Rules(#[from] AlertRulesError),
    /// A destination command was refused.
    #[error(transparent)]
    Destination(#[from] DestinationError),
    /// An alert command was refused.
    #[error(transparent)]
    Alert(#[from] AlertError),
    /// Another request changed the same thing at the same moment.
    #[error("changed concurrently; try again")]
    Concurrent,
    /// No vault: secrets cannot be stored.
    #[error(
        "alert destinations need the secret key (HEALTHSCORE_SECRET_KEY, or the key file beside a SQLite database)"
    )]
    NoVault,
    /// A stored secret cannot be opened.
    #[error("a destination's stored secret cannot be opened with the configured keys")]
    Unreadable,
    /// The log failed.
    #[error("the event log failed")]
    Store(#[source] crate::BoxError),
}

fn from_aggregate<E>(error: AggregateError<E>) -> AlertsError
where
    E: std::error::Error + Into<AlertsError> + Send + Sync + 'static,
{
    match error {
        AggregateError::UserError(error) => error.into(),
        AggregateError::AggregateConflict => AlertsError::Concurrent,
        other => AlertsError::Store(other.to_string().into()),
    }
}

fn store_error(error: impl Into<crate::BoxError>) -> AlertsError {
    AlertsError::Store(error.into())
}

type Cqrs<A> = CqrsFramework<A, AggregateStore<A>>;

/// A destination as the API lists it.
#[derive(Debug, Clone)]
pub struct DestinationInfo {
    /// Its id.
    pub id: String,
    /// What the destination holds.
    pub added: Added,
}

/// A destination ready to call.
pub struct Opened {
    /// Webhook or Slack.
    pub kind: DestinationKind,
    /// The URL.
    pub url: String,
    /// The signing secret (webhooks).
    pub secret: Option<String>,
}

/// Rules, destinations and alerts of every portal.
pub struct Alerts {
    settings: AlertSettings,
    log: EventStore,
    vault: Option<Vault>,
    http: reqwest::Client,
    rules: (Cqrs<AlertRules>, AggregateStore<AlertRules>),
    destinations: (Cqrs<AlertDestination>, AggregateStore<AlertDestination>),
    alerts: (Cqrs<Alert>, AggregateStore<Alert>),
}

impl std::fmt::Debug for Alerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerts")
            .field("settings", &self.settings)
            .field("vault", &self.vault.is_some())
            .finish_non_exhaustive()
    }
}

/// The stream of `portal`'s rules.
pub fn rules_stream(portal: PortalId) -> String {
    format!("{portal}/alert_rules")
}

fn destination_stream(portal: PortalId, id: &str) -> String {
    format!("{portal}/alert_destination/{id}")
}

/// The public id of the alert on `stream`: short, stable, the `webhook-id`.
pub fn alert_id(stream: &str) -> String {
    format!(
        "msg_{}",
        hex::encode(&Sha256::digest(stream.as_bytes())[..12])
    )
}

impl Alerts {
    /// Alerts over `log`; without a vault destinations cannot be added.
    pub fn new(log: &EventStore, settings: AlertSettings, vault: Option<Vault>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(settings.attempt_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("healthscore/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self {
            settings,
            log: log.clone(),
            vault,
            http,
            rules: healthscore_projections::aggregates(log),
            destinations: healthscore_projections::aggregates(log),
            alerts: healthscore_projections::aggregates(log),
        }
    }

    /// The delivery settings.
    pub fn settings(&self) -> &AlertSettings {
        &self.settings
    }

    /// The log alerts live in.
    pub fn log(&self) -> &EventStore {
        &self.log
    }

    /// `portal`'s rules now.
    pub async fn rules(&self, portal: PortalId) -> Result<AlertRules, AlertsError> {
        let context = self
            .rules
            .1
            .load_aggregate(&rules_stream(portal))
            .await
            .map_err(store_error)?;
        Ok(context.aggregate)
    }

    /// Replaces `portal`'s rules (already validated, destinations checked).
    pub async fn replace_rules(
        &self,
        portal: PortalId,
        rules: Vec<AlertRule>,
        expected_version: Option<u32>,
        at: DateTime<Utc>,
    ) -> Result<AlertRules, AlertsError> {
        let command = AlertRulesCommand::Replace {
            rules,
            expected_version,
            at,
        };
        self.rules
            .0
            .execute(&rules_stream(portal), command)
            .await
            .map_err(from_aggregate)?;
        self.rules(portal).await
    }

    /// Adds a destination; its id and, for a webhook, the signing secret (shown this once).
    pub async fn add_destination(
        &self,
        portal: PortalId,
        kind: DestinationKind,
        name: String,
        url: &reqwest::Url,
        at: DateTime<Utc>,
    ) -> Result<(String, Option<String>), AlertsError> {
        let vault = self.vault.as_ref().ok_or(AlertsError::NoVault)?;
        let id = format!("dst_{}", hex::encode(rand::random::<[u8; 8]>()));
        let secret = (kind == DestinationKind::Webhook).then(signing::new_secret);
        let command = DestinationCommand::Add {
            kind,
            name,
            url_sealed: vault.seal(portal, url.as_str()),
            url_shown: shown(url),
            secret_sealed: secret.as_deref().map(|s| vault.seal(portal, s)),
            at,
        };
        self.destinations
            .0
            .execute(&destination_stream(portal, &id), command)
            .await
            .map_err(from_aggregate)?;
        Ok((id, secret))
    }

    /// Deletes a destination.
    pub async fn remove_destination(
        &self,
        portal: PortalId,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), AlertsError> {
        self.destinations
            .0
            .execute(
                &destination_stream(portal, id),
                DestinationCommand::Remove { at },
            )
            .await
            .map_err(from_aggregate)
    }

    /// One live destination of `portal`.
    pub async fn destination(
        &self,
        portal: PortalId,
        id: &str,
    ) -> Result<Option<Added>, AlertsError> {
        if !valid_destination_id(id) {
            return Ok(None);
        }
        let context = self
            .destinations
            .1
            .load_aggregate(&destination_stream(portal, id))
            .await
            .map_err(store_error)?;
        Ok(context.aggregate.live().cloned())
    }

    /// Every live destination of `portal`, oldest first.
    pub async fn destinations(
        &self,
        portal: PortalId,
    ) -> Result<Vec<DestinationInfo>, AlertsError> {
        let prefix = destination_stream(portal, "");
        let streams = self
            .log
            .stream_ids_with_prefix(&prefix, 1000)
            .await
            .map_err(store_error)?;
        let mut found = Vec::new();
        for stream in streams {
            let id = stream[prefix.len()..].to_owned();
            if let Some(added) = self.destination(portal, &id).await? {
                found.push(DestinationInfo { id, added });
            }
        }
        found.sort_by_key(|d| d.added.added_at);
        Ok(found)
    }

    /// A destination's URL and secret, opened.
    pub fn open(&self, portal: PortalId, added: &Added) -> Result<Opened, AlertsError> {
        let vault = self.vault.as_ref().ok_or(AlertsError::NoVault)?;
        let open = |sealed: &str| {
            vault
                .open(portal, sealed)
                .map(|s| s.expose().to_owned())
                .map_err(|_| AlertsError::Unreadable)
        };
        Ok(Opened {
            kind: added.kind,
            url: open(&added.url_sealed)?,
            secret: added.secret_sealed.as_deref().map(open).transpose()?,
        })
    }

    /// The alert on `stream`, as its events tell it.
    pub async fn alert(&self, stream: &str) -> Result<Alert, AlertsError> {
        let context = self
            .alerts
            .1
            .load_aggregate(stream)
            .await
            .map_err(store_error)?;
        Ok(context.aggregate)
    }

    /// Runs `command` on the alert on `stream`.
    pub async fn execute(&self, stream: &str, command: AlertCommand) -> Result<(), AlertsError> {
        self.alerts
            .0
            .execute(stream, command)
            .await
            .map_err(from_aggregate)
    }

    /// The HTTP client deliveries use (no redirects, the attempt timeout).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }
}

/// Destination ids are `dst_` and hex: anything else names none (and never reaches a stream id).
fn valid_destination_id(id: &str) -> bool {
    id.strip_prefix("dst_")
        .is_some_and(|hex| hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A URL as listings show it: scheme and host only (Slack URLs and webhook paths carry tokens).
fn shown(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{}://{host}:{port}/…", url.scheme()),
        None => format!("{}://{host}/…", url.scheme()),
    }
}

/// Rules of one portal by the log position from which each version applies.
#[derive(Debug, Default, Clone)]
pub struct RuleVersions {
    /// (position of the event that set them, the rules), oldest first.
    versions: Vec<(i64, Arc<Vec<AlertRule>>)>,
    /// The log head when these were read: they are complete for positions up to it.
    through: i64,
}

impl RuleVersions {
    /// The rules in force for an event at `position`: the last version set before it.
    pub fn at(&self, position: i64) -> Option<&Arc<Vec<AlertRule>>> {
        self.versions
            .iter()
            .rev()
            .find(|(set_at, _)| *set_at < position)
            .map(|(_, rules)| rules)
    }
}

/// Every portal's rule versions, read from their streams when an event is newer than the copy.
#[derive(Debug, Default)]
pub struct RuleCache {
    portals: HashMap<PortalId, RuleVersions>,
}

impl RuleCache {
    /// `portal`'s rule versions, complete through `position`.
    pub async fn through(
        &mut self,
        log: &EventStore,
        portal: PortalId,
        position: i64,
    ) -> Result<&RuleVersions, AlertsError> {
        let stale = self
            .portals
            .get(&portal)
            .is_none_or(|cached| cached.through < position);
        if stale {
            let head = log.head().await.map_err(store_error)?;
            let events = log
                .read_stream(&rules_stream(portal), 0)
                .await
                .map_err(store_error)?;
            let mut versions = Vec::new();
            for recorded in events {
                let event: healthscore_domain::alerts::AlertRulesEvent =
                    serde_json::from_str(&recorded.event.payload).map_err(store_error)?;
                let healthscore_domain::alerts::AlertRulesEvent::AlertRulesReplaced {
                    rules, ..
                } = event;
                versions.push((recorded.position, Arc::new(rules)));
            }
            self.portals.insert(
                portal,
                RuleVersions {
                    versions,
                    through: head,
                },
            );
        }
        Ok(&self.portals[&portal])
    }
}
