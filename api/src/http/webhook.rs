//! `POST /webhooks/hubspot`: verified, deduplicated, durable.
//!
//! The signature is checked over the raw body bytes before anything is parsed; 2xx is answered
//! only after every event of the delivery is committed, in one transaction.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use healthscore_domain::crm_object::commands_for;
use healthscore_domain::hubspot::{SignedRequest, WebhookEvent, parse_delivery, verify};
use healthscore_domain::ids::PortalId;
use healthscore_projections::NewEvent;
use healthscore_projections::recorder::Message;
use serde::Serialize;

use super::AppState;
use super::problem::{ApiError, Problem};

/// The largest delivery accepted (HubSpot sends at most 100 events).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The stream type of webhook events the engine does not model (tickets, conversations...).
pub const UNHANDLED_STREAM: &str = "unhandled_webhook";

/// The answer to an accepted delivery.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryReceipt {
    /// Events in the delivery.
    pub received: usize,
    /// Events recorded before (retries, duplicates) and skipped.
    pub duplicates: usize,
    /// Domain events appended to the log.
    pub recorded: usize,
}

/// A HubSpot webhook delivery: verified by its signature (v1, v2 or v3) over the raw body,
/// deduplicated, and answered 200 only once every event is durably recorded.
#[utoipa::path(
    post, path = "/webhooks/hubspot", tag = "webhooks",
    request_body(content = Vec<Object>, content_type = "application/json",
        description = "HubSpot's array of events (at most 100)"),
    params(
        ("X-HubSpot-Signature-v3" = Option<String>, Header, description = "Base64 HMAC-SHA256 of method, URL, body and timestamp"),
        ("X-HubSpot-Request-Timestamp" = Option<String>, Header, description = "Epoch ms; v3 signatures older than 5 minutes are refused"),
        ("X-HubSpot-Signature" = Option<String>, Header, description = "v1/v2 signature (hex SHA-256)"),
        ("X-HubSpot-Signature-Version" = Option<String>, Header, description = "`v1` or `v2`"),
    ),
    responses(
        (status = 200, description = "Every event is recorded (or was before)", body = DeliveryReceipt),
        (status = 400, description = "The body is not a delivery (malformed, empty, over 100 events)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid signature", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is over 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Webhooks are not configured, or the log cannot record now (retry)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn receive(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<DeliveryReceipt>), ApiError> {
    let secrets = &state.webhook.secrets;
    if secrets.is_empty() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "webhooks are not configured: set HUBSPOT_CLIENT_SECRET to your app's client secret",
        ));
    }
    let url = public_url(state.webhook.public_url.as_deref(), &headers, &uri);
    let header = |name: &'static str| headers.get(name).and_then(|v| v.to_str().ok());
    let request = SignedRequest::from_headers(method.as_str(), &url, &body, header);
    let secret_bytes: Vec<&[u8]> = secrets.iter().map(|s| s.expose().as_bytes()).collect();
    let now_ms = chrono::Utc::now().timestamp_millis();
    let delivery = |outcome: &'static str| {
        metrics::counter!("healthscore_webhook_deliveries_total", "outcome" => outcome)
            .increment(1);
    };
    if let Err(error) = verify(&request, &secret_bytes, now_ms) {
        tracing::warn!(%error, "webhook signature refused");
        delivery("refused_signature");
        return Err(ApiError::unauthorized(error.to_string()));
    }
    let events = parse_delivery(&body).map_err(|e| {
        delivery("refused_body");
        ApiError::bad_request(e.to_string())
    })?;
    let messages: Vec<Message> = events.iter().map(message_for).collect();
    let started = std::time::Instant::now();
    let recorded = state.recorder.record(messages).await.map_err(|error| {
        delivery("unavailable");
        ApiError::from(error)
    })?;
    metrics::histogram!("healthscore_webhook_ingest_seconds")
        .record(started.elapsed().as_secs_f64());
    delivery("recorded");
    // Webhook events, like `duplicate`: one association change is two domain events.
    metrics::counter!("healthscore_webhook_events_total", "outcome" => "recorded")
        .increment(events.len().saturating_sub(recorded.duplicates) as u64);
    metrics::counter!("healthscore_webhook_events_total", "outcome" => "duplicate")
        .increment(recorded.duplicates as u64);
    tracing::debug!(
        events = events.len(),
        recorded = recorded.events,
        "delivery recorded"
    );
    Ok((
        StatusCode::OK,
        Json(DeliveryReceipt {
            received: events.len(),
            duplicates: recorded.duplicates,
            recorded: recorded.events,
        }),
    ))
}

/// The URL HubSpot called: `HEALTHSCORE_PUBLIC_URL` + path and query, else `http://` + Host.
fn public_url(base: Option<&str>, headers: &HeaderMap, uri: &Uri) -> String {
    let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
    match base {
        Some(base) => format!("{}{path}", base.trim_end_matches('/')),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("");
            format!("http://{host}{path}")
        }
    }
}

/// What every event recorded from a webhook carries besides its payload.
#[derive(Serialize)]
struct WebhookMetadata<'a> {
    source: &'static str,
    subscription_type: &'a str,
    event_id: Option<u64>,
    subscription_id: Option<u64>,
    change_source: Option<&'a str>,
    attempt_number: Option<u32>,
}

impl<'a> WebhookMetadata<'a> {
    fn of(event: &'a WebhookEvent) -> Self {
        Self {
            source: "webhook",
            subscription_type: &event.subscription_type,
            event_id: event.event_id,
            subscription_id: event.subscription_id,
            change_source: event.change_source.as_deref(),
            attempt_number: event.attempt_number,
        }
    }
}

/// One webhook event as a message: its commands, or the raw event when the engine has no
/// model for it (never refused: HubSpot would retry a 4xx for a day).
fn message_for(event: &WebhookEvent) -> Message {
    let key = event.inbox_key();
    let metadata =
        serde_json::to_string(&WebhookMetadata::of(event)).expect("plain fields always serialize");
    let commands = commands_for(event);
    let raw_events = if commands.is_empty() {
        vec![unhandled(event, &key, metadata.clone())]
    } else {
        vec![]
    };
    Message {
        dedup_key: Some(key.to_vec()),
        commands,
        metadata,
        raw_events,
    }
}

fn unhandled(event: &WebhookEvent, key: &[u8], metadata: String) -> NewEvent {
    NewEvent {
        stream_id: format!(
            "{}/unhandled/{}",
            PortalId(event.portal_id),
            hex::encode(key)
        ),
        stream_type: UNHANDLED_STREAM.to_string(),
        sequence: 1,
        event_type: "UnhandledWebhookReceived".to_string(),
        event_version: "1".to_string(),
        payload: event.raw.to_string(),
        metadata,
        occurred_at: event.occurred_at_ms,
    }
}
