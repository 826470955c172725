//! Alerts through the real API and the real alerter, on SQLite and PostgreSQL: a band change
//! by webhook reaches a local receiver once, signed (Standard Webhooks), after the receiver
//! comes back from being down; cooldowns, rules set after the fact, Slack messages, listings,
//! retries and validation.

use std::time::Duration;

use healthscore_api::alerts::AlertSettings;
use healthscore_api::connections::Vault;
use healthscore_api::http::{AppState, WebhookSettings};
use healthscore_api::secret::Secret;
use healthscore_fixtures::alert_receiver::AlertReceiver;
use healthscore_projections::alerts as alert_table;
use healthscore_tests::server::{PUBLIC_URL, SECRET, TestServer};
use healthscore_tests::{TestDb, on_both_backends};
use serde_json::{Value, json};

const PORTAL: u64 = 5151;

fn at(offset: chrono::Duration) -> i64 {
    (chrono::Utc::now() + offset).timestamp_millis()
}

fn iso(offset: chrono::Duration) -> String {
    (chrono::Utc::now() + offset).to_rfc3339()
}

fn event(id: u64, kind: &str, contact: u64, occurred: i64, extra: Value) -> Value {
    let mut event = json!({
        "eventId": id, "subscriptionId": 1, "portalId": PORTAL, "appId": 1,
        "occurredAt": occurred, "subscriptionType": kind, "attemptNumber": 0,
        "objectId": contact,
    });
    if let (Some(target), Some(extra)) = (event.as_object_mut(), extra.as_object()) {
        target.extend(extra.clone());
    }
    event
}

fn set(id: u64, contact: u64, occurred: i64, name: &str, value: &str) -> Value {
    event(
        id,
        "contact.propertyChange",
        contact,
        occurred,
        json!({"propertyName": name, "propertyValue": value}),
    )
}

/// A customer engaged an hour ago at the evangelist stage: healthy (about 80).
fn healthy_customer(contact: u64, ids: u64) -> Vec<Value> {
    let day = chrono::Duration::days(1);
    vec![
        event(ids, "contact.creation", contact, at(-day * 2), json!({})),
        set(ids + 1, contact, at(-day * 2), "email", "c@example.com"),
        set(ids + 2, contact, at(-day), "lifecyclestage", "evangelist"),
        set(
            ids + 3,
            contact,
            at(-chrono::Duration::hours(1)),
            "hs_last_sales_activity_date",
            &iso(-chrono::Duration::hours(1)),
        ),
    ]
}

/// Now, the stage becomes `stage` and the last engagement is `engaged` ago.
fn moved(contact: u64, ids: u64, stage: &str, engaged: chrono::Duration) -> Vec<Value> {
    let now = at(chrono::Duration::zero());
    vec![
        set(ids, contact, now, "lifecyclestage", stage),
        set(
            ids + 1,
            contact,
            now,
            "hs_last_sales_activity_date",
            &iso(-engaged),
        ),
    ]
}

/// The stage falls to subscriber and the last engagement is 200 days old: critical.
fn worsen(contact: u64, ids: u64) -> Vec<Value> {
    moved(contact, ids, "subscriber", chrono::Duration::days(200))
}

/// Engaged again now, evangelist again: healthy.
fn heal(contact: u64, ids: u64) -> Vec<Value> {
    moved(contact, ids, "evangelist", chrono::Duration::zero())
}

async fn started(t: &TestDb) -> TestServer {
    let state = AppState::new(
        t.db.clone(),
        WebhookSettings {
            secrets: vec![Secret::new(SECRET)],
            public_url: Some(PUBLIC_URL.to_string()),
        },
    )
    .with_alerts(
        AlertSettings {
            public_url: PUBLIC_URL.to_owned(),
            retry_base: Duration::from_millis(100),
            retry_cap: Duration::from_millis(400),
            drop_check_interval: Duration::ZERO,
            ..AlertSettings::default()
        },
        Vault::new(&[[7; 32]]),
    );
    TestServer::serve(state).await
}

/// Delivers `events` and waits until they are scored and the alerter has judged the result.
async fn deliver(server: &TestServer, events: Vec<Value>) {
    let response = server.deliver(&Value::Array(events).to_string()).await;
    assert_eq!(response.status(), 200);
    server.scored().await;
    alerted(server).await;
}

