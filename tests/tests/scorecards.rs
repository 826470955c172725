//! Scorecards v2 through the real HTTP API, on SQLite and PostgreSQL: SCORING.md's worked
//! example v2 built from webhooks (account s with contacts c1, c2 and deal d), the CSM's
//! sentiment and its expiry, the segment switch, account listings, summaries, history,
//! preview, band changes, validation and erasure.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use healthscore_api::clock::Clock;
use healthscore_api::http::{AppState, WebhookSettings};
use healthscore_api::secret::Secret;
use healthscore_domain::customer_health::ACCOUNT_HEALTH_STREAM;
use healthscore_tests::server::{PUBLIC_URL, SECRET, TestServer};
use healthscore_tests::{TestDb, on_both_backends};
use serde_json::{Value, json};

const PORTAL: u64 = 4343;
const ACCOUNT: u64 = 500;
const ACCOUNT_ID: &str = "500";
const T: &str = "2026-11-23T00:00:00Z";

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("time")
        .with_timezone(&Utc)
}

fn event(id: u64, kind: &str, object_id: u64, when: &str, extra: Value) -> Value {
    let mut event = json!({
        "eventId": id, "subscriptionId": 1, "portalId": PORTAL, "appId": 1,
        "occurredAt": at(when).timestamp_millis(), "subscriptionType": kind,
        "attemptNumber": 0, "objectId": object_id,
    });
    if let (Some(target), Some(extra)) = (event.as_object_mut(), extra.as_object()) {
        target.extend(extra.clone());
    }
    event
}

fn set(id: u64, kind: &str, object_id: u64, when: &str, name: &str, value: &str) -> Value {
    event(
        id,
        kind,
        object_id,
        when,
        json!({"propertyName": name, "propertyValue": value}),
    )
}

fn associate(id: u64, from: (&str, u64), to: (&str, u64), when: &str) -> Value {
    let kind = format!("{}.associationChange", from.0);
    event(
        id,
        &kind,
        from.1,
        when,
        json!({
            "associationType": format!("{}_TO_{}", from.0, to.0).to_uppercase(),
            "fromObjectId": from.1, "toObjectId": to.1, "associationRemoved": false,
        }),
    )
}

/// The worked example's facts: s (500) with c1 (1) and c2 (2); d (10) on c1 only. c1's four
/// updates in the 30 days before T and d's move on 11-10 are the five updates counted.
fn worked_example_v2() -> Vec<Value> {
    let (company, contact, deal) = (
        "company.propertyChange",
        "contact.propertyChange",
        "deal.propertyChange",
    );
    let early = "2026-09-01T00:00:00Z";
    let oct = "2026-10-01T00:00:00Z";
    vec![
        event(1, "company.creation", ACCOUNT, early, json!({})),
        set(2, company, ACCOUNT, early, "name", "Stellar Ltd"),
        set(3, company, ACCOUNT, early, "lifecyclestage", "customer"),
        set(4, company, ACCOUNT, early, "usage_score", "80"),
        set(5, company, ACCOUNT, early, "numberofemployees", "250"),
        event(6, "contact.creation", 2, early, json!({})),
        set(7, contact, 2, early, "email", "bo@example.com"),
        event(8, "contact.creation", 1, oct, json!({})),
        set(9, contact, 1, oct, "email", "ada@example.com"),
        event(10, "deal.creation", 10, oct, json!({})),
        set(11, deal, 10, oct, "amount", "1000"),
        set(12, deal, 10, oct, "hs_deal_stage_probability", "0.4"),
        associate(13, ("contact", 1), ("company", ACCOUNT), oct),
        associate(14, ("contact", 2), ("company", ACCOUNT), oct),
        associate(15, ("deal", 10), ("contact", 1), oct),
        set(
            16,
            contact,
            1,
            "2026-11-03T00:00:00Z",
            "lifecyclestage",
            "customer",
        ),
        set(
            17,
            deal,
            10,
            "2026-11-10T00:00:00Z",
            "hs_deal_stage_probability",
            "0.6",
        ),
        set(18, contact, 1, "2026-11-13T00:00:00Z", "firstname", "Ada"),
        set(
            19,
            contact,
            1,
            "2026-11-18T00:00:00Z",
            "phone",
            "+44 20 7946 0000",
        ),
        set(
            20,
            contact,
            1,
            "2026-11-21T00:00:00Z",
            "hs_last_sales_activity_date",
            "2026-11-21T00:00:00Z",
        ),
    ]
}

