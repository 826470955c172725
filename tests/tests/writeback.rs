//! Write-back through the real API, worker and HubSpot client against the fake HubSpot, on
//! SQLite and PostgreSQL: a 10,000-customer portal's scores land on its records in the
//! `healthscore` properties, in setup + ceil(changed / 100) requests, with a full sync running
//! at the same time and no 429; a pass with nothing changed writes nothing; the engine's own
//! properties coming back by webhook are no activity and write nothing again.

use std::collections::BTreeMap;
use std::time::Duration;

use healthscore_api::http::{AppState, WebhookSettings};
use healthscore_api::hubspot::{ClientConfig, HubSpotClient};
use healthscore_api::secret::Secret;
use healthscore_fixtures::fake_hubspot::{FakeConfig, FakeHubSpot, RunningFake};
use healthscore_tests::server::{PUBLIC_URL, SECRET, TestServer};
use healthscore_tests::{TestDb, on_both_backends};
use serde_json::{Value, json};

const CONTACTS: usize = 10_000;
/// Requests per rolling 10 s, the fake's limit and the client's pace alike.
const RATE_LIMIT: u32 = 400;

async fn started(t: &TestDb) -> (RunningFake, TestServer, u64, String) {
    let fake = FakeHubSpot::start(FakeConfig {
        contacts: CONTACTS,
        companies: 0,
        deals: 0,
        rate_limit: RATE_LIMIT,
        ..FakeConfig::default()
    })
    .await
    .expect("fake");
    let client = HubSpotClient::new(ClientConfig {
        base_url: fake.base_url().to_string(),
        rate_limit: RATE_LIMIT,
        ..ClientConfig::new(Secret::new(fake.token()))
    })
    .expect("client");
    let state = AppState::new(
        t.db.clone(),
        WebhookSettings {
            secrets: vec![Secret::new(SECRET)],
            public_url: Some(PUBLIC_URL.to_string()),
        },
    )
    .with_sync(client)
    .with_writeback_interval(Duration::ZERO);
    let server = TestServer::serve(state).await;
    let portal = fake.portal().portal_id;
    let key = server.key(portal).await;
    (fake, server, portal, key)
}

async fn start_sync(server: &TestServer, key: &str) -> String {
    let started = server
        .client
        .post(format!("{}/sync", server.base))
        .bearer_auth(key)
        .json(&json!({"mode": "full"}))
        .send()
        .await
        .expect("sync");
    assert_eq!(started.status(), 202);
    started.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned()
}

