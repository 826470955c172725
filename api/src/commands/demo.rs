//! `healthscore demo`: the whole engine end to end on this machine, with nothing to set up. A
//! fake HubSpot serves a generated portal; a full sync records it; a signed webhook (a sales
//! call logged for the least healthy customer) arrives through the real endpoint; scores are
//! computed, materialized and read back through the REST API, and the server keeps running
//! for you to explore (unless `--exit`).

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use healthscore_domain::sync_run::SyncMode;
use healthscore_fixtures::fake_hubspot::{FakeConfig, FakeHubSpot};
use healthscore_fixtures::generate::Portal;
use healthscore_projections::api_keys;
use serde_json::{Value, json};

use crate::cli::{DatabaseArgs, connect, shutdown_signal};
use crate::commands::demo_activity::{self, Deliveries};
use crate::commands::sync::with_progress;
use crate::connections::{Connections, HubSpotSettings, Vault};
use crate::http::{self, AppState, WebhookSettings};
use crate::secret::Secret;
use crate::workers::Workers;

/// Options of `demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Where the demo's data goes (its own file by default, so your real data is untouched).
    #[arg(
        long,
        env = "HEALTHSCORE_DEMO_DATABASE_URL",
        default_value = "sqlite://healthscore-demo.db"
    )]
    pub database_url: String,
    /// Address the demo API listens on (port 0 picks a free one).
    #[arg(long, env = "HEALTHSCORE_BIND", default_value = "127.0.0.1:8080", value_parser = crate::cli::parse_bind)]
    pub bind: std::net::SocketAddr,
    /// Contacts in the generated portal (companies and deals scale with it).
    #[arg(long, default_value_t = 2_000)]
    pub contacts: usize,
    /// Stop after printing the results instead of serving until Ctrl-C.
    #[arg(long)]
    pub exit: bool,
    /// Serve without the live webhooks: the portal stays still.
    #[arg(long)]
    pub still: bool,
}

/// What the demo showed, for tests.
#[derive(Debug, Clone)]
pub struct DemoOutcome {
    /// `GET /scores/summary` after the sync.
    pub summary: Value,
    /// The customer the webhook was about, and its score before and after.
    pub customer: String,
    /// Its score before the webhook.
    pub before: Value,
    /// Its score after the webhook.
    pub after: Value,
    /// Events the full sync recorded.
    pub synced_events: u64,
}

/// The generated portal's seed: every demo shows the same portal.
const DEMO_SEED: u64 = 42;

/// The demo starts from an empty database every time, so it shows the same thing every
/// time: its SQLite file (and WAL) is removed first. A PostgreSQL database is the caller's to
/// empty; the demo records into it as it is.
fn start_afresh(database_url: &str) -> anyhow::Result<()> {
    let Some(rest) = database_url.strip_prefix("sqlite:") else {
        return Ok(());
    };
    let path = rest.trim_start_matches("//");
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{path}{suffix}");
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(error)
                    .with_context(|| format!("removing the old demo database {file}"));
            }
        }
    }
    Ok(())
}

/// Runs the demo (see the module docs).
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    demo(args).await.map(|_| ())
}

/// Where a serving demo can be reached.
#[derive(Debug, Clone)]
pub struct DemoReady {
    /// `http://host:port`.
    pub base: String,
    /// The demo's API key.
    pub key: String,
}

/// Runs the demo and returns what it showed.
pub async fn demo(args: DemoArgs) -> anyhow::Result<DemoOutcome> {
    demo_serving(args, None).await
}

