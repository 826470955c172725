//! The demo's live portal: while it serves, signed webhooks keep arriving as HubSpot would
//! send them (sales activities on customers, deals moving through the pipeline, and a few
//! accounts drifting towards churn as their deals are lost), so scores visibly move.

use std::time::Duration;

use healthscore_domain::hubspot::sign_v3;
use healthscore_domain::ids::ObjectType;
use healthscore_fixtures::generate::{DEFAULT_PIPELINE, Portal};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// How often a delivery arrives.
const EVERY: Duration = Duration::from_secs(3);
/// Accounts drifting towards churn.
const DRIFTING: usize = 5;

/// Where and how to deliver.
#[derive(Debug, Clone)]
pub struct Deliveries {
    /// The webhook URL.
    pub url: String,
    /// The client secret to sign with.
    pub secret: String,
    /// The portal's id.
    pub portal: u64,
}

impl Deliveries {
    /// Signs and posts one delivery; the status it got.
    pub async fn send(&self, http: &reqwest::Client, events: &[Value]) -> reqwest::Result<u16> {
        let body = Value::Array(events.to_vec()).to_string();
        let now = chrono::Utc::now().timestamp_millis();
        let signature = sign_v3(&self.secret, "POST", &self.url, body.as_bytes(), now);
        let response = http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("X-HubSpot-Signature-v3", signature)
            .header("X-HubSpot-Request-Timestamp", now.to_string())
            .body(body)
            .send()
            .await?;
        Ok(response.status().as_u16())
    }

    fn event(&self, id: u64, kind: &str, object: u64, name: &str, value: &str) -> Value {
        json!({
            "eventId": id, "subscriptionId": 1, "portalId": self.portal, "appId": 1,
            "occurredAt": chrono::Utc::now().timestamp_millis(), "attemptNumber": 0,
            "subscriptionType": kind, "objectId": object,
            "propertyName": name, "propertyValue": value,
        })
    }
}

/// The portal's open deals, and the next stage of each.
fn next_stage(stage: &str) -> Option<&'static str> {
    let open = &DEFAULT_PIPELINE[..5];
    let at = open.iter().position(|s| s.id == stage)?;
    Some(open.get(at + 1).map_or("closedwon", |s| s.id))
}

fn probability(stage: &str) -> &'static str {
    DEFAULT_PIPELINE
        .iter()
        .find(|s| s.id == stage)
        .map_or("0", |s| s.probability)
}

/// Sends a delivery every few seconds until the task is dropped.
pub async fn run(deliveries: Deliveries, portal: Portal) {
    let http = reqwest::Client::new();
    let mut rng = StdRng::seed_from_u64(7);
    let mut next_id: u64 = 1 << 40;
    let customers: Vec<u64> = portal
        .objects(ObjectType::Contact)
        .iter()
        .filter(|(_, c)| !c.is_archived() && c.property("email").is_some())
        .map(|(id, _)| *id)
        .collect();
    let mut stages: Vec<(u64, String)> = portal
        .objects(ObjectType::Deal)
        .iter()
        .filter(|(_, d)| !d.is_archived() && d.property("hs_is_closed") == Some("false"))
        .filter_map(|(id, d)| Some((*id, d.property("dealstage")?.to_owned())))
        .collect();
    // A few customers with open deals drift: their deals are lost one by one.
    let mut drifting: Vec<u64> = customers
        .iter()
        .filter(|id| {
            portal.get(ObjectType::Contact, **id).is_some_and(|c| {
                c.associations
                    .get(&ObjectType::Deal)
                    .is_some_and(|deals| deals.iter().any(|d| stages.iter().any(|(s, _)| s == d)))
            })
        })
        .take(DRIFTING)
        .copied()
        .collect();
    let mut tick = tokio::time::interval(EVERY);
    tick.tick().await;
    loop {
        tick.tick().await;
        let mut events = Vec::new();
        let mut id = || {
            next_id += 1;
            next_id
        };
        let now = chrono::Utc::now().to_rfc3339();
        for _ in 0..2 {
            if customers.is_empty() {
                break;
            }
            let customer = customers[rng.random_range(0..customers.len())];
            if drifting.contains(&customer) {
                continue;
            }
            let activity = "hs_last_sales_activity_date";
            events.push(deliveries.event(id(), "contact.propertyChange", customer, activity, &now));
        }
        if !stages.is_empty() {
            let at = rng.random_range(0..stages.len());
            let (deal, stage) = stages[at].clone();
            if let Some(next) = next_stage(&stage) {
                events.push(deliveries.event(id(), "deal.propertyChange", deal, "dealstage", next));
                let p = probability(next);
                events.push(deliveries.event(
                    id(),
                    "deal.propertyChange",
                    deal,
                    "hs_deal_stage_probability",
                    p,
                ));
                if next == "closedwon" {
                    stages.swap_remove(at);
                } else {
                    stages[at].1 = next.to_owned();
                }
            }
        }
        if let Some(customer) = drifting.pop() {
            let lost = portal
                .get(ObjectType::Contact, customer)
                .and_then(|c| c.associations.get(&ObjectType::Deal))
                .and_then(|deals| deals.iter().find(|d| stages.iter().any(|(s, _)| s == *d)))
                .copied();
            if let Some(deal) = lost {
                events.push(deliveries.event(
                    id(),
                    "deal.propertyChange",
                    deal,
                    "dealstage",
                    "closedlost",
                ));
                events.push(deliveries.event(
                    id(),
                    "deal.propertyChange",
                    deal,
                    "hs_deal_stage_probability",
                    "0",
                ));
                events.push(deliveries.event(
                    id(),
                    "deal.propertyChange",
                    deal,
                    "hs_is_closed",
                    "true",
                ));
                stages.retain(|(s, _)| *s != deal);
                drifting.insert(0, customer);
            }
        }
        if let Err(error) = deliveries.send(&http, &events).await {
            tracing::warn!(%error, "the demo's webhook delivery failed");
        }
    }
}
