//! Connections end to end against the fake HubSpot: one portal installed by OAuth and one by
//! a private-app token on one server, syncing side by side at their own rate limits; short-lived
//! tokens refreshed mid-sync; a revoked refresh token stopping only its portal; operator keys;
//! and no token in clear in the database or the logs. Each story runs on SQLite and PostgreSQL.

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use healthscore_api::connections::{Connections, HubSpotSettings, Vault};
use healthscore_api::http::{AppState, WebhookSettings};
use healthscore_api::hubspot::OAuthApp;
use healthscore_api::secret::Secret;
use healthscore_domain::ids::PortalId;
use healthscore_fixtures::fake_hubspot::{
    FakeConfig, FakeHubSpot, Faults, OAuthAppConfig, RunningFake,
};
use healthscore_fixtures::generate::Portal;
use healthscore_projections::api_keys;
use healthscore_projections::{Db, on_reader};
use healthscore_tests::server::{PUBLIC_URL, SECRET, TestServer};
use healthscore_tests::{TestDb, on_both_backends};
use serde_json::{Value, json};

const OTHER_TOKEN: &str = "pat-na1-bbbbbbbb-2222-4333-8444-555555555555";

/// Everything every test logs, to look for leaked tokens in.
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures every log line at debug level (before any server installs its own subscriber).
fn capture_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("debug,sqlx=info,hyper=info,reqwest=info,h2=info")
        .with_writer(|| Capture)
        .try_init();
}

async fn fake(expires_in: Duration, faults: Faults) -> RunningFake {
    FakeHubSpot::start(FakeConfig {
        contacts: 160,
        companies: 40,
        deals: 60,
        faults,
        other_portals: vec![(
            Portal::generate(77, 120, 30, 50, 1_750_000_000_000),
            OTHER_TOKEN.to_owned(),
        )],
        oauth: OAuthAppConfig {
            client_secret: SECRET.to_owned(),
            expires_in,
            ..OAuthAppConfig::default()
        },
        ..FakeConfig::default()
    })
    .await
    .expect("fake HubSpot starts")
}

fn settings(fake: &RunningFake) -> HubSpotSettings {
    let (client_id, _) = fake.oauth_app();
    HubSpotSettings {
        api_base: fake.base_url().to_owned(),
        rate_limit: 100,
        search_rate_limit: 5,
        oauth: Some(OAuthApp {
            client_id,
            client_secret: Secret::new(SECRET),
            redirect_uri: format!("{PUBLIC_URL}/connect/hubspot/callback"),
        }),
        authorize_url: format!("{}/oauth/authorize", fake.base_url()),
    }
}

