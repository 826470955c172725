//! Webhooks in, read models out, through the real HTTP server, on SQLite and PostgreSQL.

use std::time::Duration;

use healthscore_projections::leadership::Leadership;
use healthscore_projections::projector::Projector;
use healthscore_projections::{Db, EventStore};
use healthscore_tests::dump;
use healthscore_tests::server::TestServer;
use healthscore_tests::{TestDb, on_both_backends};
use serde_json::{Value, json};
use tokio::time::Instant;

const PORTAL: u64 = 62515;

fn event(portal: u64, id: u64, kind: &str, object_id: u64, at: i64, extra: Value) -> Value {
    let mut event = json!({
        "eventId": id, "subscriptionId": 7, "portalId": portal, "appId": 1,
        "occurredAt": at, "subscriptionType": kind, "attemptNumber": 0, "objectId": object_id,
    });
    if let (Some(target), Some(extra)) = (event.as_object_mut(), extra.as_object()) {
        target.extend(extra.clone());
    }
    event
}

fn set(
    portal: u64,
    id: u64,
    kind: &str,
    object_id: u64,
    at: i64,
    name: &str,
    value: &str,
) -> Value {
    event(
        portal,
        id,
        kind,
        object_id,
        at,
        json!({"propertyName": name, "propertyValue": value}),
    )
}

fn associate(id: u64, kind: &str, from: u64, to: u64, association: &str, at: i64) -> Value {
    event(
        PORTAL,
        id,
        kind,
        from,
        at,
        json!({
        "associationType": association, "fromObjectId": from, "toObjectId": to,
        "associationRemoved": false}),
    )
}

/// A small portal: a customer at a company with a deal, a contact without email, another portal.
fn story() -> Vec<Value> {
    vec![
        event(PORTAL, 1, "contact.creation", 101, 1_000, json!({})),
        set(
            PORTAL,
            2,
            "contact.propertyChange",
            101,
            2_000,
            "email",
            "ada@example.com",
        ),
        set(
            PORTAL,
            3,
            "contact.propertyChange",
            101,
            2_000,
            "firstname",
            "Ada",
        ),
        set(
            PORTAL,
            4,
            "contact.propertyChange",
            101,
            5_000,
            "lifecyclestage",
            "customer",
        ),
        // Arrives later but happened earlier: must not win.
        set(
            PORTAL,
            5,
            "contact.propertyChange",
            101,
            4_000,
            "lifecyclestage",
            "lead",
        ),
        event(PORTAL, 6, "company.creation", 301, 1_000, json!({})),
        set(
            PORTAL,
            7,
            "company.propertyChange",
            301,
            1_500,
            "name",
            "Analytical Engines",
        ),
        event(PORTAL, 8, "deal.creation", 201, 1_000, json!({})),
        set(
            PORTAL,
            9,
            "deal.propertyChange",
            201,
            1_200,
            "dealname",
            "Renewal",
        ),
        set(
            PORTAL,
            10,
            "deal.propertyChange",
            201,
            1_300,
            "amount",
            "1000",
        ),
        associate(
            11,
            "contact.associationChange",
            101,
            301,
            "CONTACT_TO_COMPANY",
            3_000,
        ),
        associate(
            12,
            "deal.associationChange",
            201,
            101,
            "DEAL_TO_CONTACT",
            3_000,
        ),
        event(PORTAL, 13, "contact.creation", 102, 1_000, json!({})),
        event(77, 14, "contact.creation", 101, 1_000, json!({})),
        set(
            77,
            15,
            "contact.propertyChange",
            101,
            2_000,
            "email",
            "other-portal@example.com",
        ),
    ]
}

async fn send_story(server: &TestServer) {
    send(server, &story()).await;
}

/// Delivers `events` four to a delivery, each answered 200.
async fn send(server: &TestServer, events: &[Value]) {
    for chunk in events.chunks(4) {
        let response = server
            .deliver(&Value::Array(chunk.to_vec()).to_string())
            .await;
        assert_eq!(response.status(), 200);
    }
}

async fn deliver_story(server: &TestServer) {
    send_story(server).await;
    server.projected().await;
}

