//! Scores through the real HTTP API, on SQLite and PostgreSQL: SCORING.md's worked example,
//! configuration versions, listing, history, summary and preview.

use healthscore_tests::server::TestServer;
use healthscore_tests::{TestDb, on_both_backends};
use serde_json::{Value, json};

const PORTAL: u64 = 4242;
const T: &str = "2026-11-23T00:00:00Z";

fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .expect("time")
        .timestamp_millis()
}

fn event(id: u64, kind: &str, object_id: u64, at: &str, extra: Value) -> Value {
    let mut event = json!({
        "eventId": id, "subscriptionId": 1, "portalId": PORTAL, "appId": 1,
        "occurredAt": ms(at), "subscriptionType": kind, "attemptNumber": 0, "objectId": object_id,
    });
    if let (Some(target), Some(extra)) = (event.as_object_mut(), extra.as_object()) {
        target.extend(extra.clone());
    }
    event
}

fn set(id: u64, kind: &str, object_id: u64, at: &str, name: &str, value: &str) -> Value {
    event(
        id,
        kind,
        object_id,
        at,
        json!({"propertyName": name, "propertyValue": value}),
    )
}

/// SCORING.md's worked example: customer 1 with deal 10. Activity in the 30 days before T:
/// lifecycle change (11-01), deal probability move (11-10), the association on both ends
/// (11-15), last sales activity (11-21): 5 distinct (object, time) pairs.
fn worked_example() -> Vec<Value> {
    vec![
        event(1, "contact.creation", 1, "2026-10-01T00:00:00Z", json!({})),
        set(
            2,
            "contact.propertyChange",
            1,
            "2026-10-01T00:00:00Z",
            "email",
            "c@example.com",
        ),
        set(
            3,
            "contact.propertyChange",
            1,
            "2026-11-01T00:00:00Z",
            "lifecyclestage",
            "customer",
        ),
        set(
            4,
            "contact.propertyChange",
            1,
            "2026-11-21T00:00:00Z",
            "hs_last_sales_activity_date",
            "2026-11-21T00:00:00Z",
        ),
        event(5, "deal.creation", 10, "2026-10-01T00:00:00Z", json!({})),
        set(
            6,
            "deal.propertyChange",
            10,
            "2026-10-01T00:00:00Z",
            "amount",
            "1000",
        ),
        set(
            7,
            "deal.propertyChange",
            10,
            "2026-10-01T00:00:00Z",
            "hs_deal_stage_probability",
            "0.4",
        ),
        set(
            8,
            "deal.propertyChange",
            10,
            "2026-11-10T00:00:00Z",
            "hs_deal_stage_probability",
            "0.6",
        ),
        event(
            9,
            "deal.associationChange",
            10,
            "2026-11-15T00:00:00Z",
            json!({
            "associationType": "DEAL_TO_CONTACT", "fromObjectId": 10, "toObjectId": 1,
            "associationRemoved": false}),
        ),
    ]
}

async fn started(t: &TestDb) -> (TestServer, String) {
    let server = TestServer::start(t.db.clone()).await;
    let response = server
        .deliver(&Value::Array(worked_example()).to_string())
        .await;
    assert_eq!(response.status(), 200);
    let key = server.key(PORTAL).await;
    (server, key)
}