/// SCORING.md's scorecards document.
fn scorecards() -> Value {
    json!({"scorecards": [
      {"name": "enterprise accounts", "subject": "company",
       "filter": [{"property": "numberofemployees", "op": "gte", "value": "1000"}],
       "weights": {"engagement_recency": 30, "deal_value": 30, "customer_health": 40}},
      {"name": "accounts", "subject": "company",
       "weights": {"engagement_recency": 20, "deal_momentum": 15, "lifecycle_stage": 10,
                   "activity_frequency": 15, "deal_value": 10, "customer_health": 15,
                   "csm_sentiment": 5, "product_usage": 10},
       "custom_factors": [{"key": "product_usage", "property": "usage_score",
                           "transform": {"type": "linear", "min": 0, "max": 100}}]},
      {"name": "contacts", "subject": "contact", "weights": {"engagement_recency": 25,
       "deal_momentum": 20, "lifecycle_stage": 15, "activity_frequency": 20, "deal_value": 20}}
    ]})
}

/// A server whose clock (what stamps a sentiment) the story sets.
struct Story {
    server: TestServer,
    key: String,
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl Story {
    async fn start(t: &TestDb) -> Story {
        let now = Arc::new(Mutex::new(Utc::now()));
        let read = Arc::clone(&now);
        let clock = Clock::from_fn(move || *read.lock().expect("clock"));
        let webhook = WebhookSettings {
            secrets: vec![Secret::new(SECRET)],
            public_url: Some(PUBLIC_URL.to_string()),
        };
        let server =
            TestServer::serve(AppState::new(t.db.clone(), webhook).with_clock(clock)).await;
        let key = server.key(PORTAL).await;
        Story { server, key, now }
    }

    /// The worked example's portal under the scorecards document, with c1... recorded.
    async fn worked_example(t: &TestDb) -> Story {
        let story = Story::start(t).await;
        story.deliver(worked_example_v2()).await;
        let (status, body) = story.put("/scoring/config", scorecards()).await;
        assert_eq!(status, 200, "{body:#}");
        story
    }

    async fn deliver(&self, events: Vec<Value>) {
        let response = self.server.deliver(&Value::Array(events).to_string()).await;
        assert_eq!(response.status(), 200);
    }

    fn set_clock(&self, when: &str) {
        *self.now.lock().expect("clock") = at(when);
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .server
            .client
            .request(method, format!("{}{path}", self.server.base))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("send");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    async fn ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {body:#}");
        body
    }

    /// The yellow sentiment of the worked example, recorded on 2026-11-13.
    async fn yellow_on_the_13th(&self) {
        self.set_clock("2026-11-13T00:00:00Z");
        let (status, body) = self
            .put(
                &format!("/companies/{ACCOUNT}/sentiment"),
                json!({"value": "yellow", "note": "Renewal talks stalled on price."}),
            )
            .await;
        assert_eq!(status, 200, "{body:#}");
        self.set_clock(&Utc::now().to_rfc3339());
    }
}

fn factor<'a>(report: &'a Value, key: &str) -> &'a Value {
    report["factors"]
        .as_array()
        .expect("factors")
        .iter()
        .find(|f| f["factor"] == key)
        .unwrap_or_else(|| panic!("no factor {key} in {report:#}"))
}