/// Waits until the alerter has read the log up to its head now.
async fn alerted(server: &TestServer) {
    let head = server.state.store.head().await.expect("head");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while alert_table::checkpoint(server.state.store.db())
        .await
        .expect("checkpoint")
        < head
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the alerter stalled"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Polls `GET /alerts` until `done` holds for the page (at most 30 s).
async fn alerts_until(server: &TestServer, key: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let page: Value = server.get("/alerts", key).await.json().await.expect("json");
        if done(&page) {
            return page;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "alerts never got there: {page:#}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn send(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = server
        .client
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("send")
}

async fn band_of(server: &TestServer, key: &str, contact: u64) -> Value {
    let score: Value = server
        .get(&format!("/customers/{contact}/score"), key)
        .await
        .json()
        .await
        .expect("json");
    score["band"].clone()
}

async fn a_band_change_reaches_the_receiver_once_signed(t: TestDb) {
    let server = started(&t).await;
    let key = server.key(PORTAL).await;
    let receiver = AlertReceiver::start().await.expect("receiver");

    // Contact 2 worsens before any rule exists: that history never alerts.
    deliver(&server, healthy_customer(2, 200)).await;
    deliver(&server, worsen(2, 210)).await;
    assert_eq!(band_of(&server, &key, 2).await, "critical");
    deliver(&server, healthy_customer(1, 100)).await;
    assert_eq!(band_of(&server, &key, 1).await, "healthy");

    let created = send(
        &server,
        reqwest::Method::POST,
        "/alerts/destinations",
        &key,
        Some(json!({"kind": "webhook", "url": receiver.url("hook"), "name": "CS escalations"})),
    )
    .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.expect("json");
    let secret = created["secret"].as_str().expect("a secret").to_owned();
    assert!(secret.starts_with("whsec_"), "{created}");
    receiver.set_secret(&secret);
    let hook = created["id"].as_str().expect("id").to_owned();
    let slack: Value = send(
        &server,
        reqwest::Method::POST,
        "/alerts/destinations",
        &key,
        Some(json!({"kind": "slack", "url": receiver.url("slack"), "name": "#cs"})),
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(slack["secret"], Value::Null, "Slack URLs are not signed");

    // The listing shows neither secret nor path.
    let listed: Value = server
        .get("/alerts/destinations", &key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(listed["destinations"].as_array().map(Vec::len), Some(2));
    assert!(!listed.to_string().contains("whsec_"));
    assert!(!listed.to_string().contains("/hook"), "{listed}");

    let rules = send(
        &server,
        reqwest::Method::PUT,
        "/alerts/rules",
        &key,
        Some(json!({"rules": [
            {"on": "band_worsened", "subject": "contact", "destination": hook, "cooldown_hours": 24},
        ]})),
    )
    .await;
    assert_eq!(rules.status(), 200);
    assert_eq!(rules.headers()["etag"], "\"2\"");
    let rules: Value = rules.json().await.expect("json");
    assert_eq!(rules["version"], 2);
    assert_eq!(rules["rules"][0]["cooldown_hours"], 24);
    alerted(&server).await;
    assert!(
        receiver.received().is_empty(),
        "no alert for changes before the rule"
    );

    // The receiver is down when the band worsens: attempts fail and are retried.
    receiver.set_up(false);
    deliver(&server, worsen(1, 110)).await;
    assert_eq!(band_of(&server, &key, 1).await, "critical");
    let page = alerts_until(&server, &key, |page| {
        page["alerts"][0]["attempts"].as_i64().unwrap_or(0) >= 3
    })
    .await;
    assert_eq!(page["alerts"].as_array().map(Vec::len), Some(1), "{page:#}");
    assert_ne!(page["alerts"][0]["state"], "delivered");
    assert_eq!(page["alerts"][0]["last_status"], 503);
    assert!(receiver.received().len() >= 3);

    receiver.set_up(true);
    let page = alerts_until(&server, &key, |page| {
        page["alerts"][0]["state"] == "delivered"
    })
    .await;
    let alert = &page["alerts"][0];
    let accepted = receiver.accepted();
    assert_eq!(accepted.len(), 1, "delivered once: {accepted:#?}");
    let delivery = &accepted[0];
    assert_eq!(delivery.path, "hook");
    assert!(delivery.signature_valid, "the signature verifies");
    assert_eq!(delivery.id, alert["id"].as_str().expect("id"));
    assert!(
        receiver
            .received()
            .iter()
            .all(|r| r.id == delivery.id && r.signature_valid),
        "every attempt carries the same webhook-id, each signed"
    );
    let body = &delivery.body;
    assert_eq!(body["type"], "health.band_worsened");
    assert_eq!(body["portal"], PORTAL);
    assert_eq!(body["subject"]["type"], "contact");
    assert_eq!(body["subject"]["id"], "1");
    assert_eq!(body["subject"]["name"], "c@example.com");
    assert_eq!(body["from"]["band"], "healthy");
    assert_eq!(body["to"]["band"], "critical");
    assert!(body["from"]["score"].as_f64().expect("from score") >= 70.0);
    assert!(body["to"]["score"].as_f64().expect("to score") < 40.0);
    assert_eq!(body["config_version"], 1);
    assert_eq!(body["dashboard_url"], format!("{PUBLIC_URL}/#/customer/1"));
    let moved = body["factors_moved"].as_array().expect("factors");
    assert_eq!(moved[0]["factor"], "engagement_recency", "{body:#}");
    assert!(moved[0]["change"].as_f64().expect("change") < -20.0);

    // Its record: every attempt, the failures then the delivery.
    let detail: Value = server
        .get(&format!("/alerts/{}", delivery.id), &key)
        .await
        .json()
        .await
        .expect("json");
    let log = detail["attempt_log"].as_array().expect("attempts");
    assert_eq!(log.last().expect("one")["outcome"], "delivered");
    assert!(
        log[..log.len() - 1]
            .iter()
            .all(|a| a["outcome"] == "failed" && a["status"] == 503)
    );
    assert_eq!(detail["payload"], *body);
    let retried = send(
        &server,
        reqwest::Method::POST,
        &format!("/alerts/{}/retry", delivery.id),
        &key,
        None,
    )
    .await;
    assert_eq!(retried.status(), 409, "a delivered alert is not retried");

    // Healthy again, then worse again within the cooldown: no second alert. A Slack rule
    // added meanwhile (no cooldown) reports both later changes.
    let slack_id = slack["id"].as_str().expect("id");
    let replaced = send(
        &server,
        reqwest::Method::PUT,
        "/alerts/rules",
        &key,
        Some(json!({"rules": [
            {"on": "band_worsened", "subject": "contact", "destination": hook, "cooldown_hours": 24},
            {"on": "band_changed", "subject": "any", "destination": slack_id, "cooldown_hours": 0},
        ]})),
    )
    .await;
    assert_eq!(replaced.status(), 200);
    deliver(&server, heal(1, 120)).await;
    assert_eq!(band_of(&server, &key, 1).await, "healthy");
    deliver(&server, worsen(1, 130)).await;
    assert_eq!(band_of(&server, &key, 1).await, "critical");
    let page = alerts_until(&server, &key, |page| {
        let alerts = page["alerts"].as_array().cloned().unwrap_or_default();
        alerts.len() == 3 && alerts.iter().all(|a| a["state"] == "delivered")
    })
    .await;
    let types: Vec<&str> = page["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .map(|a| a["destination"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(types.iter().filter(|d| **d == hook).count(), 1, "cooldown");
    let slack_messages: Vec<_> = receiver
        .accepted()
        .into_iter()
        .filter(|r| r.path == "slack")
        .collect();
    assert_eq!(slack_messages.len(), 2);
    let text = slack_messages[1].body["text"].as_str().expect("text");
    assert!(text.contains("c@example.com"), "{text}");
    assert!(
        text.contains("healthy") && text.contains("critical"),
        "{text}"
    );
    let blocks = slack_messages[1].body["blocks"].to_string();
    assert!(
        blocks.contains("#/customer/1|Open in healthscore"),
        "{blocks}"
    );
    assert_eq!(
        receiver
            .accepted()
            .iter()
            .filter(|r| r.path == "hook")
            .count(),
        1
    );

    // Paging and filters.
    let first: Value = server
        .get("/alerts?limit=2", &key)
        .await
        .json()
        .await
        .expect("json");
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let rest: Value = server
        .get(&format!("/alerts?limit=2&cursor={cursor}"), &key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(rest["alerts"].as_array().map(Vec::len), Some(1));
    assert_eq!(rest["next_cursor"], Value::Null);
    let failed: Value = server
        .get("/alerts?state=failed", &key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(failed["alerts"], json!([]));

    // Another portal sees none of it.
    let other = server.key(PORTAL + 1).await;
    let theirs: Value = server
        .get("/alerts", &other)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(theirs["alerts"], json!([]));
    assert_eq!(
        server
            .get(&format!("/alerts/{}", delivery.id), &other)
            .await
            .status(),
        404
    );
    let borrowed = send(
        &server,
        reqwest::Method::PUT,
        "/alerts/rules",
        &other,
        Some(json!({"rules": [{"on": "band_changed", "destination": hook}]})),
    )
    .await;
    assert_eq!(
        borrowed.status(),
        422,
        "another portal's destination is unknown"
    );
}

async fn rules_and_destinations_are_validated(t: TestDb) {
    let server = started(&t).await;
    let key = server.key(PORTAL).await;
    let receiver = AlertReceiver::start().await.expect("receiver");
    let problem = |field: &str| json!({"field": field});
    let fields = |body: &Value| -> Vec<Value> {
        body["errors"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|e| json!({"field": e["field"]}))
            .collect()
    };
    let post = |body: Value| {
        send(
            &server,
            reqwest::Method::POST,
            "/alerts/destinations",
            &key,
            Some(body),
        )
    };
    let bad = post(json!({"kind": "slack", "url": "ftp://hooks.example.com/x", "extra": 1})).await;
    assert_eq!(bad.status(), 422);
    assert_eq!(
        fields(&bad.json().await.expect("json")),
        vec![problem("extra"), problem("url")]
    );
    let bad = post(json!({"kind": "email", "url": "not a url"})).await;
    assert_eq!(
        fields(&bad.json().await.expect("json")),
        vec![problem("kind"), problem("url")]
    );
    let not_json = server
        .client
        .post(format!("{}/alerts/destinations", server.base))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .expect("send");
    assert_eq!(not_json.status(), 400);

    let created: Value = post(json!({"kind": "webhook", "url": receiver.url("hook")}))
        .await
        .json()
        .await
        .expect("json");
    let id = created["id"].as_str().expect("id").to_owned();
    receiver.set_secret(created["secret"].as_str().expect("secret"));

    let put = |body: Value, if_match: Option<&str>| {
        let mut request = server
            .client
            .put(format!("{}/alerts/rules", server.base))
            .bearer_auth(&key)
            .json(&body);
        if let Some(tag) = if_match {
            request = request.header("if-match", tag);
        }
        request.send()
    };
    let unknown = put(
        json!({"rules": [{"on": "band_worsened", "destination": "dst_0000000000000000"}]}),
        None,
    )
    .await
    .expect("send");
    assert_eq!(unknown.status(), 422);
    assert_eq!(
        fields(&unknown.json().await.expect("json")),
        vec![problem("rules[0].destination")]
    );
    let invalid = put(
        json!({"rules": [{"on": "score_dropped", "destination": id, "points": 150}]}),
        None,
    )
    .await
    .expect("send");
    assert_eq!(
        fields(&invalid.json().await.expect("json")),
        vec![problem("rules[0].points"), problem("rules[0].days")]
    );
    let stored = put(
        json!({"rules": [{"on": "band_changed", "destination": id}]}),
        Some("\"1\""),
    )
    .await
    .expect("send");
    assert_eq!(stored.status(), 200);
    let stale = put(json!({"rules": []}), Some("\"1\""))
        .await
        .expect("send");
    assert_eq!(stale.status(), 412);
    let current: Value = server
        .get("/alerts/rules", &key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(current["version"], 2);
    assert_eq!(current["rules"][0]["on"], "band_changed");
    assert_eq!(current["rules"][0]["subject"], "any");

    // A destination a rule uses cannot be deleted; the test call reaches the receiver signed.
    let delete = |path: String| {
        server
            .client
            .delete(format!("{}{path}", server.base))
            .bearer_auth(&key)
            .send()
    };
    assert_eq!(
        delete(format!("/alerts/destinations/{id}"))
            .await
            .expect("send")
            .status(),
        409
    );
    assert_eq!(
        delete("/alerts/destinations/dst_1111111111111111".into())
            .await
            .expect("send")
            .status(),
        404
    );
    let tested: Value = send(
        &server,
        reqwest::Method::POST,
        &format!("/alerts/destinations/{id}/test"),
        &key,
        None,
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(tested["delivered"], true, "{tested}");
    let test = &receiver.accepted()[0];
    assert!(test.signature_valid);
    assert_eq!(test.body["type"], "health.test");
    receiver.set_up(false);
    let tested: Value = send(
        &server,
        reqwest::Method::POST,
        &format!("/alerts/destinations/{id}/test"),
        &key,
        None,
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(tested["delivered"], false);
    assert_eq!(tested["status"], 503);

    assert_eq!(
        put(json!({"rules": []}), None)
            .await
            .expect("send")
            .status(),
        200
    );
    assert_eq!(
        delete(format!("/alerts/destinations/{id}"))
            .await
            .expect("send")
            .status(),
        204
    );
    let listed: Value = server
        .get("/alerts/destinations", &key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(listed["destinations"], json!([]));
    assert_eq!(server.get("/alerts/msg_nothing", &key).await.status(), 404);
    assert_eq!(server.get("/alerts?cursor=zzz", &key).await.status(), 400);
    assert_eq!(server.get("/alerts?state=lost", &key).await.status(), 400);
}

/// A customer active three days ago at the evangelist stage: about 76 a day ago, 74 now.
fn steady_customer(contact: u64, ids: u64) -> Vec<Value> {
    let start = -chrono::Duration::days(3);
    let minute = chrono::Duration::minutes(1);
    vec![
        event(ids, "contact.creation", contact, at(start), json!({})),
        set(ids + 1, contact, at(start), "email", "drop@example.com"),
        set(
            ids + 2,
            contact,
            at(start + minute),
            "lifecyclestage",
            "evangelist",
        ),
        set(
            ids + 3,
            contact,
            at(start + minute * 2),
            "hs_last_sales_activity_date",
            &iso(start + minute * 2),
        ),
    ]
}

async fn a_score_drop_alerts_once(t: TestDb) {
    let server = started(&t).await;
    let key = server.key(PORTAL).await;
    let receiver = AlertReceiver::start().await.expect("receiver");
    let created: Value = send(
        &server,
        reqwest::Method::POST,
        "/alerts/destinations",
        &key,
        Some(json!({"kind": "webhook", "url": receiver.url("hook")})),
    )
    .await
    .json()
    .await
    .expect("json");
    receiver.set_secret(created["secret"].as_str().expect("secret"));
    let rules = send(
        &server,
        reqwest::Method::PUT,
        "/alerts/rules",
        &key,
        Some(json!({"rules": [
            {"on": "score_dropped", "points": 20, "days": 1, "destination": created["id"]},
        ]})),
    )
    .await;
    assert_eq!(rules.status(), 200);

    // Down 2 points in a day: no alert.
    deliver(&server, steady_customer(3, 300)).await;
    alerted(&server).await;
    let page: Value = server
        .get("/alerts", &key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(page["alerts"], json!([]), "{page:#}");

    // Down about 53: one alert, and only one however often the alerter looks.
    deliver(&server, worsen(3, 310)).await;
    let page = alerts_until(&server, &key, |page| {
        page["alerts"][0]["state"] == "delivered"
    })
    .await;
    // Customer 4 had too little data a day ago to score: its fall is no drop. The alerter
    // looks again at each of these changes.
    deliver(&server, healthy_customer(4, 400)).await;
    deliver(&server, worsen(4, 410)).await;
    alerted(&server).await;
    let again: Value = server
        .get("/alerts", &key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        again["alerts"].as_array().map(Vec::len),
        Some(1),
        "{again:#}"
    );
    let about_3: Vec<&Value> = again["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .filter(|a| a["subject_id"] == "3")
        .collect();
    assert_eq!(about_3.len(), 1, "once per subject and day: {again:#}");
    assert_eq!(page["alerts"][0]["type"], "health.score_dropped");
    let body = &receiver
        .accepted()
        .into_iter()
        .find(|r| r.body["subject"]["id"] == "3")
        .expect("delivered")
        .body;
    assert!(receiver.accepted().iter().all(|r| r.signature_valid));
    assert_eq!(body["type"], "health.score_dropped");
    let from = body["from"]["score"].as_f64().expect("from");
    let to = body["to"]["score"].as_f64().expect("to");
    assert!(from - to >= 20.0, "{body:#}");
    assert_eq!(body["from"]["band"], "healthy");
    assert_eq!(body["to"]["band"], "critical");
}

on_both_backends!(
    a_score_drop_alerts_once,
    a_band_change_reaches_the_receiver_once_signed,
    rules_and_destinations_are_validated,
);
