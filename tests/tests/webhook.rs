//! `POST /webhooks/hubspot` through the real server, on SQLite and PostgreSQL.

use healthscore_domain::crm_object::CrmObject;
use healthscore_domain::ids::{ObjectRef, ObjectType, PortalId};
use healthscore_projections::EventStore;
use healthscore_tests::server::{SECRET, TestServer};
use healthscore_tests::{TestDb, on_both_backends};
use serde_json::{Value, json};

const PORTAL: u64 = 62515;

fn event(id: u64, kind: &str, object_id: u64, at: i64, extra: Value) -> Value {
    let mut event = json!({
        "eventId": id, "subscriptionId": 12345, "portalId": PORTAL, "appId": 54321,
        "occurredAt": at, "subscriptionType": kind, "attemptNumber": 0,
        "objectId": object_id, "changeSource": "CRM", "changeFlag": "NEW",
    });
    if let (Some(target), Some(extra)) = (event.as_object_mut(), extra.as_object()) {
        target.extend(extra.clone());
    }
    event
}

fn property(id: u64, object_id: u64, at: i64, name: &str, value: &str) -> Value {
    event(
        id,
        "contact.propertyChange",
        object_id,
        at,
        json!({"propertyName": name, "propertyValue": value}),
    )
}

async fn state_of(
    store: &EventStore,
    object_type: ObjectType,
    id: u64,
) -> healthscore_domain::crm_object::ObjectState {
    let stream = ObjectRef::new(PortalId(PORTAL), object_type, id).stream_id();
    let mut aggregate = CrmObject::default();
    for recorded in store.read_stream(&stream, 0).await.expect("read") {
        let event = serde_json::from_str(&recorded.event.payload).expect("event");
        cqrs_es_apply(&mut aggregate, event);
    }
    aggregate.state().clone()
}

fn cqrs_es_apply(aggregate: &mut CrmObject, event: healthscore_domain::crm_object::CrmObjectEvent) {
    use cqrs_es::Aggregate;
    aggregate.apply(event);
}

async fn a_signed_delivery_is_recorded_on_each_objects_stream(t: TestDb) {
    let server = TestServer::start(t.db.clone()).await;
    let store = EventStore::new(t.db);
    let body = json!([
        event(1, "contact.creation", 101, 1_000, json!({})),
        property(2, 101, 2_000, "email", "ada@example.com"),
        event(3, "deal.creation", 201, 1_500, json!({})),
    ])
    .to_string();
    let response = server.deliver(&body).await;
    assert_eq!(response.status(), 200);
    let receipt: Value = response.json().await.expect("json");
    assert_eq!(
        receipt,
        json!({"received": 3, "duplicates": 0, "recorded": 3})
    );

    let contact = state_of(&store, ObjectType::Contact, 101).await;
    assert_eq!(contact.property("email"), "ada@example.com");
    assert!(contact.exists());
    assert_eq!(
        store
            .read_stream(&format!("{PORTAL}/deal/201"), 0)
            .await
            .expect("deal")
            .len(),
        1
    );
}

