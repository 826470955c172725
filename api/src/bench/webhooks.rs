//! `bench webhooks`: signed deliveries from concurrent senders through the real HTTP server,
//! as HubSpot sends them, with `serve`'s workers running beside (unless `--no-workers`);
//! events/s to 2xx and until the read models and scores hold them, latency percentiles, and
//! the raw-SQLite anchor writing the same rows.

use std::time::{Duration, Instant};

use healthscore_domain::hubspot::crm_webhook_headers;
use serde_json::{Value, json};

use super::{WebhookArgs, bench_database, quantile};
use crate::http::{AppState, WebhookSettings, router};
use crate::secret::Secret;
use crate::workers::Workers;
use healthscore_projections::projector::Projector;

pub(super) const SECRET: &str = "bench-secret";
pub(super) const PUBLIC_URL: &str = "https://bench.example.com";

pub(super) async fn run(args: WebhookArgs) -> anyhow::Result<()> {
    if !args.target.is_empty() {
        return run_against_servers(args).await;
    }
    let (db, _guard) = bench_database(args.database_url.clone()).await?;
    let backend = db.backend();
    let settings = WebhookSettings {
        secrets: vec![Secret::new(SECRET)],
        public_url: Some(PUBLIC_URL.to_string()),
    };
    let state = AppState::new(db.clone(), settings);
    // As `serve` runs them: the projector, the refresher, the alerter and the write-back.
    let workers = (!args.no_workers).then(|| Workers::start(&state, Duration::from_secs(600)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(crate::http::server::serve_until_dropped(
        listener,
        router(state.clone()),
    ));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.senders)
        .build()?;
    let bodies = all_bodies(&args);
    let started = Instant::now();
    let senders: Vec<_> = bodies
        .into_iter()
        .map(|bodies| {
            let client = client.clone();
            tokio::spawn(async move { send_all(&client, &format!("http://{addr}"), bodies).await })
        })
        .collect();
    let mut latencies = Vec::new();
    for sender in senders {
        latencies.extend(sender.await??);
    }
    let seconds = started.elapsed().as_secs_f64();
    // With the workers: how long until the read models and the scores hold every event.
    let current = match &workers {
        Some(_) => Some(
            caught_up(&state)
                .await?
                .duration_since(started)
                .as_secs_f64(),
        ),
        None => None,
    };
    server.abort();
    if let Some(workers) = workers {
        workers.stop().await;
    }
    latencies.sort_by(f64::total_cmp);
    let deliveries = args.senders * args.deliveries;
    let events = (deliveries * args.events) as f64;
    println!("backend          {backend:?}");
    println!(
        "deliveries       {} senders x {} x {} events over {} contacts",
        args.senders, args.deliveries, args.events, args.objects
    );
    println!(
        "workers          {}",
        if args.no_workers {
            "none (--no-workers): the HTTP path and the recorder alone"
        } else {
            "serve's: projector, score refresher, alerter, write-back"
        }
    );
    println!("elapsed          {seconds:.2} s");
    println!("events/s         {:.0} (answered 2xx)", events / seconds);
    println!("latency p50      {:.1} ms", quantile(&latencies, 0.50));
    println!("latency p99      {:.1} ms", quantile(&latencies, 0.99));
    println!("latency max      {:.1} ms", quantile(&latencies, 1.0));
    if let Some(current) = current {
        println!(
            "events/s         {:.0} (until read models and scores held them all, {current:.2} s)",
            events / current
        );
    }
    println!("{}", super::memory_line());
    if !args.no_anchor && backend == healthscore_projections::Backend::Sqlite {
        let anchor = super::anchor::run(&db, deliveries).await?;
        // The raw writer writes the read models and scores too: it is compared with the engine
        // until those held every event.
        let engine_seconds = current.unwrap_or(seconds);
        for (what, anchor_seconds) in [
            ("1 delivery per transaction", anchor.per_delivery_seconds),
            ("32 deliveries per transaction", anchor.grouped_seconds),
        ] {
            println!(
                "raw SQLite       {:.0} events/s, {what} ({} rows, WAL, synchronous=FULL); engine/raw {:.2}",
                events / anchor_seconds,
                anchor.rows,
                anchor_seconds / engine_seconds
            );
        }
    }
    db.close().await;
    Ok(())
}

/// Every sender's delivery bodies, built before the clock starts: HubSpot builds them on its
/// machines, so their cost is not the server's. Each is still signed when it is sent (v3 has a
/// timestamp).
fn all_bodies(args: &WebhookArgs) -> Vec<Vec<String>> {
    (0..args.senders)
        .map(|sender| {
            (0..args.deliveries)
                .map(|delivery| delivery_body(sender, delivery, args).to_string())
                .collect()
        })
        .collect()
}

/// The flood against `serve` processes already running, as users run them (each with its own
/// workers): each sender alternates its deliveries between the targets.
async fn run_against_servers(args: WebhookArgs) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.senders)
        .build()?;
    let bodies = all_bodies(&args);
    let targets = std::sync::Arc::new(args.target.clone());
    let started = Instant::now();
    let senders: Vec<_> = bodies
        .into_iter()
        .enumerate()
        .map(|(sender, bodies)| {
            let (client, targets) = (client.clone(), std::sync::Arc::clone(&targets));
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(bodies.len());
                for (delivery, body) in bodies.into_iter().enumerate() {
                    let target = &targets[(sender + delivery) % targets.len()];
                    let sent = Instant::now();
                    post_delivery(&client, target, body).await?;
                    latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for sender in senders {
        latencies.extend(sender.await??);
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let events = (args.senders * args.deliveries * args.events) as f64;
    println!("servers          {}", args.target.join(", "));
    println!(
        "deliveries       {} senders x {} x {} events over {} contacts",
        args.senders, args.deliveries, args.events, args.objects
    );
    println!("elapsed          {seconds:.2} s");
    println!("events/s         {:.0} (answered 2xx)", events / seconds);
    println!("latency p50      {:.1} ms", quantile(&latencies, 0.50));
    println!("latency p99      {:.1} ms", quantile(&latencies, 0.99));
    println!("latency max      {:.1} ms", quantile(&latencies, 1.0));
    Ok(())
}

/// Waits until the projector's checkpoint and the refresher's position reach the log's head;
/// returns when.
async fn caught_up(state: &AppState) -> anyhow::Result<Instant> {
    let head = state.store.head().await?;
    let projector = Projector::new(state.store.clone());
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let scored = *state.scored_through.borrow();
        if scored >= head && projector.checkpoint().await? >= head {
            return Ok(Instant::now());
        }
        anyhow::ensure!(Instant::now() < deadline, "the workers never caught up");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// One sender's deliveries; returns each request's latency in ms.
async fn send_all(
    client: &reqwest::Client,
    base: &str,
    bodies: Vec<String>,
) -> anyhow::Result<Vec<f64>> {
    let mut latencies = Vec::with_capacity(bodies.len());
    for body in bodies {
        let sent = Instant::now();
        post_delivery(client, base, body).await?;
        latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(latencies)
}

/// POSTs `body` signed as HubSpot signs CRM webhooks (v1 and v3); fails unless answered 2xx.
pub(super) async fn post_delivery(
    client: &reqwest::Client,
    base: &str,
    body: String,
) -> anyhow::Result<()> {
    let now = chrono::Utc::now().timestamp_millis();
    let url = format!("{PUBLIC_URL}/webhooks/hubspot");
    let mut request = client.post(format!("{base}/webhooks/hubspot"));
    for (name, value) in crm_webhook_headers(SECRET, &url, body.as_bytes(), now) {
        request = request.header(name, value);
    }
    let response = request.body(body).send().await?;
    anyhow::ensure!(
        response.status().is_success(),
        "delivery answered {}",
        response.status()
    );
    Ok(())
}

/// A realistic mix: property changes, creations and associations over `objects` contacts.
pub(super) fn delivery_body(sender: usize, delivery: usize, args: &WebhookArgs) -> Value {
    let events: Vec<Value> = (0..args.events)
        .map(|n| {
            let serial = ((sender * args.deliveries + delivery) * args.events + n) as u64;
            let object_id = serial.wrapping_mul(2_654_435_761) % args.objects + 1;
            let at = 1_700_000_000_000 + serial as i64;
            let mut event = json!({
                "eventId": serial, "subscriptionId": 1, "portalId": 1, "appId": 1,
                "occurredAt": at, "attemptNumber": 0, "objectId": object_id, "changeSource": "CRM",
            });
            let extra = match serial % 10 {
                0 => json!({"subscriptionType": "contact.creation"}),
                1 => json!({"subscriptionType": "contact.associationChange",
                    "associationType": "CONTACT_TO_COMPANY", "fromObjectId": object_id,
                    "toObjectId": object_id % 1000 + 1, "associationRemoved": false}),
                2..=4 => json!({"subscriptionType": "contact.propertyChange",
                    "propertyName": "hs_last_sales_activity_date", "propertyValue": at.to_string()}),
                _ => json!({"subscriptionType": "contact.propertyChange",
                    "propertyName": "lifecyclestage", "propertyValue": "customer"}),
            };
            if let (Some(event), Some(extra)) = (event.as_object_mut(), extra.as_object()) {
                event.extend(extra.clone());
            }
            event
        })
        .collect();
    Value::Array(events)
}