async fn the_worked_example_v2_scores_the_account_72_9(t: TestDb) {
    let story = Story::worked_example(&t).await;
    story.yellow_on_the_13th().await;

    let report = story
        .ok(&format!("/companies/{ACCOUNT}/score?as_of={T}"))
        .await;
    assert_eq!(report["company_id"], ACCOUNT_ID);
    assert_eq!(report["scorecard"], "accounts", "{report:#}");
    assert_eq!(report["status"], "scored");
    assert_eq!(report["score"], 72.9, "{report:#}");
    assert_eq!(report["band"], "healthy");
    assert_eq!(report["coverage"], 1.0);
    let expected = [
        ("engagement_recency", 0.9057, 18.11),
        ("deal_momentum", 0.75, 11.25),
        ("lifecycle_stage", 0.85, 8.5),
        ("activity_frequency", 0.5796, 8.69),
        ("deal_value", 0.5, 5.0),
        ("customer_health", 0.72, 10.8),
        ("csm_sentiment", 0.5, 2.5),
        ("product_usage", 0.8, 8.0),
    ];
    for (key, value, contribution) in expected {
        let line = factor(&report, key);
        assert_eq!(line["value"], value, "{key}: {line:#}");
        assert_eq!(line["contribution"], contribution, "{key}: {line:#}");
    }
    assert_eq!(
        report["factors"].as_array().map(Vec::len),
        Some(expected.len())
    );

    // c1 is the v1 worked example's customer: 72.0 under the contact scorecard.
    let c1 = story.ok(&format!("/customers/1/score?as_of={T}")).await;
    assert_eq!(
        (c1["score"].clone(), c1["scorecard"].clone()),
        (json!(72.0), json!("contacts"))
    );
    let c2 = story.ok(&format!("/customers/2/score?as_of={T}")).await;
    assert_eq!(c2["status"], "insufficient_data", "{c2:#}");

    // 99 days after it was recorded the sentiment is N/A (its weight spread over the rest).
    let later = story
        .ok(&format!(
            "/companies/{ACCOUNT}/score?as_of=2027-02-20T00:00:00Z"
        ))
        .await;
    let sentiment = factor(&later, "csm_sentiment");
    assert_eq!(sentiment["value"], Value::Null, "{later:#}");
    assert!(
        later["coverage"].as_f64().expect("coverage") < 1.0,
        "{later:#}"
    );
}

async fn growing_past_1000_employees_moves_the_account_to_enterprise(t: TestDb) {
    let story = Story::worked_example(&t).await;
    story.yellow_on_the_13th().await;
    story
        .deliver(vec![set(
            30,
            "company.propertyChange",
            ACCOUNT,
            "2026-11-25T00:00:00Z",
            "numberofemployees",
            "5000",
        )])
        .await;

    let before = story
        .ok(&format!("/companies/{ACCOUNT}/score?as_of={T}"))
        .await;
    assert_eq!(
        (before["scorecard"].clone(), before["score"].clone()),
        (json!("accounts"), json!(72.9))
    );
    let after = story
        .ok(&format!(
            "/companies/{ACCOUNT}/score?as_of=2026-11-26T00:00:00Z"
        ))
        .await;
    assert_eq!(after["scorecard"], "enterprise accounts", "{after:#}");
    let keys: Vec<&str> = after["factors"]
        .as_array()
        .expect("factors")
        .iter()
        .filter(|f| f["weight"].as_f64().is_some_and(|w| w > 0.0))
        .filter_map(|f| f["factor"].as_str())
        .collect();
    assert_eq!(
        keys,
        ["engagement_recency", "deal_value", "customer_health"],
        "{after:#}"
    );

    // The history names each day's scorecard: the switch happens on the 25th.
    let history = story
        .ok(&format!(
            "/companies/{ACCOUNT}/score/history?from=2026-11-23T00:00:00Z&to=2026-11-26T00:00:00Z"
        ))
        .await;
    let scorecards: Vec<&str> = history["points"]
        .as_array()
        .expect("points")
        .iter()
        .filter_map(|p| p["scorecard"].as_str())
        .collect();
    assert_eq!(
        scorecards,
        [
            "accounts",
            "accounts",
            "enterprise accounts",
            "enterprise accounts"
        ],
        "{history:#}"
    );

    // Listings and summaries read the materialized scores: now the account is enterprise.
    story.server.scored().await;
    let enterprise = story.ok("/companies?scorecard=enterprise%20accounts").await;
    let ids: Vec<&str> = enterprise["companies"]
        .as_array()
        .expect("companies")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids, [ACCOUNT_ID], "{enterprise:#}");
    let accounts = story.ok("/companies?scorecard=accounts").await;
    assert_eq!(accounts["companies"], json!([]), "{accounts:#}");
    let summary = story.ok("/scores/summary?subject=company").await;
    assert_eq!(summary["subject"], "company", "{summary:#}");
    assert_eq!(summary["customers"], 1, "{summary:#}");
    let customers = story.ok("/scores/summary").await;
    assert_eq!(customers["customers"], 2, "{customers:#}");

    // The account's band changes are recorded like a customer's: each a real change, the
    // last one the band it has now.
    let changes = story
        .server
        .state
        .store
        .read_type(ACCOUNT_HEALTH_STREAM)
        .await
        .expect("read");
    let account_changes: Vec<_> = changes
        .iter()
        .filter(|e| e.event.stream_id.ends_with(&format!("/{ACCOUNT}")))
        .collect();
    let bands: Vec<(Value, Value)> = account_changes
        .iter()
        .map(|e| {
            assert_eq!(e.event.event_type, "AccountBandChanged");
            let payload: Value = serde_json::from_str(&e.event.payload).expect("payload");
            let change = &payload;
            (change["old_band"].clone(), change["new_band"].clone())
        })
        .collect();
    assert!(!bands.is_empty(), "no AccountBandChanged recorded");
    assert!(bands.iter().all(|(old, new)| old != new), "{bands:?}");
    assert!(
        bands.windows(2).all(|w| w[0].1 == w[1].0),
        "each change starts where the last ended: {bands:?}"
    );
    let current = &enterprise["companies"][0]["band"];
    assert_eq!(&bands[bands.len() - 1].1, current, "{bands:?}");
}

