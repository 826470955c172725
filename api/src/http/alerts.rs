//! `/alerts/rules` (versioned, with `ETag` / `If-Match`), `GET /alerts`, `GET /alerts/{id}` and
//! `POST /alerts/{id}/retry`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use healthscore_domain::alerts::{AlertCommand, AlertEvent, AlertRule, AlertRules, parse_rules};
use healthscore_domain::ids::PortalId;
use healthscore_domain::time::rfc3339_ms;
use healthscore_projections::alerts::{self as table, AlertRow};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Portal;
use super::body::JsonBytes;
use super::config::parse_if_match;
use super::problem::{ApiError, FieldProblem, Problem};
use super::query::ApiQuery;

/// The largest rules document read.
pub const MAX_RULES_BYTES: usize = 64 * 1024;
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;

/// A portal's rules and their version (also the `ETag`).
#[derive(Debug, Serialize, ToSchema)]
pub struct RulesView {
    /// 1 before any rules were set.
    version: u32,
    /// When this version was set (null for version 1).
    #[schema(format = DateTime)]
    updated_at: Option<String>,
    /// The rules in force.
    rules: Vec<AlertRule>,
}

/// What `PUT /alerts/rules` takes.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the body; the handler validates it field by field for its 422s
pub struct RulesInput {
    /// Every rule (at most 100): each replaces what was there.
    #[schema(example = json!([{"on": "band_worsened", "subject": "contact", "destination": "dst_8c1d2e3f4a5b6c7d", "cooldown_hours": 24}]))]
    rules: Vec<Value>,
}

fn rules_response(rules: &AlertRules) -> Response {
    let view = RulesView {
        version: rules.version(),
        updated_at: rules
            .replaced_at()
            .map(|t| rfc3339_ms(t.timestamp_millis())),
        rules: rules.rules().to_vec(),
    };
    let mut response = Json(view).into_response();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", rules.version())) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

/// The portal's alert rules; the version is the `ETag`.
#[utoipa::path(
    get, path = "/alerts/rules", tag = "alerts",
    security(("api_key" = [])),
    responses((status = 200, description = "The rules in force", body = RulesView,
        headers(("ETag" = String, description = "The version, quoted: send it back as If-Match"))))
)]
pub async fn get_rules(
    State(state): State<AppState>,
    Portal(portal): Portal,
) -> Result<Response, ApiError> {
    Ok(rules_response(&state.alerts.rules(portal).await?))
}

/// Replaces the portal's alert rules. A rule fires only for changes recorded after it was set.
#[utoipa::path(
    put, path = "/alerts/rules", tag = "alerts",
    request_body(content = RulesInput, content_type = "application/json"),
    params(("If-Match" = Option<String>, Header, description = "The version this replaces (its ETag)")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Stored: the rules and their new version", body = RulesView),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`errors` names each bad field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put_rules(
    State(state): State<AppState>,
    Portal(portal): Portal,
    headers: HeaderMap,
    JsonBytes(body): JsonBytes,
) -> Result<Response, ApiError> {
    let document: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    let invalid = |errors: Vec<FieldProblem>| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the alert rules are invalid",
        )
        .with_errors(errors)
    };
    let rules = parse_rules(&document).map_err(|problems| {
        invalid(
            problems
                .into_iter()
                .map(|p| FieldProblem {
                    field: p.field,
                    message: p.message,
                })
                .collect(),
        )
    })?;
    let mut unknown = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        if state
            .alerts
            .destination(portal, &rule.destination)
            .await?
            .is_none()
        {
            unknown.push(FieldProblem {
                field: format!("rules[{i}].destination"),
                message: format!("no destination {} in this portal", rule.destination),
            });
        }
    }
    if !unknown.is_empty() {
        return Err(invalid(unknown));
    }
    let expected = match headers.get(header::IF_MATCH) {
        Some(value) => parse_if_match(value)?,
        None => None,
    };
    let stored = state
        .alerts
        .replace_rules(portal, rules, expected, Utc::now())
        .await?;
    Ok(rules_response(&stored))
}