async fn the_worked_example_scores_72_healthy(t: TestDb) {
    let (server, key) = started(&t).await;
    let score: Value = server
        .get(&format!("/customers/1/score?as_of={T}"), &key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(score["customer_id"], "1");
    assert_eq!(score["config_version"], 1);
    assert_eq!(score["status"], "scored");
    assert_eq!(score["score"], 72.0, "{score:#}");
    assert_eq!(score["band"], "healthy");
    assert_eq!(score["coverage"], 1.0);
    let factors = score["factors"].as_array().expect("factors");
    let value = |name: &str| {
        factors
            .iter()
            .find(|f| f["factor"] == name)
            .expect(name)
            .clone()
    };
    assert_eq!(value("engagement_recency")["value"], 0.9057);
    assert_eq!(value("deal_momentum")["value"], 0.75);
    assert_eq!(value("lifecycle_stage")["value"], 0.85);
    assert_eq!(value("activity_frequency")["value"], 0.5796);
    assert_eq!(value("activity_frequency")["detail"]["events"], 5);
    assert_eq!(value("deal_value")["value"], 0.5);
    assert_eq!(value("engagement_recency")["contribution"], 22.64);
}

async fn a_past_as_of_sees_only_what_had_happened(t: TestDb) {
    let (server, key) = started(&t).await;
    let before = server
        .get("/customers/1/score?as_of=2026-09-01T00:00:00Z", &key)
        .await;
    let status = before.status();
    assert_eq!(
        status,
        404,
        "not a customer before it existed: {}",
        before.text().await.unwrap_or_default()
    );
    let early: Value = server
        .get("/customers/1/score?as_of=2026-10-15T00:00:00Z", &key)
        .await
        .json()
        .await
        .expect("json");
    let lifecycle = early["factors"]
        .as_array()
        .expect("factors")
        .iter()
        .find(|f| f["factor"] == "lifecycle_stage")
        .cloned()
        .expect("lifecycle");
    assert_eq!(
        lifecycle["status"], "not_applicable",
        "the stage was set on 11-01"
    );
    let history: Value = server
        .get(
            "/customers/1/score/history?from=2026-09-28T00:00:00Z&to=2026-11-23T00:00:00Z&step=1w",
            &key,
        )
        .await
        .json()
        .await
        .expect("json");
    let points = history["points"].as_array().expect("points");
    assert_eq!(points.len(), 9, "from, every week, and to");
    assert_eq!(points[0]["status"], "not_a_customer");
    assert_eq!(points[8]["score"], 72.0);
    let too_many = server
        .get(
            "/customers/1/score/history?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            &key,
        )
        .await;
    assert_eq!(too_many.status(), 422);
    let never = server
        .get("/customers/999/score/history?step=1w", &key)
        .await;
    assert_eq!(never.status(), 404, "never a customer, as /score says");
    assert_eq!(
        server
            .get("/customers/1/score?as_of=yesterday", &key)
            .await
            .status(),
        400
    );
}

async fn configuration_versions_etags_and_validation(t: TestDb) {
    let (server, key) = started(&t).await;
    let url = format!("{}/scoring/config", server.base);
    let current = server.get("/scoring/config", &key).await;
    assert_eq!(current.headers()["etag"], "\"1\"");
    let body: Value = current.json().await.expect("json");
    assert_eq!(body["config"]["weights"]["engagement_recency"], 25);

    let invalid = json!({"weights": {"engagement_recency": -5, "bogus": 1}, "min_coverage": 2});
    let refused = server
        .client
        .put(&url)
        .bearer_auth(&key)
        .json(&invalid)
        .send()
        .await
        .expect("send");
    assert_eq!(refused.status(), 422);
    let problem: Value = refused.json().await.expect("json");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert!(
        fields.contains(&"weights.engagement_recency")
            && fields.contains(&"weights.bogus")
            && fields.contains(&"min_coverage"),
        "{fields:?}"
    );

    let only_lifecycle = json!({"weights": {"lifecycle_stage": 100}});
    let accepted = server
        .client
        .put(&url)
        .bearer_auth(&key)
        .header("If-Match", "\"1\"")
        .json(&only_lifecycle)
        .send()
        .await
        .expect("send");
    assert_eq!(accepted.status(), 200);
    assert_eq!(accepted.headers()["etag"], "\"2\"");
    let stale = server
        .client
        .put(&url)
        .bearer_auth(&key)
        .header("If-Match", "\"1\"")
        .json(&json!({"weights": {"deal_value": 100}}))
        .send()
        .await
        .expect("send");
    assert_eq!(stale.status(), 412);
    let stale_and_malformed = server
        .client
        .put(&url)
        .bearer_auth(&key)
        .header("If-Match", "\"1\"")
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_eq!(
        stale_and_malformed.status(),
        400,
        "a body wrong whatever the version is refused as such before the precondition (RFC 9110, 13.2.1)"
    );
    let again = server
        .client
        .put(&url)
        .bearer_auth(&key)
        .header("If-Match", "*")
        .json(&only_lifecycle)
        .send()
        .await
        .expect("send");
    assert_eq!(again.status(), 200, "* matches any version");
    assert_eq!(
        again.headers()["etag"],
        "\"2\"",
        "the same configuration again is no new version"
    );
    let after: Value = server
        .get("/scoring/config", &key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(after["version"], 2, "a stale If-Match changes nothing");

    let v2: Value = server
        .get(&format!("/customers/1/score?as_of={T}"), &key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (v2["config_version"].clone(), v2["score"].clone()),
        (json!(2), json!(85.0))
    );
    let v1: Value = server
        .get(
            &format!("/customers/1/score?as_of={T}&config_version=1"),
            &key,
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(v1["score"], 72.0);
    assert_eq!(
        server
            .get("/customers/1/score?config_version=9", &key)
            .await
            .status(),
        404
    );
    let versions: Value = server
        .get("/scoring/config/versions", &key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(versions["versions"].as_array().expect("versions").len(), 2);

    // Another instance on the same database updates the configuration: this one's cached
    // configuration does not hide it.
    let other = TestServer::start(t.db.clone()).await;
    for weights in [
        json!({"deal_value": 100}),
        json!({"activity_frequency": 100}),
    ] {
        let updated = other
            .client
            .put(format!("{}/scoring/config", other.base))
            .bearer_auth(&key)
            .json(&json!({ "weights": weights }))
            .send()
            .await
            .expect("send");
        assert_eq!(updated.status(), 200);
    }
    let seen = server.get("/scoring/config", &key).await;
    assert_eq!(
        seen.headers()["etag"],
        "\"4\"",
        "the other instance's update is seen"
    );

    // The versions list is paged, oldest first.
    let first: Value = server
        .get("/scoring/config/versions?limit=3", &key)
        .await
        .json()
        .await
        .expect("json");
    let numbers = |page: &Value| -> Vec<u64> {
        page["versions"]
            .as_array()
            .expect("versions")
            .iter()
            .filter_map(|v| v["version"].as_u64())
            .collect()
    };
    assert_eq!(
        (numbers(&first), first["next_after"].clone()),
        (vec![1, 2, 3], json!(3))
    );
    let rest: Value = server
        .get("/scoring/config/versions?after=3&limit=3", &key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (numbers(&rest), rest["next_after"].clone()),
        (vec![4], Value::Null)
    );
    assert_eq!(
        server
            .get("/scoring/config/versions?limit=1000", &key)
            .await
            .status(),
        400
    );

    // Numbers are validated as written, not as f64.
    let put_text = |text: &'static str| {
        server
            .client
            .put(&url)
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(text)
            .send()
    };
    let over = put_text(r#"{"weights": {"deal_value": 100.0000000000000000000000000001}}"#)
        .await
        .expect("send");
    assert_eq!(over.status(), 422, "a hair over 100 is not 100");
    let exact = put_text(
        r#"{"weights": {"engagement_recency": 33.333333333333333333333333333,
            "deal_momentum": 33.333333333333333333333333333,
            "lifecycle_stage": 33.333333333333333333333333334}}"#,
    )
    .await
    .expect("send");
    assert_eq!(
        exact.status(),
        200,
        "three 27-decimal thirds add up to exactly 100"
    );

    // A configuration document is bounded.
    let padding = "x".repeat(70 * 1024);
    let huge = server
        .client
        .put(&url)
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"weights": {{"lifecycle_stage": 100}}, "pad": "{padding}"}}"#
        ))
        .send()
        .await
        .expect("send");
    assert_eq!(huge.status(), 413);
}

