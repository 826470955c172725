//! HubSpot sync against the project's fake HubSpot: full and incremental runs mirror the portal,
//! only differences become events, faults are ridden out, interrupted runs resume, and the
//! HTTP interface starts and follows runs. Each story runs on SQLite and on PostgreSQL.

use std::collections::{BTreeMap, BTreeSet};

use healthscore_api::hubspot::{ClientConfig, HubSpotClient};
use healthscore_api::secret::Secret;
use healthscore_api::sync::{SyncError, Syncer};
use healthscore_domain::hubspot::properties;
use healthscore_domain::ids::ObjectType;
use healthscore_domain::sync_run::SyncMode;
use healthscore_fixtures::fake_hubspot::{FakeConfig, FakeHubSpot, Faults, RunningFake};
use healthscore_fixtures::generate::Portal;
use healthscore_projections::{Db, on_reader};
use healthscore_tests::server::TestServer;
use healthscore_tests::{TestDb, on_both_backends};
use serde_json::{Value, json};
use sqlx::Row;

async fn fake(contacts: usize, faults: Faults) -> RunningFake {
    FakeHubSpot::start(FakeConfig {
        contacts,
        companies: contacts / 4,
        deals: contacts / 2,
        faults,
        ..FakeConfig::default()
    })
    .await
    .expect("fake HubSpot starts")
}

/// A 400-contact portal behind a fake that answers each request in 40 ms, and a server that
/// syncs it: a full run slow enough to interrupt or fail midway.
async fn slow_portal(t: &TestDb) -> (RunningFake, TestServer) {
    let fake = fake(400, Faults::default()).await;
    fake.set_faults(Faults {
        latency: std::time::Duration::from_millis(40),
        ..Faults::default()
    });
    let server = TestServer::start_syncing(t.db.clone(), client_for(&fake)).await;
    (fake, server)
}

fn client_for(fake: &RunningFake) -> HubSpotClient {
    let config = ClientConfig {
        base_url: fake.base_url().to_string(),
        backoff_base: std::time::Duration::from_millis(20),
        backoff_max: std::time::Duration::from_millis(200),
        max_retries: 10,
        ..ClientConfig::new(Secret::new(fake.token()))
    };
    HubSpotClient::new(config).expect("client")
}

/// One read-model table as rows of text.
async fn rows(db: &Db, sql: &str) -> Vec<Vec<String>> {
    on_reader!(db, pool => {
        let rows = sqlx::query(sql).fetch_all(pool).await.expect("query");
        rows.iter()
            .map(|row| (0..row.len()).map(|i| row.try_get::<String, _>(i).expect("text")).collect())
            .collect()
    })
}

/// Every record of `portal` is in the read models: archived ones deleted, live ones with each
/// synced property's value and each association to a live record.
async fn assert_mirrors(db: &Db, portal: &Portal) {
    for kind in ObjectType::ALL {
        let name = kind.as_str();
        let objects: BTreeMap<String, String> = rows(
            db,
            &format!("SELECT CAST(object_id AS TEXT), CAST(CAST(deleted AS INTEGER) AS TEXT) FROM crm_objects WHERE object_type = '{name}'"),
        )
        .await
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
        let values: BTreeMap<(String, String), String> = rows(
            db,
            &format!("SELECT CAST(object_id AS TEXT), name, value FROM object_properties WHERE object_type = '{name}'"),
        )
        .await
        .into_iter()
        .map(|r| ((r[0].clone(), r[1].clone()), r[2].clone()))
        .collect();
        let links: BTreeSet<(String, String, String)> = rows(
            db,
            &format!("SELECT CAST(from_id AS TEXT), to_type, CAST(to_id AS TEXT) FROM associations WHERE from_type = '{name}' AND CAST(present AS INTEGER) = 1"),
        )
        .await
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
        .collect();
        for (id, object) in portal.objects(kind) {
            let id = id.to_string();
            let deleted = objects.get(&id).map(String::as_str);
            if object.is_archived() {
                assert_eq!(deleted, Some("1"), "{name} {id} is archived in HubSpot");
                continue;
            }
            assert_eq!(deleted, Some("0"), "{name} {id} is live in HubSpot");
            for property in properties::kept(kind) {
                let expected = object.property(property).unwrap_or_default();
                let actual = values
                    .get(&(id.clone(), (*property).to_string()))
                    .map_or("", String::as_str);
                assert_eq!(actual, expected, "{name} {id} property {property}");
            }
            for (other_type, ids) in &object.associations {
                let other = other_type.as_str();
                for other_id in ids {
                    let live = portal
                        .get(*other_type, *other_id)
                        .is_some_and(|o| !o.is_archived());
                    if live {
                        let link = (id.clone(), other.to_string(), other_id.to_string());
                        assert!(
                            links.contains(&link),
                            "{name} {id} is linked to {other} {other_id}"
                        );
                    }
                }
            }
        }
    }
}

