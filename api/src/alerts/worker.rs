//! The alerter `serve` runs: it follows the log's band changes and alert events from its
//! checkpoint, decides the alerts the rules in force at each change call for, keeps the
//! `alerts` table, and makes the attempts that are due.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate as _;
use healthscore_domain::alerts::{
    ALERT_RULES_STREAM, ALERT_STREAM, Alert, AlertCommand, AlertEvent, AlertRule, BandMove, Raised,
};
use healthscore_domain::customer_health::{
    ACCOUNT_HEALTH_STREAM, CUSTOMER_HEALTH_STREAM, CustomerHealthEvent,
};
use healthscore_domain::ids::PortalId;
use healthscore_domain::scoring::Subject;
use healthscore_projections::RecordedEvent;
use healthscore_projections::alerts::{self as table, AlertRow};
use healthscore_projections::scoring::materialized;
use rust_decimal::Decimal;
use tokio::sync::watch;

use super::payload::{self, Change};
use super::{AlertError, AlertsError, RuleCache, alert_id, deliver, store_error};
use crate::http::AppState;

/// Events read per step.
const PAGE: i64 = 500;
/// Attempts made at once.
const PARALLEL_ATTEMPTS: i64 = 32;
/// How often the alerter looks when nothing wakes it.
const POLL: Duration = Duration::from_secs(1);

/// The stream types the alerter reads.
const TYPES: [&str; 4] = [
    CUSTOMER_HEALTH_STREAM,
    ACCOUNT_HEALTH_STREAM,
    ALERT_RULES_STREAM,
    ALERT_STREAM,
];

/// The alerter over one server's state.
pub struct Alerter {
    state: AppState,
    rules: RuleCache,
    /// When score drops are next looked for.
    next_drop_check: DateTime<Utc>,
}

impl Alerter {
    /// An alerter deciding and delivering for `state`.
    pub fn new(state: AppState) -> Self {
        Self {
            state,
            rules: RuleCache::default(),
            next_drop_check: DateTime::<Utc>::MIN_UTC,
        }
    }

