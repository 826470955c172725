//! Hostile input through the real HTTP interface, on both backends: arbitrary and mutated
//! signed webhook bodies, arbitrary query strings on every listing and score endpoint, and
//! arbitrary configuration and alert-rule documents. Never a panic or a 5xx, never a partial
//! record: a refused request leaves the log (and the configuration) as it was.

use healthscore_projections::on_reader;
use healthscore_tests::server::TestServer;
use healthscore_tests::{TestDb, on_both_backends};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

const PORTAL: u64 = 31;
const CASES: u32 = 200;

/// Runs `future` to completion from inside a proptest case (the runner is synchronous).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(future))
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    })
}

async fn events_in_log(t: &TestDb) -> i64 {
    on_reader!(&t.db, pool => {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM events")
            .fetch_one(pool)
            .await
            .expect("count");
        n
    })
}

/// The values that break parsers, for any field.
fn hostile_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(null)),
        Just(json!(0)),
        Just(json!(-1)),
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(1e300)),
        Just(json!(0.5)),
        Just(json!("")),
        Just(json!("\u{0}")),
        Just(json!("\u{202e}\u{fffd}")),
        Just(json!([[[[[]]]]])),
        Just(json!({"a": {"b": {"c": {}}}})),
        Just(json!("x".repeat(5_000))),
        ".{0,16}".prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (1u64..5).prop_map(Value::from),
    ]
}

/// A valid event with up to three of its fields replaced by hostile values or removed.
fn mutated_event() -> impl Strategy<Value = Value> {
    const FIELDS: [&str; 10] = [
        "eventId",
        "subscriptionId",
        "portalId",
        "occurredAt",
        "subscriptionType",
        "objectId",
        "propertyName",
        "propertyValue",
        "attemptNumber",
        "changeSource",
    ];
    (
        1u64..1_000,
        prop::collection::vec(
            (
                prop::sample::select(&FIELDS[..]),
                prop::option::of(hostile_value()),
            ),
            0..3,
        ),
    )
        .prop_map(|(id, mutations)| {
            let mut event = json!({
                "eventId": id, "subscriptionId": 1, "portalId": PORTAL, "appId": 1,
                "occurredAt": 1_700_000_000_000_i64 + id as i64, "attemptNumber": 0,
                "subscriptionType": "contact.propertyChange", "changeSource": "CRM",
                "objectId": id % 7 + 1, "propertyName": "lifecyclestage", "propertyValue": "lead",
            });
            for (field, value) in mutations {
                match value {
                    Some(value) => event[field] = value,
                    None => {
                        event.as_object_mut().map(|e| e.remove(field));
                    }
                }
            }
            event
        })
}

/// A webhook body: arbitrary bytes, or a delivery of mutated events, raw or with bytes changed.
fn webhook_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        prop::collection::vec(mutated_event(), 0..6)
            .prop_map(|events| Value::Array(events).to_string().into_bytes()),
        (
            prop::collection::vec(mutated_event(), 1..4),
            prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)
        )
            .prop_map(|(events, flips)| {
                let mut body = Value::Array(events).to_string().into_bytes();
                for (at, byte) in flips {
                    let at = at.index(body.len());
                    body[at] = byte;
                }
                body
            }),
    ]
}

