//! The `bench portal` phase that reads scores while webhooks flow: the server and its workers
//! (projector, score refresher) as `serve` runs them, a steady webhook load on the portal's own
//! contacts, and concurrent score readers. Reads must not wait behind the writes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use healthscore_domain::ids::PortalId;
use serde_json::{Value, json};

use super::webhooks::post_delivery;

/// The webhook load: `events_per_second` in 100-event deliveries from `senders` senders.
pub(super) struct WebhookLoad {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    started: Instant,
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<Vec<f64>>>>,
}

/// One delivery of property changes on the portal's contacts `ids` (unique event ids).
fn delivery(portal: PortalId, ids: &[u64], serial: u64) -> String {
    let events: Vec<Value> = (0..100_u64)
        .map(|n| {
            let event = serial * 100 + n;
            let contact = ids[(event.wrapping_mul(2_654_435_761) % ids.len() as u64) as usize];
            let at = chrono::Utc::now().timestamp_millis() - 1_000;
            let (property, value) = if event.is_multiple_of(3) {
                ("lifecyclestage", "customer".to_string())
            } else {
                ("hs_last_sales_activity_date", at.to_string())
            };
            json!({
                "eventId": 20_000_000_000_u64 + event, "subscriptionId": 1, "portalId": portal.0,
                "appId": 1, "occurredAt": at, "attemptNumber": 0, "objectId": contact,
                "subscriptionType": "contact.propertyChange", "changeSource": "CRM",
                "propertyName": property, "propertyValue": value,
            })
        })
        .collect();
    Value::Array(events).to_string()
}

impl WebhookLoad {
    /// Starts the senders; each posts on a fixed cadence and records its latencies (ms).
    pub(super) fn start(
        client: &reqwest::Client,
        base: &str,
        portal: PortalId,
        ids: Arc<Vec<u64>>,
        events_per_second: u64,
        senders: usize,
    ) -> Self {
        let deliveries_per_second = events_per_second as f64 / 100.0;
        let period = Duration::from_secs_f64(senders as f64 / deliveries_per_second);
        let (stop, sent) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
        );
        let tasks = (0..senders as u64)
            .map(|sender| {
                let (client, base, ids) = (client.clone(), base.to_string(), Arc::clone(&ids));
                let (stop, sent) = (Arc::clone(&stop), Arc::clone(&sent));
                tokio::spawn(async move {
                    let mut ticks = tokio::time::interval(period);
                    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    let mut latencies = Vec::new();
                    for number in 0.. {
                        ticks.tick().await;
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let body = delivery(portal, &ids, number * senders as u64 + sender);
                        let posted = Instant::now();
                        post_delivery(&client, &base, body).await?;
                        latencies.push(posted.elapsed().as_secs_f64() * 1000.0);
                        sent.fetch_add(100, Ordering::Relaxed);
                    }
                    Ok(latencies)
                })
            })
            .collect();
        Self {
            stop,
            sent,
            started: Instant::now(),
            tasks,
        }
    }

    /// Stops the senders; the events per second they delivered and their sorted latencies.
    pub(super) async fn stop(self) -> anyhow::Result<(f64, Vec<f64>)> {
        let seconds = self.started.elapsed().as_secs_f64();
        let events = self.sent.load(Ordering::Relaxed) as f64;
        self.stop.store(true, Ordering::Relaxed);
        let mut latencies = Vec::new();
        for task in self.tasks {
            latencies.extend(task.await??);
        }
        latencies.sort_by(f64::total_cmp);
        Ok((events / seconds, latencies))
    }
}

/// What the score readers saw: sorted latencies of the 2xx answers (ms), the other answers,
/// and the wall time.
pub(super) struct Reads {
    pub(super) latencies: Vec<f64>,
    pub(super) failed: usize,
    pub(super) seconds: f64,
}

/// `clients` closed-loop readers of random customers' scores for `duration`. Answers other
/// than 2xx are counted, not fatal: under contention they are what a user would see.
pub(super) async fn read_scores(
    client: &reqwest::Client,
    base: &str,
    key: &Arc<String>,
    ids: &Arc<Vec<u64>>,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Reads> {
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (client, base) = (client.clone(), base.to_string());
            let (key, ids) = (Arc::clone(key), Arc::clone(ids));
            tokio::spawn(async move {
                let (mut latencies, mut failed) = (Vec::new(), 0);
                let mut i = c;
                while Instant::now() < deadline {
                    let url = format!("{base}/customers/{}/score", ids[(i * 7919) % ids.len()]);
                    i += clients;
                    let sent = Instant::now();
                    let response = client.get(&url).bearer_auth(key.as_str()).send().await?;
                    let ok = response.status().is_success();
                    let _ = response.bytes().await?;
                    if ok {
                        latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                    } else {
                        failed += 1;
                    }
                }
                Ok::<_, anyhow::Error>((latencies, failed))
            })
        })
        .collect();
    let (mut latencies, mut failed) = (Vec::new(), 0);
    for task in tasks {
        let (mine, my_failures) = task.await??;
        latencies.extend(mine);
        failed += my_failures;
    }
    latencies.sort_by(f64::total_cmp);
    Ok(Reads {
        latencies,
        failed,
        seconds: started.elapsed().as_secs_f64(),
    })
}
