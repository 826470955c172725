//! The real router on a real socket, for black-box HTTP tests.

use healthscore_api::http::{AppState, WebhookSettings, router};
use healthscore_api::hubspot::HubSpotClient;
use healthscore_api::secret::Secret;
use healthscore_api::workers::Workers;
use healthscore_domain::hubspot::{crm_webhook_headers, sign_v2};
use healthscore_domain::ids::PortalId;
use healthscore_projections::Db;
use healthscore_projections::api_keys;
use healthscore_projections::projector::Projector;

/// The client secret test servers accept.
pub const SECRET: &str = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
/// The public URL test servers are configured with (HubSpot signs this, not the socket address).
pub const PUBLIC_URL: &str = "https://scores.example.com";

/// A running server bound to `127.0.0.1:0`.
pub struct TestServer {
    /// `http://127.0.0.1:port`.
    pub base: String,
    /// The state the router runs with.
    pub state: AppState,
    /// A plain HTTP client.
    pub client: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
    workers: Option<Workers>,
}

impl TestServer {
    /// Serves `db` with the test secret and public URL.
    pub async fn start(db: Db) -> TestServer {
        Self::start_with(
            db,
            WebhookSettings {
                secrets: vec![Secret::new(SECRET)],
                public_url: Some(PUBLIC_URL.to_string()),
            },
        )
        .await
    }

    /// Serves `db` with explicit webhook settings.
    pub async fn start_with(db: Db, webhook: WebhookSettings) -> TestServer {
        Self::serve(AppState::new(db, webhook)).await
    }

    /// Serves `db` with the test webhook settings and a HubSpot sync through `client`.
    pub async fn start_syncing(db: Db, client: HubSpotClient) -> TestServer {
        let webhook = WebhookSettings {
            secrets: vec![Secret::new(SECRET)],
            public_url: Some(PUBLIC_URL.to_string()),
        };
        Self::serve(AppState::new(db, webhook).with_sync(client)).await
    }

    /// Serves `state` with its background workers (the periodic sync excluded).
    pub async fn serve(state: AppState) -> TestServer {
        // `RUST_LOG=healthscore=debug cargo test ...` shows the server's log beside a failure.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let app = router(state.clone());
        let task = tokio::spawn(async move {
            healthscore_api::http::server::serve_until_dropped(listener, app)
                .await
                .expect("serve");
        });
        let workers = Some(Workers::start(&state, std::time::Duration::from_secs(600)));
        TestServer {
            base,
            state,
            client: reqwest::Client::new(),
            task,
            workers,
        }
    }

    /// POSTs `body` to the webhook endpoint signed like HubSpot's CRM webhooks (v1 + v3).
    pub async fn deliver(&self, body: &str) -> reqwest::Response {
        let request = self.signed(body, chrono::Utc::now().timestamp_millis(), SECRET);
        request.send().await.expect("send")
    }

    /// A webhook request signed with `secret` at `timestamp_ms`, v1 and v3 headers.
    pub fn signed(&self, body: &str, timestamp_ms: i64, secret: &str) -> reqwest::RequestBuilder {
        let url = format!("{PUBLIC_URL}/webhooks/hubspot");
        let mut request = self
            .client
            .post(format!("{}/webhooks/hubspot", self.base))
            .header("content-type", "application/json");
        for (name, value) in crm_webhook_headers(secret, &url, body.as_bytes(), timestamp_ms) {
            request = request.header(name, value);
        }
        request.body(body.to_string())
    }

    /// A webhook request signed with v2 only (as workflow actions send).
    pub fn signed_v2(&self, body: &str) -> reqwest::RequestBuilder {
        let url = format!("{PUBLIC_URL}/webhooks/hubspot");
        self.client
            .post(format!("{}/webhooks/hubspot", self.base))
            .header(
                "X-HubSpot-Signature",
                sign_v2(SECRET, "POST", &url, body.as_bytes()),
            )
            .header("X-HubSpot-Signature-Version", "v2")
            .body(body.to_string())
    }
}

impl TestServer {
    /// Creates an API key for `portal`.
    pub async fn key(&self, portal: u64) -> String {
        api_keys::create(&self.state.db, PortalId(portal), "test")
            .await
            .expect("key")
            .key
    }

    /// GETs `path` with `key`.
    pub async fn get(&self, path: &str, key: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .bearer_auth(key)
            .send()
            .await
            .expect("send")
    }

    /// Polls a sync run's status URL until it is no longer running (at most 60 s); its view.
    pub async fn finished_run(&self, status_url: &str, key: &str) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let run: serde_json::Value =
                self.get(status_url, key).await.json().await.expect("json");
            if run["status"] != "running" {
                return run;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the run never finished: {run:#}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Waits until the read models include everything appended so far.
    pub async fn projected(&self) {
        let head = self.state.store.head().await.expect("head");
        let projector = Projector::new(self.state.store.clone());
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        while projector.checkpoint().await.expect("checkpoint") < head {
            assert!(tokio::time::Instant::now() < deadline, "projection stalled");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Waits until the materialized scores include everything appended so far.
    pub async fn scored(&self) {
        let head = self.state.store.head().await.expect("head");
        let mut through = self.state.scored_through.subscribe();
        let reached = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            through.wait_for(|position| *position >= head),
        )
        .await;
        assert!(matches!(reached, Ok(Ok(_))), "scores never caught up");
    }

    /// Stops the background workers (the HTTP server keeps answering).
    pub async fn stop_workers(&mut self) {
        if let Some(workers) = self.workers.take() {
            workers.stop().await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
