//! History from day one: a portal's past is the same whether its life arrived as webhooks,
//! change by change, or in one full sync that reads HubSpot's property history. Each story runs
//! on SQLite and on PostgreSQL.

use std::collections::BTreeSet;

use chrono::{DateTime, SecondsFormat, Utc};
use healthscore_api::hubspot::{ClientConfig, HubSpotClient};
use healthscore_api::secret::Secret;
use healthscore_domain::ids::ObjectType;
use healthscore_domain::ids::PortalId;
use healthscore_domain::scoring::ScoringConfig;
use healthscore_domain::sync_run::SyncMode;
use healthscore_fixtures::fake_hubspot::{FakeConfig, FakeHubSpot, Faults, RunningFake};
use healthscore_fixtures::generate::{Change, Happening, Portal};
use healthscore_projections::scoring::service::ScoringService;
use healthscore_projections::{Backend, EventStore};
use healthscore_tests::server::TestServer;
use healthscore_tests::{TestDb, on_both_backends};
use serde_json::{Value, json};

/// "Now" for the generated portal: 2026-11-23T00:00:00Z.
const NOW_MS: i64 = 1_795_392_000_000;
const DAY_MS: i64 = 86_400_000;

fn portal() -> Portal {
    Portal::generate(2026, 60, 15, 40, NOW_MS)
}

async fn fake_serving(portal: Portal) -> RunningFake {
    FakeHubSpot::start(FakeConfig {
        portal: Some(portal),
        rate_limit: 10_000,
        search_rate_limit: 10_000,
        ..FakeConfig::default()
    })
    .await
    .expect("fake HubSpot starts")
}

fn client_for(fake: &RunningFake) -> HubSpotClient {
    HubSpotClient::new(ClientConfig {
        base_url: fake.base_url().to_string(),
        ..ClientConfig::new(Secret::new(fake.token()))
    })
    .expect("client")
}

/// A second, empty database on the same backend as `t`.
async fn another(t: &TestDb) -> TestDb {
    match t.db.backend() {
        Backend::Sqlite => TestDb::sqlite().await,
        Backend::Postgres => TestDb::postgres().await.expect("PostgreSQL is configured"),
    }
}

/// The webhook event HubSpot sends for one change.
fn webhook_event(portal_id: u64, event_id: usize, change: &Change) -> Value {
    let kind = change.object_type.as_str();
    let mut event = json!({
        "eventId": event_id, "subscriptionId": 1, "portalId": portal_id, "appId": 1,
        "occurredAt": change.at, "attemptNumber": 0, "objectId": change.id,
        "changeSource": "CRM",
    });
    let (subscription, extra) = match &change.happening {
        Happening::Created => ("creation", json!({})),
        Happening::Deleted => ("deletion", json!({})),
        Happening::PropertySet { name, value } => (
            "propertyChange",
            json!({"propertyName": name, "propertyValue": value}),
        ),
        Happening::Associated {
            other_type,
            other_id,
        }
        | Happening::Dissociated {
            other_type,
            other_id,
        } => (
            "associationChange",
            json!({
                "associationType": format!("{}_TO_{}", kind, other_type.as_str()).to_uppercase(),
                "fromObjectId": change.id, "toObjectId": other_id,
                "associationRemoved": matches!(change.happening, Happening::Dissociated { .. }),
            }),
        ),
    };
    event["subscriptionType"] = json!(format!("{kind}.{subscription}"));
    if let (Some(event), Some(extra)) = (event.as_object_mut(), extra.as_object()) {
        event.extend(extra.clone());
    }
    event
}

/// Delivers the portal's whole life as signed webhooks, 100 events per delivery.
async fn deliver_life(server: &TestServer, portal: &Portal) {
    let events: Vec<Value> = portal
        .timeline()
        .iter()
        .enumerate()
        .map(|(n, change)| webhook_event(portal.portal_id, n + 1, change))
        .collect();
    for chunk in events.chunks(100) {
        let response = server
            .deliver(&Value::Array(chunk.to_vec()).to_string())
            .await;
        assert_eq!(
            response.status(),
            200,
            "{}",
            response.text().await.expect("body")
        );
    }
}

