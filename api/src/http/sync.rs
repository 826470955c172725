//! `POST /sync` starts (or resumes) a HubSpot sync in the background; `GET /sync/runs/{id}`
//! shows a run's progress, from its events.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use healthscore_domain::sync_run::SyncMode;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::auth::Portal;
use super::body::{parse, require_json};
use super::problem::ApiError;
use crate::sync::SyncError;

/// `{"mode": "full" | "incremental" | "history"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncRequest {
    mode: SyncMode,
}

fn refused(error: SyncError) -> ApiError {
    match error {
        SyncError::Busy { run_id, .. } => ApiError::new(
            StatusCode::CONFLICT,
            format!("a sync of this portal is already running: /sync/runs/{run_id}"),
        ),
        // Which portal the token is for is that portal's business, not the caller's.
        SyncError::OtherPortal { .. } => ApiError::new(
            StatusCode::FORBIDDEN,
            "the configured HubSpot token is for another portal than this key's",
        ),
        SyncError::HubSpot(error) => ApiError::new(StatusCode::BAD_GATEWAY, error.to_string()),
        other => ApiError::internal(other),
    }
}

/// `POST /sync`: 202 with the run's id once the run is recorded as started. No body means an
/// incremental sync.
pub async fn start(
    State(state): State<AppState>,
    Portal(portal): Portal,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = if body.is_empty() {
        SyncRequest {
            mode: SyncMode::Incremental,
        }
    } else {
        require_json(&headers)?;
        parse::<SyncRequest>(&body).map_err(|error| {
            let hint = "expected {\"mode\": \"full\" | \"incremental\" | \"history\"}";
            ApiError::new(error.status(), format!("{hint}: {}", error.detail()))
        })?
    };
    let syncer = state.syncer.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "syncing is off: set HUBSPOT_ACCESS_TOKEN (and HUBSPOT_API_BASE for a fake HubSpot)",
        )
    })?;
    let started = syncer
        .begin(request.mode, Some(portal))
        .await
        .map_err(refused)?;
    let location = format!("/sync/runs/{}", started.run_id);
    let body = json!({
        "run_id": started.run_id,
        "portal_id": started.portal.0.to_string(),
        "mode": started.mode,
        "resumed": started.resumed,
        "status_url": location,
    });
    tokio::spawn(async move {
        // The outcome is recorded in the run's events; the log says why it failed.
        let _ = started.run().await;
    });
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(body),
    )
        .into_response())
}

/// `GET /sync/runs/{id}`: the run as its events tell it, with live figures while it runs here.
pub async fn run(
    State(state): State<AppState>,
    Portal(portal): Portal,
    Path(run_id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let run = state
        .sync_runs
        .load(portal, &run_id)
        .await
        .map_err(ApiError::internal)?;
    let view = run
        .view()
        .ok_or_else(|| ApiError::not_found(format!("no sync run {run_id}")))?;
    let mut body = json!({ "run_id": run_id, "portal_id": portal.0.to_string() });
    if let (Some(fields), Ok(serde_json::Value::Object(view))) =
        (body.as_object_mut(), serde_json::to_value(view))
    {
        fields.extend(view);
    }
    let live = state
        .syncer
        .as_ref()
        .map(|s| s.progress().report())
        .filter(|report| report.run_id == run_id);
    if let Some(live) = live {
        body["live"] = json!(live);
    }
    Ok(Json(body))
}