/// Events per CRM-object stream and type: a repeat would show as a count above one where the
/// aggregate records a fact once (creation, deletion).
async fn creations(db: &Db) -> (usize, usize) {
    let counts = rows(
        db,
        "SELECT stream_id, CAST(COUNT(*) AS TEXT) FROM events WHERE event_type = 'ObjectCreated' GROUP BY stream_id",
    )
    .await;
    let repeated = counts.iter().filter(|r| r[1] != "1").count();
    (counts.len(), repeated)
}

async fn crm_events(db: &Db) -> usize {
    rows(
        db,
        "SELECT CAST(COUNT(*) AS TEXT) FROM events WHERE stream_type = 'crm_object'",
    )
    .await[0][0]
        .parse()
        .expect("count")
}

async fn a_full_sync_mirrors_the_portal_and_a_second_records_nothing(t: TestDb) {
    let fake = fake(160, Faults::default()).await;
    let server = TestServer::start_syncing(t.db.clone(), client_for(&fake)).await;
    let syncer = server.state.syncer.clone().expect("syncer");
    let first = syncer.sync(SyncMode::Full).await.expect("full sync");
    assert!(!first.resumed);
    let recorded = syncer.progress().report();
    assert_eq!(recorded.objects, 160 + 40 + 80, "every object was paged");
    server.projected().await;
    assert_mirrors(&t.db, &fake.portal()).await;
    let before = crm_events(&t.db).await;

    syncer.sync(SyncMode::Full).await.expect("second full sync");
    assert_eq!(
        syncer.progress().report().events,
        0,
        "unchanged data records nothing"
    );
    assert_eq!(crm_events(&t.db).await, before);
    assert_eq!(fake.stats().responses_429, 0, "paced under the limit");
}

async fn an_incremental_sync_picks_up_what_changed(t: TestDb) {
    let fake = fake(120, Faults::default()).await;
    let server = TestServer::start_syncing(t.db.clone(), client_for(&fake)).await;
    let syncer = server.state.syncer.clone().expect("syncer");
    syncer.sync(SyncMode::Full).await.expect("full sync");

    let portal = fake.portal();
    let live = |kind: ObjectType| {
        portal
            .objects(kind)
            .iter()
            .filter(|(_, o)| !o.is_archived())
            .map(|(id, _)| id.to_string())
            .collect::<Vec<_>>()
    };
    let (contacts, companies) = (live(ObjectType::Contact), live(ObjectType::Company));
    fake.update_property(
        ObjectType::Contact,
        &contacts[0],
        "lifecyclestage",
        Some("evangelist"),
    )
    .expect("update");
    let created = fake.create(
        ObjectType::Contact,
        BTreeMap::from([("email".to_string(), "new@example.com".to_string())]),
    );
    fake.associate(
        (ObjectType::Contact, &created),
        (ObjectType::Company, &companies[0]),
    )
    .expect("associate");
    fake.update_property(ObjectType::Contact, &created, "firstname", Some("Nova"))
        .expect("update");
    fake.archive(ObjectType::Contact, &contacts[1])
        .expect("archive");
    let requests_before = fake.stats().requests;

    let run = syncer
        .sync(SyncMode::Incremental)
        .await
        .expect("incremental");
    assert_eq!(run.mode, SyncMode::Incremental);
    server.projected().await;
    assert_mirrors(&t.db, &fake.portal()).await;
    let company_links = rows(
        &t.db,
        &format!("SELECT CAST(to_id AS TEXT) FROM associations WHERE from_type = 'company' AND from_id = {} AND to_type = 'contact'", companies[0]),
    )
    .await;
    assert!(
        company_links.iter().any(|r| r[0] == created),
        "the link is seen from the company too"
    );
    let requests = fake.stats().requests - requests_before;
    assert!(
        requests < 40,
        "an incremental sync searches, it does not list everything: {requests}"
    );
}

async fn a_sync_rides_out_502s_and_429_bursts(t: TestDb) {
    let faults = Faults {
        error_rate: 0.1,
        burst_429: 3,
        ..Faults::default()
    };
    let fake = fake(300, faults).await;
    let server = TestServer::start_syncing(t.db.clone(), client_for(&fake)).await;
    let syncer = server.state.syncer.clone().expect("syncer");
    syncer
        .sync(SyncMode::Full)
        .await
        .expect("full sync despite faults");
    server.projected().await;
    assert_mirrors(&t.db, &fake.portal()).await;
    let stats = fake.stats();
    assert!(
        stats.responses_5xx > 0 && stats.responses_429 >= 3,
        "{stats:?}"
    );
    assert!(syncer.client().stats().retries > 0);
}