/// The times worth scoring at: each change, the moment before it, and now (at most `limit`,
/// evenly spread).
fn times(portal: &Portal, limit: usize) -> Vec<DateTime<Utc>> {
    let all: BTreeSet<i64> = portal
        .timeline()
        .iter()
        .flat_map(|c| [c.at - 1, c.at])
        .chain([NOW_MS])
        .collect();
    let all: Vec<i64> = all.into_iter().collect();
    let stride = all.len().div_ceil(limit).max(1);
    all.iter()
        .step_by(stride)
        .chain(all.last())
        .filter_map(|ms| DateTime::from_timestamp_millis(*ms))
        .collect()
}

/// The report without its associations' `since_estimated` flags, and those flags.
fn estimate_flags(mut report: Value) -> (Value, Vec<bool>) {
    let mut flags = Vec::new();
    if let Some(links) = report.get_mut("associations").and_then(Value::as_array_mut) {
        for link in links {
            let flag = link
                .as_object_mut()
                .and_then(|l| l.remove("since_estimated"));
            flags.push(flag == Some(Value::Bool(true)));
        }
    }
    (report, flags)
}

async fn scoring(db: &healthscore_projections::Db) -> ScoringService {
    let service = ScoringService::new(EventStore::new(db.clone()));
    service.catch_up().await.expect("scoring index loads");
    service
}

async fn a_full_sync_with_history_scores_every_past_moment_as_the_webhooks_did(t: TestDb) {
    let portal = portal();
    let fake = fake_serving(portal.clone()).await;
    let synced = TestServer::start_syncing(t.db.clone(), client_for(&fake)).await;
    let run = synced
        .state
        .syncer
        .clone()
        .expect("syncer")
        .sync(SyncMode::Full)
        .await
        .expect("full sync");
    assert!(!run.resumed);
    let other = another(&t).await;
    let webhooks = TestServer::start(other.db.clone()).await;
    deliver_life(&webhooks, &portal).await;

    let (by_sync, by_webhooks) = (scoring(&t.db).await, scoring(&other.db).await);
    let config = ScoringConfig::default();
    let portal_id = PortalId(portal.portal_id);
    let (mut compared, mut scored, mut moved, mut links) = (0, 0, 0, 0);
    for id in portal.contacts.keys() {
        let mut last_score = None;
        for at in times(&portal, 250) {
            let synced = by_sync.score(portal_id, *id, at, &config);
            let delivered = by_webhooks.score(portal_id, *id, at, &config);
            let (synced, estimated) = estimate_flags(serde_json::to_value(&synced).expect("json"));
            let (delivered, reported) =
                estimate_flags(serde_json::to_value(&delivered).expect("json"));
            assert_eq!(synced, delivered, "contact {id} at {at}");
            // Webhooks say when an association began; a sync can only estimate it.
            assert!(estimated.iter().all(|e| *e) && reported.iter().all(|e| !e));
            links += estimated.len();
            compared += 1;
            if !synced.is_null() {
                scored += 1;
                let score = synced["score"].clone();
                moved += usize::from(last_score.as_ref().is_some_and(|s| *s != score));
                last_score = Some(score);
            }
        }
    }
    assert!(
        scored * 3 > compared,
        "most points are customers: {scored}/{compared}"
    );
    assert!(moved > 100, "scores change over the portal's life: {moved}");
    assert!(links > 100, "customers have companies and deals: {links}");

    // The same history through the API, for every customer.
    let (synced_key, webhook_key) = (
        synced.key(portal.portal_id).await,
        webhooks.key(portal.portal_id).await,
    );
    let from = DateTime::from_timestamp_millis(NOW_MS - 180 * DAY_MS).expect("a time");
    let to = DateTime::from_timestamp_millis(NOW_MS).expect("a time");
    for id in portal.contacts.keys() {
        let path = format!(
            "/customers/{id}/score/history?from={}&to={}&step=1d",
            from.to_rfc3339_opts(SecondsFormat::Secs, true),
            to.to_rfc3339_opts(SecondsFormat::Secs, true)
        );
        let (a, b) = (
            synced.get(&path, &synced_key).await,
            webhooks.get(&path, &webhook_key).await,
        );
        let status = (a.status().as_u16(), b.status().as_u16());
        assert!(matches!(status, (200, 200) | (404, 404)), "{status:?}");
        let (a, b): (Value, Value) = (a.json().await.expect("json"), b.json().await.expect("json"));
        if status.0 == 404 {
            // Never a customer: no email in its whole life, on either side.
            assert!(
                !portal.contacts[id].history.contains_key("email"),
                "contact {id}"
            );
            continue;
        }
        assert!(a["points"].as_array().is_some_and(|p| p.len() == 181));
        assert_eq!(a, b, "history of contact {id}");
    }
}

