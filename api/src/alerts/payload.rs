//! What an alert says: the JSON body webhooks receive (fixed when the alert is decided, so
//! every attempt sends the same bytes) and the Slack message made from it.

use chrono::{DateTime, Utc};
use healthscore_domain::alerts::Trigger;
use healthscore_domain::ids::{ObjectType, PortalId};
use healthscore_domain::scoring::{Band, ScoreReport, Subject};
use healthscore_domain::time::rfc3339_ms;
use healthscore_projections::scoring::subjects::Scorer;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Value, json};

use crate::http::AppState;

/// The change an alert reports.
#[derive(Debug, Clone)]
pub struct Change {
    /// The alert's public id.
    pub alert_id: String,
    /// Its portal.
    pub portal: PortalId,
    /// Customer or account.
    pub subject: Subject,
    /// Its HubSpot id.
    pub subject_id: u64,
    /// What fired.
    pub trigger: Trigger,
    /// The band and score before.
    pub from: (Option<Band>, Option<Decimal>),
    /// The band and score now.
    pub to: (Option<Band>, Option<Decimal>),
    /// When the previous band was recorded (the "before" the factors are compared with).
    pub from_at: Option<DateTime<Utc>>,
    /// The configuration version that scored it.
    pub config_version: u32,
    /// When the change happened.
    pub changed_at: DateTime<Utc>,
}

fn band_name(band: Option<Band>) -> Value {
    match band {
        Some(Band::Healthy) => json!("healthy"),
        Some(Band::AtRisk) => json!("at_risk"),
        Some(Band::Critical) => json!("critical"),
        None => Value::Null,
    }
}

fn points(value: Option<Decimal>) -> Value {
    value
        .and_then(|d| d.round_dp(1).to_f64())
        .map_or(Value::Null, Value::from)
}

/// The webhook body for `change`, with the subject's name and owner and the factors that
/// moved between the previous band and this one.
pub async fn body(state: &AppState, change: &Change) -> Value {
    let object_type = change.subject.object_type();
    let (name, owner_id) = state.scoring.with_portal(change.portal, |objects| {
        let Some(history) = objects.get(object_type, change.subject_id) else {
            return (String::new(), String::new());
        };
        let current = history.current();
        let name = match object_type {
            ObjectType::Company => {
                first_of(&[current.property("name"), current.property("domain")])
            }
            _ => {
                let full = format!(
                    "{} {}",
                    current.property("firstname"),
                    current.property("lastname")
                );
                first_of(&[full.trim(), current.property("email")])
            }
        };
        (name, current.property("hubspot_owner_id").to_owned())
    });
    let owner = match owner_id.parse::<u64>() {
        Ok(id) => {
            let name = match state.owners.directory(change.portal).await {
                Ok(directory) => directory.get(id).map(|o| o.display_name()),
                Err(_) => None,
            };
            json!({"id": owner_id, "name": name})
        }
        Err(_) => Value::Null,
    };
    let scorecard = report_at(state, change, change.changed_at)
        .await
        .and_then(|r| r.scorecard);
    let moved = factors_moved(state, change).await;
    let path = match change.subject {
        Subject::Contact => format!("#/customer/{}", change.subject_id),
        Subject::Company => format!("#/company/{}", change.subject_id),
    };
    json!({
        "type": change.trigger.alert_type(),
        "id": change.alert_id,
        "portal": change.portal.0,
        "subject": {
            "type": change.subject.as_str(),
            "id": change.subject_id.to_string(),
            "name": name,
            "owner": owner,
        },
        "from": {"band": band_name(change.from.0), "score": points(change.from.1)},
        "to": {"band": band_name(change.to.0), "score": points(change.to.1)},
        "factors_moved": moved,
        "scorecard": scorecard,
        "config_version": change.config_version,
        "occurred_at": rfc3339_ms(change.changed_at.timestamp_millis()),
        "dashboard_url": format!("{}/{path}", state.alerts.settings().public_url.trim_end_matches('/')),
    })
}

fn first_of(candidates: &[&str]) -> String {
    candidates
        .iter()
        .find(|c| !c.trim().is_empty())
        .map(|c| c.trim().to_owned())
        .unwrap_or_default()
}

async fn report_at(state: &AppState, change: &Change, at: DateTime<Utc>) -> Option<ScoreReport> {
    let configs = state.configs.load(change.portal).await.ok()?;
    let document = configs.version(change.config_version)?.clone();
    state.scoring.with_portal(change.portal, |objects| {
        Scorer::new(objects, &document, at).explain(change.subject, change.subject_id)
    })
}

/// Factors whose points changed between the previous band and this one, biggest move first.
async fn factors_moved(state: &AppState, change: &Change) -> Vec<Value> {
    let (Some(from_at), Some(now)) = (
        change.from_at,
        report_at(state, change, change.changed_at).await,
    ) else {
        return Vec::new();
    };
    let Some(before) = report_at(state, change, from_at).await else {
        return Vec::new();
    };
    let mut moved: Vec<(Decimal, Value)> = now
        .factors
        .iter()
        .filter_map(|factor| {
            let old = before
                .factors
                .iter()
                .find(|f| f.key == factor.key)
                .and_then(|f| f.contribution);
            let delta = factor.contribution.unwrap_or_default() - old.unwrap_or_default();
            (delta.round_dp(1) != Decimal::ZERO).then(|| {
                (
                    delta,
                    json!({
                        "factor": factor.key,
                        "from_points": points(old),
                        "to_points": points(factor.contribution),
                        "change": points(Some(delta)),
                    }),
                )
            })
        })
        .collect();
    moved.sort_by_key(|m| std::cmp::Reverse(m.0.abs()));
    moved.into_iter().map(|(_, v)| v).collect()
}

/// The Slack message for an alert body: who, what changed, the factor that moved most, a link.
pub fn slack_message(body: &Value) -> Value {
    let subject = &body["subject"];
    let noun = if subject["type"] == "company" {
        "Account"
    } else {
        "Customer"
    };
    let name = subject["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .map_or_else(
            || format!("{noun} {}", subject["id"].as_str().unwrap_or("?")),
            str::to_owned,
        );
    let side = |side: &Value| {
        let band = side["band"].as_str().unwrap_or("no band").replace('_', " ");
        match side["score"].as_f64() {
            Some(score) => format!("{band} ({score:.1})"),
            None => band,
        }
    };
    let verb = match body["type"].as_str() {
        Some("health.band_worsened") => "worsened",
        Some("health.score_dropped") => "dropped",
        _ => "changed",
    };
    let mut text = format!(
        "*{name}* health {verb}: {} → {}",
        side(&body["from"]),
        side(&body["to"])
    );
    if let Some(top) = body["factors_moved"].as_array().and_then(|f| f.first()) {
        text.push_str(&format!(
            "\nBiggest move: {} {:+.1} points",
            top["factor"].as_str().unwrap_or("?").replace('_', " "),
            top["change"].as_f64().unwrap_or_default()
        ));
    }
    if let Some(owner) = subject["owner"]["name"].as_str() {
        text.push_str(&format!("\nOwner: {owner}"));
    }
    let url = body["dashboard_url"].as_str().unwrap_or_default();
    json!({
        "text": text.replace('*', ""),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": format!("{text}\n<{url}|Open in healthscore>")}}
        ]
    })
}