async fn an_interrupted_run_resumes_without_doubling_anything(t: TestDb) {
    let (fake, server) = slow_portal(&t).await;
    let syncer = server.state.syncer.clone().expect("syncer");
    let begun = syncer.begin(SyncMode::Full, None).await.expect("begin");
    let task = tokio::spawn({
        let begun = begun.clone();
        async move { begun.run().await }
    });
    let mut progress = syncer.progress().report();
    // A run that stalls, or ends before its third page, fails the test instead of hanging it.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while progress.pages < 3 {
        assert!(
            tokio::time::Instant::now() < deadline && !task.is_finished(),
            "the run recorded {} pages and {}",
            progress.pages,
            if task.is_finished() {
                "ended"
            } else {
                "stalled for 60 s"
            }
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        progress = syncer.progress().report();
    }
    task.abort();
    let _ = task.await;
    fake.set_faults(Faults::default());

    // While the run is in hand here, neither this process nor another one starts a second.
    assert!(matches!(
        syncer.begin(SyncMode::Full, None).await,
        Err(SyncError::Busy { .. })
    ));
    let state = &server.state;
    let elsewhere = Syncer::new(
        client_for(&fake),
        state.recorder.clone(),
        state.sync_runs.clone(),
        t.db.clone(),
    );
    assert!(
        matches!(
            elsewhere.begin(SyncMode::Full, None).await,
            Err(SyncError::Busy { .. })
        ),
        "the lease keeps another holder out"
    );
    let (portal, run_id) = (begun.portal, begun.run_id.clone());
    drop(begun);

    let resumed = syncer.sync(SyncMode::Full).await.expect("resumed sync");
    assert!(
        resumed.resumed && resumed.run_id == run_id,
        "the same run continues"
    );
    server.projected().await;
    assert_mirrors(&t.db, &fake.portal()).await;
    let (streams, repeated) = creations(&t.db).await;
    assert_eq!(streams, 400 + 100 + 200);
    assert_eq!(repeated, 0, "no object was created twice");
    let view = syncer.runs().load(portal, &run_id).await.expect("run");
    let view = view.view().expect("started");
    assert_eq!(view.resumes, 1);
    assert_eq!(
        view.totals.objects, 700,
        "each object was recorded by exactly one page"
    );
}

async fn post_sync_starts_a_run_that_can_be_followed(t: TestDb) {
    let fake = fake(80, Faults::default()).await;
    let server = TestServer::start_syncing(t.db.clone(), client_for(&fake)).await;
    let portal = fake.portal().portal_id;
    let key = server.key(portal).await;
    let url = format!("{}/sync", server.base);
    let bad = server
        .client
        .post(&url)
        .bearer_auth(&key)
        .json(&json!({"mode": "sideways"}))
        .send()
        .await
        .expect("send");
    assert_eq!(bad.status(), 422);
    let other = server.key(portal + 1).await;
    let refused = server
        .client
        .post(&url)
        .bearer_auth(&other)
        .json(&json!({"mode": "full"}))
        .send()
        .await
        .expect("send");
    assert_eq!(
        refused.status(),
        403,
        "a key of another portal cannot sync this token's portal"
    );
    let problem = refused.text().await.expect("body");
    assert!(
        !problem.contains(&portal.to_string()),
        "the refusal does not name the token's portal: {problem}"
    );

    // Two starts at once: one runs, the other is told which run it is (each of the fake's
    // answers takes 20 ms, so the first run is still going when the second start is decided).
    fake.set_faults(Faults {
        latency: std::time::Duration::from_millis(20),
        ..Faults::default()
    });
    let start = || {
        server
            .client
            .post(&url)
            .bearer_auth(&key)
            .json(&json!({"mode": "full"}))
            .send()
    };
    let (first, second) = tokio::join!(start(), start());
    let (first, second) = (first.expect("send"), second.expect("send"));
    let (accepted, busy) = if first.status() == 202 {
        (first, second)
    } else {
        (second, first)
    };
    assert_eq!(accepted.status(), 202);
    assert_eq!(busy.status(), 409, "one run at a time");
    let location = accepted.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    let body: Value = accepted.json().await.expect("json");
    let run_id = body["run_id"].as_str().expect("run id").to_string();
    assert_eq!(location, format!("/sync/runs/{run_id}"));
    let busy: Value = busy.json().await.expect("problem");
    assert_eq!(
        busy["run_id"],
        run_id.as_str(),
        "the refusal names the run: {busy}"
    );

    let run = server.finished_run(&location, &key).await;
    fake.set_faults(Faults::default());
    assert_eq!(run["status"], "completed", "{run:#}");
    assert!(
        run.get("live").is_none(),
        "no live figures once the run ended: {run:#}"
    );
    assert_eq!(run["totals"]["objects"], 80 + 20 + 40);
    assert_eq!(
        server.get(&location, &other).await.status(),
        404,
        "another portal's run is not found"
    );
    assert_eq!(server.get("/sync/runs/nope", &key).await.status(), 404);

    let plain = TestServer::start(t.db.clone()).await;
    let off = plain
        .client
        .post(format!("{}/sync", plain.base))
        .bearer_auth(&key)
        .json(&json!({"mode": "full"}))
        .send()
        .await
        .expect("send");
    assert_eq!(off.status(), 503, "no token, no sync");
    let problem: Value = off.json().await.expect("json");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("HUBSPOT_ACCESS_TOKEN")
    );
}