/// Runs the demo; unless `--exit`, tells `ready` where it serves once it does, then serves
/// until Ctrl-C (or until the task is dropped).
pub async fn demo_serving(
    args: DemoArgs,
    ready: Option<tokio::sync::oneshot::Sender<DemoReady>>,
) -> anyhow::Result<DemoOutcome> {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let portal = Portal::generate(
        DEMO_SEED,
        args.contacts,
        (args.contacts / 5).max(1),
        (args.contacts * 3 / 4).max(1),
        now_ms,
    )
    .into_book_of_business(DEMO_SEED, now_ms);
    let fake = FakeHubSpot::start(FakeConfig {
        portal: Some(portal),
        ..FakeConfig::default()
    })
    .await?;
    println!(
        "fake HubSpot serving a generated portal at {}",
        fake.base_url()
    );
    start_afresh(&args.database_url)?;
    let db = connect(&DatabaseArgs {
        database_url: args.database_url.clone(),
    })
    .await?;
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("listening on {}", args.bind))?;
    let base = format!("http://{}", listener.local_addr()?);
    let secret = format!("demo-{:016x}", rand::random::<u64>());
    let state = AppState::new(
        db.clone(),
        WebhookSettings {
            secrets: vec![Secret::new(secret.clone())],
            public_url: Some(base.clone()),
        },
    );
    // The demo connects its portal as a user would (a private-app token, sealed at rest). Its
    // database starts afresh each run, so a key that lives as long as the process will do.
    let settings = HubSpotSettings {
        api_base: fake.base_url().to_string(),
        rate_limit: 100,
        search_rate_limit: 5,
        oauth: None,
        authorize_url: String::new(),
    };
    let connections = Connections::new(
        db.clone(),
        state.store.clone(),
        Vault::new(&[rand::random()]),
        settings,
    )?;
    let connected = connections
        .connect_private_app(
            Secret::new(fake.token()),
            Some("healthscore demo".to_owned()),
        )
        .await?;
    let alerts = crate::alerts::AlertSettings {
        public_url: base.clone(),
        ..Default::default()
    };
    let state = state
        .with_alerts(alerts, connections.vault().clone())
        .with_connections(connections);
    let workers = Workers::start(&state, Duration::from_secs(600));
    let server = tokio::spawn(http::server::serve(
        listener,
        http::router(state.clone()),
        http::server::ConnectionLimits::default().within_descriptor_limit(),
        shutdown_signal(),
    ));

    let syncer = state
        .syncer_for(connected.portal)
        .await
        .map_err(|_| anyhow::anyhow!("the demo's portal cannot sync"))?;
    println!("full sync from the fake HubSpot (paced at 100 requests per 10 s, as HubSpot is)...");
    let started = std::time::Instant::now();
    let run = with_progress(&syncer, syncer.sync(SyncMode::Full)).await?;
    let report = syncer.progress().report();
    println!(
        "  {} objects in {} pages, {} events recorded, {} requests, {:.1} s{}",
        report.objects,
        report.pages,
        report.events,
        syncer.client().stats().requests,
        started.elapsed().as_secs_f64(),
        if report.events == 0 {
            " (nothing new: the data was synced before)"
        } else {
            ""
        },
    );
    wait_for_scores(&state).await?;
    let key = api_keys::create(&db, run.portal, "demo").await?.key;
    let api = Api {
        base: base.clone(),
        key: key.clone(),
        http: reqwest::Client::new(),
    };

    let summary = api.get("/scores/summary").await?;
    println!(
        "\nGET /scores/summary\n{}",
        serde_json::to_string_pretty(&summary)?
    );
    let worst = api
        .get("/customers?sort=score&status=scored&limit=5")
        .await?;
    println!(
        "\nthe five least healthy customers (GET /customers?sort=score&status=scored&limit=5):"
    );
    let customers = worst["customers"].as_array().cloned().unwrap_or_default();
    for c in &customers {
        println!(
            "  {:>12}  {:<32} {:>5}  {}",
            c["id"].as_str().unwrap_or_default(),
            c["name"].as_str().unwrap_or_default(),
            c["score"],
            c["band"].as_str().unwrap_or_default()
        );
    }
    let customer = customers
        .first()
        .and_then(|c| c["id"].as_str())
        .context("the generated portal has no scored customer")?
        .to_string();
    let before = api.get(&format!("/customers/{customer}/score")).await?;
    print_explanation(&customer, &before);

    // A sales call logged in HubSpot for that customer, delivered as HubSpot would.
    let deliveries = Deliveries {
        url: format!("{base}/webhooks/hubspot"),
        secret: secret.clone(),
        portal: run.portal.0,
    };
    let now = chrono::Utc::now();
    let call = json!({
        "eventId": rand::random::<u32>(), "subscriptionId": 1, "portalId": run.portal.0,
        "appId": 1, "occurredAt": now.timestamp_millis(), "attemptNumber": 0,
        "subscriptionType": "contact.propertyChange", "objectId": customer.parse::<u64>()?,
        "propertyName": "hs_last_sales_activity_date", "propertyValue": now.to_rfc3339(),
    });
    let delivered = deliveries.send(&api.http, &[call]).await?;
    println!(
        "\na sales call for customer {customer} arrives as a signed webhook: {}",
        delivered
    );
    wait_for_scores(&state).await?;
    let after = api.get(&format!("/customers/{customer}/score")).await?;
    println!(
        "customer {customer}: {} ({}) -> {} ({})",
        before["score"],
        before["band"].as_str().unwrap_or("-"),
        after["score"],
        after["band"].as_str().unwrap_or("-"),
    );

    let outcome = DemoOutcome {
        summary,
        customer,
        before,
        after,
        synced_events: report.events,
    };
    if args.exit {
        server.abort();
    } else {
        let live =
            (!args.still).then(|| tokio::spawn(demo_activity::run(deliveries, fake.portal())));
        if let Some(ready) = ready {
            let _ = ready.send(DemoReady {
                base: base.clone(),
                key: key.clone(),
            });
        }
        println!("\nthe dashboard: {base}/#key={key}");
        if live.is_some() {
            println!("(webhooks keep arriving every few seconds, so scores move; Ctrl-C stops)");
        }
        println!("\nthe API is serving at {base}. Try:");
        println!("  curl -H 'Authorization: Bearer {key}' {base}/customers?sort=score");
        println!(
            "  curl -H 'Authorization: Bearer {key}' {base}/customers/{}/score",
            outcome.customer
        );
        println!("  curl -H 'Authorization: Bearer {key}' {base}/scoring/config");
        println!("the API's docs: {base}/docs (paste the key into Authorize)");
        println!(
            "this demo's webhook client secret, to sign your own deliveries: {secret} \
             (every endpoint and a signing example: README, REST API)"
        );
        let _ = server.await;
        if let Some(live) = live {
            live.abort();
        }
    }
    workers.stop().await;
    db.close().await;
    fake.shutdown().await?;
    Ok(outcome)
}

/// Waits until the materialized scores cover the whole log.
async fn wait_for_scores(state: &AppState) -> anyhow::Result<()> {
    let head = state.store.head().await?;
    let mut through = state.scored_through.subscribe();
    tokio::time::timeout(Duration::from_secs(120), through.wait_for(|p| *p >= head))
        .await
        .context("scores did not catch up within 2 minutes")??;
    Ok(())
}

fn print_explanation(customer: &str, score: &Value) {
    println!(
        "\nwhy customer {customer} scores {} (GET /customers/{customer}/score):",
        score["score"]
    );
    for factor in score["factors"].as_array().into_iter().flatten() {
        println!(
            "  {:<20} weight {:>3}  {:<15} value {:>6}  contributes {}",
            factor["factor"].as_str().unwrap_or_default(),
            factor["weight"],
            factor["status"].as_str().unwrap_or_default(),
            factor["value"],
            factor["contribution"],
        );
    }
}

/// The demo's REST client.
struct Api {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl Api {
    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        anyhow::ensure!(status.is_success(), "GET {path} answered {status}: {body}");
        Ok(body)
    }
}