async fn every_signature_version_is_accepted(t: TestDb) {
    let server = TestServer::start(t.db.clone()).await;
    let body = json!([event(1, "contact.creation", 101, 1_000, json!({}))]).to_string();
    let v1_only = server
        .client
        .post(format!("{}/webhooks/hubspot", server.base))
        .header(
            "X-HubSpot-Signature",
            healthscore_domain::hubspot::sign_v1(SECRET, body.as_bytes()),
        )
        .body(body.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(v1_only.status(), 200);
    let body2 = json!([event(2, "contact.creation", 102, 1_000, json!({}))]).to_string();
    assert_eq!(
        server
            .signed_v2(&body2)
            .send()
            .await
            .expect("send")
            .status(),
        200
    );
    let body3 = json!([event(3, "contact.creation", 103, 1_000, json!({}))]).to_string();
    assert_eq!(server.deliver(&body3).await.status(), 200);
    assert_eq!(
        EventStore::new(t.db)
            .read_all(0, 10)
            .await
            .expect("all")
            .len(),
        3
    );
}

async fn forged_stale_or_unsigned_requests_are_refused_and_record_nothing(t: TestDb) {
    let server = TestServer::start(t.db.clone()).await;
    let body = json!([event(1, "contact.creation", 101, 1_000, json!({}))]).to_string();
    let now = chrono::Utc::now().timestamp_millis();

    let mut flipped = body.clone().into_bytes();
    flipped[10] ^= 1;
    let signed_original = server.signed(&body, now, SECRET).build().expect("request");
    let mut tampered = signed_original;
    *tampered.body_mut() = Some(flipped.into());
    assert_eq!(
        server
            .client
            .execute(tampered)
            .await
            .expect("send")
            .status(),
        401
    );

    let wrong_secret = server
        .signed(&body, now, "not-the-secret")
        .send()
        .await
        .expect("send");
    assert_eq!(wrong_secret.status(), 401);
    let stale = server
        .signed(&body, now - 300_001, SECRET)
        .send()
        .await
        .expect("send");
    assert_eq!(stale.status(), 401);
    let unsigned = server
        .client
        .post(format!("{}/webhooks/hubspot", server.base))
        .body(body)
        .send()
        .await
        .expect("send");
    assert_eq!(unsigned.status(), 401);
    assert_eq!(
        EventStore::new(t.db).head().await.expect("head"),
        0,
        "nothing recorded"
    );
}

async fn malformed_oversized_and_unconfigured_requests_get_clear_errors(t: TestDb) {
    let server = TestServer::start(t.db.clone()).await;
    let not_json = server.deliver("{not json").await;
    assert_eq!(not_json.status(), 400);
    assert_eq!(
        not_json.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(server.deliver(r#"{"portalId": 1}"#).await.status(), 400);
    assert_eq!(server.deliver("[1, 2]").await.status(), 400);

    let huge = format!(
        "[{}]",
        vec![r#"{"x":"yyyyyyyyyyyyyyyyyyyy"}"#; 50_000].join(",")
    );
    assert!(huge.len() > 1024 * 1024);
    assert_eq!(server.deliver(&huge).await.status(), 413);

    // Small enough for the body limit, but more events than HubSpot sends in one request.
    let crowded = Value::Array(
        (0..101)
            .map(|n| property(9, 500 + n, 2_000, "lifecyclestage", "lead"))
            .collect(),
    );
    let refused = server.deliver(&crowded.to_string()).await;
    assert_eq!(refused.status(), 400);
    let problem: Value = refused.json().await.expect("json");
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("at most 100")
    );

    let unconfigured = TestServer::start_with(t.db.clone(), Default::default()).await;
    let response = unconfigured.deliver("[]").await;
    assert_eq!(response.status(), 503);
    let problem: Value = response.json().await.expect("json");
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("HUBSPOT_CLIENT_SECRET")
    );
    assert_eq!(EventStore::new(t.db).head().await.expect("head"), 0);
}

async fn a_retried_delivery_records_nothing_new(t: TestDb) {
    let server = TestServer::start(t.db.clone()).await;
    let first = json!([
        property(9, 101, 2_000, "lifecyclestage", "lead"),
        property(9, 101, 2_000, "lifecyclestage", "lead")
    ]);
    let mut retry = first.clone();
    retry[0]["attemptNumber"] = json!(3);
    let response: Value = server
        .deliver(&first.to_string())
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        response["recorded"], 1,
        "an in-delivery duplicate is recorded once"
    );
    let response: Value = server
        .deliver(&retry.to_string())
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        response,
        json!({"received": 2, "duplicates": 2, "recorded": 0})
    );
    assert_eq!(
        EventStore::new(t.db)
            .read_all(0, 10)
            .await
            .expect("all")
            .len(),
        1
    );
}

/// Deliveries and their retries racing each other: the writer decides a group while the one
/// before it commits, so this checks that work is neither lost nor doubled across groups and
/// that every stream's sequences stay gapless.
async fn racing_deliveries_and_retries_are_recorded_once(t: TestDb) {
    const CONTACTS: u64 = 7;
    let server = std::sync::Arc::new(TestServer::start(t.db.clone()).await);
    let deliveries: Vec<String> = (0..40u64)
        .map(|d| {
            let events: Vec<Value> = (0..5u64)
                .map(|i| {
                    let serial = d * 5 + i;
                    property(
                        1_000 + serial,
                        serial % CONTACTS + 1,
                        10_000 + serial as i64,
                        "firstname",
                        &format!("v{serial}"),
                    )
                })
                .collect();
            Value::Array(events).to_string()
        })
        .collect();
    let mut sends = tokio::task::JoinSet::new();
    for body in deliveries.iter().chain(&deliveries) {
        let (server, body) = (std::sync::Arc::clone(&server), body.clone());
        sends.spawn(async move { server.deliver(&body).await.status() });
    }
    while let Some(status) = sends.join_next().await {
        assert!(status.expect("sent").is_success());
    }
    let store = EventStore::new(t.db);
    let all = store.read_all(0, 1_000).await.expect("all");
    assert_eq!(all.len(), 200, "each of the 200 changes recorded once");
    for contact in 1..=CONTACTS {
        let stream = ObjectRef::new(PortalId(PORTAL), ObjectType::Contact, contact).stream_id();
        let sequences: Vec<i64> = store
            .read_stream(&stream, 0)
            .await
            .expect("stream")
            .iter()
            .map(|e| e.event.sequence)
            .collect();
        let gapless: Vec<i64> = (1..=sequences.len() as i64).collect();
        assert_eq!(sequences, gapless, "contact {contact}");
        let latest = (0..200u64).filter(|s| s % CONTACTS + 1 == contact).max();
        let state = state_of(&store, ObjectType::Contact, contact).await;
        assert_eq!(
            state.property("firstname"),
            format!("v{}", latest.expect("a change"))
        );
    }
}

async fn unknown_types_are_kept_raw_and_answered_2xx(t: TestDb) {
    let server = TestServer::start(t.db.clone()).await;
    let body = json!([event(1, "ticket.creation", 5, 1_000, json!({}))]).to_string();
    assert_eq!(server.deliver(&body).await.status(), 200);
    let all = EventStore::new(t.db).read_all(0, 10).await.expect("all");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].event.stream_type, "unhandled_webhook");
    let payload: serde_json::Value = serde_json::from_str(&all[0].event.payload).expect("json");
    assert_eq!(payload["subscriptionType"], "ticket.creation");
}