/// An alert and where its delivery stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertView {
    /// The id (also the `webhook-id` every attempt sends).
    #[schema(example = "msg_5f2b1c0d9e8a7b6c5d4e3f2a")]
    id: String,
    /// `health.band_worsened`, `health.band_changed` or `health.score_dropped`.
    #[serde(rename = "type")]
    alert_type: String,
    /// `contact` or `company`.
    subject_type: String,
    /// The subject's HubSpot id.
    subject_id: String,
    /// The rule that fired.
    rule: String,
    /// The destination it goes to.
    destination: String,
    /// `pending`, `sending`, `delivered` or `failed`.
    state: String,
    /// Attempts made.
    attempts: i64,
    /// When the next attempt is due (pending), else null.
    #[schema(format = DateTime)]
    next_attempt_at: Option<String>,
    /// The last failed attempt's HTTP status.
    last_status: Option<i64>,
    /// The last failed attempt's reason.
    last_error: Option<String>,
    /// When the change it reports happened.
    #[schema(format = DateTime)]
    changed_at: String,
    /// When it was decided.
    #[schema(format = DateTime)]
    raised_at: String,
    /// When it was delivered.
    #[schema(format = DateTime)]
    delivered_at: Option<String>,
}

impl From<AlertRow> for AlertView {
    fn from(row: AlertRow) -> Self {
        let time = |ms: i64| rfc3339_ms(ms);
        Self {
            id: row.alert_id,
            alert_type: row.alert_type,
            subject_type: row.subject_type,
            subject_id: row.subject_id.to_string(),
            rule: row.rule_id,
            destination: row.destination_id,
            state: row.state,
            attempts: row.attempts,
            next_attempt_at: row.next_attempt_at.map(time),
            last_status: row.last_status,
            last_error: row.last_error,
            changed_at: time(row.changed_at),
            raised_at: time(row.raised_at),
            delivered_at: row.delivered_at.map(time),
        }
    }
}

/// `?state=&limit=&cursor=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertsQuery {
    /// Only alerts in this state.
    #[param(example = "failed")]
    state: Option<AlertState>,
    /// Alerts per page, 1 to 200 (50 by default).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `next_cursor` of the page before.
    cursor: Option<String>,
}

/// A delivery state to filter by.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// Waiting for an attempt.
    Pending,
    /// An attempt is in flight.
    Sending,
    /// Taken by the receiver.
    Delivered,
    /// Every attempt failed.
    Failed,
}

impl AlertState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }
}

/// A page of alerts, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertPage {
    /// Newest first.
    alerts: Vec<AlertView>,
    /// Pass as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

/// The portal's alerts with their delivery state, newest first.
#[utoipa::path(
    get, path = "/alerts", tag = "alerts",
    params(AlertsQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "A page of alerts", body = AlertPage),
        (status = 400, description = "A bad `state`, `limit` or `cursor`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Portal(portal): Portal,
    ApiQuery(query): ApiQuery<AlertsQuery>,
) -> Result<Json<AlertPage>, ApiError> {
    let limit = super::query::limit(query.limit, DEFAULT_PAGE, MAX_PAGE)?;
    let cursor = query.cursor.as_deref().map(parse_cursor).transpose()?;
    let mut rows = table::page(
        state.store.db(),
        portal_key(portal),
        query.state.map(AlertState::as_str),
        cursor.as_ref().map(|(at, id)| (*at, id.as_str())),
        i64::from(limit) + 1,
    )
    .await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = more
        .then(|| {
            rows.last()
                .map(|r| format!("{}.{}", r.raised_at, r.alert_id))
        })
        .flatten();
    Ok(Json(AlertPage {
        alerts: rows.into_iter().map(AlertView::from).collect(),
        next_cursor,
    }))
}

fn parse_cursor(text: &str) -> Result<(i64, String), ApiError> {
    let bad = || {
        ApiError::bad_field(
            "cursor",
            format!("cursor {text:?} is not one this API gave"),
            "pass next_cursor from the previous page",
        )
    };
    let (at, id) = text.split_once('.').ok_or_else(bad)?;
    let valid_id = id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    match at.parse() {
        Ok(at) if valid_id => Ok((at, id.to_owned())),
        _ => Err(bad()),
    }
}

