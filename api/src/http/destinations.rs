//! `/alerts/destinations`: where alerts go. A webhook's signing secret is answered once, when
//! it is created; listings show a URL's scheme and host only.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use healthscore_domain::alerts::DestinationKind;
use healthscore_domain::time::rfc3339_ms;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Portal;
use super::body::JsonBytes;
use super::problem::{ApiError, FieldProblem, Problem};
use crate::alerts::deliver;

/// The largest destination body read.
pub const MAX_DESTINATION_BYTES: usize = 8 * 1024;

/// What `POST /alerts/destinations` takes.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the body; the handler reads it field by field for its 422s
pub struct DestinationInput {
    /// `webhook` (signed per Standard Webhooks) or `slack` (an incoming-webhook URL).
    kind: DestinationKind,
    /// An absolute http(s) URL.
    #[schema(example = "https://hooks.example.com/healthscore")]
    url: String,
    /// A name for people (at most 200 characters).
    #[schema(example = "CS escalations")]
    name: Option<String>,
}

/// A destination just created.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedDestination {
    /// Its id: rules name it as `destination`.
    #[schema(example = "dst_8c1d2e3f4a5b6c7d")]
    id: String,
    /// `webhook` or `slack`.
    kind: DestinationKind,
    /// Its name.
    name: String,
    /// The signing secret (`whsec_...`) for verifying `webhook-signature`: shown this once.
    /// Null for Slack.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    secret: Option<String>,
}

/// A destination as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct DestinationView {
    /// Its id.
    id: String,
    /// `webhook` or `slack`.
    kind: DestinationKind,
    /// Its name.
    name: String,
    /// Scheme and host only.
    #[schema(example = "https://hooks.example.com/…")]
    url: String,
    /// When it was created.
    #[schema(format = DateTime)]
    created_at: String,
}

/// Every destination of the portal.
#[derive(Debug, Serialize, ToSchema)]
pub struct DestinationList {
    /// Oldest first.
    destinations: Vec<DestinationView>,
}

/// `{id}` of a destination.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DestinationPath {
    /// The destination id.
    #[param(example = "dst_8c1d2e3f4a5b6c7d")]
    id: String,
}

/// How a test call went.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestOutcome {
    /// Whether the receiver answered 2xx.
    delivered: bool,
    /// Its HTTP status, when it answered.
    status: Option<u16>,
    /// Why it failed.
    error: Option<String>,
}

/// Creates a destination.
#[utoipa::path(
    post, path = "/alerts/destinations", tag = "alerts",
    request_body(content = DestinationInput, content_type = "application/json"),
    security(("api_key" = [])),
    responses(
        (status = 201, description = "Created: the secret is shown this once", body = CreatedDestination),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is over 8 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`errors` names each bad field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Portal(portal): Portal,
    JsonBytes(body): JsonBytes,
) -> Result<Response, ApiError> {
    let (kind, url, name) = parse_input(&body)?;
    let (id, secret) = state
        .alerts
        .add_destination(portal, kind, name.clone(), &url, Utc::now())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedDestination {
            id,
            kind,
            name,
            secret,
        }),
    )
        .into_response())
}

/// Every destination of the portal (no secrets, URLs shortened).
#[utoipa::path(
    get, path = "/alerts/destinations", tag = "alerts",
    security(("api_key" = [])),
    responses((status = 200, description = "The destinations", body = DestinationList))
)]
pub async fn list(
    State(state): State<AppState>,
    Portal(portal): Portal,
) -> Result<Json<DestinationList>, ApiError> {
    let destinations = state
        .alerts
        .destinations(portal)
        .await?
        .into_iter()
        .map(|d| DestinationView {
            id: d.id,
            kind: d.added.kind,
            name: d.added.name,
            url: d.added.url_shown,
            created_at: rfc3339_ms(d.added.added_at.timestamp_millis()),
        })
        .collect();
    Ok(Json(DestinationList { destinations }))
}

