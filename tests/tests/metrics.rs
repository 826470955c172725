//! Prometheus metrics at `/metrics`: what the webhook endpoint did, request durations by route
//! template, the log's consumers and the band counts.

use healthscore_api::http::{AppState, WebhookSettings};
use healthscore_api::secret::Secret;
use healthscore_tests::TestDb;
use healthscore_tests::server::{PUBLIC_URL, SECRET, TestServer};
use serde_json::json;

fn settings() -> WebhookSettings {
    WebhookSettings {
        secrets: vec![Secret::new(SECRET)],
        public_url: Some(PUBLIC_URL.to_string()),
    }
}

/// The value of the series `series` (name and labels exactly as rendered), if present.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test]
async fn metrics_count_deliveries_time_routes_and_read_the_logs_consumers() {
    let t = TestDb::sqlite().await;
    let server = TestServer::serve(AppState::new(t.db.clone(), settings())).await;
    let key = server.key(5).await;
    let delivery = json!([{
        "eventId": 1, "subscriptionId": 1, "portalId": 5, "appId": 1, "occurredAt": 1_000,
        "subscriptionType": "contact.propertyChange", "objectId": 9,
        "propertyName": "email", "propertyValue": "m@example.com",
    }])
    .to_string();
    assert_eq!(server.deliver(&delivery).await.status(), 200);
    assert_eq!(server.deliver(&delivery).await.status(), 200);
    let forged = server.signed(&delivery, chrono::Utc::now().timestamp_millis(), "not-it");
    assert_eq!(forged.send().await.expect("send").status(), 401);
    server.scored().await;
    assert_eq!(server.get("/customers/9/score", &key).await.status(), 200);

    let response = server.get("/metrics", "").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("text");
    let recorded = r#"healthscore_webhook_deliveries_total{outcome="recorded"}"#;
    assert!(value(&text, recorded).is_some_and(|n| n >= 2.0), "{text}");
    let refused = r#"healthscore_webhook_deliveries_total{outcome="refused_signature"}"#;
    assert!(value(&text, refused).is_some_and(|n| n >= 1.0), "{text}");
    let duplicate = r#"healthscore_webhook_events_total{outcome="duplicate"}"#;
    assert!(value(&text, duplicate).is_some_and(|n| n >= 1.0), "{text}");
    assert!(
        text.contains(r#"healthscore_http_request_duration_seconds_bucket{method="GET",route="/customers/{id}/score",status="200""#),
        "the route template, never the id: {text}"
    );
    assert!(!text.contains("/customers/9/"));
    assert!(value(&text, "healthscore_log_head").is_some_and(|n| n >= 1.0));
    assert!(value(&text, "healthscore_projector_lag_events").is_some());
    assert!(
        text.contains(r#"healthscore_customers{portal="5",band="#),
        "{text}"
    );
    assert!(text.contains("healthscore_webhook_ingest_seconds_bucket"));
    assert!(text.contains("healthscore_recorder_group_jobs_bucket"));
}

#[tokio::test]
async fn with_a_metrics_token_a_scrape_must_bring_it() {
    let t = TestDb::sqlite().await;
    let state =
        AppState::new(t.db.clone(), settings()).with_metrics_token(Some(Secret::new("scrape-me")));
    let server = TestServer::serve(state).await;
    assert_eq!(server.get("/metrics", "wrong").await.status(), 401);
    assert_eq!(server.get("/metrics", "scrape-me").await.status(), 200);
}
