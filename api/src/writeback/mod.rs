//! Write-back (issue #18): each portal that opts in gets its scores on its HubSpot records, in
//! the `healthscore` property group: `healthscore_score`, `healthscore_band`,
//! `healthscore_trend_30d`, `healthscore_top_risk` and `healthscore_updated_at`, on contacts and
//! (when a company scorecard exists) companies.
//!
//! After a refresher pass, at most every `min_interval`, a pass writes only the records whose
//! values differ from what was last written, 100 per `batch/update`, through the portal's
//! client (paced by the same window as its sync; 429 and 5xx retried). What was written is
//! kept per record once its batch is accepted, so an interrupted pass resumes. The engine's own
//! properties coming back by webhook or sync are recorded but are not activity
//! ([`healthscore_domain::crm_object::is_written_back`]), so they change no score and trigger no
//! write.

pub mod worker;

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cqrs_es::{CqrsFramework, EventStore as _};
use healthscore_domain::ids::{ObjectType, PortalId};
use healthscore_domain::scoring::Subject;
use healthscore_domain::time::rfc3339_ms;
use healthscore_domain::writeback::{SetWriteback, WRITEBACK_STREAM, Writeback, WritebackEvent};
use healthscore_projections::scoring::materialized;
use healthscore_projections::writeback::{self as table, Written};
use healthscore_projections::{AggregateStore, EventStore};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use crate::http::AppState;
use crate::hubspot::HubSpotClient;
use crate::hubspot::write::BATCH_UPDATE_MAX;

/// The property group the engine's properties live in.
pub const GROUP: &str = "healthscore";

/// How one pass went.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct PassReport {
    /// 1 for this server's first pass for the portal, then 2, 3...
    pub pass: u64,
    /// Every pass request (`PUT .../writeback` answers its number) up to this one was made
    /// before this pass started: the pass covers it.
    pub covers_request: u64,
    /// When it ended.
    #[schema(format = DateTime)]
    pub finished_at: String,
    /// Records whose values changed and were written.
    pub written: usize,
    /// HubSpot requests made (setup, then one per 100 records).
    pub requests: usize,
    /// How long the pass took, HubSpot's answers and the pacing included.
    pub duration_ms: u64,
    /// Why it stopped early, when it did (the next pass resumes).
    pub error: Option<String>,
}

/// Every portal's write-back setting and last pass.
pub struct Writebacks {
    cqrs: CqrsFramework<Writeback, AggregateStore<Writeback>>,
    store: AggregateStore<Writeback>,
    log: EventStore,
    /// (portal, object type) whose group and properties exist, as this process learned.
    set_up: Mutex<HashSet<(PortalId, ObjectType)>>,
    last: Mutex<HashMap<PortalId, PassReport>>,
    /// Woken to run a pass now (the setting was just turned on).
    pub wake: tokio::sync::Notify,
    /// Pass requests made so far (numbered from 1).
    requests: std::sync::atomic::AtomicU64,
    /// The least time between passes.
    pub min_interval: Duration,
}

impl std::fmt::Debug for Writebacks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writebacks")
            .field("min_interval", &self.min_interval)
            .finish_non_exhaustive()
    }
}

fn stream(portal: PortalId) -> String {
    format!("{portal}/{WRITEBACK_STREAM}")
}

impl Writebacks {
    /// Settings kept in `log`; passes at most every `min_interval`.
    pub fn new(log: &EventStore, min_interval: Duration) -> Self {
        let (cqrs, store) = healthscore_projections::aggregates(log);
        Self {
            cqrs,
            store,
            log: log.clone(),
            set_up: Mutex::default(),
            last: Mutex::default(),
            wake: tokio::sync::Notify::new(),
            requests: std::sync::atomic::AtomicU64::new(0),
            min_interval,
        }
    }

    /// `portal`'s setting.
    pub async fn setting(&self, portal: PortalId) -> Result<Writeback, crate::BoxError> {
        Ok(self.store.load_aggregate(&stream(portal)).await?.aggregate)
    }

    /// Turns write-back on or off for `portal`.
    pub async fn set(
        &self,
        portal: PortalId,
        enabled: bool,
        by: String,
        at: DateTime<Utc>,
    ) -> Result<Writeback, crate::BoxError> {
        self.cqrs
            .execute(&stream(portal), SetWriteback { enabled, by, at })
            .await?;
        self.setting(portal).await
    }

