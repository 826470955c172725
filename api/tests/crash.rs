//! The real `healthscore` binary under the faults that break systems, on SQLite and (with
//! `TEST_DATABASE_URL`) PostgreSQL:
//!
//! - killed with SIGKILL twice during a webhook flood from ten senders (which retry, as HubSpot
//!   does, until a delivery is answered 2xx), once mid-flood with the projector and refresher
//!   busy and once right after a configuration change started a full rescore. After the
//!   restarts every event of every delivery is in the log exactly once, every materialized score
//!   is what the log gives at its time, and the read models equal a rebuild from the log;
//! - two instances on one PostgreSQL database taking one flood between them, a configuration
//!   changed on one: no delivery fails for a race, every event is recorded once, both answer
//!   the same scores, and no band change is recorded twice;
//! - its PostgreSQL database cut off and let back in: meanwhile webhooks and reads answer 503
//!   (HubSpot retries) and `/readyz` says so; afterwards the same server takes the retried
//!   delivery, once, with no restart;
//! - its SQLite disk filled (a file-size limit, so writes fail as on a full disk): webhooks
//!   answer 503 and `/readyz` says so while reads go on; once there is room the same server
//!   takes the retried delivery, and every delivery answered 200 is in the log once. (Before
//!   the fix in `db::no_transaction_left_open`, deliveries answered 200 after the first failed
//!   commit were never written.)

mod common;

use std::collections::HashMap;
use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Server, TestDatabase, deliver, free_port, rebuild, until};
use healthscore_domain::ids::PortalId;
use healthscore_projections::{Db, api_keys, on_reader};
use serde_json::{Value, json};
use sqlx::Connection as _;

const PORTAL: u64 = 4242;
const SENDERS: usize = 10;
const DELIVERIES_PER_SENDER: usize = 60;
const EVENTS_PER_DELIVERY: usize = 100;
const DELIVERIES: usize = SENDERS * DELIVERIES_PER_SENDER;
const EVENTS: usize = DELIVERIES * EVENTS_PER_DELIVERY;
const CONTACTS: usize = 3_000;

/// The flood's events all happened in the month before `now`, so every score is read at a time
/// after all of them.
fn delivery(sender: usize, number: usize, now: i64) -> String {
    let day = 86_400_000_i64;
    let events: Vec<Value> = (0..EVENTS_PER_DELIVERY)
        .map(|n| {
            let serial = (number * SENDERS + sender) * EVENTS_PER_DELIVERY + n;
            let contact = serial % CONTACTS + 1;
            let occurred = now - 30 * day + serial as i64 * 60_000;
            let round = serial / CONTACTS;
            let (name, value) = match round % 3 {
                1 => ("lifecyclestage", "customer".to_string()),
                2 => (
                    "hs_last_sales_activity_date",
                    (occurred - (serial % 20) as i64 * day).to_string(),
                ),
                _ => ("email", format!("c{contact}.{serial}@example.com")),
            };
            let mut event = json!({
                "eventId": serial, "subscriptionId": 1, "portalId": PORTAL, "appId": 1,
                "occurredAt": occurred, "attemptNumber": 0, "changeSource": "CRM",
                "objectId": contact, "subscriptionType": "contact.propertyChange",
                "propertyName": name, "propertyValue": value,
            });
            // Each contact's first event creates it (and may arrive after its changes).
            if round == 0 {
                event["subscriptionType"] = json!("contact.creation");
                if let Some(fields) = event.as_object_mut() {
                    fields.remove("propertyName");
                    fields.remove("propertyValue");
                }
            }
            event
        })
        .collect();
    Value::Array(events).to_string()
}

/// The flood: `SENDERS` closed-loop senders, each sending its deliveries in turn to the base
/// `target` names for it, and retrying one (after 50 ms) until it is answered 2xx.
struct Flood {
    answered: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
    senders: Vec<tokio::task::JoinHandle<()>>,
}

