//! Every error is an RFC 9457 problem document, the framework's own rejections included: an
//! unknown route, a wrong method, malformed JSON, a body that is not JSON, a body too large.

use healthscore_tests::TestDb;
use healthscore_tests::server::TestServer;
use reqwest::{Method, Response};
use serde_json::Value;

/// Asserts `response` is a problem document with `status`; returns its body.
async fn problem(response: Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status, "{}", response.url());
    let content_type = response.headers()["content-type"].clone();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(body["status"], status);
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    body
}

async fn server() -> (TestServer, String, TestDb) {
    let t = TestDb::sqlite().await;
    let server = TestServer::start(t.db.clone()).await;
    let key = server.key(77).await;
    (server, key, t)
}

fn send(server: &TestServer, method: Method, path: &str, key: &str) -> reqwest::RequestBuilder {
    server
        .client
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(key)
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let (server, key, _t) = server().await;
    let response = server.get("/no/such/thing", &key).await;
    problem(response, 404).await;
}

#[tokio::test]
async fn a_wrong_method_is_a_405_problem_that_says_what_is_allowed() {
    let (server, key, _t) = server().await;
    let response = send(&server, Method::DELETE, "/customers", &key)
        .send()
        .await
        .expect("send");
    let allow = response.headers().get("allow").cloned();
    let body = problem(response, 405).await;
    assert!(allow.is_some_and(|a| a.to_str().is_ok_and(|a| a.contains("GET"))));
    assert!(
        body["detail"].as_str().is_some_and(|d| d.contains("Allow")),
        "{body}"
    );
}

#[tokio::test]
async fn malformed_json_is_400_and_a_body_that_is_not_json_415() {
    let (server, key, _t) = server().await;
    for path in ["/scoring/config", "/scoring/preview"] {
        let method = if path.ends_with("config") {
            Method::PUT
        } else {
            Method::POST
        };
        let malformed = send(&server, method.clone(), path, &key)
            .header("content-type", "application/json")
            .body("{\"weights\": ")
            .send()
            .await
            .expect("send");
        problem(malformed, 400).await;
        let plain = send(&server, method, path, &key)
            .header("content-type", "text/plain")
            .body("{}")
            .send()
            .await
            .expect("send");
        problem(plain, 415).await;
    }
}

#[tokio::test]
async fn a_body_over_the_routes_limit_is_a_413_problem() {
    let (server, key, _t) = server().await;
    let big = format!(
        "{{\"weights\": {{}}, \"pad\": \"{}\"}}",
        "x".repeat(80 * 1024)
    );
    let response = send(&server, Method::PUT, "/scoring/config", &key)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .expect("send");
    problem(response, 413).await;
    let huge = format!("[{}]", "1,".repeat(600_000));
    let response = server.deliver(&huge).await;
    problem(response, 413).await;
}

#[tokio::test]
async fn post_sync_takes_no_body_as_incremental_and_refuses_bad_ones_by_kind() {
    let (server, key, _t) = server().await;
    let post = |body: Option<(&'static str, &'static str)>| {
        let mut request = send(&server, Method::POST, "/sync", &key);
        if let Some((content_type, body)) = body {
            request = request.header("content-type", content_type).body(body);
        }
        request.send()
    };
    // No body gets past parsing: this server has no HubSpot token, so it is refused for that.
    let body = problem(post(None).await.expect("send"), 503).await;
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("HUBSPOT_ACCESS_TOKEN"))
    );
    let json = "application/json";
    problem(post(Some((json, "{"))).await.expect("send"), 400).await;
    let wrong = post(Some((json, "{\"mode\": \"sideways\"}"))).await;
    let body = problem(wrong.expect("send"), 422).await;
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("history"))
    );
    problem(post(Some(("text/plain", "full"))).await.expect("send"), 415).await;
}

#[tokio::test]
async fn every_answer_carries_the_security_headers_and_a_request_id() {
    let (server, key, _t) = server().await;
    let ok = server.get("/healthz", &key).await;
    let missing = server.get("/no/such/thing", &key).await;
    let given = server
        .client
        .get(format!("{}/healthz", server.base))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .expect("send");
    for response in [&ok, &missing, &given] {
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        assert!(headers.contains_key("content-security-policy"));
        assert!(headers.contains_key("x-request-id"));
    }
    assert_eq!(given.headers()["x-request-id"], "trace-me-42");
}

#[tokio::test]
async fn a_listing_limit_out_of_range_and_an_empty_delivery_are_refused() {
    let (server, key, _t) = server().await;
    for limit in ["0", "-1", "501", "1000"] {
        let response = server.get(&format!("/customers?limit={limit}"), &key).await;
        let body = problem(response, 400).await;
        assert_eq!(body["errors"][0]["field"], "limit", "{body}");
    }
    assert_eq!(server.get("/customers?limit=500", &key).await.status(), 200);
    let body = problem(server.deliver("[]").await, 400).await;
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("at least one"))
    );
}

#[tokio::test]
async fn cors_answers_only_the_origins_it_is_told() {
    use healthscore_api::http::{AppState, WebhookSettings};
    let t = TestDb::sqlite().await;
    let preflight = |server: &TestServer, origin: &'static str| {
        server
            .client
            .request(Method::OPTIONS, format!("{}/customers", server.base))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let closed = TestServer::start(t.db.clone()).await;
    let answer = preflight(&closed, "https://app.example.com")
        .await
        .expect("send");
    assert!(!answer.headers().contains_key("access-control-allow-origin"));

    let origin: axum::http::HeaderValue = "https://app.example.com".parse().expect("origin");
    let state =
        AppState::new(t.db.clone(), WebhookSettings::default()).with_cors_origins(vec![origin]);
    let open = TestServer::serve(state).await;
    let allowed = preflight(&open, "https://app.example.com")
        .await
        .expect("send");
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let other = preflight(&open, "https://evil.example")
        .await
        .expect("send");
    assert!(!other.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn a_key_over_its_budget_is_a_429_problem_with_retry_after() {
    use healthscore_api::http::{AppState, WebhookSettings};
    let t = TestDb::sqlite().await;
    let state = AppState::new(t.db.clone(), WebhookSettings::default())
        .with_key_budget(std::num::NonZeroU32::new(1));
    let server = TestServer::serve(state).await;
    let key = server.key(77).await;
    let other = server.key(77).await;
    for _ in 0..2 {
        assert_eq!(
            server.get("/customers", &key).await.status(),
            200,
            "the burst"
        );
    }
    let over = server.get("/customers", &key).await;
    let retry_after = over.headers().get("retry-after").cloned();
    problem(over, 429).await;
    assert!(retry_after.is_some_and(|r| r.to_str().is_ok_and(|s| s.parse::<u64>().is_ok())));
    assert_eq!(
        server.get("/customers", &other).await.status(),
        200,
        "per key"
    );
    assert_eq!(
        server.get("/healthz", "").await.status(),
        200,
        "probes are free"
    );
}