/// POSTs `body` signed (v1 and v3) to the webhook endpoint; the status and the JSON answer.
async fn deliver_bytes(server: &TestServer, body: &[u8]) -> (u16, Value) {
    let url = format!("{}/webhooks/hubspot", healthscore_tests::server::PUBLIC_URL);
    let now = chrono::Utc::now().timestamp_millis();
    let mut request = server
        .client
        .post(format!("{}/webhooks/hubspot", server.base))
        .header("content-type", "application/json");
    for (name, value) in healthscore_domain::hubspot::crm_webhook_headers(
        healthscore_tests::server::SECRET,
        &url,
        body,
        now,
    ) {
        request = request.header(name, value);
    }
    let response = request.body(body.to_vec()).send().await.expect("send");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Asserts the answer to `body` is a clean one, and that a refusal recorded nothing while an
/// acceptance recorded exactly what its receipt says.
async fn assert_clean_webhook_answer(server: &TestServer, t: &TestDb, body: &[u8]) {
    let before = events_in_log(t).await;
    let (status, answer) = deliver_bytes(server, body).await;
    let after = events_in_log(t).await;
    let shown = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
    assert!(
        [200, 400, 413].contains(&status),
        "{status} for {shown}: {answer}"
    );
    if status == 200 {
        let recorded = answer["recorded"].as_i64().expect("a receipt");
        assert_eq!(
            after - before,
            recorded,
            "the receipt counts what was recorded"
        );
    } else {
        assert_eq!(
            after, before,
            "a refused delivery recorded nothing: {shown}"
        );
        assert_eq!(answer["status"], status, "a problem document");
    }
}

async fn hostile_webhook_bodies_are_refused_whole_or_taken_whole(t: TestDb) {
    let mut server = TestServer::start(t.db.clone()).await;
    // Only deliveries append from here on: a refused one must leave the count as it was.
    server.stop_workers().await;
    runner()
        .run(&webhook_body(), |body| {
            block_on(assert_clean_webhook_answer(&server, &t, &body));
            Ok(())
        })
        .expect("every hostile body is answered cleanly");

    let event = |n: u64| json!({"eventId": n, "subscriptionId": 1, "portalId": PORTAL, "occurredAt": 1_700_000_000_000_i64, "subscriptionType": "contact.creation", "objectId": 1});
    let tiny = format!("[{}]", vec!["{}"; 100_000].join(","));
    let named: Vec<(&str, Vec<u8>)> = vec![
        (
            "deep nesting",
            ("[".repeat(50_000) + &"]".repeat(50_000)).into_bytes(),
        ),
        ("100k tiny events in 1 MiB", tiny.into_bytes()),
        ("not UTF-8", b"[\xff\xfe\xfd]".to_vec()),
        ("a NUL byte", b"[{\"eventId\":1}\x00]".to_vec()),
        (
            "a duplicate key taking a valid value away",
            br#"[{"eventId":1,"subscriptionId":1,"portalId":31,"portalId":-4,"occurredAt":1700000000000,"subscriptionType":"contact.creation","objectId":1}]"#.to_vec(),
        ),
        (
            "an id past u64",
            br#"[{"eventId":1,"subscriptionId":1,"portalId":31,"occurredAt":1700000000000,"subscriptionType":"contact.creation","objectId":18446744073709551616}]"#.to_vec(),
        ),
        (
            "a negative time",
            br#"[{"eventId":1,"subscriptionId":1,"portalId":31,"occurredAt":-1,"subscriptionType":"contact.creation","objectId":1}]"#.to_vec(),
        ),
        (
            "101 events",
            Value::Array((0..101).map(event).collect())
                .to_string()
                .into_bytes(),
        ),
    ];
    for (what, body) in named {
        let before = events_in_log(&t).await;
        let (status, answer) = deliver_bytes(&server, &body).await;
        assert!([400, 413].contains(&status), "{what}: {status} {answer}");
        assert_eq!(events_in_log(&t).await, before, "{what} recorded nothing");
    }
}

const QUERY_KEYS: [&str; 20] = [
    "band",
    "status",
    "owner",
    "scorecard",
    "min_score",
    "max_score",
    "sort",
    "limit",
    "cursor",
    "subject",
    "as_of",
    "config_version",
    "from",
    "to",
    "step",
    "since",
    "after",
    "state",
    "code",
    "error",
];

const PATHS: [&str; 15] = [
    "/customers",
    "/companies",
    "/customers/1/score",
    "/customers/1/score/history",
    "/companies/1/score",
    "/companies/1/score/history",
    "/scores/summary",
    "/scores/movers",
    "/alerts",
    "/events",
    "/scoring/config/versions",
    "/sync/runs",
    "/owners",
    "/customers/1",
    "/connect/hubspot/callback",
];

/// Values that have broken parsers and queries elsewhere: bounds, overflow, bad dates, NUL.
const HOSTILE_VALUES: [&str; 14] = [
    "",
    "-1",
    "0",
    "18446744073709551616",
    "9223372036854775807",
    "1e309",
    "NaN",
    "2026-13-45T25:61:00Z",
    "-290000-01-01T00:00:00Z",
    "+275000-01-01T00:00:00Z",
    "2026-11-01T00:00:00Z",
    "\u{0}",
    "healthy",
    "score_desc",
];

fn query_value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(&HOSTILE_VALUES[..]).prop_map(str::to_string),
        ".{0,24}",
    ]
}

/// A query string: encoded pairs of known keys and hostile values, or raw (bad escapes and all).
fn query() -> impl Strategy<Value = (String, Option<String>)> {
    (
        prop::sample::select(&PATHS[..]).prop_map(str::to_string),
        prop_oneof![
            3 => prop::collection::vec((prop::sample::select(&QUERY_KEYS[..]), query_value()), 0..4)
                .prop_map(|pairs| {
                    let mut encoded = reqwest::Url::parse("http://x/").expect("url");
                    for (key, value) in pairs {
                        encoded.query_pairs_mut().append_pair(key, &value);
                    }
                    encoded.query().map(str::to_string)
                }),
            1 => "[a-z_=&%0-9A-F.+-]{0,30}".prop_map(Some),
        ],
    )
}