async fn associations_land_on_both_ends_and_merges_mark_the_merged(t: TestDb) {
    let server = TestServer::start(t.db.clone()).await;
    let store = EventStore::new(t.db);
    let body = json!([
        event(
            1,
            "contact.associationChange",
            101,
            1_000,
            json!({
            "associationType": "CONTACT_TO_COMPANY", "fromObjectId": 101, "toObjectId": 301,
            "associationRemoved": false, "isPrimaryAssociation": true})
        ),
        event(
            2,
            "contact.merge",
            102,
            2_000,
            json!({
            "primaryObjectId": 102, "mergedObjectIds": [103, 104], "newObjectId": 102,
            "numberOfPropertiesMoved": 3})
        ),
    ])
    .to_string();
    let answer = server.deliver(&body).await;
    assert_eq!(answer.status(), 200);
    let receipt: Value = answer.json().await.expect("a receipt");
    // Two webhook events; the association is a domain event on each end, the merge one on
    // the primary and one on each merged contact.
    assert_eq!(receipt["received"], 2, "{receipt}");
    assert_eq!(receipt["duplicates"], 0, "{receipt}");
    let in_log = store.read_all(0, 100).await.expect("log").len();
    assert_eq!(
        receipt["recorded"], in_log,
        "the receipt counts the log's new events"
    );
    let retried: Value = server.deliver(&body).await.json().await.expect("a receipt");
    assert_eq!(
        (
            &retried["received"],
            &retried["duplicates"],
            &retried["recorded"]
        ),
        (&json!(2), &json!(2), &json!(0)),
        "a retry is all duplicates, each webhook event counted once"
    );
    let contact = state_of(&store, ObjectType::Contact, 101).await;
    let company = state_of(&store, ObjectType::Company, 301).await;
    assert_eq!(
        contact.associated().map(|o| o.id).collect::<Vec<_>>(),
        vec![301]
    );
    assert_eq!(
        company.associated().map(|o| o.id).collect::<Vec<_>>(),
        vec![101]
    );
    assert_eq!(
        state_of(&store, ObjectType::Contact, 103).await.merged_into,
        Some(102)
    );
    assert_eq!(
        state_of(&store, ObjectType::Contact, 104).await.merged_into,
        Some(102)
    );
}