impl Flood {
    fn start(target: impl Fn(usize, usize) -> String + Send + Sync + 'static) -> Self {
        let now = chrono::Utc::now().timestamp_millis();
        let (answered, refused) = (Arc::default(), Arc::default());
        let target = Arc::new(target);
        let client = reqwest::Client::new();
        let senders = (0..SENDERS)
            .map(|sender| {
                let (answered, refused): (Arc<AtomicUsize>, Arc<AtomicUsize>) =
                    (Arc::clone(&answered), Arc::clone(&refused));
                let (target, client) = (Arc::clone(&target), client.clone());
                tokio::spawn(async move {
                    for number in 0..DELIVERIES_PER_SENDER {
                        let body = delivery(sender, number, now);
                        let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
                        loop {
                            match deliver(&client, &target(sender, number), &body).await {
                                Some(status) if (200..300).contains(&status) => break,
                                Some(status) => {
                                    refused.fetch_add(1, Ordering::SeqCst);
                                    eprintln!("a delivery was answered {status}");
                                }
                                None => {}
                            }
                            assert!(
                                tokio::time::Instant::now() < deadline,
                                "a delivery was never answered 2xx"
                            );
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        Self {
            answered,
            refused,
            senders,
        }
    }

    fn answered(&self) -> usize {
        self.answered.load(Ordering::SeqCst)
    }

    async fn until_answered(&self, deliveries: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
        while self.answered() < deliveries {
            assert!(tokio::time::Instant::now() < deadline, "the flood stalled");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits for every sender to finish; returns how many answers were not 2xx.
    async fn finish(self) -> usize {
        for sender in self.senders {
            sender.await.expect("sender");
        }
        self.refused.load(Ordering::SeqCst)
    }
}

/// How many times each webhook event id is in the log.
async fn recorded_event_ids(db: &Db) -> HashMap<u64, usize> {
    let rows: Vec<(String,)> = on_reader!(db, pool => {
        sqlx::query_as("SELECT metadata FROM events WHERE stream_type = 'crm_object'")
            .fetch_all(pool)
            .await
            .expect("events")
    });
    let mut counts = HashMap::new();
    for (metadata,) in rows {
        let metadata: Value = serde_json::from_str(&metadata).expect("metadata");
        let id = metadata["event_id"].as_u64().expect("a webhook event id");
        *counts.entry(id).or_default() += 1;
    }
    counts
}

fn assert_each_event_once(recorded: &HashMap<u64, usize>) {
    let missing = (0..EVENTS as u64)
        .filter(|id| !recorded.contains_key(id))
        .count();
    let twice = recorded.values().filter(|&&n| n > 1).count();
    assert_eq!(
        missing, 0,
        "events of answered deliveries missing from the log"
    );
    assert_eq!(twice, 0, "events recorded more than once");
    assert_eq!(recorded.len(), EVENTS, "nothing but the flood's events");
}

async fn inbox_keys(db: &Db) -> i64 {
    on_reader!(db, pool => {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM inbox")
            .fetch_one(pool)
            .await
            .expect("inbox");
        n
    })
}

/// Rebuilds the read models of `url` from the log and asserts nothing in them changed.
async fn assert_read_models_equal_a_rebuild(db: &Db, url: &str) {
    let before = read_models(db).await;
    assert!(!before.is_empty(), "the flood left read models to compare");
    rebuild(url);
    assert_eq!(
        read_models(db).await,
        before,
        "the read models equal a rebuild"
    );
}

/// Every row of the read models, each as one line of text, sorted.
async fn read_models(db: &Db) -> Vec<String> {
    healthscore_projections::read_models::dump::dump(db)
        .await
        .expect("read model rows")
}

/// A `customer_scores` row: id, score in tenths, band, configuration version, time scored.
type StoredScore = (i64, Option<i64>, Option<String>, i64, i64);

/// Every materialized customer score compared with the score the API computes from the log at
/// the same time and configuration version; returns how many differ (printing the first few).
async fn scores_against_the_log(db: &Db, server: &Server, key: &str) -> (usize, usize) {
    let rows: Vec<StoredScore> = on_reader!(db, pool => {
        sqlx::query_as(
            "SELECT customer_id, score_tenths, band, config_version, scored_at \
             FROM customer_scores WHERE portal_id = $1 ORDER BY customer_id",
        )
        .bind(PORTAL as i64)
        .fetch_all(pool)
        .await
        .expect("scores")
    });
    let client = reqwest::Client::new();
    let mut differ = 0;
    for chunk in rows.chunks(16) {
        let mut checks = tokio::task::JoinSet::new();
        for &(id, tenths, ref band, version, at) in chunk {
            let (client, band) = (client.clone(), band.clone());
            let at = chrono::DateTime::from_timestamp_millis(at)
                .expect("a time")
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            let url = format!(
                "{}/customers/{id}/score?as_of={at}&config_version={version}",
                server.base
            );
            let key = key.to_string();
            checks.spawn(async move {
                let report: Value = client
                    .get(url)
                    .bearer_auth(key)
                    .send()
                    .await
                    .expect("score")
                    .json()
                    .await
                    .expect("json");
                let score = report["score"].as_f64().map(|s| (s * 10.0).round() as i64);
                let same = score == tenths && report["band"].as_str() == band.as_deref();
                if !same {
                    eprintln!("customer {id}: stored {tenths:?} {band:?}, the log gives {report}");
                }
                same
            });
        }
        differ += checks
            .join_all()
            .await
            .into_iter()
            .filter(|same| !same)
            .count();
    }
    (rows.len(), differ)
}

async fn change_weights(server: &Server, key: &str) {
    let changed = reqwest::Client::new()
        .put(format!("{}/scoring/config", server.base))
        .bearer_auth(key)
        .json(&json!({"weights": {
            "engagement_recency": 40, "deal_momentum": 10, "lifecycle_stage": 30,
            "activity_frequency": 10, "deal_value": 10,
        }}))
        .send()
        .await
        .expect("config");
    assert_eq!(changed.status(), 200);
}

async fn two_kills_during_a_flood_lose_and_double_nothing(url: String) {
    let db = Db::connect_and_migrate(&url).await.expect("db");
    let key = api_keys::create(&db, PortalId(PORTAL), "crash test")
        .await
        .expect("key")
        .key;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = Server::start(&url, port).await;
    let flood = Flood::start(move |_, _| base.clone());

    // Mid-flood, the projector and the refresher busy behind the recorder.
    flood.until_answered(DELIVERIES / 5).await;
    server.kill();
    let killed_at = flood.answered();
    let server = Server::start(&url, port).await;

    // Right after a configuration change: a full rescore is under way.
    flood.until_answered(DELIVERIES / 2).await;
    change_weights(&server, &key).await;
    server.kill();
    let server = Server::start(&url, port).await;
    assert!(
        killed_at < DELIVERIES,
        "the first kill came before the flood ended"
    );

    let refused = flood.finish().await;
    assert_eq!(refused, 0, "no delivery was answered with an error");
    server.caught_up().await;

    assert_each_event_once(&recorded_event_ids(&db).await);
    assert_eq!(
        inbox_keys(&db).await,
        EVENTS as i64,
        "one inbox key per event"
    );
    let (scored, differ) = scores_against_the_log(&db, &server, &key).await;
    assert_eq!(scored, CONTACTS, "every contact has a materialized score");
    assert_eq!(differ, 0, "materialized scores that the log does not give");
    let versions: Vec<(i64,)> = on_reader!(&db, pool => {
        sqlx::query_as("SELECT DISTINCT config_version FROM customer_scores")
            .fetch_all(pool)
            .await
            .expect("versions")
    });
    assert_eq!(
        versions,
        vec![(2,)],
        "every score is under the new configuration"
    );

    server.stop().await;
    let before = read_models(&db).await;
    assert!(before.len() > CONTACTS, "the read models hold the flood");
    rebuild(&url);
    let after = read_models(&db).await;
    let first_difference = before.iter().zip(&after).find(|(b, a)| b != a);
    assert_eq!(first_difference, None, "the read models equal a rebuild");
    assert_eq!(before.len(), after.len(), "the read models equal a rebuild");
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_two_kills_during_a_flood_lose_and_double_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("crash.db").display());
    two_kills_during_a_flood_lose_and_double_nothing(url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_kills_during_a_flood_lose_and_double_nothing() {
    let Some(database) = TestDatabase::create("hs_crash").await else {
        return;
    };
    two_kills_during_a_flood_lose_and_double_nothing(database.url.clone()).await;
    database.drop_it().await;
}

/// Band events per health stream, in order: (stream, band before, band after).
async fn band_changes(db: &Db) -> Vec<(String, Value, Value)> {
    let rows: Vec<(String, String)> = on_reader!(db, pool => {
        sqlx::query_as(
            "SELECT stream_id, payload FROM events WHERE event_type = 'CustomerBandChanged' \
             ORDER BY stream_id, sequence",
        )
        .fetch_all(pool)
        .await
        .expect("band events")
    });
    rows.into_iter()
        .map(|(stream, payload)| {
            let payload: Value = serde_json::from_str(&payload).expect("payload");
            (
                stream,
                payload["old_band"].clone(),
                payload["new_band"].clone(),
            )
        })
        .collect()
}

/// Band changes that do not follow from the one before on their stream (a change recorded
/// twice starts from a band the customer had already left).
fn broken_band_chains(changes: &[(String, Value, Value)]) -> usize {
    let mut broken = 0;
    for (n, (stream, old, new)) in changes.iter().enumerate() {
        let previous = n
            .checked_sub(1)
            .map(|p| &changes[p])
            .filter(|(s, ..)| s == stream)
            .map_or(&Value::Null, |(_, _, band)| band);
        if old != previous || old == new {
            broken += 1;
        }
    }
    broken
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_instances_share_a_flood_without_failing_a_delivery() {
    let Some(database) = TestDatabase::create("hs_two").await else {
        return;
    };
    let url = database.url.clone();
    let db = Db::connect_and_migrate(&url).await.expect("db");
    let key = api_keys::create(&db, PortalId(PORTAL), "two instances")
        .await
        .expect("key")
        .key;
    let (one, two) = (
        Server::start(&url, free_port()).await,
        Server::start(&url, free_port()).await,
    );
    // Each sender alternates between the instances, so both write the same contacts.
    let bases = [one.base.clone(), two.base.clone()];
    let flood = Flood::start(move |sender, number| bases[(sender + number) % 2].clone());
    flood.until_answered(DELIVERIES / 2).await;
    change_weights(&one, &key).await;
    let refused = flood.finish().await;
    assert_eq!(
        refused, 0,
        "no delivery failed for a race between the instances"
    );
    one.caught_up().await;
    two.caught_up().await;

    assert_each_event_once(&recorded_event_ids(&db).await);
    let client = reqwest::Client::new();
    let as_of = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    for id in (1..=CONTACTS).step_by(97) {
        let mut answers = Vec::new();
        for server in [&one, &two] {
            let report: Value = client
                .get(format!(
                    "{}/customers/{id}/score?as_of={as_of}",
                    server.base
                ))
                .bearer_auth(&key)
                .send()
                .await
                .expect("score")
                .json()
                .await
                .expect("json");
            answers.push((report["score"].clone(), report["band"].clone()));
        }
        assert_eq!(
            answers[0], answers[1],
            "both instances score customer {id} alike"
        );
    }
    let changes = band_changes(&db).await;
    assert!(!changes.is_empty(), "bands were recorded");
    assert_eq!(
        broken_band_chains(&changes),
        0,
        "a band change recorded twice"
    );

    // Both instances' workers applied every event once: their read models equal a rebuild.
    one.stop().await;
    two.stop().await;
    assert_read_models_equal_a_rebuild(&db, &url).await;
    db.close().await;
    database.drop_it().await;
}

/// `GET path` on `server` with `key`.
fn authed_get(
    client: &reqwest::Client,
    server: &Server,
    key: &str,
    path: &str,
) -> impl Future<Output = reqwest::Result<reqwest::Response>> + use<> {
    client
        .get(format!("{}{path}", server.base))
        .bearer_auth(key)
        .send()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_an_unreachable_database_is_a_503_and_the_server_recovers_alone() {
    let Some(database) = TestDatabase::create("hs_outage").await else {
        return;
    };
    let db = Db::connect_and_migrate(&database.url).await.expect("db");
    let key = api_keys::create(&db, PortalId(PORTAL), "outage")
        .await
        .expect("key")
        .key;
    db.close().await;
    let server = Server::start(&database.url, free_port()).await;
    let client = reqwest::Client::new();
    let now = chrono::Utc::now().timestamp_millis();
    let get = |path: &str| authed_get(&client, &server, &key, path);
    assert_eq!(
        deliver(&client, &server.base, &delivery(0, 0, now)).await,
        Some(200)
    );
    assert_eq!(get("/readyz").await.expect("readyz").status(), 200);

    database.reachable(false).await;
    let body = delivery(0, 1, now);
    assert_eq!(
        deliver(&client, &server.base, &body).await,
        Some(503),
        "a webhook"
    );
    let readiness = get("/readyz").await.expect("readyz");
    assert_eq!(readiness.status(), 503, "readiness");
    let listing = get("/customers").await.expect("customers");
    assert_eq!(listing.status(), 503, "a read");
    assert_eq!(listing.headers()["retry-after"], "1");

    database.reachable(true).await;
    until("the webhook is taken again", || async {
        deliver(&client, &server.base, &body).await == Some(200)
    })
    .await;
    assert_eq!(get("/readyz").await.expect("readyz").status(), 200);
    assert_eq!(get("/customers").await.expect("customers").status(), 200);
    drop(server);

    let db = Db::connect(&database.url).await.expect("db");
    let recorded = recorded_event_ids(&db).await;
    let expected = 2 * EVENTS_PER_DELIVERY;
    assert_eq!(recorded.len(), expected, "both deliveries' events");
    assert!(recorded.values().all(|&n| n == 1), "each once");
    db.close().await;
    database.drop_it().await;
}

/// The largest file the disk-full server may write (RLIMIT_FSIZE): its WAL reaches this within
/// a few hundred deliveries, as it would reach the end of a full disk.
const FULL_AT_BYTES: u64 = 8 << 20;

/// Raises the file-size limit of the running `server` to unlimited: the disk has room again.
fn free_disk(server: &Server) {
    let raised = std::process::Command::new("prlimit")
        .args([
            "--pid",
            &server.child.id().to_string(),
            "--fsize=unlimited:",
        ])
        .status()
        .expect("prlimit");
    assert!(raised.success(), "prlimit raised the limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_a_full_disk_is_a_503_and_the_server_recovers_alone() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("full.db").display());
    let db = Db::connect_and_migrate(&url).await.expect("db");
    let key = api_keys::create(&db, PortalId(PORTAL), "disk full")
        .await
        .expect("key")
        .key;
    // Closed meanwhile: a checkpoint from this process would grow the file past the limit.
    db.close().await;
    // Writes past the limit fail with EFBIG (SIGXFSZ ignored) as they would with ENOSPC.
    let launcher = format!("trap '' XFSZ; exec prlimit --fsize={FULL_AT_BYTES}: \"$@\"");
    let server = Server::start_under(&["sh", "-c", &launcher, "sh"], &url, free_port(), &[]).await;
    // A reader holding one snapshot: SQLite cannot rewind the WAL past it, so the WAL fills up
    // and stays full, as a full disk does, instead of making room whenever a checkpoint ends.
    let mut snapshot = sqlx::SqliteConnection::connect_with(
        &sqlx::sqlite::SqliteConnectOptions::from_str(&url)
            .expect("url")
            .read_only(true),
    )
    .await
    .expect("snapshot reader");
    sqlx::raw_sql("BEGIN; SELECT COUNT(*) FROM events;")
        .execute(&mut snapshot)
        .await
        .expect("snapshot");
    let client = reqwest::Client::new();
    let now = chrono::Utc::now().timestamp_millis();
    let get = |path: &str| authed_get(&client, &server, &key, path);

    // Deliveries until the disk is full: a write refused while readiness still finds room
    // means a checkpoint had just made room in the WAL, and the delivery is sent again.
    let mut number = 0;
    let refused = loop {
        assert!(number < DELIVERIES_PER_SENDER * 20, "the disk never filled");
        let body = delivery(0, number, now);
        match deliver(&client, &server.base, &body).await {
            Some(200) => number += 1,
            Some(503) if get("/readyz").await.expect("readyz").status() == 503 => break body,
            Some(503) => {}
            other => panic!("a delivery to a filling disk was answered {other:?}"),
        }
    };
    let again = deliver(&client, &server.base, &refused).await;
    assert_eq!(again, Some(503), "a webhook on a full disk");
    let listing = get("/customers").await.expect("customers");
    assert_eq!(listing.status(), 200, "reads go on while writes cannot");

    free_disk(&server);
    snapshot.close().await.expect("close the snapshot reader");
    until("the webhook is taken again", || async {
        deliver(&client, &server.base, &refused).await == Some(200)
    })
    .await;
    until("ready again", || async {
        get("/readyz").await.is_ok_and(|r| r.status() == 200)
    })
    .await;
    let after = delivery(0, number + 1, now);
    assert_eq!(deliver(&client, &server.base, &after).await, Some(200));
    server.caught_up().await;
    server.stop().await;

    let db = Db::connect(&url).await.expect("db");
    let recorded = recorded_event_ids(&db).await;
    let expected = (number + 2) * EVENTS_PER_DELIVERY;
    assert_eq!(recorded.len(), expected, "every answered delivery's events");
    assert!(recorded.values().all(|&n| n == 1), "each once");
    assert_read_models_equal_a_rebuild(&db, &url).await;
    db.close().await;
}