    /// Asks for a pass now; the request's number (a pass whose `covers_request` reaches it
    /// started after it).
    pub fn request_pass(&self) -> u64 {
        let number = self
            .requests
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        self.wake.notify_one();
        number
    }

    /// The portals with write-back on.
    pub async fn enabled_portals(&self) -> Result<Vec<PortalId>, crate::BoxError> {
        let mut on: HashMap<PortalId, bool> = HashMap::new();
        for recorded in self.log.read_type(WRITEBACK_STREAM).await? {
            let Some(portal) = recorded
                .event
                .stream_id
                .split('/')
                .next()
                .and_then(|p| p.parse().ok())
            else {
                continue;
            };
            let event: WritebackEvent = serde_json::from_str(&recorded.event.payload)?;
            on.insert(
                PortalId(portal),
                matches!(event, WritebackEvent::WritebackEnabled { .. }),
            );
        }
        let mut portals: Vec<PortalId> =
            on.into_iter().filter(|(_, e)| *e).map(|(p, _)| p).collect();
        portals.sort();
        Ok(portals)
    }

    /// How `portal`'s last pass in this process went.
    pub fn last_pass(&self, portal: PortalId) -> Option<PassReport> {
        self.last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&portal)
            .cloned()
    }

    fn remember(&self, portal: PortalId, report: PassReport) {
        self.last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(portal, report);
    }

    fn is_set_up(&self, portal: PortalId, kind: ObjectType) -> bool {
        self.set_up
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&(portal, kind))
    }

    fn mark_set_up(&self, portal: PortalId, kind: ObjectType) {
        self.set_up
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert((portal, kind));
    }
}

/// The engine's properties, in HubSpot's create shape.
fn definitions() -> Vec<Value> {
    let option = |value: &str, label: &str, order: u32| json!({"label": label, "value": value, "displayOrder": order, "hidden": false});
    vec![
        json!({"name": "healthscore_score", "label": "Health score", "type": "number",
               "fieldType": "number", "groupName": GROUP,
               "description": "healthscore's 0-100 health score"}),
        json!({"name": "healthscore_band", "label": "Health band", "type": "enumeration",
               "fieldType": "select", "groupName": GROUP,
               "options": [option("healthy", "Healthy", 0), option("at_risk", "At risk", 1),
                           option("critical", "Critical", 2),
                           option("insufficient_data", "Insufficient data", 3)]}),
        json!({"name": "healthscore_trend_30d", "label": "Health trend (30 days)",
               "type": "number", "fieldType": "number", "groupName": GROUP,
               "description": "Score change over the last 30 days, in points"}),
        json!({"name": "healthscore_top_risk", "label": "Health top risk", "type": "string",
               "fieldType": "text", "groupName": GROUP,
               "description": "The factor costing the most points"}),
        json!({"name": "healthscore_updated_at", "label": "Health updated at",
               "type": "datetime", "fieldType": "date", "groupName": GROUP}),
    ]
}

/// Creates the group and properties on `kind` (an existing one counts as created); requests made.
async fn set_up(client: &HubSpotClient, kind: ObjectType) -> Result<usize, crate::BoxError> {
    client
        .create_property_group(kind, GROUP, "healthscore")
        .await?;
    let mut requests = 1;
    for definition in definitions() {
        client.create_property(kind, definition).await?;
        requests += 1;
    }
    Ok(requests)
}

/// One pass for `portal`; its report is also kept for `GET .../writeback`.
pub async fn pass(state: &AppState, portal: PortalId) -> PassReport {
    let covers_request = state
        .writebacks
        .requests
        .load(std::sync::atomic::Ordering::SeqCst);
    let started = std::time::Instant::now();
    let mut requests = 0;
    let mut written = 0;
    let outcome = run_pass(state, portal, &mut requests, &mut written).await;
    let report = PassReport {
        pass: state
            .writebacks
            .last_pass(portal)
            .map_or(1, |last| last.pass + 1),
        covers_request,
        finished_at: rfc3339_ms(Utc::now().timestamp_millis()),
        written,
        requests,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        error: outcome.err().map(|e| e.to_string()),
    };
    match &report.error {
        Some(error) => tracing::warn!(%portal, %error, "write-back pass stopped"),
        None if report.written > 0 => tracing::info!(
            %portal,
            written = report.written,
            requests = report.requests,
            duration_ms = report.duration_ms,
            "write-back pass"
        ),
        None => {}
    }
    state.writebacks.remember(portal, report.clone());
    report
}