async fn writeback(server: &TestServer, key: &str, portal: u64, body: Option<Value>) -> Value {
    let url = format!("{}/connections/{portal}/writeback", server.base);
    let request = match body {
        Some(body) => server.client.put(url).json(&body),
        None => server.client.get(url),
    };
    let response = request.bearer_auth(key).send().await.expect("send");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

/// Asks for a pass (PUT with write-back on) and waits for the first one that started after.
async fn triggered_pass(server: &TestServer, key: &str, portal: u64) -> Value {
    let asked = writeback(server, key, portal, Some(json!({"enabled": true}))).await;
    let ticket = asked["pass_requested"].as_u64().expect("a pass number");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let view = writeback(server, key, portal, None).await;
        if view["last_pass"]["covers_request"].as_u64().unwrap_or(0) >= ticket {
            return view["last_pass"].clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "no pass: {view:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every customer's (score, band) as the API lists them.
async fn listed(server: &TestServer, key: &str) -> BTreeMap<String, (Value, Value)> {
    let mut all = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/customers?limit=500&cursor={c}"),
            None => "/customers?limit=500".to_owned(),
        };
        let page: Value = server.get(&path, key).await.json().await.expect("json");
        for row in page["customers"].as_array().expect("customers") {
            all.insert(
                row["id"].as_str().expect("id").to_owned(),
                (row["score"].clone(), row["band"].clone()),
            );
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return all,
        }
    }
}

async fn scores_are_written_back_in_batches_beside_a_sync(t: TestDb) {
    let (fake, server, portal, key) = started(&t).await;
    let first = start_sync(&server, &key).await;
    let run = server.finished_run(&first, &key).await;
    assert_eq!(run["status"], "completed", "{run:#}");
    server.scored().await;
    let customers = listed(&server, &key).await;
    assert!(customers.len() > 5_000, "{} customers", customers.len());
    let batches = customers.len().div_ceil(100) as u64;

    // Turned on while a second full sync runs: the sync and the write-back share one pace.
    let off = writeback(&server, &key, portal, None).await;
    assert_eq!(off["enabled"], false);
    let second = start_sync(&server, &key).await;
    let report = triggered_pass(&server, &key, portal).await;
    assert_eq!(
        writeback(&server, &key, portal, None).await["enabled"],
        true
    );
    assert_eq!(report["error"], Value::Null, "{report:#}");
    assert_eq!(report["written"], customers.len(), "{report:#}");
    assert_eq!(
        report["requests"],
        6 + batches,
        "setup + ceil(changed / 100)"
    );
    let run = server.finished_run(&second, &key).await;
    assert_eq!(run["status"], "completed", "{run:#}");
    let stats = fake.stats();
    assert_eq!(stats.responses_429, 0, "{stats:#?}");
    let endpoint = |name: &str| stats.per_endpoint.get(name).copied().unwrap_or(0);
    assert_eq!(endpoint("POST /crm/v3/properties/contacts/groups"), 1);
    assert_eq!(endpoint("POST /crm/v3/properties/contacts"), 5);
    assert_eq!(
        endpoint("POST /crm/v3/objects/contacts/batch/update"),
        fake.written().batch_updates
    );

    // Once the second sync's changes are scored (rescoring them at a later time moves some
    // scores), passes bring HubSpot up to date: each in ceil(changed / 100) requests, until one
    // finds nothing changed and writes nothing.
    server.scored().await;
    let mut settled = None;
    for _ in 0..20 {
        let report = triggered_pass(&server, &key, portal).await;
        let changed = report["written"].as_u64().expect("written");
        assert_eq!(report["requests"], changed.div_ceil(100), "{report:#}");
        if changed == 0 {
            settled = Some(report);
            break;
        }
    }
    let settled = settled.expect("the passes settle");
    let customers = listed(&server, &key).await;
    let written = fake.written();
    assert_eq!(written.groups["contacts"], vec!["healthscore"]);
    let names: Vec<&str> = written.properties["contacts"]
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "healthscore_score",
            "healthscore_band",
            "healthscore_trend_30d",
            "healthscore_top_risk",
            "healthscore_updated_at"
        ]
    );
    for (id, (score, band)) in &customers {
        let values = &written.values[&("contacts".to_owned(), id.clone())];
        let expected_band = band.as_str().unwrap_or("insufficient_data");
        assert_eq!(values["healthscore_band"], expected_band, "customer {id}");
        match score.as_f64() {
            Some(score) => {
                let sent: f64 = values["healthscore_score"].parse().expect("a number");
                assert!(
                    (sent - score).abs() < 1e-9,
                    "customer {id}: {sent} vs {score}"
                );
            }
            None => assert_eq!(values["healthscore_score"], "", "customer {id}"),
        }
        assert!(values.contains_key("healthscore_updated_at"));
    }

    // Another pass with nothing changed writes nothing either.
    let batches_before = fake.written().batch_updates;
    let again = triggered_pass(&server, &key, portal).await;
    assert!(again["pass"].as_u64() > settled["pass"].as_u64());
    assert_eq!(again["written"], 0, "{again:#}");
    assert_eq!(again["requests"], 0);
    assert_eq!(fake.written().batch_updates, batches_before);

    // HubSpot's webhook for the engine's own write: recorded, no activity, no new write.
    let activity = |score: &Value| -> Value {
        score["factors"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["factor"] == "activity_frequency"))
            .map(|f| f["detail"]["events"].clone())
            .unwrap_or_default()
    };
    // The echo goes to a customer whose score now is still the one written (and listed): a
    // score that moved with time since it was last rescored (recency decays) is rewritten by
    // any rescore of it, echo or not.
    let same = |a: &Value, b: &Value| match (a.as_f64(), b.as_f64()) {
        (Some(a), Some(b)) => (a - b).abs() < 1e-9,
        (a, b) => a.is_none() && b.is_none(),
    };
    let mut target = None;
    for (id, (listed, _)) in &customers {
        let now: Value = server
            .get(&format!("/customers/{id}/score"), &key)
            .await
            .json()
            .await
            .expect("json");
        if same(&now["score"], listed) {
            target = Some((id.clone(), now));
            break;
        }
    }
    let (id, before) = target.expect("a customer whose score has not moved since it was written");
    let score_path = format!("/customers/{id}/score");
    let echo = json!([{
        "eventId": 1, "subscriptionId": 1, "portalId": portal, "appId": 1,
        "occurredAt": chrono::Utc::now().timestamp_millis(),
        "subscriptionType": "contact.propertyChange", "attemptNumber": 0,
        "objectId": id.parse::<u64>().expect("id"),
        "propertyName": "healthscore_score", "propertyValue": "12.5",
    }]);
    assert_eq!(server.deliver(&echo.to_string()).await.status(), 200);
    server.scored().await;
    let after: Value = server
        .get(&score_path, &key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        activity(&after),
        activity(&before),
        "the echo is no activity"
    );
    assert_eq!(after["score"], before["score"]);
    let values_before = fake.written().values;
    let echoed = triggered_pass(&server, &key, portal).await;
    let rewritten: Vec<_> = fake
        .written()
        .values
        .into_iter()
        .filter(|(record, values)| values_before.get(record) != Some(values))
        .map(|(record, values)| (values_before.get(&record).cloned(), record, values))
        .collect();
    assert_eq!(
        echoed["written"], 0,
        "no feedback loop: {echoed:#}; rewritten (before, record, after): {rewritten:#?}"
    );
    assert_eq!(fake.written().batch_updates, batches_before);

    // Another portal's key cannot see or change this portal's setting.
    let other = server.key(portal + 1).await;
    let response = server
        .get(&format!("/connections/{portal}/writeback"), &other)
        .await;
    assert_eq!(response.status(), 404);
    fake.shutdown().await.expect("stop");
}

on_both_backends!(scores_are_written_back_in_batches_beside_a_sync);
