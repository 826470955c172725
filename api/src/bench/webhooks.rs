//! `bench webhooks`: signed deliveries from concurrent senders through the real HTTP server,
//! as HubSpot sends them; events/s and latency percentiles.

use std::time::Instant;

use healthscore_domain::hubspot::crm_webhook_headers;
use serde_json::{Value, json};

use super::{WebhookArgs, bench_database, quantile};
use crate::http::{AppState, WebhookSettings, router};
use crate::secret::Secret;

pub(super) const SECRET: &str = "bench-secret";
pub(super) const PUBLIC_URL: &str = "https://bench.example.com";

pub(super) async fn run(args: WebhookArgs) -> anyhow::Result<()> {
    let (db, _guard) = bench_database(args.database_url.clone()).await?;
    let backend = db.backend();
    let settings = WebhookSettings {
        secrets: vec![Secret::new(SECRET)],
        public_url: Some(PUBLIC_URL.to_string()),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(crate::http::server::serve_until_dropped(
        listener,
        router(AppState::new(db, settings)),
    ));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.senders)
        .build()?;
    // The bodies are built before the clock starts: HubSpot builds them on its machines, so
    // their cost is not the server's. Each is still signed when it is sent (v3 has a timestamp).
    let bodies: Vec<Vec<String>> = (0..args.senders)
        .map(|sender| {
            (0..args.deliveries)
                .map(|delivery| delivery_body(sender, delivery, &args).to_string())
                .collect()
        })
        .collect();
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
    server.abort();
    latencies.sort_by(f64::total_cmp);
    let events = (args.senders * args.deliveries * args.events) as f64;
    println!("backend        {backend:?}");
    println!(
        "deliveries     {} senders x {} x {} events",
        args.senders, args.deliveries, args.events
    );
    println!("elapsed        {seconds:.2} s");
    println!("deliveries/s   {:.0}", latencies.len() as f64 / seconds);
    println!("events/s       {:.0}", events / seconds);
    println!("latency p50    {:.1} ms", quantile(&latencies, 0.50));
    println!("latency p99    {:.1} ms", quantile(&latencies, 0.99));
    println!("latency max    {:.1} ms", quantile(&latencies, 1.0));
    Ok(())
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