async fn server(t: &TestDb, fake: &RunningFake) -> TestServer {
    let settings = settings(fake);
    let webhook = WebhookSettings {
        secrets: vec![Secret::new(SECRET)],
        public_url: Some(PUBLIC_URL.to_owned()),
    };
    let state = AppState::new(t.db.clone(), webhook);
    let connections = Connections::new(
        t.db.clone(),
        state.store.clone(),
        Vault::new(&[[9; 32]]),
        settings,
    )
    .expect("connections");
    TestServer::serve(state.with_connections(connections)).await
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Installs the app the way a browser does: our install link, HubSpot's page, back to our
/// callback. Returns the callback's status and page.
async fn install(server: &TestServer, fake: &RunningFake, operator: &str) -> (u16, String) {
    let http = no_redirects();
    let start = http
        .get(format!("{}/connect/hubspot", server.base))
        .bearer_auth(operator)
        .send()
        .await
        .expect("send");
    assert_eq!(start.status(), 303);
    let to_hubspot = start.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(to_hubspot.starts_with(fake.base_url()), "{to_hubspot}");
    assert!(
        to_hubspot.contains("crm.objects.owners.read"),
        "asks for the read scopes: {to_hubspot}"
    );
    let back = http.get(&to_hubspot).send().await.expect("send");
    assert_eq!(back.status(), 302);
    let back = back.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let callback = back.replace(PUBLIC_URL, &server.base);
    let page = http.get(&callback).send().await.expect("send");
    let status = page.status().as_u16();
    (status, page.text().await.expect("page"))
}

/// `method path` with `key`, and `body` as JSON when given.
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

/// The key a callback page shows.
fn key_on(page: &str) -> String {
    let start = page.find("<pre>").expect("a key is shown") + 5;
    let end = page[start..].find("</pre>").expect("end") + start;
    page[start..end].to_owned()
}

/// Waits for the newest sync run of the key's portal to end; returns it.
async fn newest_run_ended(server: &TestServer, key: &str) -> Value {
    for _ in 0..600 {
        let runs: Value = server
            .get("/sync/runs?limit=1", key)
            .await
            .json()
            .await
            .expect("json");
        if let Some(run) = runs["runs"].get(0)
            && run["status"] != "running"
        {
            return run.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the sync did not end");
}

async fn ids(server: &TestServer, key: &str) -> Vec<u64> {
    let page: Value = server
        .get("/customers?limit=500", key)
        .await
        .json()
        .await
        .expect("json");
    page["customers"]
        .as_array()
        .expect("customers")
        .iter()
        .map(|c| c["id"].as_str().expect("id").parse().expect("number"))
        .collect()
}

/// Every text the database holds that could carry a token.
async fn database_text(db: &Db) -> String {
    if let Some(file) = db.sqlite_file() {
        let mut bytes = std::fs::read(file).unwrap_or_default();
        let mut wal = file.as_os_str().to_owned();
        wal.push("-wal");
        bytes.extend(std::fs::read(wal).unwrap_or_default());
        return String::from_utf8_lossy(&bytes).into_owned();
    }
    on_reader!(db, pool => {
        let mut text = String::new();
        for sql in [
            "SELECT payload || metadata FROM events",
            "SELECT access_token || COALESCE(refresh_token, '') FROM connection_tokens",
            "SELECT name || scope FROM api_keys",
        ] {
            let rows: Vec<(String,)> = sqlx::query_as(sql).fetch_all(pool).await.expect("query");
            for (row,) in rows {
                text.push_str(&row);
            }
        }
        text
    })
}

async fn two_portals_connect_by_oauth_and_private_app_and_sync_side_by_side(t: TestDb) {
    capture_logs();
    // Every answer takes 60 ms, so the OAuth portal's first sync is still running when the
    // private app's starts.
    let latency = Faults {
        latency: Duration::from_millis(60),
        ..Faults::default()
    };
    let fake = fake(Duration::from_secs(1800), latency).await;
    let server = server(&t, &fake).await;
    let operator = api_keys::create_operator(&t.db, "ops")
        .await
        .expect("key")
        .key;
    let (oauth_portal, app_portal) = (
        fake.portal().portal_id,
        fake.portal_at(1).expect("second").portal_id,
    );

    // Refused installs and bad states record nothing.
    fake.refuse_installs(true);
    let (status, page) = install(&server, &fake, &operator).await;
    assert_eq!(status, 400);
    assert!(page.contains("refused"), "{page}");
    fake.refuse_installs(false);
    let forged = server
        .get("/connect/hubspot/callback?code=x&state=forged", "")
        .await;
    assert_eq!(forged.status(), 400);
    assert!(
        forged
            .text()
            .await
            .expect("page")
            .contains("already used, has expired")
    );
    let listed: Value = server
        .get("/connections", &operator)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(listed["connections"], json!([]), "nothing recorded");

    // OAuth: the page shows the portal's first key, once.
    let (status, page) = install(&server, &fake, &operator).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains(&format!("Portal {oauth_portal} is connected")),
        "{page}"
    );
    let oauth_key = key_on(&page);

    // Private app: validated with HubSpot, first key in the answer.
    let connect = |token: &str| {
        let body = json!({ "access_token": token });
        send(
            &server,
            reqwest::Method::POST,
            "/connections",
            &operator,
            Some(body),
        )
    };
    assert_eq!(connect("not-a-pat").await.status(), 422);
    assert_eq!(
        connect("pat-na1-wrong").await.status(),
        422,
        "HubSpot says 401"
    );
    let made = connect(OTHER_TOKEN).await;
    assert_eq!(made.status(), 201);
    let made: Value = made.json().await.expect("json");
    assert_eq!(made["connection"]["portal_id"], app_portal.to_string());
    assert_eq!(made["connection"]["method"], "private_app");
    let app_key = made["api_key"].as_str().expect("first key").to_owned();

    // Both first syncs run at once, each within its portal's limits.
    let mut spans = Vec::new();
    for key in [&oauth_key, &app_key] {
        let run = newest_run_ended(&server, key).await;
        assert_eq!(run["status"], "completed", "{run:#}");
        let at = |field: &str| {
            chrono::DateTime::parse_from_rfc3339(run[field].as_str().expect("time"))
                .expect("rfc 3339")
        };
        spans.push((at("started_at"), at("finished_at")));
    }
    let ((a_start, a_end), (b_start, b_end)) = (spans[0], spans[1]);
    assert!(
        a_start < b_end && b_start < a_end,
        "the two syncs overlapped: {spans:?}"
    );
    for tenant in [0, 1] {
        let stats = fake.stats_at(tenant).expect("tenant");
        assert!(stats.requests > 10, "{stats:?}");
        assert_eq!(
            stats.responses_429, 0,
            "portal {tenant} was never throttled"
        );
    }

    // HubSpot ends a token early: the 401 is answered by a refresh and the request goes on.
    fake.expire_access_tokens();
    let refreshes = fake.token_grants("refresh_token");
    let again = send(&server, reqwest::Method::POST, "/sync", &oauth_key, None).await;
    assert_eq!(again.status(), 202);
    assert_eq!(
        newest_run_ended(&server, &oauth_key).await["status"],
        "completed"
    );
    assert_eq!(
        fake.token_grants("refresh_token"),
        refreshes + 1,
        "one refresh"
    );

    // Each key sees its portal only; operator keys manage, portal keys read.
    server.projected().await;
    server.scored().await;
    let (mine, theirs) = (ids(&server, &oauth_key).await, ids(&server, &app_key).await);
    assert!(!mine.is_empty() && !theirs.is_empty());
    let oauth_contacts = fake.portal().contacts;
    assert!(mine.iter().all(|id| oauth_contacts.contains_key(id)));
    let app_contacts = fake.portal_at(1).expect("second").contacts;
    assert!(theirs.iter().all(|id| app_contacts.contains_key(id)));
    let foreign = theirs
        .iter()
        .find(|id| !oauth_contacts.contains_key(id))
        .expect("one");
    assert_eq!(
        server
            .get(&format!("/customers/{foreign}"), &oauth_key)
            .await
            .status(),
        404
    );
    assert_eq!(server.get("/customers", &operator).await.status(), 403);
    assert_eq!(server.get("/connections", &oauth_key).await.status(), 403);
    let listed: Value = server
        .get("/connections", &operator)
        .await
        .json()
        .await
        .expect("json");
    let methods: Vec<&str> = listed["connections"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|c| c["method"].as_str().expect("method"))
        .collect();
    assert_eq!(methods.len(), 2);
    assert!(methods.contains(&"oauth") && methods.contains(&"private_app"));
    let own: Value = server
        .get("/connection", &oauth_key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(own["status"], "connected");
    assert!(own["token_expires_at"].is_string() || own["method"] == "oauth");

    // Keys through the API; a disconnect keeps the data and stops the sync.
    let key = send(
        &server,
        reqwest::Method::POST,
        "/keys",
        &operator,
        Some(json!({"portal_id": app_portal.to_string(), "name": "dashboard"})),
    )
    .await;
    assert_eq!(key.status(), 201);
    let key: Value = key.json().await.expect("json");
    let second = key["key"].as_str().expect("key");
    assert_eq!(ids(&server, second).await, theirs);
    let path = format!("/keys/{}", key["id"].as_str().expect("id"));
    let revoke = send(&server, reqwest::Method::DELETE, &path, &operator, None).await;
    assert_eq!(revoke.status(), 204);
    assert_eq!(server.get("/customers", second).await.status(), 401);
    let gone = send(
        &server,
        reqwest::Method::DELETE,
        &format!("/connections/{app_portal}"),
        &operator,
        None,
    )
    .await;
    assert_eq!(gone.status(), 204);
    assert_eq!(ids(&server, &app_key).await, theirs, "data and scores stay");
    let sync = send(&server, reqwest::Method::POST, "/sync", &app_key, None).await;
    assert_eq!(sync.status(), 503, "a disconnected portal does not sync");

    // A new key: rotation re-seals the stored tokens, after which the old key can go.
    let with = |keys: &[[u8; 32]]| {
        Connections::new(
            t.db.clone(),
            server.state.store.clone(),
            Vault::new(keys),
            settings(&fake),
        )
        .expect("connections")
    };
    assert_eq!(
        with(&[[10; 32], [9; 32]])
            .rotate_key()
            .await
            .expect("rotated"),
        1,
        "the connected portal's tokens"
    );
    let portal_of = |connections: Connections| async move {
        connections
            .client(PortalId(oauth_portal))
            .expect("client")
            .account_portal_id()
            .await
    };
    assert_eq!(
        portal_of(with(&[[10; 32]]))
            .await
            .expect("the new key opens it"),
        oauth_portal
    );
    assert!(
        portal_of(with(&[[9; 32]])).await.is_err(),
        "the old key no longer does"
    );

    // No token in clear: not in the database, not in the logs.
    let stored = database_text(&t.db).await;
    let logs = String::from_utf8_lossy(
        &LOGS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
    .into_owned();
    let mut secrets = fake.issued_tokens();
    secrets.push(OTHER_TOKEN.to_owned());
    assert!(secrets.len() >= 3);
    for secret in &secrets {
        assert!(
            !stored.contains(secret.as_str()),
            "a token is stored in clear"
        );
        assert!(!logs.contains(secret.as_str()), "a token is logged");
    }
    assert!(
        logs.contains("portal connected"),
        "the capture saw the server's log"
    );
}

async fn short_lived_tokens_are_refreshed_and_a_revoked_one_stops_only_its_portal(t: TestDb) {
    capture_logs();
    // Tokens live 2 s and every answer takes 100 ms: the first sync outlives several tokens.
    let fake = fake(
        Duration::from_secs(2),
        Faults {
            latency: Duration::from_millis(100),
            ..Faults::default()
        },
    )
    .await;
    let server = server(&t, &fake).await;
    let operator = api_keys::create_operator(&t.db, "ops")
        .await
        .expect("key")
        .key;
    let (status, page) = install(&server, &fake, &operator).await;
    assert_eq!(status, 200, "{page}");
    let oauth_key = key_on(&page);
    let run = newest_run_ended(&server, &oauth_key).await;
    assert_eq!(run["status"], "completed", "{run:#}");
    assert!(
        fake.token_grants("refresh_token") >= 1,
        "the token was refreshed during the sync"
    );
    let app = send(
        &server,
        reqwest::Method::POST,
        "/connections",
        &operator,
        Some(json!({ "access_token": OTHER_TOKEN })),
    )
    .await;
    assert_eq!(app.status(), 201);
    let app_key = app.json::<Value>().await.expect("json")["api_key"]
        .as_str()
        .expect("key")
        .to_owned();
    assert_eq!(
        newest_run_ended(&server, &app_key).await["status"],
        "completed"
    );

    // The app is uninstalled: the next refresh is refused and the portal is marked.
    fake.revoke_refresh_tokens();
    let expires: Value = server
        .get("/connection", &oauth_key)
        .await
        .json()
        .await
        .expect("json");
    let expires =
        chrono::DateTime::parse_from_rfc3339(expires["token_expires_at"].as_str().expect("expiry"))
            .expect("time");
    while chrono::Utc::now() < expires {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sync = |key: String| {
        let (http, url) = (server.client.clone(), format!("{}/sync", server.base));
        async move {
            http.post(url)
                .bearer_auth(key)
                .send()
                .await
                .expect("send")
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        sync(oauth_key.clone()).await,
        502,
        "HubSpot refused the refresh"
    );
    let own: Value = server
        .get("/connection", &oauth_key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(own["status"], "needs_reauthorisation", "{own:#}");
    assert_eq!(own["reason"], "BAD_REFRESH_TOKEN");
    assert_eq!(
        sync(oauth_key.clone()).await,
        409,
        "no sync until it is connected again"
    );
    // The other portal is untouched.
    assert_eq!(sync(app_key.clone()).await, 202);
    assert_eq!(
        newest_run_ended(&server, &app_key).await["status"],
        "completed"
    );
    // Installing again brings it back.
    let (status, page) = install(&server, &fake, &operator).await;
    assert_eq!(status, 200, "{page}");
    assert!(!page.contains("<pre>"), "no second first key");
    let own: Value = server
        .get("/connection", &oauth_key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(own["status"], "connected");
}

on_both_backends!(
    two_portals_connect_by_oauth_and_private_app_and_sync_side_by_side,
    short_lived_tokens_are_refreshed_and_a_revoked_one_stops_only_its_portal,
);
