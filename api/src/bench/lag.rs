//! `bench lag`: how long after a webhook's 2xx its change is visible in the read API, while
//! other senders keep a steady load of webhook events flowing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use healthscore_domain::ids::PortalId;
use healthscore_projections::api_keys;
use serde_json::{Value, json};

use super::webhooks::{PUBLIC_URL, SECRET, delivery_body, post_delivery};
use super::{LagArgs, WebhookArgs, bench_database, quantile};
use crate::http::{AppState, WebhookSettings, router};
use crate::secret::Secret;
use crate::workers::Workers;

/// The contact whose changes are timed (outside the load's id range).
const PROBE: u64 = 999_999_999;

fn probe_event(serial: u64, property: &str, value: &str) -> Value {
    json!([{
        "eventId": 10_000_000_000_u64 + serial, "subscriptionId": 1, "portalId": 1, "appId": 1,
        "occurredAt": 1_800_000_000_000_i64 + serial as i64, "attemptNumber": 0,
        "objectId": PROBE, "subscriptionType": "contact.propertyChange",
        "propertyName": property, "propertyValue": value,
    }])
}

pub(super) async fn run(args: LagArgs) -> anyhow::Result<()> {
    let (db, _guard) = bench_database(args.database_url.clone()).await?;
    let settings = WebhookSettings {
        secrets: vec![Secret::new(SECRET)],
        public_url: Some(PUBLIC_URL.to_string()),
    };
    let state = AppState::new(db.clone(), settings);
    let workers = Workers::start(&state, Duration::from_secs(600));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(crate::http::server::serve_until_dropped(
        listener,
        router(state),
    ));
    let client = reqwest::Client::new();
    let key = api_keys::create(&db, PortalId(1), "bench").await?.key;
    post_delivery(
        &client,
        &base,
        probe_event(0, "email", "probe@example.com").to_string(),
    )
    .await?;

    // Steady load: `senders` senders, each posting 100-event deliveries on a fixed cadence.
    let deliveries_per_second = args.events_per_second as f64 / 100.0;
    let period = Duration::from_secs_f64(args.senders as f64 / deliveries_per_second);
    let load_args = Arc::new(WebhookArgs {
        database_url: None,
        senders: args.senders,
        deliveries: usize::MAX / 1_000_000,
        events: 100,
        objects: 100_000,
        no_workers: false,
        no_anchor: true,
        target: Vec::new(),
    });
    let started = Instant::now();
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let load: Vec<_> = (0..args.senders)
        .map(|sender| {
            let (client, base, args, sent) = (
                client.clone(),
                base.clone(),
                Arc::clone(&load_args),
                Arc::clone(&sent),
            );
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(period);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                for delivery in 0.. {
                    ticks.tick().await;
                    let body = delivery_body(sender, delivery, &args).to_string();
                    if post_delivery(&client, &base, body).await.is_err() {
                        return;
                    }
                    sent.fetch_add(100, std::sync::atomic::Ordering::Relaxed);
                }
            })
        })
        .collect();

    // Probes: change the probe's name, and time from the 2xx to the read API showing it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut lags = Vec::with_capacity(args.probes);
    for serial in 1..=args.probes as u64 {
        let value = format!("probe-{serial}");
        post_delivery(
            &client,
            &base,
            probe_event(serial, "firstname", &value).to_string(),
        )
        .await?;
        let acknowledged = Instant::now();
        loop {
            let view: Value = client
                .get(format!("{base}/customers/{PROBE}"))
                .bearer_auth(&key)
                .send()
                .await?
                .json()
                .await?;
            if view["properties"]["firstname"] == value.as_str() {
                break;
            }
            anyhow::ensure!(
                acknowledged.elapsed() < Duration::from_secs(30),
                "the change never became visible"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        lags.push(acknowledged.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    for task in load {
        task.abort();
    }
    lags.sort_by(f64::total_cmp);
    println!("backend          {:?}", db.backend());
    println!(
        "load             {:.0} events/s offered by {} senders (target {})",
        sent.load(std::sync::atomic::Ordering::Relaxed) as f64 / seconds,
        args.senders,
        args.events_per_second
    );
    println!("probes           {}", lags.len());
    println!("lag p50          {:.1} ms", quantile(&lags, 0.50));
    println!("lag p99          {:.1} ms", quantile(&lags, 0.99));
    println!("lag max          {:.1} ms", quantile(&lags, 1.0));
    server.abort();
    workers.stop().await;
    db.close().await;
    Ok(())
}