    /// The server state it works for.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Runs until `stop` turns true.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut appended = self.state.store.subscribe();
        loop {
            let wait = match self.step().await {
                Ok(wait) => wait,
                Err(error) => {
                    tracing::warn!(%error, "the alerter failed a step; trying again");
                    POLL
                }
            };
            tokio::select! {
                _ = appended.changed() => {}
                () = tokio::time::sleep(wait) => {}
                _ = stop.changed() => break,
            }
        }
    }

    /// Decides and folds up to the log's head, then makes the due attempts; how long until
    /// the next one is due (at most [`POLL`]).
    pub async fn step(&mut self) -> Result<Duration, AlertsError> {
        self.catch_up().await?;
        let now = Utc::now();
        if now >= self.next_drop_check {
            let interval = self.state.alerts.settings().drop_check_interval;
            self.next_drop_check = now + chrono::Duration::from_std(interval).unwrap_or_default();
            super::drops::check(self, now).await?;
            self.catch_up().await?;
        }
        let db = self.state.store.db().clone();
        let now = Utc::now().timestamp_millis();
        let due = table::due(&db, now, PARALLEL_ATTEMPTS)
            .await
            .map_err(store_error)?;
        let mut attempts = tokio::task::JoinSet::new();
        for stream in due {
            let state = self.state.clone();
            attempts.spawn(async move {
                let Some(portal) = portal_of(&stream) else {
                    return;
                };
                if let Err(error) = deliver::attempt(&state.alerts, portal, &stream).await {
                    tracing::warn!(%error, "an alert attempt could not be recorded");
                }
            });
        }
        let attempted = !attempts.is_empty();
        while attempts.join_next().await.is_some() {}
        if attempted {
            // Fold the outcomes before anything is judged due again.
            self.catch_up().await?;
        }
        let next = table::next_due(&db).await.map_err(store_error)?;
        let now = Utc::now().timestamp_millis();
        Ok(next.map_or(POLL, |at| {
            Duration::from_millis(u64::try_from(at - now).unwrap_or(0)).min(POLL)
        }))
    }

    /// Follows the log from the checkpoint to its head.
    async fn catch_up(&mut self) -> Result<(), AlertsError> {
        let log = self.state.store.clone();
        loop {
            let after = table::checkpoint(log.db()).await.map_err(store_error)?;
            let head = log.head().await.map_err(store_error)?;
            if after >= head {
                return Ok(());
            }
            let page = log
                .read_types_between(&TYPES, after, head, PAGE)
                .await
                .map_err(store_error)?;
            let through = match page.last() {
                Some(last) if page.len() as i64 == PAGE => last.position,
                _ => head,
            };
            let mut touched = BTreeSet::new();
            for recorded in &page {
                match recorded.event.stream_type.as_str() {
                    CUSTOMER_HEALTH_STREAM | ACCOUNT_HEALTH_STREAM => {
                        self.decide(recorded).await?;
                    }
                    ALERT_STREAM => {
                        touched.insert(recorded.event.stream_id.clone());
                    }
                    _ => {}
                }
            }
            let mut rows = Vec::new();
            for stream in touched {
                if let Some(row) = self.fold(&stream).await? {
                    rows.push(row);
                }
            }
            table::upsert(log.db(), &rows).await.map_err(store_error)?;
            table::set_checkpoint(log.db(), through)
                .await
                .map_err(store_error)?;
        }
    }

    /// Decides the alerts one band change calls for.
    async fn decide(&mut self, recorded: &RecordedEvent) -> Result<(), AlertsError> {
        let Some(portal) = portal_of(&recorded.event.stream_id) else {
            return Ok(());
        };
        let Ok(event) = serde_json::from_str::<CustomerHealthEvent>(&recorded.event.payload) else {
            return Ok(());
        };
        let (subject, old, new, score, config_version, changed_at) = match event {
            CustomerHealthEvent::CustomerBandChanged {
                old_band,
                new_band,
                score,
                config_version,
                changed_at,
            } => (
                Subject::Contact,
                old_band,
                new_band,
                score,
                config_version,
                changed_at,
            ),
            CustomerHealthEvent::AccountBandChanged {
                old_band,
                new_band,
                score,
                config_version,
                changed_at,
            } => (
                Subject::Company,
                old_band,
                new_band,
                score,
                config_version,
                changed_at,
            ),
        };
        let log = self.state.store.clone();
        let versions = self.rules.through(&log, portal, recorded.position).await?;
        let Some(rules) = versions.at(recorded.position).cloned() else {
            return Ok(());
        };
        let Some(subject_id) = subject_of(&recorded.event.stream_id) else {
            return Ok(());
        };
        let (scorecard, owner) = self.filters(portal, subject, subject_id).await;
        let change = BandMove {
            subject,
            old,
            new,
            scorecard: scorecard.as_deref(),
            owner: Some(owner.as_str()).filter(|o| !o.is_empty()),
        };
        for rule in rules.iter().filter(|rule| rule.fires_on(&change)) {
            let stream = format!(
                "{portal}/{ALERT_STREAM}/{}/{}/{subject_id}/{:010}",
                rule.id,
                subject.as_str(),
                recorded.event.sequence
            );
            let previous = self.previous(recorded).await?;
            let change = Change {
                alert_id: alert_id(&stream),
                portal,
                subject,
                subject_id,
                trigger: rule.on,
                from: (old, previous.and_then(|p| p.1)),
                to: (new, score),
                from_at: previous.map(|p| p.0),
                config_version,
                changed_at,
            };
            self.raise(rule, &stream, change).await?;
        }
        Ok(())
    }

    /// Decides the alert on `stream` about `change`, unless the rule's cooldown keeps it quiet
    /// or it was decided already (a restart, a replay, another instance).
    pub async fn raise(
        &self,
        rule: &AlertRule,
        stream: &str,
        change: Change,
    ) -> Result<(), AlertsError> {
        if self.quiet(rule, stream, change.changed_at).await? {
            return Ok(());
        }
        let body = payload::body(&self.state, &change).await;
        let now = Utc::now();
        let raised = Raised {
            alert_id: change.alert_id.clone(),
            rule_id: rule.id.clone(),
            trigger: rule.on,
            destination: rule.destination.clone(),
            subject: change.subject,
            subject_id: change.subject_id,
            body: body.to_string(),
            changed_at: change.changed_at,
            raised_at: now,
            give_up_at: now
                + chrono::Duration::from_std(self.state.alerts.settings().retry_for)
                    .unwrap_or_default(),
        };
        match self
            .state
            .alerts
            .execute(stream, AlertCommand::Raise(Box::new(raised)))
            .await
        {
            Ok(())
            | Err(AlertsError::Alert(AlertError::AlreadyRaised) | AlertsError::Concurrent) => {
                Ok(())
            }
            Err(other) => Err(other),
        }
    }

    /// Whether `rule`'s cooldown keeps it quiet for the alert on `stream`, or that alert was
    /// decided already: the rule's last alert about the same subject is read from the log.
    async fn quiet(
        &self,
        rule: &AlertRule,
        stream: &str,
        changed_at: DateTime<Utc>,
    ) -> Result<bool, AlertsError> {
        let prefix = &stream[..=stream.rfind('/').unwrap_or_default()];
        let log = &self.state.store;
        let earlier = log
            .stream_ids_with_prefix(prefix, 3)
            .await
            .map_err(store_error)?;
        if earlier.iter().any(|s| s == stream) {
            return Ok(true);
        }
        let Some(last) = earlier.iter().find(|s| s.as_str() < stream) else {
            return Ok(false);
        };
        let first = log.read_stream(last, 0).await.map_err(store_error)?;
        let last_at = first
            .first()
            .and_then(|r| serde_json::from_str::<AlertEvent>(&r.event.payload).ok())
            .and_then(|e| match e {
                AlertEvent::AlertRaised(raised) => Some(raised.changed_at),
                _ => None,
            });
        Ok(last_at.is_some_and(|at| (changed_at - at).num_milliseconds() < rule.cooldown_ms()))
    }

    /// The subject's band change before this one: when, and its score.
    async fn previous(
        &self,
        recorded: &RecordedEvent,
    ) -> Result<Option<(DateTime<Utc>, Option<Decimal>)>, AlertsError> {
        if recorded.event.sequence < 2 {
            return Ok(None);
        }
        let events = self
            .state
            .store
            .read_stream(&recorded.event.stream_id, recorded.event.sequence - 2)
            .await
            .map_err(store_error)?;
        Ok(events
            .first()
            .and_then(|r| serde_json::from_str::<CustomerHealthEvent>(&r.event.payload).ok())
            .map(|e| match e {
                CustomerHealthEvent::CustomerBandChanged {
                    score, changed_at, ..
                }
                | CustomerHealthEvent::AccountBandChanged {
                    score, changed_at, ..
                } => (changed_at, score),
            }))
    }

    /// The subject's scorecard (from its materialized score) and owner id, for rule filters.
    async fn filters(
        &self,
        portal: PortalId,
        subject: Subject,
        id: u64,
    ) -> (Option<String>, String) {
        let scorecard = materialized::scorecard_of(self.state.store.db(), portal, subject, id)
            .await
            .ok()
            .flatten();
        let owner = self.state.scoring.with_portal(portal, |objects| {
            objects
                .get(subject.object_type(), id)
                .map(|h| h.current().property("hubspot_owner_id").to_owned())
                .unwrap_or_default()
        });
        (scorecard, owner)
    }

    /// The `alerts` row of the alert on `stream`, folded from its events.
    async fn fold(&self, stream: &str) -> Result<Option<AlertRow>, AlertsError> {
        let events = self
            .state
            .store
            .read_stream(stream, 0)
            .await
            .map_err(store_error)?;
        let mut alert = Alert::default();
        let mut sequence = 0;
        for recorded in &events {
            alert.apply(serde_json::from_str(&recorded.event.payload).map_err(store_error)?);
            sequence = recorded.event.sequence;
        }
        let (Some(raised), Some(state), Some(portal)) =
            (alert.raised(), alert.state(), portal_of(stream))
        else {
            return Ok(None);
        };
        let (last_status, last_error) = alert.last_failure();
        let stale_after = self.state.alerts.settings().stale_after();
        Ok(Some(AlertRow {
            alert_id: raised.alert_id.clone(),
            portal_id: i64::try_from(portal.0).unwrap_or_default(),
            stream_id: stream.to_owned(),
            rule_id: raised.rule_id.clone(),
            destination_id: raised.destination.clone(),
            alert_type: raised.trigger.alert_type().to_owned(),
            subject_type: raised.subject.as_str().to_owned(),
            subject_id: i64::try_from(raised.subject_id).unwrap_or_default(),
            state: state.name().to_owned(),
            attempts: i64::from(alert.attempts()),
            next_attempt_at: alert
                .next_attempt_at(stale_after)
                .map(|t| t.timestamp_millis()),
            last_status: last_status.map(i64::from),
            last_error: last_error.map(str::to_owned),
            changed_at: raised.changed_at.timestamp_millis(),
            raised_at: raised.raised_at.timestamp_millis(),
            delivered_at: match state {
                healthscore_domain::alerts::DeliveryState::Delivered { at } => {
                    Some(at.timestamp_millis())
                }
                _ => None,
            },
            sequence,
        }))
    }
}

/// The portal a stream id starts with.
pub fn portal_of(stream: &str) -> Option<PortalId> {
    stream.split('/').next()?.parse().ok().map(PortalId)
}

/// The subject id at the end of a health stream id.
fn subject_of(stream: &str) -> Option<u64> {
    stream.rsplit('/').next()?.parse().ok()
}