async fn run_pass(
    state: &AppState,
    portal: PortalId,
    requests: &mut usize,
    written: &mut usize,
) -> Result<(), crate::BoxError> {
    let syncer = state
        .syncer_for(portal)
        .await
        .map_err(|e| e.detail().to_owned())?;
    let client = syncer.client().clone();
    let document = state.configs.load(portal).await?.current().clone();
    state.scoring.catch_up().await?;
    for subject in Subject::ALL {
        if !document.scores(subject) {
            continue;
        }
        let kind = subject.object_type();
        if !state.writebacks.is_set_up(portal, kind) {
            *requests += set_up(&client, kind).await?;
            state.writebacks.mark_set_up(portal, kind);
        }
        let changed = changed_values(state, portal, subject, &document).await?;
        for chunk in changed.chunks(BATCH_UPDATE_MAX) {
            let now = Utc::now();
            let inputs: Vec<(u64, Map<String, Value>)> = chunk
                .iter()
                .map(|(id, w)| (*id, properties(w, now)))
                .collect();
            *requests += 1;
            client.batch_update(kind, &inputs).await?;
            table::store(
                state.store.db(),
                portal_key(portal),
                kind.as_str(),
                chunk,
                now.timestamp_millis(),
            )
            .await?;
            *written += chunk.len();
        }
    }
    Ok(())
}

fn portal_key(portal: PortalId) -> i64 {
    i64::try_from(portal.0).unwrap_or(i64::MAX)
}

fn properties(w: &Written, now: DateTime<Utc>) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("healthscore_score".into(), json!(w.score));
    map.insert("healthscore_band".into(), json!(w.band));
    map.insert("healthscore_trend_30d".into(), json!(w.trend_30d));
    map.insert("healthscore_top_risk".into(), json!(w.top_risk));
    map.insert(
        "healthscore_updated_at".into(),
        json!(rfc3339_ms(now.timestamp_millis())),
    );
    map
}

/// The values each scored subject should carry now, where they differ from what was written.
async fn changed_values(
    state: &AppState,
    portal: PortalId,
    subject: Subject,
    document: &healthscore_domain::scoring::ScoringDocument,
) -> Result<Vec<(u64, Written)>, crate::BoxError> {
    let db = state.store.db();
    let rows = materialized::all(db, portal, subject).await?;
    // The trend compares with the score 30 days before the start of today (UTC): a value that
    // stays put all day, instead of one that drifts every pass and rewrites every record.
    let today = Utc::now()
        .date_naive()
        .and_time(chrono::NaiveTime::MIN)
        .and_utc();
    // A portal-wide pass: off the async workers.
    let (scoring, past) = (state.scoring.clone(), document.clone());
    let then: HashMap<u64, Option<Decimal>> = tokio::task::spawn_blocking(move || {
        scoring
            .score_all_subjects(portal, subject, today - chrono::Duration::days(30), &past)
            .into_iter()
            .map(|s| (s.id, s.report.score))
            .collect()
    })
    .await?;
    let last = table::load(db, portal_key(portal), subject.object_type().as_str()).await?;
    let mut changed: Vec<(u64, Written)> = rows
        .into_iter()
        .map(|row| {
            let now = row.score_tenths.map(|t| Decimal::new(t, 1));
            let trend = match (now, then.get(&row.subject_id).copied().flatten()) {
                (Some(now), Some(then)) => (now - then).round_dp(1).normalize().to_string(),
                _ => String::new(),
            };
            let values = Written {
                score: now.map(|s| s.normalize().to_string()).unwrap_or_default(),
                band: row.band.unwrap_or_else(|| "insufficient_data".to_owned()),
                trend_30d: trend,
                top_risk: row.weakest_factor.unwrap_or_default(),
            };
            (row.subject_id, values)
        })
        .filter(|(id, values)| last.get(id) != Some(values))
        .collect();
    changed.sort_by_key(|(id, _)| *id);
    Ok(changed)
}