fn portal_key(portal: PortalId) -> i64 {
    i64::try_from(portal.0).unwrap_or(i64::MAX)
}

/// `{id}` of an alert.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AlertPath {
    /// The alert id.
    #[param(example = "msg_5f2b1c0d9e8a7b6c5d4e3f2a")]
    id: String,
}

/// One attempt to deliver an alert.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    /// 1, 2, ...
    attempt: u32,
    /// When it was made.
    #[schema(format = DateTime)]
    started_at: String,
    /// `delivered`, `failed`, or `in_flight` while it has no outcome.
    outcome: &'static str,
    /// The receiver's status, when it answered.
    status: Option<u16>,
    /// Why it failed.
    error: Option<String>,
}

/// An alert with its body and every attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertDetail {
    /// Where it stands.
    #[serde(flatten)]
    alert: AlertView,
    /// The JSON body every attempt sends.
    #[schema(value_type = Object)]
    payload: Value,
    /// Every attempt, oldest first.
    attempt_log: Vec<AttemptView>,
}

/// One alert, its body and every delivery attempt.
#[utoipa::path(
    get, path = "/alerts/{id}", tag = "alerts",
    params(AlertPath),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The alert", body = AlertDetail),
        (status = 404, description = "No such alert in this portal", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Portal(portal): Portal,
    Path(AlertPath { id }): Path<AlertPath>,
) -> Result<Json<AlertDetail>, ApiError> {
    let row = found(&state, portal, &id).await?;
    let events = state.store.read_stream(&row.stream_id, 0).await?;
    let mut payload = Value::Null;
    let mut attempts: Vec<AttemptView> = Vec::new();
    for recorded in events {
        let Ok(event) = serde_json::from_str::<AlertEvent>(&recorded.event.payload) else {
            continue;
        };
        match event {
            AlertEvent::AlertRaised(raised) => {
                payload = serde_json::from_str(&raised.body).unwrap_or(Value::Null);
            }
            AlertEvent::DeliveryAttempted {
                attempt,
                started_at,
            } => attempts.push(AttemptView {
                attempt,
                started_at: rfc3339_ms(started_at.timestamp_millis()),
                outcome: "in_flight",
                status: None,
                error: None,
            }),
            AlertEvent::DeliverySucceeded {
                attempt, status, ..
            } => {
                if let Some(a) = attempts.iter_mut().find(|a| a.attempt == attempt) {
                    a.outcome = "delivered";
                    a.status = Some(status);
                }
            }
            AlertEvent::DeliveryFailed {
                attempt,
                status,
                error,
                ..
            } => {
                if let Some(a) = attempts.iter_mut().find(|a| a.attempt == attempt) {
                    a.outcome = "failed";
                    a.status = status;
                    a.error = Some(error);
                }
            }
            AlertEvent::RetryRequested { .. } => {}
        }
    }
    Ok(Json(AlertDetail {
        alert: row.into(),
        payload,
        attempt_log: attempts,
    }))
}

async fn found(state: &AppState, portal: PortalId, id: &str) -> Result<AlertRow, ApiError> {
    table::by_id(state.store.db(), portal_key(portal), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no alert {id}")))
}

/// Tries a failed (or waiting) alert again now, for another round of attempts.
#[utoipa::path(
    post, path = "/alerts/{id}/retry", tag = "alerts",
    params(AlertPath),
    security(("api_key" = [])),
    responses(
        (status = 202, description = "Due now: the alerter makes the attempt"),
        (status = 404, description = "No such alert in this portal", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Delivered already, or an attempt is in flight", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn retry(
    State(state): State<AppState>,
    Portal(portal): Portal,
    Path(AlertPath { id }): Path<AlertPath>,
) -> Result<Response, ApiError> {
    let row = found(&state, portal, &id).await?;
    let window = chrono::Duration::from_std(state.alerts.settings().retry_for).unwrap_or_default();
    state
        .alerts
        .execute(
            &row.stream_id,
            AlertCommand::Retry {
                at: Utc::now(),
                window,
            },
        )
        .await?;
    Ok(StatusCode::ACCEPTED.into_response())
}
