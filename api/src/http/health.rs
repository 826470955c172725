//! Liveness and readiness probes.

use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;

/// 200 while the process runs.
pub async fn healthz() -> &'static str {
    "ok"
}

/// 200 when the event log can take durable appends, else 503 (see
/// `EventStore::check_writable`): a load balancer stops sending webhooks that would fail.
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