/// The contact's email at `t`, from its HubSpot history.
fn had_email_at(portal: &Portal, id: u64, t: i64) -> bool {
    let contact = &portal.contacts[&id];
    let alive = contact.archived_at_ms.is_none_or(|deleted| t < deleted);
    let email = contact
        .history
        .get("email")
        .and_then(|values| values.iter().rev().find(|(at, _)| *at <= t))
        .is_some_and(|(_, value)| !value.trim().is_empty());
    alive && email
}

async fn after_a_full_sync_a_contact_is_a_customer_from_the_moment_it_had_an_email(t: TestDb) {
    let portal = Portal::generate(42, 300, 75, 150, NOW_MS);
    let fake = fake_serving(portal.clone()).await;
    let server = TestServer::start_syncing(t.db.clone(), client_for(&fake)).await;
    let syncer = server.state.syncer.clone().expect("syncer");
    syncer.sync(SyncMode::Full).await.expect("full sync");
    let scoring = scoring(&t.db).await;
    let config = ScoringConfig::default();
    let (mut points, mut customers) = (0, 0);
    for (id, contact) in &portal.contacts {
        let mut t = contact.created_at_ms;
        while t <= NOW_MS {
            let at = DateTime::from_timestamp_millis(t).expect("a time");
            let report = scoring.score(PortalId(portal.portal_id), *id, at, &config);
            assert_eq!(
                report.is_some(),
                had_email_at(&portal, *id, t),
                "contact {id} at {at}"
            );
            points += 1;
            customers += usize::from(report.is_some());
            t += 7 * DAY_MS;
        }
    }
    assert!(
        customers * 10 > points * 8,
        "{customers} of {points} points"
    );
}

/// Every customer's report at every interesting time, as JSON.
fn reports(service: &ScoringService, portal: &Portal) -> Vec<Value> {
    let config = ScoringConfig::default();
    let times = times(portal, 120);
    portal
        .contacts
        .keys()
        .flat_map(|id| times.iter().map(move |at| (*id, *at)))
        .map(|(id, at)| {
            let report = service.score(PortalId(portal.portal_id), id, at, &config);
            json!({"contact": id, "at": at, "report": report})
        })
        .collect()
}

