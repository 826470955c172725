//! The audit feed: a key sees its own portal's events, in log order, a page at a time. Each
//! story runs on SQLite and on PostgreSQL.

use healthscore_tests::server::TestServer;
use healthscore_tests::{TestDb, on_both_backends};
use serde_json::{Value, json};

fn event(id: u64, portal: u64, kind: &str, object_id: u64, at: i64, extra: Value) -> Value {
    let mut event = json!({
        "eventId": id, "subscriptionId": 1, "portalId": portal, "appId": 1,
        "occurredAt": at, "subscriptionType": kind, "attemptNumber": 0, "objectId": object_id,
    });
    if let (Some(event), Some(extra)) = (event.as_object_mut(), extra.as_object()) {
        event.extend(extra.clone());
    }
    event
}

async fn a_key_follows_its_own_portals_log_a_page_at_a_time(t: TestDb) {
    let server = TestServer::start(t.db.clone()).await;
    let email = |id, portal, object, value: &str| {
        let extra = json!({"propertyName": "email", "propertyValue": value});
        event(id, portal, "contact.propertyChange", object, 2_000, extra)
    };
    let delivery = json!([
        event(1, 11, "contact.creation", 101, 1_000, json!({})),
        event(2, 22, "contact.creation", 201, 1_000, json!({})),
        email(3, 11, 101, "a@one.example"),
        email(4, 22, 201, "b@two.example"),
        event(5, 11, "contact.creation", 102, 1_500, json!({})),
    ]);
    assert_eq!(server.deliver(&delivery.to_string()).await.status(), 200);
    let key = server.key(11).await;

    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let page: Value = server
            .get(&format!("/events?after={after}&limit=2"), &key)
            .await
            .json()
            .await
            .expect("json");
        let events = page["events"].as_array().expect("events").clone();
        if events.is_empty() {
            assert_eq!(page["next_after"], after, "an empty page keeps the cursor");
            break;
        }
        assert!(events.len() <= 2);
        after = page["next_after"].as_i64().expect("next_after");
        assert_eq!(
            events.last().map(|e| e["position"].clone()),
            Some(json!(after))
        );
        seen.extend(events);
    }
    let positions: Vec<i64> = seen.iter().filter_map(|e| e["position"].as_i64()).collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "log order, once each"
    );
    assert!(
        seen.iter().all(|e| e["stream_id"]
            .as_str()
            .is_some_and(|s| s.starts_with("11/"))),
        "only portal 11's events: {seen:#?}"
    );
    let types: Vec<&str> = seen.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        types,
        ["ObjectCreated", "PropertiesChanged", "ObjectCreated"]
    );
    let changed = &seen[1];
    assert_eq!(changed["payload"]["changes"]["email"], "a@one.example");
    assert_eq!(changed["occurred_at"], "1970-01-01T00:00:02.000Z");
    assert_eq!(changed["stream_type"], "crm_object");
    assert_eq!(changed["metadata"]["source"], "webhook");

    for bad in ["limit=0", "limit=1001", "after=-1", "after=x", "color=red"] {
        let response = server.get(&format!("/events?{bad}"), &key).await;
        assert_eq!(response.status(), 400, "{bad}");
    }
    assert_eq!(server.get("/events", "hsk_nope").await.status(), 401);
}

on_both_backends!(a_key_follows_its_own_portals_log_a_page_at_a_time);