/// A sync lease keeps every other holder out until its holder gives it up or lets it expire,
/// and its holder may renew it.
async fn a_sync_lease_keeps_others_out_until_released_or_expired(t: TestDb) {
    use healthscore_domain::ids::PortalId;
    use healthscore_projections::sync_lease::{Holder, acquire, current, release};
    let (a, b) = (Holder::this_process(), Holder::this_process());
    let portal = PortalId(77);
    let take = |holder: &Holder, run: &'static str, ttl_ms: i64| {
        let (db, holder) = (t.db.clone(), holder.clone());
        async move {
            acquire(&db, portal, &holder, run, ttl_ms)
                .await
                .expect("lease query")
        }
    };
    assert!(
        take(&a, "run-a", 60_000).await.is_ok(),
        "a free lease is taken"
    );
    let blocked = take(&b, "run-b", 60_000).await.expect_err("held by a");
    assert_eq!(
        blocked.run_id, "run-a",
        "the refusal names the run that holds it"
    );
    assert!(
        take(&a, "run-a", 60_000).await.is_ok(),
        "its holder renews it"
    );
    release(&t.db, portal, &b).await.expect("release");
    assert!(
        take(&b, "run-b", 60_000).await.is_err(),
        "only its holder gives it up"
    );
    release(&t.db, portal, &a).await.expect("release");
    assert!(
        take(&b, "run-b", 60_000).await.is_ok(),
        "given up, it is free"
    );
    // b's lease runs out (renewed to a time already past): a takes it over.
    assert!(take(&b, "run-b", -1).await.is_ok());
    assert!(
        take(&a, "run-a2", 60_000).await.is_ok(),
        "an expired lease is taken over"
    );
    let lease = current(&t.db, portal)
        .await
        .expect("lease")
        .expect("a lease");
    assert_eq!(lease.run_id, "run-a2");
    assert!(
        take(&b, "run-b", 60_000).await.is_err(),
        "and kept from its old holder"
    );
}