async fn hostile_query_strings_never_fail_the_server(t: TestDb) {
    let mut server = TestServer::start(t.db.clone()).await;
    let key = server.key(PORTAL).await;
    server.stop_workers().await;
    let client = &server.client;
    runner()
        .run(&query(), |(path, query)| {
            let mut url = reqwest::Url::parse(&format!("{}{path}", server.base)).expect("url");
            url.set_query(query.as_deref());
            let response = block_on(client.get(url.clone()).bearer_auth(&key).send());
            let status = response.expect("an answer").status().as_u16();
            prop_assert!(status < 500, "{status} for {url}");
            Ok(())
        })
        .expect("every hostile query string is answered cleanly");
}

/// Every known key with every listed hostile value, on every path: the cases a random sample
/// can miss in one run.
async fn every_hostile_value_on_every_path_is_answered_cleanly(t: TestDb) {
    let mut server = TestServer::start(t.db.clone()).await;
    let key = server.key(PORTAL).await;
    server.stop_workers().await;
    let mut failures = Vec::new();
    for path in PATHS {
        for name in QUERY_KEYS {
            for value in HOSTILE_VALUES {
                let mut url = reqwest::Url::parse(&format!("{}{path}", server.base)).expect("url");
                url.query_pairs_mut().append_pair(name, value);
                let response = server
                    .client
                    .get(url.clone())
                    .bearer_auth(&key)
                    .send()
                    .await;
                let status = response.expect("an answer").status().as_u16();
                if status >= 500 {
                    failures.push(format!("{status} for {url}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "server errors: {failures:#?}");
}

/// A configuration or alert-rules document: any JSON, or a plausible one with hostile values.
fn document() -> impl Strategy<Value = Value> {
    const FACTORS: [&str; 6] = [
        "engagement_recency",
        "deal_momentum",
        "lifecycle_stage",
        "activity_frequency",
        "deal_value",
        "bogus",
    ];
    let weights = prop::collection::btree_map(
        prop::sample::select(&FACTORS[..]).prop_map(str::to_string),
        prop_oneof![3 => (0u32..=100).prop_map(Value::from), 1 => hostile_value()],
        0..6,
    );
    prop_oneof![
        hostile_value(),
        (
            weights,
            prop::option::of(hostile_value()),
            prop::option::of(hostile_value())
        )
            .prop_map(|(weights, bands, coverage)| {
                let mut document = json!({"weights": weights});
                if let Some(bands) = bands {
                    document["bands"] = bands;
                }
                if let Some(coverage) = coverage {
                    document["min_coverage"] = coverage;
                }
                document
            }),
        (hostile_value(), hostile_value()).prop_map(|(on, cooldown)| json!({"rules": [
            {"on": on, "subject": "contact", "destination": "d", "cooldown_hours": cooldown}
        ]})),
    ]
}

async fn hostile_documents_are_refused_by_field_and_change_nothing(t: TestDb) {
    let mut server = TestServer::start(t.db.clone()).await;
    let key = server.key(PORTAL).await;
    server.stop_workers().await;
    let client = &server.client;
    let version = || async {
        let config: Value = server
            .get("/scoring/config", &key)
            .await
            .json()
            .await
            .expect("json");
        config["version"].clone()
    };
    runner()
        .run(&(document(), any::<bool>()), |(document, rules)| {
            block_on(async {
                let (before, events) = (version().await, events_in_log(&t).await);
                let path = if rules {
                    "/alerts/rules"
                } else {
                    "/scoring/config"
                };
                let response = client
                    .put(format!("{}{path}", server.base))
                    .bearer_auth(&key)
                    .header("content-type", "application/json")
                    .body(document.to_string())
                    .send()
                    .await
                    .expect("an answer");
                let status = response.status().as_u16();
                let answer: Value = response.json().await.unwrap_or(Value::Null);
                assert!(
                    [200, 400, 422].contains(&status),
                    "{status} for {path} {document}: {answer}"
                );
                if status == 422 {
                    let named = answer["errors"].as_array().is_some_and(|errors| {
                        !errors.is_empty() && errors.iter().all(|e| e["field"].is_string())
                    });
                    assert!(named, "a 422 names its fields: {answer}");
                }
                if status != 200 {
                    assert_eq!(
                        version().await,
                        before,
                        "a refused document changed nothing"
                    );
                    assert_eq!(events_in_log(&t).await, events, "and recorded nothing");
                }
            });
            Ok(())
        })
        .expect("every hostile document is answered cleanly");
}

on_both_backends!(
    hostile_webhook_bodies_are_refused_whole_or_taken_whole,
    hostile_query_strings_never_fail_the_server,
    every_hostile_value_on_every_path_is_answered_cleanly,
    hostile_documents_are_refused_by_field_and_change_nothing,
);