async fn a_history_run_backfills_a_portal_synced_without_history_and_resumes(t: TestDb) {
    let portal = portal();
    let fake = fake_serving(portal.clone()).await;
    let server = TestServer::start_syncing(t.db.clone(), client_for(&fake)).await;
    let syncer = server.state.syncer.clone().expect("syncer");
    syncer
        .clone()
        .without_history()
        .sync(SyncMode::Full)
        .await
        .expect("full sync without history");
    assert_eq!(fake.stats().history_requests, 0);
    let blank = scoring(&t.db).await;
    let a_month_ago = DateTime::from_timestamp_millis(NOW_MS - 30 * DAY_MS).expect("a time");
    let missing = portal
        .contacts
        .keys()
        .filter(|id| had_email_at(&portal, **id, a_month_ago.timestamp_millis()))
        .filter(|id| {
            let config = ScoringConfig::default();
            let portal_id = PortalId(portal.portal_id);
            blank.score(portal_id, **id, a_month_ago, &config).is_none()
        })
        .count();
    assert!(missing > 5, "without history the past is blank ({missing})");

    // The backfill is interrupted after a few pages, then resumed.
    fake.set_faults(Faults {
        latency: std::time::Duration::from_millis(30),
        ..Faults::default()
    });
    let begun = syncer.begin(SyncMode::History, None).await.expect("begin");
    let task = tokio::spawn({
        let begun = begun.clone();
        async move { begun.run().await }
    });
    while syncer.progress().report().pages < 2 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    task.abort();
    let _ = task.await;
    drop(begun);
    fake.set_faults(Faults::default());
    let resumed = syncer
        .sync(SyncMode::History)
        .await
        .expect("resumed backfill");
    assert!(resumed.resumed && resumed.mode == SyncMode::History);

    let other = another(&t).await;
    let direct = TestServer::start_syncing(other.db.clone(), client_for(&fake)).await;
    let direct_syncer = direct.state.syncer.clone().expect("syncer");
    direct_syncer.sync(SyncMode::Full).await.expect("import");
    let (backfilled, imported) = (scoring(&t.db).await, scoring(&other.db).await);
    assert_eq!(
        reports(&backfilled, &portal),
        reports(&imported, &portal),
        "a backfilled portal has the past a first sync with history gives"
    );
}

async fn history_pages_obey_a_lower_limit_and_later_syncs_read_only_what_changed(t: TestDb) {
    let portal = portal();
    let fake = FakeHubSpot::start(FakeConfig {
        portal: Some(portal.clone()),
        history_page_limit: 20,
        rate_limit: 10_000,
        search_rate_limit: 10_000,
        ..FakeConfig::default()
    })
    .await
    .expect("fake starts");
    let server = TestServer::start_syncing(t.db.clone(), client_for(&fake)).await;
    let syncer = server.state.syncer.clone().expect("syncer");
    syncer.sync(SyncMode::Full).await.expect("first full sync");
    assert_eq!(syncer.client().history_page_size(), 20, "the 400's limit");
    let first = fake.stats();
    let records = (portal.contacts.len() + portal.companies.len() + portal.deals.len()) as u64;
    assert_eq!(first.history_records, records, "every record, once");

    let contact = *portal.contacts.keys().next().expect("a contact");
    fake.update_property(
        ObjectType::Contact,
        &contact.to_string(),
        "lifecyclestage",
        Some("evangelist"),
    )
    .expect("update");
    syncer.sync(SyncMode::Full).await.expect("second full sync");
    let second = fake.stats();
    assert_eq!(
        second.history_records - first.history_records,
        1,
        "only the changed record's history is read again"
    );
    let report = syncer.progress().report();
    assert_eq!(report.events, 1, "and only its new value is recorded");
}

async fn post_sync_starts_a_history_run(t: TestDb) {
    let portal = portal();
    let fake = fake_serving(portal.clone()).await;
    let server = TestServer::start_syncing(t.db.clone(), client_for(&fake)).await;
    let key = server.key(portal.portal_id).await;
    let started: Value = server
        .client
        .post(format!("{}/sync", server.base))
        .bearer_auth(&key)
        .json(&json!({"mode": "history"}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(started["mode"], "history");
    let status_url = started["status_url"].as_str().expect("status url");
    let run = server.finished_run(status_url, &key).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["history"], json!({"records": "all"}));
    assert!(fake.stats().history_requests > 0);
}

on_both_backends!(
    a_full_sync_with_history_scores_every_past_moment_as_the_webhooks_did,
    after_a_full_sync_a_contact_is_a_customer_from_the_moment_it_had_an_email,
    a_history_run_backfills_a_portal_synced_without_history_and_resumes,
    history_pages_obey_a_lower_limit_and_later_syncs_read_only_what_changed,
    post_sync_starts_a_history_run,
);
