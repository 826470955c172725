//! Liveness and readiness probes.

use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;

/// Liveness: 200 while the process runs.
#[utoipa::path(get, path = "/healthz", tag = "probes",
    responses((status = 200, description = "The process runs", body = String, content_type = "text/plain", example = "ok")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// 200 when the event log can take durable appends, else 503 (see
/// `EventStore::check_writable`): a load balancer stops sending webhooks that would fail.
#[utoipa::path(get, path = "/readyz", tag = "probes",
    responses(
        (status = 200, description = "The event log takes durable appends", body = String, content_type = "text/plain", example = "ready"),
        (status = 503, description = "The database cannot be written", body = String, content_type = "text/plain"),
    ))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match state.store.check_writable().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(error) => {
            tracing::warn!(%error, "database not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "database cannot be written",
            )
        }
    }
}
