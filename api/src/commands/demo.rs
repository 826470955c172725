//! `healthscore demo`: the whole engine end to end on this machine, with nothing to set up. A
//! fake HubSpot serves a generated portal; a full sync records it; a signed webhook (a sales
//! call logged for the least healthy customer) arrives through the real endpoint; scores are
//! computed, materialized and read back through the REST API, and the server keeps running
//! for you to explore (unless `--exit`).

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use healthscore_domain::hubspot::sign_v3;
use healthscore_domain::sync_run::SyncMode;
use healthscore_fixtures::fake_hubspot::{FakeConfig, FakeHubSpot};
use healthscore_projections::api_keys;
use serde_json::{Value, json};

use crate::cli::{DatabaseArgs, connect, shutdown_signal};
use crate::commands::sync::HubSpotArgs;
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
    #[arg(long, env = "HEALTHSCORE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: std::net::SocketAddr,
    /// Contacts in the generated portal (companies and deals scale with it).
    #[arg(long, default_value_t = 2_000)]
    pub contacts: usize,
    /// Stop after printing the results instead of serving until Ctrl-C.
    #[arg(long)]
    pub exit: bool,
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

/// Runs the demo (see the module docs).
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    demo(args).await.map(|_| ())
}

/// Runs the demo and returns what it showed.
pub async fn demo(args: DemoArgs) -> anyhow::Result<DemoOutcome> {
    let fake = FakeHubSpot::start(FakeConfig {
        contacts: args.contacts,
        companies: (args.contacts / 4).max(1),
        deals: (args.contacts / 2).max(1),
        ..FakeConfig::default()
    })
    .await?;
    println!(
        "fake HubSpot serving a generated portal at {}",
        fake.base_url()
    );
    let db = connect(&DatabaseArgs {
        database_url: args.database_url.clone(),
    })
    .await?;
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("binding {} (set --bind to another address)", args.bind))?;
    let base = format!("http://{}", listener.local_addr()?);
    let secret = format!("demo-{:016x}", rand::random::<u64>());
    let hubspot = HubSpotArgs {
        hubspot_access_token: Some(Secret::new(fake.token())),
        hubspot_api_base: fake.base_url().to_string(),
        hubspot_rate_limit: 100,
        hubspot_search_rate_limit: 5,
    };
    let client = hubspot.client()?.context("the demo's HubSpot client")?;
    let state = AppState::new(
        db.clone(),
        WebhookSettings {
            secrets: vec![Secret::new(secret.clone())],
            public_url: Some(base.clone()),
        },
    )
    .with_sync(client);
    let workers = Workers::start(&state, Duration::from_secs(600));
    let server = tokio::spawn(http::server::serve(
        listener,
        http::router(state.clone()),
        http::server::ConnectionLimits::default().within_descriptor_limit(),
        shutdown_signal(),
    ));

    let syncer = state.syncer.clone().context("sync is configured")?;
    println!("full sync from the fake HubSpot (paced at 100 requests per 10 s, as HubSpot is)...");
    let started = std::time::Instant::now();
    let run = syncer.sync(SyncMode::Full).await?;
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
    let now = chrono::Utc::now();
    let body = json!([{
        "eventId": rand::random::<u32>(), "subscriptionId": 1, "portalId": run.portal.0,
        "appId": 1, "occurredAt": now.timestamp_millis(), "attemptNumber": 0,
        "subscriptionType": "contact.propertyChange", "objectId": customer.parse::<u64>()?,
        "propertyName": "hs_last_sales_activity_date", "propertyValue": now.to_rfc3339(),
    }])
    .to_string();
    let url = format!("{base}/webhooks/hubspot");
    let delivered = api
        .http
        .post(&url)
        .header("content-type", "application/json")
        .header(
            "X-HubSpot-Signature-v3",
            sign_v3(
                &secret,
                "POST",
                &url,
                body.as_bytes(),
                now.timestamp_millis(),
            ),
        )
        .header(
            "X-HubSpot-Request-Timestamp",
            now.timestamp_millis().to_string(),
        )
        .body(body)
        .send()
        .await?;
    println!(
        "\na sales call for customer {customer} arrives as a signed webhook: {}",
        delivered.status()
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
        println!("\nthe API is serving at {base} until Ctrl-C. Try:");
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
