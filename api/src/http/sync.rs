//! `POST /sync` starts (or resumes) a HubSpot sync in the background; `GET /sync/runs/{id}`
//! shows a run's progress, from its events.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use healthscore_domain::sync_run::{SyncMode, SyncRunView, SyncStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Portal;
use super::body::{parse, require_json};
use super::problem::{ApiError, Problem};
use crate::sync::progress::ProgressReport;

/// What to sync.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"mode": "incremental"}))]
pub struct SyncRequest {
    /// `full` reads every record, `incremental` those changed since the last run, `history`
    /// every record's past values.
    mode: SyncMode,
}

/// A run that started (or resumed).
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncStarted {
    /// The run's id.
    run_id: String,
    /// The portal synced.
    #[schema(example = "62515")]
    portal_id: String,
    /// The mode it runs in (a first incremental sync runs as full).
    mode: SyncMode,
    /// True when it resumes an unfinished run of the same mode.
    resumed: bool,
    /// Where to follow it.
    #[schema(example = "/sync/runs/0193a0c4-5f1e-7c3e-9d1b-2f6f0e4c8a11")]
    status_url: String,
}

/// Starts (or resumes) a HubSpot sync of the key's portal in the background. No body (or
/// `null`) means an incremental sync.
#[utoipa::path(
    post, path = "/sync", tag = "sync",
    request_body(content = Option<SyncRequest>, content_type = "application/json"),
    security(("api_key" = [])),
    responses(
        (status = 202, description = "Started: follow `status_url`", body = SyncStarted,
            headers(("Location" = String, description = "The run's status URL"))),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The HubSpot token is for another portal", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A sync of this portal is already running: `run_id` names it", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The body is not `{\"mode\": ...}`", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "HubSpot failed or refused", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Syncing is off: no HubSpot token is configured", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn start(
    State(state): State<AppState>,
    Portal(portal): Portal,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    // No body, or JSON's null, asks for nothing in particular: an incremental sync.
    let request = if body.is_empty() || body.trim_ascii() == b"null" {
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
    let syncer = state.syncer_for(portal).await?;
    let started = syncer.begin(request.mode, Some(portal)).await?;
    let location = format!("/sync/runs/{}", started.run_id);
    let body = SyncStarted {
        run_id: started.run_id.clone(),
        portal_id: started.portal.0.to_string(),
        mode: started.mode,
        resumed: started.resumed,
        status_url: location.clone(),
    };
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

/// A sync run's id.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RunPath {
    /// The run's id, as `POST /sync` gave it.
    id: String,
}

/// A sync run as its events tell it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunResponse {
    /// The run's id.
    run_id: String,
    /// The portal synced.
    #[schema(example = "62515")]
    portal_id: String,
    #[serde(flatten)]
    view: SyncRunView,
    /// This process's live figures, only while the run runs here.
    #[serde(skip_serializing_if = "Option::is_none")]
    live: Option<ProgressReport>,
}

/// A sync run: status, totals and per-type progress, with live figures while it runs.
#[utoipa::path(
    get, path = "/sync/runs/{id}", tag = "sync",
    params(RunPath),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The run", body = RunResponse),
        (status = 404, description = "No such run in this portal", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn run(
    State(state): State<AppState>,
    Portal(portal): Portal,
    Path(RunPath { id: run_id }): Path<RunPath>,
) -> Result<Json<RunResponse>, ApiError> {
    let run = state.sync_runs.load(portal, &run_id).await?;
    let view = run
        .view()
        .ok_or_else(|| ApiError::not_found(format!("no sync run {run_id}")))?;
    let syncer = match view.status {
        SyncStatus::Running => state.syncer_for(portal).await.ok(),
        _ => None,
    };
    let live = syncer
        .map(|s| s.progress().report())
        .filter(|report| report.run_id == run_id);
    Ok(Json(RunResponse {
        run_id,
        portal_id: portal.0.to_string(),
        view: view.clone(),
        live,
    }))
}

/// `?limit=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    /// How many runs, 1 to 50 (10 by default).
    #[param(minimum = 1, maximum = 50, example = 10)]
    limit: Option<u32>,
}

/// The portal's sync connection and its recent runs.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunList {
    /// True when the portal is connected (or the server has a token for it), so `POST /sync`
    /// can start runs.
    syncing: bool,
    /// Newest first.
    runs: Vec<RunResponse>,
}

/// Whether syncing is on, and the portal's recent sync runs, newest first.
#[utoipa::path(
    get, path = "/sync/runs", tag = "sync",
    params(RunsQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Recent runs", body = RunList),
        (status = 400, description = "A bad `limit`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn runs(
    State(state): State<AppState>,
    Portal(portal): Portal,
    super::query::ApiQuery(query): super::query::ApiQuery<RunsQuery>,
) -> Result<Json<RunList>, ApiError> {
    let limit = super::query::limit(query.limit, 10, 50)?;
    let syncer = state.syncer_for(portal).await.ok();
    let live = syncer.as_ref().map(|s| s.progress().report());
    let runs = state
        .sync_runs
        .recent(portal, i64::from(limit))
        .await?
        .into_iter()
        .filter_map(|(run_id, run)| {
            let view = run.view()?.clone();
            let live = live
                .clone()
                .filter(|report| report.run_id == run_id && view.status == SyncStatus::Running);
            Some(RunResponse {
                run_id,
                portal_id: portal.0.to_string(),
                view,
                live,
            })
        })
        .collect();
    Ok(Json(RunList {
        syncing: syncer.is_some(),
        runs,
    }))
}