async fn current_scores_are_listed_filtered_and_paged(t: TestDb) {
    let (server, key) = started(&t).await;
    let more: Vec<Value> = (2..=5u64)
        .flat_map(|id| {
            vec![
                event(
                    100 + id,
                    "contact.creation",
                    id,
                    "2026-11-01T00:00:00Z",
                    json!({}),
                ),
                set(
                    200 + id,
                    "contact.propertyChange",
                    id,
                    "2026-11-01T00:00:00Z",
                    "email",
                    &format!("c{id}@example.com"),
                ),
                set(
                    300 + id,
                    "contact.propertyChange",
                    id,
                    "2026-11-01T00:00:00Z",
                    "lifecyclestage",
                    if id % 2 == 0 { "lead" } else { "evangelist" },
                ),
            ]
        })
        .collect();
    assert_eq!(
        server
            .deliver(&Value::Array(more).to_string())
            .await
            .status(),
        200
    );
    server.scored().await;
    let page: Value = server
        .get("/customers?limit=100", &key)
        .await
        .json()
        .await
        .expect("json");
    let listed = page["customers"].as_array().cloned().unwrap_or_default();
    assert_eq!(listed.len(), 5, "every customer is materialized: {page:#}");
    assert!(
        listed
            .iter()
            .all(|c| c["score"].is_null() || c["score"].is_f64()),
        "scores are JSON numbers: {page:#}"
    );
    let first: Value = server
        .get("/customers?limit=2&sort=name", &key)
        .await
        .json()
        .await
        .expect("json");
    let cursor = first["next_cursor"].as_str().expect("cursor").to_string();
    let second: Value = server
        .get(
            &format!("/customers?limit=2&sort=name&cursor={cursor}"),
            &key,
        )
        .await
        .json()
        .await
        .expect("json");
    let names = |page: &Value| {
        page["customers"]
            .as_array()
            .expect("page")
            .iter()
            .map(|c| c["email"].as_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
    };
    let (a, b) = (names(&first), names(&second));
    assert_eq!(a.len() + b.len(), 4);
    assert!(a.iter().all(|x| !b.contains(x)), "pages do not overlap");
    assert!(a.last() < b.first(), "sorted by name across pages");
    let insufficient: Value = server
        .get("/customers?status=insufficient_data", &key)
        .await
        .json()
        .await
        .expect("json");
    assert!(
        insufficient["customers"]
            .as_array()
            .expect("list")
            .iter()
            .all(|c| c["score"].is_null())
    );
    assert_eq!(
        server.get("/customers?band=excellent", &key).await.status(),
        400
    );
    let wrong_sort = server
        .get(&format!("/customers?sort=score&cursor={cursor}"), &key)
        .await;
    assert_eq!(
        wrong_sort.status(),
        400,
        "a name cursor is not read as a score cursor"
    );
    // Out-of-range score bounds are refused by name, not multiplied into an overflow.
    for bad in [
        "min_score=7922816251426433759354395034",
        "max_score=7922816251426433759354395034",
        "min_score=-1",
        "max_score=100.01",
    ] {
        let refused = server.get(&format!("/customers?{bad}"), &key).await;
        assert_eq!(refused.status(), 400, "{bad}");
        let problem: Value = refused.json().await.expect("json");
        let field = bad.split('=').next().expect("name");
        assert_eq!(problem["errors"][0]["field"], field, "{problem:#}");
    }
    let in_range = server
        .get("/customers?min_score=0&max_score=100", &key)
        .await;
    assert_eq!(in_range.status(), 200);
    let not_a_number = server.get("/customers?limit=many", &key).await;
    assert_eq!(not_a_number.status(), 400);
    assert_eq!(
        not_a_number.headers()["content-type"],
        "application/problem+json",
        "query errors are problem documents too"
    );
    let summary: Value = server
        .get("/scores/summary", &key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(summary["customers"], 5);
    assert!(summary["mean_score"].is_f64(), "{summary:#}");

    let preview: Value = server
        .client
        .post(format!("{}/scoring/preview", server.base))
        .bearer_auth(&key)
        .json(&json!({"weights": {"lifecycle_stage": 100}, "min_coverage": 0.1}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(preview["customers"], 5);
    assert!(preview["transitions"].is_object(), "{preview:#}");
    let moves = preview["biggest_moves"].as_array().expect("moves");
    assert!(
        !moves.is_empty()
            && moves
                .iter()
                .all(|m| m["name"].as_str().is_some_and(|n| !n.is_empty())),
        "every move names its customer: {preview:#}"
    );
    let moves_to_healthy: u64 = preview["bands_candidate"]["healthy"]
        .as_u64()
        .unwrap_or_default();
    assert!(
        moves_to_healthy >= 3,
        "customer, 2 evangelists score >= 70 on lifecycle alone: {preview:#}"
    );
}

/// Every filter and sort of `GET /customers` against the full listing: each gives exactly
/// the customers that match, in order, unscored ones last, and paging covers the list.
async fn listing_filters_and_sorts_give_exactly_the_matching_customers(t: TestDb) {
    let server = TestServer::start(t.db.clone()).await;
    let key = server.key(PORTAL).await;
    let now = chrono::Utc::now();
    let stages = [
        "subscriber",
        "lead",
        "opportunity",
        "customer",
        "evangelist",
    ];
    let mut events = Vec::new();
    for n in 0..10u64 {
        let id = 11 + n;
        let at = (now - chrono::Duration::days(40)).to_rfc3339();
        events.push(event(1_000 + n, "contact.creation", id, &at, json!({})));
        events.push(set(
            2_000 + n,
            "contact.propertyChange",
            id,
            &at,
            "email",
            &format!("l{id}@example.com"),
        ));
        // The last two have nothing but an email: too little data for a score.
        if n < 8 {
            let stage = stages[n as usize % stages.len()];
            events.push(set(
                3_000 + n,
                "contact.propertyChange",
                id,
                &at,
                "lifecyclestage",
                stage,
            ));
            let active = (now - chrono::Duration::days(n as i64 * 9)).to_rfc3339();
            events.push(set(
                4_000 + n,
                "contact.propertyChange",
                id,
                &at,
                "hs_last_sales_activity_date",
                &active,
            ));
        }
    }
    assert_eq!(
        server
            .deliver(&Value::Array(events).to_string())
            .await
            .status(),
        200
    );
    server.scored().await;
    let list = |query: String| {
        let (server, key) = (&server, &key);
        async move {
            let page: Value = server
                .get(&format!("/customers?{query}"), key)
                .await
                .json()
                .await
                .expect("json");
            page
        }
    };
    let ids = |page: &Value| -> Vec<String> {
        page["customers"]
            .as_array()
            .expect("customers")
            .iter()
            .map(|c| c["id"].as_str().expect("id").to_string())
            .collect()
    };
    let full = list("limit=100".into()).await;
    let customers = full["customers"].as_array().expect("customers").clone();
    assert_eq!(customers.len(), 10, "{full:#}");
    let scores: Vec<Option<f64>> = customers.iter().map(|c| c["score"].as_f64()).collect();
    let scored = scores.iter().take_while(|s| s.is_some()).count();
    assert!(
        scores[scored..].iter().all(Option::is_none),
        "unscored last: {scores:?}"
    );
    assert!(
        (6..10).contains(&scored),
        "a spread of scored and unscored: {scores:?}"
    );
    let descending: Vec<f64> = scores.iter().flatten().copied().collect();
    assert!(
        descending.windows(2).all(|w| w[0] >= w[1]),
        "highest first: {descending:?}"
    );

    let ascending = list("limit=100&sort=score".into()).await;
    let up: Vec<Option<f64>> = ascending["customers"]
        .as_array()
        .expect("customers")
        .iter()
        .map(|c| c["score"].as_f64())
        .collect();
    assert!(
        up[scored..].iter().all(Option::is_none),
        "unscored last ascending too: {up:?}"
    );
    let up: Vec<f64> = up.into_iter().flatten().collect();
    assert!(up.windows(2).all(|w| w[0] <= w[1]), "lowest first: {up:?}");

    let matching = |keep: &dyn Fn(&Value) -> bool| -> Vec<String> {
        customers
            .iter()
            .filter(|c| keep(c))
            .map(|c| c["id"].as_str().expect("id").to_string())
            .collect()
    };
    for band in ["healthy", "at_risk", "critical"] {
        let page = list(format!("limit=100&band={band}")).await;
        assert_eq!(ids(&page), matching(&|c| c["band"] == band), "band={band}");
    }
    for status in ["scored", "insufficient_data"] {
        let page = list(format!("limit=100&status={status}")).await;
        assert_eq!(
            ids(&page),
            matching(&|c| c["status"] == status),
            "status={status}"
        );
    }
    let (low, high) = (descending[descending.len() - 2], descending[1]);
    let page = list(format!("limit=100&min_score={low}&max_score={high}")).await;
    let within = matching(&|c| c["score"].as_f64().is_some_and(|s| s >= low && s <= high));
    assert_eq!(ids(&page), within, "min_score={low}&max_score={high}");
    assert!(!within.is_empty() && within.len() < scored);

    // Paging by three covers the listing in order; the limit's bounds are refused by name.
    let mut paged = Vec::new();
    let mut query = "limit=3".to_string();
    loop {
        let page = list(query.clone()).await;
        paged.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(paged, ids(&full), "pages cover the listing in order");
    for limit in ["0", "501", "-1"] {
        let refused = server.get(&format!("/customers?limit={limit}"), &key).await;
        assert_eq!(refused.status(), 400, "limit={limit}");
    }
}

/// Every way to ask for a history wrongly gets its own answer, naming the field where one is
/// at fault; the largest history allowed is served.
async fn history_errors_are_named_refusals(t: TestDb) {
    let (server, key) = started(&t).await;
    let history = |query: &str| format!("/customers/1/score/history?{query}");
    for (query, status, field) in [
        (
            "from=2026-11-23T00:00:00Z&to=2026-11-01T00:00:00Z",
            400,
            Some("from"),
        ),
        ("from=yesterday", 400, None),
        ("to=2026-02-30T00:00:00Z", 400, None),
        ("step=0h", 400, None),
        ("step=1y", 400, None),
        ("step=-1d", 400, None),
        ("steps=1d", 400, None),
        ("config_version=999", 404, None),
        (
            "from=2025-11-22T00:00:00Z&to=2026-11-23T00:00:00Z&step=1d",
            422,
            None,
        ),
    ] {
        let answer = server.get(&history(query), &key).await;
        assert_eq!(answer.status(), status, "{query}");
        let problem: Value = answer.json().await.expect("a problem document");
        assert_eq!(problem["status"], status, "{query}: {problem}");
        if let Some(field) = field {
            assert_eq!(problem["errors"][0]["field"], field, "{query}: {problem}");
        }
    }
    let widest = server
        .get(
            &history("from=2025-11-23T00:00:00Z&to=2026-11-23T00:00:00Z&step=1d"),
            &key,
        )
        .await;
    assert_eq!(widest.status(), 200, "366 points are served");
    let points: Value = widest.json().await.expect("json");
    assert_eq!(points["points"].as_array().map(Vec::len), Some(366));
    assert_eq!(
        server
            .get("/customers/999/score/history", &key)
            .await
            .status(),
        404
    );
    let other_portal = server.key(PORTAL + 1).await;
    assert_eq!(
        server
            .get("/customers/1/score/history", &other_portal)
            .await
            .status(),
        404,
        "another portal's key sees no such customer"
    );
}

on_both_backends!(
    the_worked_example_scores_72_healthy,
    history_errors_are_named_refusals,
    listing_filters_and_sorts_give_exactly_the_matching_customers,
    a_past_as_of_sees_only_what_had_happened,
    configuration_versions_etags_and_validation,
    current_scores_are_listed_filtered_and_paged,
);