async fn a_privacy_deletion_erases_the_email_from_the_stored_events(t: TestDb) {
    let mut server = TestServer::start(t.db.clone()).await;
    let email = "erase-me-7f3a@example.com";
    let first = json!([
        event(1, "contact.creation", 101, 1_000, json!({})),
        property(2, 101, 2_000, "email", email),
        property(3, 101, 2_000, "firstname", "Grace"),
    ]);
    assert_eq!(server.deliver(&first.to_string()).await.status(), 200);
    let erase = json!([
        event(4, "contact.privacyDeletion", 101, 3_000, json!({})),
        event(5, "contact.deletion", 101, 3_000, json!({}))
    ]);
    assert_eq!(server.deliver(&erase.to_string()).await.status(), 200);

    let store = EventStore::new(t.db.clone());
    let events = store.read_all(0, 100).await.expect("all");
    let kinds: Vec<_> = events
        .iter()
        .map(|e| (e.position, e.event.event_type.clone()))
        .collect();
    assert_eq!(events.len(), 5, "the log keeps its structure: {kinds:?}");
    let dump = serde_json::to_string(&events.iter().map(|e| &e.event.payload).collect::<Vec<_>>())
        .expect("dump");
    assert!(!dump.contains(email) && !dump.contains("Grace"), "{dump}");
    let contact = state_of(&store, ObjectType::Contact, 101).await;
    assert!(contact.erased && !contact.exists());

    // The read models and materialized scores drop it too, and no old page image keeps it.
    server.projected().await;
    server.scored().await;
    server.stop_workers().await;
    if let Some(path) = t.url.strip_prefix("sqlite://") {
        t.db.close().await;
        for file in [path.to_string(), format!("{path}-wal")] {
            if let Ok(bytes) = std::fs::read(&file) {
                let found = bytes.windows(email.len()).any(|w| w == email.as_bytes());
                assert!(!found, "{file} still holds the erased email");
            }
        }
    }
}

on_both_backends!(
    a_signed_delivery_is_recorded_on_each_objects_stream,
    every_signature_version_is_accepted,
    forged_stale_or_unsigned_requests_are_refused_and_record_nothing,
    malformed_oversized_and_unconfigured_requests_get_clear_errors,
    a_retried_delivery_records_nothing_new,
    racing_deliveries_and_retries_are_recorded_once,
    unknown_types_are_kept_raw_and_answered_2xx,
    associations_land_on_both_ends_and_merges_mark_the_merged,
    a_privacy_deletion_erases_the_email_from_the_stored_events,
);

/// The WAL deleted under a running server (what another process does once the server's locks
/// are gone): the flush cannot make a commit durable, so HubSpot is told to retry (503, never
/// 500 or 2xx) and readiness fails until the database is sound again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_wal_deleted_under_the_server_answers_503_not_2xx() {
    let t = TestDb::sqlite().await;
    let server = TestServer::start(t.db.clone()).await;
    let first = json!([property(1, 101, 1_000, "lifecyclestage", "lead")]);
    assert_eq!(server.deliver(&first.to_string()).await.status(), 200);
    let ready = server
        .client
        .get(format!("{}/readyz", server.base))
        .send()
        .await;
    assert_eq!(ready.expect("readyz").status(), 200);

    let path = t.url.strip_prefix("sqlite://").expect("a file");
    std::fs::remove_file(format!("{path}-wal")).expect("delete the WAL");

    let second = json!([property(2, 102, 2_000, "lifecyclestage", "lead")]);
    let refused = server.deliver(&second.to_string()).await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    let ready = server
        .client
        .get(format!("{}/readyz", server.base))
        .send()
        .await;
    assert_eq!(ready.expect("readyz").status(), 503);
}

/// Closing any descriptor of the database file drops the server's POSIX locks on it (the
/// defect behind the WAL deletions): readiness notices at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_readiness_fails_when_the_server_loses_its_locks() {
    let t = TestDb::sqlite().await;
    let server = TestServer::start(t.db.clone()).await;
    let readyz = format!("{}/readyz", server.base);
    let ready = server.client.get(&readyz).send().await.expect("readyz");
    assert_eq!(ready.status(), 200);

    let path = t.url.strip_prefix("sqlite://").expect("a file");
    drop(std::fs::File::open(path).expect("open"));

    let ready = server.client.get(&readyz).send().await.expect("readyz");
    assert_eq!(ready.status(), 503);
}