/// HubSpot's daily limit reached mid-run: the run fails at once with `DAILY` (no retrying into
/// a wall), is recorded failed and resumable, and once the limit resets the next sync continues
/// the same run to a complete mirror, nothing recorded twice.
async fn a_daily_limit_fails_the_run_and_it_resumes_after_the_reset(t: TestDb) {
    use healthscore_api::hubspot::HubSpotError;
    let (fake, server) = slow_portal(&t).await;
    let syncer = server.state.syncer.clone().expect("syncer");
    let begun = syncer.begin(SyncMode::Full, None).await.expect("begin");
    let run_id = begun.run_id.clone();
    let task = tokio::spawn({
        let begun = begun.clone();
        async move { begun.run().await }
    });
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while syncer.progress().report().pages < 2 {
        assert!(
            tokio::time::Instant::now() < deadline && !task.is_finished(),
            "the run never reached its second page"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    fake.set_faults(Faults {
        daily_exhausted: true,
        ..Faults::default()
    });
    let failed = tokio::time::timeout(std::time::Duration::from_secs(60), task)
        .await
        .expect("a DAILY 429 ends the run at once")
        .expect("join");
    assert!(
        matches!(
            failed,
            Err(SyncError::HubSpot(HubSpotError::DailyLimitReached))
        ),
        "{failed:?}"
    );
    drop(begun);

    fake.set_faults(Faults::default()); // the daily reset
    let resumed = syncer
        .sync(SyncMode::Full)
        .await
        .expect("the sync after the reset");
    assert!(
        resumed.resumed && resumed.run_id == run_id,
        "the failed run continues"
    );
    server.projected().await;
    assert_mirrors(&t.db, &fake.portal()).await;
    let (streams, repeated) = creations(&t.db).await;
    assert_eq!(streams, 400 + 100 + 200);
    assert_eq!(repeated, 0, "nothing recorded twice");
}

/// An association removed in HubSpot is recorded as removed by the next full sync, on both
/// ends, and the read models drop it; the other links stay.
async fn a_full_sync_records_a_removed_association(t: TestDb) {
    let fake = fake(120, Faults::default()).await;
    let server = TestServer::start_syncing(t.db.clone(), client_for(&fake)).await;
    let syncer = server.state.syncer.clone().expect("syncer");
    syncer.sync(SyncMode::Full).await.expect("full sync");
    let portal = fake.portal();
    let (contact, company) = portal
        .objects(ObjectType::Contact)
        .iter()
        .filter(|(_, o)| !o.is_archived())
        .find_map(|(id, o)| {
            let company = o.associations.get(&ObjectType::Company)?.iter().next()?;
            Some((id.to_string(), company.to_string()))
        })
        .expect("a contact with a company");
    let present = |from_type: &'static str, from: String, to_type: &'static str, to: String| {
        let db = t.db.clone();
        async move {
            rows(
                &db,
                &format!("SELECT CAST(CAST(present AS INTEGER) AS TEXT) FROM associations WHERE from_type = '{from_type}' AND from_id = {from} AND to_type = '{to_type}' AND to_id = {to}"),
            )
            .await
        }
    };
    server.projected().await;
    assert_eq!(
        present("contact", contact.clone(), "company", company.clone()).await,
        vec![vec!["1".to_string()]]
    );

    let head = server.state.store.head().await.expect("head");
    fake.dissociate(
        (ObjectType::Contact, &contact),
        (ObjectType::Company, &company),
    )
    .expect("dissociate");
    syncer.sync(SyncMode::Full).await.expect("second full sync");
    server.projected().await;
    for (from_type, from, to_type, to) in [
        ("contact", contact.clone(), "company", company.clone()),
        ("company", company.clone(), "contact", contact.clone()),
    ] {
        let link = present(from_type, from, to_type, to).await;
        assert!(
            link.is_empty() || link == vec![vec!["0".to_string()]],
            "{from_type} end: {link:?}"
        );
    }
    let removals = rows(
        &t.db,
        &format!("SELECT stream_id FROM events WHERE position > {head} AND event_type = 'AssociationChanged' AND payload LIKE '%\"removed\":true%'"),
    )
    .await;
    let streams: BTreeSet<String> = removals.into_iter().map(|r| r[0].clone()).collect();
    let expected: BTreeSet<String> = [
        format!("{}/contact/{contact}", portal.portal_id),
        format!("{}/company/{company}", portal.portal_id),
    ]
    .into();
    assert_eq!(
        streams, expected,
        "the second sync removed this link on each end, nothing else"
    );
    assert_mirrors(&t.db, &fake.portal()).await;
}

on_both_backends!(
    a_sync_lease_keeps_others_out_until_released_or_expired,
    a_full_sync_records_a_removed_association,
    a_daily_limit_fails_the_run_and_it_resumes_after_the_reset,
    a_full_sync_mirrors_the_portal_and_a_second_records_nothing,
    an_incremental_sync_picks_up_what_changed,
    a_sync_rides_out_502s_and_429_bursts,
    an_interrupted_run_resumes_without_doubling_anything,
    post_sync_starts_a_run_that_can_be_followed,
);

/// At HubSpot's real limit (100 requests per rolling 10 s) a sync longer than one window is
/// paced so that it never sees a 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_longer_than_one_rate_window_never_sees_a_429() {
    let t = TestDb::sqlite().await;
    let fake = FakeHubSpot::start(FakeConfig {
        contacts: 9_000,
        companies: 1_200,
        deals: 1_500,
        ..FakeConfig::default()
    })
    .await
    .expect("fake");
    let server = TestServer::start_syncing(t.db.clone(), client_for(&fake)).await;
    let syncer = server.state.syncer.clone().expect("syncer");
    syncer.sync(SyncMode::Full).await.expect("full sync");
    let stats = fake.stats();
    assert!(
        stats.requests > 100,
        "the run spans more than one window: {stats:?}"
    );
    assert_eq!(stats.responses_429, 0, "{stats:?}");
    server.projected().await;
    assert_mirrors(&t.db, &fake.portal()).await;
}