async fn webhooks_in_read_models_out(t: TestDb) {
    let server = TestServer::start(t.db).await;
    deliver_story(&server).await;
    let key = server.key(PORTAL).await;

    let customer: Value = server
        .get("/customers/101", &key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(customer["id"], "101");
    assert_eq!(customer["name"], "Ada");
    assert_eq!(customer["properties"]["email"], "ada@example.com");
    assert_eq!(
        customer["properties"]["lifecyclestage"], "customer",
        "latest occurredAt wins"
    );
    assert_eq!(customer["created_at"], "1970-01-01T00:00:01.000Z");
    let associations = customer["associations"].as_array().expect("array");
    assert!(
        associations
            .contains(&json!({"type": "company", "id": "301", "name": "Analytical Engines"}))
    );
    assert!(associations.contains(&json!({"type": "deal", "id": "201", "name": "Renewal"})));

    let company: Value = server
        .get("/companies/301", &key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        company["associations"],
        json!([{"type": "contact", "id": "101", "name": "Ada"}])
    );
    let deal: Value = server
        .get("/deals/201", &key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(deal["properties"]["amount"], "1000");

    assert_eq!(
        server.get("/customers/102", &key).await.status(),
        404,
        "no email: not a customer"
    );
    assert_eq!(server.get("/customers/999", &key).await.status(), 404);
    assert_eq!(server.get("/deals/not-a-number", &key).await.status(), 404);
}

async fn a_key_sees_only_its_portal_and_requests_without_one_are_refused(t: TestDb) {
    let server = TestServer::start(t.db).await;
    deliver_story(&server).await;
    let other: Value = server
        .get("/customers/101", &server.key(77).await)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(other["properties"]["email"], "other-portal@example.com");
    let third_portal = server.key(5).await;
    assert_eq!(
        server.get("/customers/101", &third_portal).await.status(),
        404
    );
    assert_eq!(
        server.get("/companies/301", &third_portal).await.status(),
        404
    );

    let anonymous = server
        .client
        .get(format!("{}/customers/101", server.base))
        .send()
        .await
        .expect("send");
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        server.get("/customers/101", "hsk_forged").await.status(),
        401
    );
    let key = server.key(PORTAL).await;
    let id = healthscore_projections::api_keys::list(&server.state.db)
        .await
        .expect("list")[0]
        .id
        .clone();
    assert!(
        healthscore_projections::api_keys::revoke(&server.state.db, &id)
            .await
            .expect("revoke")
    );
    let revoked = healthscore_projections::api_keys::list(&server.state.db)
        .await
        .expect("list");
    assert!(revoked.iter().any(|k| k.revoked_at.is_some()));
    let _ = key;
}

async fn a_privacy_deletion_erases_the_read_models_too(t: TestDb) {
    let server = TestServer::start(t.db.clone()).await;
    deliver_story(&server).await;
    // Another customer, who must come through the erasure untouched.
    let grace = json!([
        event(PORTAL, 90, "contact.creation", 105, 1_000, json!({})),
        set(
            PORTAL,
            91,
            "contact.propertyChange",
            105,
            1_100,
            "email",
            "grace@example.com"
        ),
        set(
            PORTAL,
            92,
            "contact.propertyChange",
            105,
            1_200,
            "lifecyclestage",
            "customer"
        ),
    ]);
    assert_eq!(server.deliver(&grace.to_string()).await.status(), 200);
    server.projected().await;
    server.scored().await;
    let key = server.key(PORTAL).await;
    let store = EventStore::new(t.db.clone());
    let grace_before = store
        .read_stream(&format!("{PORTAL}/contact/105"), 0)
        .await
        .expect("stream");
    let customers = |summary: Value| summary["customers"].as_i64().expect("a count");
    let before = customers(
        server
            .get("/scores/summary", &key)
            .await
            .json()
            .await
            .expect("json"),
    );
    assert_eq!(server.get("/customers/101/score", &key).await.status(), 200);

    // A privacy deletion alone, with no contact.deletion beside it.
    let erase = json!([event(
        PORTAL,
        99,
        "contact.privacyDeletion",
        101,
        9_000,
        json!({})
    )]);
    assert_eq!(server.deliver(&erase.to_string()).await.status(), 200);
    server.projected().await;
    server.scored().await;
    assert_eq!(server.get("/customers/101", &key).await.status(), 404);
    assert_eq!(server.get("/customers/101/score", &key).await.status(), 404);
    let listed: Value = server
        .get("/customers?limit=100", &key)
        .await
        .json()
        .await
        .expect("json");
    let ids: Vec<&str> = listed["customers"]
        .as_array()
        .expect("customers")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert!(!ids.contains(&"101") && ids.contains(&"105"), "{listed}");
    let after = customers(
        server
            .get("/scores/summary", &key)
            .await
            .json()
            .await
            .expect("json"),
    );
    assert_eq!(after, before - 1, "the summary counts one customer fewer");
    let rows = dump::read_models(&t.db).await.join("\n");
    assert!(
        !rows.contains("ada@example.com") && !rows.contains("|Ada|"),
        "{rows}"
    );
    assert!(
        rows.contains("grace@example.com"),
        "the other customer's read models stay"
    );
    let grace_after = store
        .read_stream(&format!("{PORTAL}/contact/105"), 0)
        .await
        .expect("stream");
    let payloads = |events: &[healthscore_projections::RecordedEvent]| -> Vec<String> {
        events.iter().map(|e| e.event.payload.clone()).collect()
    };
    assert_eq!(
        payloads(&grace_after),
        payloads(&grace_before),
        "other streams are intact"
    );
    let grace_view: Value = server
        .get("/customers/105", &key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(grace_view["properties"]["email"], "grace@example.com");
}

async fn a_rebuild_gives_exactly_the_live_read_models(t: TestDb) {
    let mut server = TestServer::start(t.db.clone()).await;
    deliver_story(&server).await;
    // Nothing else may append (the score refresher records band changes) while we compare.
    server.stop_workers().await;
    let live = dump::read_models(&t.db).await;
    assert!(
        live.len() >= 16,
        "the story fills the read models: {} rows",
        live.len()
    );
    let replayed = Projector::new(EventStore::new(t.db.clone()))
        .rebuild(|_| {})
        .await
        .expect("rebuild");
    assert_eq!(
        replayed as i64,
        EventStore::new(t.db.clone()).head().await.expect("head")
    );
    assert_eq!(dump::read_models(&t.db).await, live);
}

async fn two_projector_instances_apply_each_event_once(t: TestDb) {
    let mut server = TestServer::start(t.db.clone()).await;
    server.stop_workers().await;
    send_story(&server).await;
    let store = EventStore::new(t.db.clone());
    // Two instances race over the same log: an event applied by both would count twice.
    let (a, b) = (Projector::new(store.clone()), Projector::new(store.clone()));
    let (ra, rb) = tokio::join!(a.catch_up(|_| {}), b.catch_up(|_| {}));
    let applied = ra.expect("instance a") + rb.expect("instance b");
    assert_eq!(
        applied as i64,
        store.head().await.expect("head"),
        "each event applied once"
    );
    let shared = dump::read_models(&t.db).await;
    Projector::new(store)
        .rebuild(|_| {})
        .await
        .expect("single instance");
    assert_eq!(dump::read_models(&t.db).await, shared);
}

/// Of several instances on one PostgreSQL database, one holds a follower's leadership at a
/// time, and another takes it once the holder lets go. On SQLite (one instance per file) every
/// claim holds.
async fn a_followers_leadership_is_held_once_and_taken_over(t: TestDb) {
    let interval = Duration::from_millis(10);
    let mut first = Leadership::new(&t.db, 7_777, interval);
    let mut second = Leadership::new(&t.db, 7_777, interval);
    assert!(first.hold().await, "the first claim holds");
    if matches!(t.db, Db::Sqlite { .. }) {
        assert!(second.hold().await, "on SQLite every claim holds");
        return;
    }
    assert!(!second.hold().await, "not two at a time");
    tokio::time::sleep(interval * 2).await;
    assert!(
        first.hold().await,
        "the holder still holds when it checks again"
    );
    assert!(!second.hold().await, "and the other still does not");
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !second.hold().await {
        assert!(
            Instant::now() < deadline,
            "the second claim never took over"
        );
        tokio::time::sleep(interval).await;
    }
}

/// The instance running the projector stops; another instance's projector takes over and the
/// read models still equal a rebuild.
async fn another_instances_projector_takes_over(t: TestDb) {
    let mut server = TestServer::start(t.db.clone()).await;
    let story = story();
    let (before, after) = story.split_at(story.len() / 2);
    send(&server, before).await;
    server.projected().await;
    let store = EventStore::new(Db::connect(&t.url).await.expect("a second instance's pool"));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let other = tokio::spawn(Projector::new(store.clone()).run(stopped));
    server.stop_workers().await;
    send(&server, after).await;
    server.projected().await;
    stop.send(true).expect("the other projector listens");
    other.await.expect("the other projector stops");
    let live = dump::read_models(&t.db).await;
    Projector::new(store)
        .rebuild(|_| {})
        .await
        .expect("rebuild");
    assert_eq!(dump::read_models(&t.db).await, live);
}

on_both_backends!(
    a_followers_leadership_is_held_once_and_taken_over,
    another_instances_projector_takes_over,
    webhooks_in_read_models_out,
    a_key_sees_only_its_portal_and_requests_without_one_are_refused,
    a_privacy_deletion_erases_the_read_models_too,
    a_rebuild_gives_exactly_the_live_read_models,
    two_projector_instances_apply_each_event_once,
);