async fn an_account_is_rescored_when_one_of_its_contacts_changes(t: TestDb) {
    let story = Story::worked_example(&t).await;
    story.server.scored().await;
    let listed = |page: &Value| page["companies"][0]["score"].clone();
    let before = story.ok("/companies").await;
    // Today c1's activity is older: the account's current score is below the worked example's.
    let old = listed(&before).as_f64().expect("a score");
    let now = Utc::now().to_rfc3339();
    story
        .deliver(vec![set(
            40,
            "contact.propertyChange",
            1,
            &now,
            "hs_last_sales_activity_date",
            &now,
        )])
        .await;
    story.server.scored().await;
    let after = story.ok("/companies").await;
    let new = listed(&after).as_f64().expect("a score");
    assert!(new > old, "fresh activity on c1 raises s: {old} -> {new}");
}

async fn sentiment_is_recorded_listed_cleared_and_validated(t: TestDb) {
    let story = Story::worked_example(&t).await;
    story.yellow_on_the_13th().await;
    let path = format!("/companies/{ACCOUNT}/sentiment");
    story.set_clock("2026-11-20T09:30:00Z");
    let (status, now) = story
        .put(&path, json!({"value": "red", "note": "Champion left."}))
        .await;
    assert_eq!(status, 200, "{now:#}");
    assert_eq!(now["current"]["value"], "red");
    assert_eq!(now["current"]["author"], "test");
    assert_eq!(now["current"]["recorded_at"], "2026-11-20T09:30:00.000Z");
    assert_eq!(now["history"].as_array().map(Vec::len), Some(2));
    assert_eq!(now["history"][1]["value"], "yellow");

    // Scores as of any time read the sentiment then in force.
    let score = |when: &'static str| {
        let story = &story;
        async move {
            let report = story
                .ok(&format!("/companies/{ACCOUNT}/score?as_of={when}"))
                .await;
            factor(&report, "csm_sentiment")["value"].clone()
        }
    };
    assert_eq!(score("2026-11-19T00:00:00Z").await, 0.5);
    assert_eq!(score("2026-11-21T00:00:00Z").await, 0.0);

    story.set_clock("2026-11-22T00:00:00Z");
    let (status, _) = story.delete(&path).await;
    assert_eq!(status, 204);
    assert_eq!(score("2026-11-21T00:00:00Z").await, 0.0);
    assert_eq!(score(T).await, Value::Null);
    let cleared = story.ok(&path).await;
    assert_eq!(cleared["current"], Value::Null, "{cleared:#}");
    assert_eq!(cleared["history"][0]["action"], "cleared");
    let (status, _) = story.delete(&path).await;
    assert_eq!(status, 204, "clearing again changes nothing");
    assert_eq!(
        story.ok(&path).await["history"].as_array().map(Vec::len),
        Some(3)
    );

    // Each bad field is named; nothing is recorded.
    let long = "x".repeat(2_001);
    for (body, field) in [
        (json!({"value": "blue"}), "value"),
        (json!({"note": "no value"}), "value"),
        (json!({"value": "green", "note": long}), "note"),
        (json!({"value": "green", "note": 7}), "note"),
        (json!({"value": "green", "mood": "sunny"}), "mood"),
    ] {
        let (status, problem) = story.put(&path, body).await;
        assert_eq!(status, 422, "{problem:#}");
        assert_eq!(problem["errors"][0]["field"], field, "{problem:#}");
    }
    let (status, _) = story
        .put(&path, json!({"value": "green", "note": "x".repeat(2_000)}))
        .await;
    assert_eq!(status, 200, "2,000 characters fit");
    let (status, _) = story
        .put("/companies/999/sentiment", json!({"value": "green"}))
        .await;
    assert_eq!(status, 404);
    let (status, _) = story.get("/customers/abc/sentiment").await;
    assert_eq!(status, 404);

    // Another portal's key sees none of it.
    let other = story.server.key(PORTAL + 1).await;
    let response = story.server.get(&path, &other).await;
    assert_eq!(response.status(), 404);
}

