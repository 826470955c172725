//! `GET`/`PUT /connections/{portal}/writeback`: whether the portal's scores are written back
//! to its HubSpot records, and how the last pass went. A portal's own key manages its own
//! portal; another portal's id answers 404.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use healthscore_domain::ids::PortalId;
use healthscore_domain::time::rfc3339_ms;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::AppState;
use super::auth::PortalKey;
use super::body::JsonBytes;
use super::connections::PortalPath;
use super::problem::{ApiError, FieldProblem, Problem};
use crate::writeback::PassReport;

/// What `PUT .../writeback` takes.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the body; the handler reads it field by field for its 422s
pub struct WritebackInput {
    /// On or off.
    enabled: bool,
}

/// A portal's write-back setting and its last pass.
#[derive(Debug, Serialize, ToSchema)]
pub struct WritebackView {
    /// Whether scores are written back.
    enabled: bool,
    /// When it was last turned on or off.
    #[schema(format = DateTime)]
    since: Option<String>,
    /// This server's last pass for the portal (null before one ran).
    last_pass: Option<PassReport>,
    /// With `PUT` turning it on: the pass asked for; a `last_pass` whose `covers_request` is
    /// at least this started after the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pass_requested: Option<u64>,
}

fn own(key: &PortalKey, portal: u64) -> Result<PortalId, ApiError> {
    if key.portal.0 == portal {
        Ok(key.portal)
    } else {
        Err(ApiError::not_found(format!(
            "no portal {portal} for this key"
        )))
    }
}

async fn view(state: &AppState, portal: PortalId) -> Result<WritebackView, ApiError> {
    let setting = state
        .writebacks
        .setting(portal)
        .await
        .map_err(ApiError::internal)?;
    Ok(WritebackView {
        enabled: setting.enabled(),
        since: setting.since().map(|t| rfc3339_ms(t.timestamp_millis())),
        last_pass: state.writebacks.last_pass(portal),
        pass_requested: None,
    })
}

/// The portal's write-back setting and how its last pass went.
#[utoipa::path(
    get, path = "/connections/{portal}/writeback", tag = "connections",
    params(PortalPath),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The setting", body = WritebackView),
        (status = 404, description = "Not this key's portal", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    key: PortalKey,
    Path(path): Path<PortalPath>,
) -> Result<Json<WritebackView>, ApiError> {
    let portal = own(&key, path.portal)?;
    Ok(Json(view(&state, portal).await?))
}

/// Turns write-back on (a pass starts at once: the `healthscore` group and properties are
/// created, then every score is written) or off.
#[utoipa::path(
    put, path = "/connections/{portal}/writeback", tag = "connections",
    params(PortalPath),
    request_body(content = WritebackInput, content_type = "application/json"),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The setting now", body = WritebackView),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not this key's portal", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`errors` names the bad field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put(
    State(state): State<AppState>,
    key: PortalKey,
    Path(path): Path<PortalPath>,
    JsonBytes(body): JsonBytes,
) -> Result<Json<WritebackView>, ApiError> {
    let portal = own(&key, path.portal)?;
    let document: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    let fields = document.as_object();
    let enabled = fields
        .and_then(|f| f.get("enabled"))
        .and_then(Value::as_bool);
    let unknown = fields.is_some_and(|f| f.keys().any(|k| k != "enabled"));
    let Some(enabled) = enabled.filter(|_| !unknown) else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the write-back setting is invalid",
        )
        .with_errors([FieldProblem {
            field: "enabled".to_owned(),
            message: "required, and the only field: true or false".to_owned(),
        }]));
    };
    state
        .writebacks
        .set(portal, enabled, key.name, Utc::now())
        .await
        .map_err(ApiError::internal)?;
    // On (again): the worker runs a pass now.
    let requested = enabled.then(|| state.writebacks.request_pass());
    let mut view = view(&state, portal).await?;
    view.pass_requested = requested;
    Ok(Json(view))
}
