//! `GET`/`PUT /scoring/config` (with `ETag` / `If-Match`) and `GET /scoring/config/versions`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use healthscore_domain::scoring::ConfigDocument;
use healthscore_domain::scoring_config::ScoringConfigError;
use serde_json::{Value, json};

use super::AppState;
use super::auth::Portal;
use super::body::require_json;
use super::problem::ApiError;
use super::query::ApiQuery;
use crate::scoring::configs::UpdateError;

fn with_etag(version: u32, body: Value) -> Response {
    let mut response = Json(body).into_response();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

/// The current configuration; its version is the `ETag`.
pub async fn get(
    State(state): State<AppState>,
    Portal(portal): Portal,
) -> Result<Response, ApiError> {
    let configs = state
        .configs
        .load(portal)
        .await
        .map_err(ApiError::internal)?;
    let version = configs.current_version();
    Ok(with_etag(
        version,
        json!({"version": version, "config": configs.current()}),
    ))
}

/// The largest configuration document accepted (`PUT /scoring/config`, `POST /scoring/preview`):
/// far above any real one, small enough that every version stays cheap to keep and list.
pub const MAX_CONFIG_BYTES: usize = 64 * 1024;
/// Versions listed per page unless `limit` says otherwise, and at most.
const DEFAULT_VERSIONS_PAGE: usize = 20;
const MAX_VERSIONS_PAGE: usize = 100;

/// `?after=&limit=`: the versions after version `after`, oldest first.
#[derive(Debug, serde::Deserialize)]
pub struct VersionsQuery {
    after: Option<u32>,
    limit: Option<usize>,
}

/// A page of versions, oldest first; `next_after` continues the list when more remain.
pub async fn versions(
    State(state): State<AppState>,
    Portal(portal): Portal,
    ApiQuery(query): ApiQuery<VersionsQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_VERSIONS_PAGE);
    if !(1..=MAX_VERSIONS_PAGE).contains(&limit) {
        return Err(ApiError::bad_field(
            "limit",
            format!("limit must be from 1 to {MAX_VERSIONS_PAGE}"),
            "out of range",
        ));
    }
    let configs = state
        .configs
        .load(portal)
        .await
        .map_err(ApiError::internal)?;
    let after = query.after.unwrap_or(0);
    let mut page: Vec<_> = configs
        .versions()
        .into_iter()
        .filter(|v| v.version > after)
        .take(limit + 1)
        .collect();
    let more = page.len() > limit;
    page.truncate(limit);
    let next_after = more.then(|| page.last().map(|v| v.version)).flatten();
    Ok(Json(json!({
        "current_version": configs.current_version(),
        "versions": page,
        "next_after": next_after,
    })))
}

/// Accepts a new version (422 naming each bad field; 412 when `If-Match` is stale).
pub async fn put(
    State(state): State<AppState>,
    Portal(portal): Portal,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let expected = match headers.get(header::IF_MATCH) {
        Some(value) => parse_if_match(value)?,
        None => None,
    };
    if let Some(expected) = expected {
        // A stale precondition is answered before the body is looked at; the aggregate checks
        // again when it records, so a concurrent update is still caught.
        let current = state
            .configs
            .load(portal)
            .await
            .map_err(ApiError::internal)?
            .current_version();
        if expected != current {
            return Err(ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                format!("If-Match \"{expected}\" is stale: the current version is {current}"),
            ));
        }
    }
    require_json(&headers)?;
    let config = ConfigDocument::parse(&body)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    let now = chrono::Utc::now();
    match state.configs.update(portal, config, expected, now).await {
        Ok(version) => {
            state.config_changed.notify_one();
            let configs = state
                .configs
                .load(portal)
                .await
                .map_err(ApiError::internal)?;
            let mut response = with_etag(
                version,
                json!({"version": version, "config": configs.current()}),
            );
            *response.status_mut() = StatusCode::OK;
            Ok(response)
        }
        Err(UpdateError::Refused(ScoringConfigError::Invalid(fields))) => {
            let errors = serde_json::to_value(&fields).map_err(ApiError::internal)?;
            Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the configuration is invalid",
            )
            .with_errors(errors))
        }
        Err(UpdateError::Refused(error @ ScoringConfigError::VersionMismatch { .. })) => Err(
            ApiError::new(StatusCode::PRECONDITION_FAILED, error.to_string()),
        ),
        Err(UpdateError::Concurrent) => Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "the configuration changed concurrently; fetch it again",
        )),
        Err(UpdateError::Store(error)) => Err(ApiError::internal(error)),
    }
}

/// `If-Match: "3"` (or `3`, or `W/"3"`) to version 3; `*`, which matches any version, to `None`.
fn parse_if_match(value: &HeaderValue) -> Result<Option<u32>, ApiError> {
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    text.parse().map(Some).map_err(|_| {
        ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            format!("If-Match {text:?} names no version"),
        )
    })
}