async fn a_privacy_deletion_blanks_the_contacts_sentiment_notes(t: TestDb) {
    let story = Story::worked_example(&t).await;
    let (status, body) = story
        .put(
            "/customers/2/sentiment",
            json!({"value": "red", "note": "Bo said they are leaving for a rival."}),
        )
        .await;
    assert_eq!(status, 200, "{body:#}");
    let (status, _) = story
        .put(
            "/customers/1/sentiment",
            json!({"value": "green", "note": "Ada loves the product."}),
        )
        .await;
    assert_eq!(status, 200);
    story
        .deliver(vec![event(
            50,
            "contact.privacyDeletion",
            2,
            &Utc::now().to_rfc3339(),
            json!({}),
        )])
        .await;
    let erased = story.ok("/customers/2/sentiment").await;
    assert_eq!(
        erased["current"]["value"], "red",
        "the call stays, the words go"
    );
    assert_eq!(erased["current"]["note"], "", "{erased:#}");
    let log = story
        .server
        .state
        .store
        .read_stream(&format!("{PORTAL}/contact/2"), 0)
        .await
        .expect("read");
    assert!(
        log.iter().all(|e| !e.event.payload.contains("rival")),
        "the note is gone from the log"
    );
    let kept = story.ok("/customers/1/sentiment").await;
    assert_eq!(kept["current"]["note"], "Ada loves the product.");
}

