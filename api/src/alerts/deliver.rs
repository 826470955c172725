//! One delivery attempt: claimed in the log first (of several instances one calls), then the
//! call, then its outcome with the next attempt's time.

use chrono::Utc;
use healthscore_domain::alerts::{AlertCommand, DestinationKind, retry_delay};
use healthscore_domain::ids::PortalId;
use serde_json::Value;

use super::{AlertError, Alerts, AlertsError, Opened, payload, signing};

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The receiver's status, when it answered.
    pub status: Option<u16>,
    /// Why it failed; `None` when the receiver took it (2xx).
    pub error: Option<String>,
}

/// Calls `destination` with `body` as alert `id`.
pub async fn send(alerts: &Alerts, destination: &Opened, id: &str, body: &str) -> Outcome {
    let request = match destination.kind {
        DestinationKind::Webhook => {
            let timestamp = Utc::now().timestamp();
            let secret = destination.secret.as_deref().unwrap_or_default();
            alerts
                .http()
                .post(&destination.url)
                .header("content-type", "application/json")
                .header("webhook-id", id)
                .header("webhook-timestamp", timestamp.to_string())
                .header(
                    "webhook-signature",
                    signing::sign(secret, id, timestamp, body),
                )
                .body(body.to_owned())
        }
        DestinationKind::Slack => {
            let message = serde_json::from_str::<Value>(body)
                .map(|b| payload::slack_message(&b))
                .unwrap_or_default();
            alerts.http().post(&destination.url).json(&message)
        }
    };
    match request.send().await {
        Ok(response) if response.status().is_success() => Outcome {
            status: Some(response.status().as_u16()),
            error: None,
        },
        Ok(response) => Outcome {
            status: Some(response.status().as_u16()),
            error: Some(format!("the receiver answered {}", response.status())),
        },
        // Without the URL: a Slack URL is a credential.
        Err(error) => Outcome {
            status: None,
            error: Some(format!("the call failed: {}", error.without_url())),
        },
    }
}

/// Makes the due attempt of the alert on `stream`, if it is still due and no other instance
/// claimed it; whether an attempt was made.
pub async fn attempt(alerts: &Alerts, portal: PortalId, stream: &str) -> Result<bool, AlertsError> {
    let settings = alerts.settings();
    let claim = AlertCommand::StartAttempt {
        at: Utc::now(),
        stale_after: settings.stale_after(),
    };
    match alerts.execute(stream, claim).await {
        Ok(()) => {}
        Err(AlertsError::Alert(AlertError::NotDue) | AlertsError::Concurrent) => return Ok(false),
        Err(other) => return Err(other),
    }
    let alert = alerts.alert(stream).await?;
    let Some(raised) = alert.raised().cloned() else {
        return Ok(false);
    };
    let outcome = match alerts.destination(portal, &raised.destination).await? {
        Some(added) => match alerts.open(portal, &added) {
            Ok(opened) => send(alerts, &opened, &raised.alert_id, &raised.body).await,
            Err(error) => Outcome {
                status: None,
                error: Some(error.to_string()),
            },
        },
        None => Outcome {
            status: None,
            error: Some(format!("destination {} was deleted", raised.destination)),
        },
    };
    let now = Utc::now();
    let delay = retry_delay(
        alert.attempts(),
        chrono::Duration::from_std(settings.retry_base).unwrap_or_default(),
        chrono::Duration::from_std(settings.retry_cap).unwrap_or_default(),
        rand::random::<f64>(),
    );
    if let Some(error) = &outcome.error {
        tracing::info!(alert = raised.alert_id, attempt = alert.attempts(), %error, "alert delivery failed");
    }
    let finish = AlertCommand::Finish {
        attempt: alert.attempts(),
        status: outcome.status,
        error: outcome.error,
        at: now,
        retry_at: Some(now + delay),
    };
    match alerts.execute(stream, finish).await {
        // A stale claim taken over by another instance: its outcome counts.
        Ok(()) | Err(AlertsError::Alert(AlertError::NotInFlight(_)) | AlertsError::Concurrent) => {
            Ok(true)
        }
        Err(other) => Err(other),
    }
}
