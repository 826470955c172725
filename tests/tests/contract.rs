//! The API's contract: an OpenAPI 3.1 document describing every endpoint, served with an
//! offline docs page, and answers consistent in their forms (times, version 1, properties).

use healthscore_tests::server::TestServer;
use healthscore_tests::{TestDb, on_both_backends};
use serde_json::{Value, json};

/// Every endpoint, as the document must list it.
const ENDPOINTS: [(&str, &str); 54] = [
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/customers"),
    ("get", "/customers/{id}"),
    ("get", "/customers/{id}/score"),
    ("get", "/customers/{id}/score/history"),
    ("get", "/scores/summary"),
    ("get", "/scores/movers"),
    ("get", "/owners"),
    ("get", "/scoring/config"),
    ("put", "/scoring/config"),
    ("get", "/scoring/config/versions"),
    ("get", "/properties/{object_type}"),
    ("post", "/properties/refresh"),
    ("post", "/scoring/preview"),
    ("get", "/companies/{id}"),
    ("get", "/companies"),
    ("get", "/companies/{id}/score"),
    ("get", "/companies/{id}/score/history"),
    ("get", "/customers/{id}/sentiment"),
    ("put", "/customers/{id}/sentiment"),
    ("delete", "/customers/{id}/sentiment"),
    ("get", "/companies/{id}/sentiment"),
    ("put", "/companies/{id}/sentiment"),
    ("delete", "/companies/{id}/sentiment"),
    ("get", "/deals/{id}"),
    ("post", "/sync"),
    ("get", "/sync/runs"),
    ("get", "/sync/runs/{id}"),
    ("get", "/events"),
    ("get", "/connections"),
    ("post", "/connections"),
    ("get", "/connection"),
    ("delete", "/connections/{portal}"),
    ("get", "/connections/{portal}/writeback"),
    ("put", "/connections/{portal}/writeback"),
    ("post", "/keys"),
    ("delete", "/keys/{id}"),
    ("get", "/connect/hubspot"),
    ("get", "/connect/hubspot/callback"),
    ("get", "/alerts/rules"),
    ("put", "/alerts/rules"),
    ("post", "/alerts/destinations"),
    ("get", "/alerts/destinations"),
    ("delete", "/alerts/destinations/{id}"),
    ("post", "/alerts/destinations/{id}/test"),
    ("get", "/alerts"),
    ("get", "/alerts/{id}"),
    ("post", "/alerts/{id}/retry"),
    ("get", "/metrics"),
    ("post", "/webhooks/hubspot"),
    ("get", "/openapi.json"),
    ("get", "/docs"),
    ("get", "/"),
];

#[tokio::test]
async fn the_document_is_openapi_3_1_and_describes_every_endpoint_and_error() {
    let t = TestDb::sqlite().await;
    let server = TestServer::start(t.db.clone()).await;
    let response = server.get("/openapi.json", "").await;
    assert_eq!(response.status(), 200);
    let document: Value = response.json().await.expect("json");
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        document["openapi"]
    );
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["api_key"]["type"], "http");
    assert_eq!(schemes["api_key"]["scheme"], "bearer");
    assert!(document["components"]["schemas"]["Problem"].is_object());

    let paths = document["paths"].as_object().expect("paths");
    let mut documented = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("path item") {
            documented += 1;
            assert!(
                ENDPOINTS.contains(&(method.as_str(), path.as_str())),
                "{method} {path} is documented but not listed here"
            );
            let responses = operation["responses"].as_object().expect("responses");
            let keyed = operation["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("api_key").is_some()));
            if keyed {
                for status in ["401", "429"] {
                    assert!(responses.contains_key(status), "{method} {path} {status}");
                }
            }
            for (status, response) in responses {
                // The probe and the page a browser lands on after an install answer in kind.
                let exempt = ["/readyz", "/connect/hubspot/callback"].contains(&path.as_str());
                if status.starts_with('4') && !exempt {
                    assert!(
                        response["content"]["application/problem+json"].is_object(),
                        "{method} {path} {status} is a problem document"
                    );
                }
            }
        }
    }
    assert_eq!(documented, ENDPOINTS.len(), "every endpoint is documented");
}

#[tokio::test]
async fn the_docs_page_loads_nothing_from_elsewhere() {
    let t = TestDb::sqlite().await;
    let server = TestServer::start(t.db.clone()).await;
    let page = server.get("/docs", "").await;
    assert_eq!(page.status(), 200);
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .expect("policy")
        .to_owned();
    assert!(
        policy.contains("script-src 'self'") && !policy.contains("unsafe"),
        "{policy}"
    );
    let html = page.text().await.expect("html");
    for asset in [
        "/docs/swagger-ui-bundle.js",
        "/docs/swagger-ui.css",
        "/docs/init.js",
    ] {
        assert!(html.contains(asset), "the page loads {asset}");
        let served = server.get(asset, "").await;
        assert_eq!(served.status(), 200, "{asset}");
        assert!(!served.bytes().await.expect("bytes").is_empty(), "{asset}");
    }
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no CDN: {html}"
    );
    let missing = server.get("/docs/nothing.js", "").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );
}

async fn answers_are_consistent_in_their_forms(t: TestDb) {
    let server = TestServer::start(t.db.clone()).await;
    let key = server.key(31).await;
    let config: Value = server
        .get("/scoring/config", &key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(config["version"], 1);
    let updated_at = config["updated_at"].as_str().expect("version 1 has a time");
    assert!(
        updated_at.ends_with('Z') && updated_at.len() == 24,
        "{updated_at}"
    );

    // A deal whose close date came by webhook (epoch ms) and one whose came as a sync sends
    // it (ISO): both read the same way.
    let event = |id: u64, object: u64, name: &str, value: &str| {
        json!({"eventId": id, "subscriptionId": 1, "portalId": 31, "appId": 1,
            "occurredAt": 1_795_392_000_000_i64 + id as i64, "attemptNumber": 0,
            "subscriptionType": "deal.propertyChange", "objectId": object,
            "propertyName": name, "propertyValue": value})
    };
    let created = |id: u64, object: u64| {
        json!({"eventId": id, "subscriptionId": 1, "portalId": 31, "appId": 1,
            "occurredAt": 1_795_392_000_000_i64, "attemptNumber": 0,
            "subscriptionType": "deal.creation", "objectId": object})
    };
    let delivery = json!([
        created(10, 501),
        created(11, 502),
        event(1, 501, "closedate", "1795392000123"),
        event(2, 502, "closedate", "2026-11-23T01:00:00.123+01:00"),
        event(3, 501, "dealname", "By webhook"),
        event(4, 502, "dealname", "As synced"),
    ]);
    assert_eq!(server.deliver(&delivery.to_string()).await.status(), 200);
    server.projected().await;
    for deal in [501, 502] {
        let view: Value = server
            .get(&format!("/deals/{deal}"), &key)
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(
            view["properties"]["closedate"], "2026-11-23T00:00:00.123Z",
            "{view:#}"
        );
        assert!(
            view["updated_at"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z'))
        );
    }
}

on_both_backends!(answers_are_consistent_in_their_forms);