/// Deletes a destination no rule uses.
#[utoipa::path(
    delete, path = "/alerts/destinations/{id}", tag = "alerts",
    params(DestinationPath),
    security(("api_key" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such destination", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A rule sends to it: change the rules first", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Portal(portal): Portal,
    Path(DestinationPath { id }): Path<DestinationPath>,
) -> Result<Response, ApiError> {
    if state.alerts.destination(portal, &id).await?.is_none() {
        return Err(ApiError::not_found(format!("no destination {id}")));
    }
    let rules = state.alerts.rules(portal).await?;
    if let Some(rule) = rules.rules().iter().find(|r| r.destination == id) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "rule {} sends to destination {id}: change the rules first",
                rule.id
            ),
        ));
    }
    state
        .alerts
        .remove_destination(portal, &id, Utc::now())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Sends a test alert (`type: health.test`) to a destination now and says how it went. Nothing
/// is recorded.
#[utoipa::path(
    post, path = "/alerts/destinations/{id}/test", tag = "alerts",
    params(DestinationPath),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The call was made: whether it was taken", body = TestOutcome),
        (status = 404, description = "No such destination", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn test(
    State(state): State<AppState>,
    Portal(portal): Portal,
    Path(DestinationPath { id }): Path<DestinationPath>,
) -> Result<Json<TestOutcome>, ApiError> {
    let added = state
        .alerts
        .destination(portal, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no destination {id}")))?;
    let opened = state.alerts.open(portal, &added)?;
    let message_id = format!("msg_test_{}", hex::encode(rand::random::<[u8; 8]>()));
    let body = json!({
        "type": "health.test",
        "id": message_id,
        "portal": portal.0,
        "subject": {"type": "contact", "id": "0", "name": "Test customer", "owner": null},
        "from": {"band": "healthy", "score": 75.0},
        "to": {"band": "at_risk", "score": 55.0},
        "factors_moved": [],
        "config_version": 0,
        "occurred_at": rfc3339_ms(Utc::now().timestamp_millis()),
        "dashboard_url": state.alerts.settings().public_url,
    });
    let outcome = deliver::send(&state.alerts, &opened, &message_id, &body.to_string()).await;
    Ok(Json(TestOutcome {
        delivered: outcome.error.is_none(),
        status: outcome.status,
        error: outcome.error,
    }))
}

/// `{"kind", "url", "name"}` checked field by field.
fn parse_input(body: &[u8]) -> Result<(DestinationKind, reqwest::Url, String), ApiError> {
    let document: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    let problem = |field: &str, message: &str| FieldProblem {
        field: field.to_owned(),
        message: message.to_owned(),
    };
    let invalid = |errors: Vec<FieldProblem>| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the destination is invalid",
        )
        .with_errors(errors)
    };
    let Value::Object(fields) = document else {
        return Err(invalid(vec![problem(
            "",
            "expected an object {\"kind\", \"url\", \"name\"}",
        )]));
    };
    let mut errors: Vec<FieldProblem> = fields
        .keys()
        .filter(|k| !["kind", "url", "name"].contains(&k.as_str()))
        .map(|k| problem(k, "unknown field: expected kind, url and name"))
        .collect();
    let kind = match fields.get("kind").and_then(Value::as_str) {
        Some("webhook") => Some(DestinationKind::Webhook),
        Some("slack") => Some(DestinationKind::Slack),
        _ => {
            errors.push(problem("kind", "required: webhook or slack"));
            None
        }
    };
    let url = fields
        .get("url")
        .and_then(Value::as_str)
        .and_then(|u| reqwest::Url::parse(u).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    let url = match url {
        Some(url) if url.as_str().len() <= 2048 => Some(url),
        _ => {
            errors.push(problem(
                "url",
                "required: an absolute http(s) URL, at most 2,048 bytes",
            ));
            None
        }
    };
    let name = match fields.get("name") {
        None | Some(Value::Null) => Some(String::new()),
        Some(Value::String(name)) if name.chars().count() <= 200 => Some(name.trim().to_owned()),
        Some(_) => {
            errors.push(problem(
                "name",
                "expected a string of at most 200 characters",
            ));
            None
        }
    };
    match (kind, url, name) {
        (Some(kind), Some(url), Some(name)) if errors.is_empty() => {
            let name = if name.is_empty() {
                format!(
                    "{} destination",
                    fields["kind"].as_str().unwrap_or_default()
                )
            } else {
                name
            };
            Ok((kind, url, name))
        }
        _ => Err(invalid(errors)),
    }
}