async fn v2_documents_are_validated_previewed_and_returned_as_stored(t: TestDb) {
    let story = Story::start(&t).await;
    story.deliver(worked_example_v2()).await;

    // The preview of the scorecards reports each segment and who changes scorecard.
    let response = story
        .server
        .client
        .post(format!("{}/scoring/preview", story.server.base))
        .bearer_auth(&story.key)
        .json(&scorecards())
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    let preview: Value = response.json().await.expect("json");
    assert_eq!(preview["accounts"], 0, "v1 scores no accounts: {preview:#}");
    let segments: Vec<(String, String)> = preview["segments"]
        .as_array()
        .expect("segments")
        .iter()
        .map(|s| {
            (
                s["subject"].as_str().unwrap_or_default().to_owned(),
                s["scorecard"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(
        segments.contains(&("company".to_owned(), "accounts".to_owned())),
        "{preview:#}"
    );
    let changes = &preview["scorecard_changes"];
    assert!(
        changes["subjects"]
            .as_array()
            .expect("subjects")
            .iter()
            .any(|c| c["subject"] == "company" && c["id"] == ACCOUNT_ID && c["to"] == "accounts"),
        "{preview:#}"
    );

    // A document is stored and answered as sent.
    let (status, stored) = story.put("/scoring/config", scorecards()).await;
    assert_eq!(status, 200, "{stored:#}");
    let config = story.ok("/scoring/config").await;
    assert_eq!(
        config["config"]["scorecards"].as_array().map(Vec::len),
        Some(3),
        "{config:#}"
    );
    assert_eq!(
        config["config"]["scorecards"][1]["custom_factors"][0]["key"],
        "product_usage"
    );

    // Each rule of the spec names its field.
    let mut filtered_last = scorecards();
    filtered_last["scorecards"][1]["filter"] = json!([{"property": "usage_score", "op": "exists"}]);
    let mut flat_transform = scorecards();
    flat_transform["scorecards"][1]["custom_factors"][0]["transform"]["max"] = json!(0);
    let mut unweighted = scorecards();
    unweighted["scorecards"][1]["weights"]["support_tickets"] = json!(0);
    let mut unknown = scorecards();
    unknown["scorecards"][2]["colour"] = json!("blue");
    for (document, field) in [
        (filtered_last, "scorecards[1].filter"),
        (
            flat_transform,
            "scorecards[1].custom_factors[0].transform.max",
        ),
        (unknown, "scorecards[2].colour"),
    ] {
        let (status, problem) = story.put("/scoring/config", document).await;
        assert_eq!(status, 422, "{problem:#}");
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .filter_map(|e| e["field"].as_str())
            .collect();
        assert!(fields.contains(&field), "{field} in {problem:#}");
    }
    let (status, problem) = story.put("/scoring/config", unweighted).await;
    assert_eq!(status, 422, "a weight for no factor: {problem:#}");
    let versions = story.ok("/scoring/config/versions").await;
    assert_eq!(
        versions["versions"].as_array().map(Vec::len),
        Some(2),
        "nothing refused was saved"
    );
}

/// A scorecard scoring accounts on `property` (0-100) and contacts as in v1.
fn usage_scorecards(property: &str) -> Value {
    json!({"scorecards": [
      {"name": "accounts", "subject": "company",
       "weights": {"engagement_recency": 50, "product_usage": 50},
       "custom_factors": [{"key": "product_usage", "property": property,
                           "transform": {"type": "linear", "min": 0, "max": 100}}]},
      {"name": "contacts", "subject": "contact", "weights": {"engagement_recency": 25,
       "deal_momentum": 20, "lifecycle_stage": 15, "activity_frequency": 20, "deal_value": 20}}
    ]})
}

async fn properties_are_discovered_and_a_newly_named_one_is_synced_whole(t: TestDb) {
    use healthscore_api::hubspot::{ClientConfig, HubSpotClient};
    use healthscore_domain::ids::{ObjectType, PortalId};
    use healthscore_domain::sync_run::SyncMode;
    use healthscore_fixtures::fake_hubspot::{FakeConfig, FakeHubSpot};

    let fake = FakeHubSpot::start(FakeConfig {
        contacts: 40,
        companies: 10,
        deals: 20,
        ..FakeConfig::default()
    })
    .await
    .expect("fake HubSpot starts");
    let portal = fake.portal();
    let companies: Vec<String> = portal
        .objects(ObjectType::Company)
        .iter()
        .filter(|(_, o)| !o.is_archived())
        .map(|(id, _)| id.to_string())
        .collect();
    for id in &companies {
        fake.update_property(ObjectType::Company, id, "usage_score", Some("55"))
            .expect("update");
    }
    let client = HubSpotClient::new(ClientConfig {
        base_url: fake.base_url().to_string(),
        ..ClientConfig::new(Secret::new(fake.token()))
    })
    .expect("client");
    let server = TestServer::start_syncing(t.db.clone(), client).await;
    let key = server.key(portal.portal_id).await;
    let story = Story {
        server,
        key,
        now: Arc::new(Mutex::new(Utc::now())),
    };

    // Before any discovery every name is accepted; nothing is known.
    let before = story.ok("/properties/companies").await;
    assert_eq!(
        (before["discovered"].clone(), before["properties"].clone()),
        (json!(false), json!([]))
    );
    let syncer = story.server.state.syncer.clone().expect("syncer");
    syncer.sync(SyncMode::Full).await.expect("full sync");

    // A full sync discovered every type's properties.
    let found = story.ok("/properties/companies").await;
    assert_eq!(found["discovered"], true, "{found:#}");
    let usage = found["properties"]
        .as_array()
        .expect("properties")
        .iter()
        .find(|p| p["name"] == "usage_score")
        .cloned()
        .unwrap_or_else(|| panic!("usage_score in {found:#}"));
    assert_eq!(
        (usage["type"].clone(), usage["hubspot_defined"].clone()),
        (json!("number"), json!(false))
    );
    let (status, _) = story.get("/properties/tickets").await;
    assert_eq!(status, 404);

    // Now a property the portal lacks is named by its field; the real one is accepted.
    let (status, problem) = story
        .put("/scoring/config", usage_scorecards("usage_scroe"))
        .await;
    assert_eq!(status, 422, "{problem:#}");
    assert_eq!(
        problem["errors"][0]["field"],
        "scorecards[0].custom_factors[0].property"
    );
    let (status, body) = story
        .put("/scoring/config", usage_scorecards("usage_score"))
        .await;
    assert_eq!(status, 200, "{body:#}");

    // The full sync never read usage_score; the next incremental one lists companies whole,
    // though none changed, and from then on the factor has a value.
    let account = &companies[0];
    let path = format!("/companies/{account}/score");
    let unread = story.ok(&path).await;
    assert_eq!(
        factor(&unread, "product_usage")["value"],
        Value::Null,
        "{unread:#}"
    );
    let run = syncer
        .sync(SyncMode::Incremental)
        .await
        .expect("incremental");
    let view = syncer
        .runs()
        .load(PortalId(portal.portal_id), &run.run_id)
        .await
        .expect("run")
        .view()
        .cloned()
        .expect("view");
    assert_eq!(view.full_types, [ObjectType::Company]);
    assert_eq!(view.extra_properties[&ObjectType::Company], ["usage_score"]);
    let read = story.ok(&path).await;
    assert_eq!(factor(&read, "product_usage")["value"], 0.55, "{read:#}");
    let again = syncer
        .sync(SyncMode::Incremental)
        .await
        .expect("incremental");
    let view = syncer
        .runs()
        .load(PortalId(portal.portal_id), &again.run_id)
        .await
        .expect("run")
        .view()
        .cloned()
        .expect("view");
    assert!(view.full_types.is_empty(), "read once is enough: {view:?}");

    // A refresh reads what an admin added since.
    fake.update_property(ObjectType::Company, account, "nps", Some("9"))
        .expect("update");
    let response = story
        .server
        .client
        .post(format!("{}/properties/refresh", story.server.base))
        .bearer_auth(&story.key)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    let refreshed: Value = response.json().await.expect("json");
    assert!(
        refreshed["counts"]["companies"].as_u64() > Some(0),
        "{refreshed:#}"
    );
    let found = story.ok("/properties/companies").await;
    assert!(
        found["properties"]
            .as_array()
            .expect("properties")
            .iter()
            .any(|p| p["name"] == "nps"),
        "{found:#}"
    );
}

on_both_backends!(
    properties_are_discovered_and_a_newly_named_one_is_synced_whole,
    the_worked_example_v2_scores_the_account_72_9,
    growing_past_1000_employees_moves_the_account_to_enterprise,
    an_account_is_rescored_when_one_of_its_contacts_changes,
    sentiment_is_recorded_listed_cleared_and_validated,
    a_privacy_deletion_blanks_the_contacts_sentiment_notes,
    v2_documents_are_validated_previewed_and_returned_as_stored,
);
