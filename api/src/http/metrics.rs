//! Prometheus metrics at `GET /metrics`, through the `metrics` facade and its Prometheus
//! exporter: counters and histograms are recorded where things happen; the gauges of the log's
//! consumers and the band counts are read when scraped.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use healthscore_projections::projector::Projector;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::AppState;
use super::problem::{ApiError, Problem};

/// Histogram buckets in seconds, from 1 ms to 10 s.
const SECONDS: [f64; 12] = [
    0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Histogram buckets for counts of jobs per commit.
const JOBS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// The process's recorder, installed on first use (one per process, shared by every router;
/// [`super::router`] installs it).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_jobs".into()), &JOBS))
            .unwrap_or_else(|_| PrometheusBuilder::new());
        match builder.install_recorder() {
            Ok(handle) => {
                describe();
                handle
            }
            Err(error) => {
                tracing::warn!(%error, "another metrics recorder is installed; /metrics is empty");
                PrometheusBuilder::new().build_recorder().handle()
            }
        }
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_histogram!(
        "healthscore_http_request_duration_seconds",
        metrics::Unit::Seconds,
        "HTTP request durations by method, route template and status"
    );
    describe_counter!(
        "healthscore_webhook_deliveries_total",
        "webhook deliveries by outcome (recorded, refused_signature, refused_body, unavailable)"
    );
    describe_counter!(
        "healthscore_webhook_events_total",
        "webhook events by outcome (recorded, duplicate)"
    );
    describe_histogram!(
        "healthscore_webhook_ingest_seconds",
        metrics::Unit::Seconds,
        "from a verified delivery to its durable commit"
    );
    describe_histogram!(
        "healthscore_recorder_group_jobs",
        "jobs (deliveries, sync pages) committed together by the recorder"
    );
    describe_gauge!("healthscore_log_head", "the event log's last position");
    describe_gauge!(
        "healthscore_projector_position",
        "the read models' position in the log"
    );
    describe_gauge!(
        "healthscore_projector_lag_events",
        "events not yet in the read models"
    );
    describe_gauge!(
        "healthscore_scores_lag_events",
        "events not yet in the materialized scores"
    );
    describe_counter!(
        "healthscore_hubspot_requests_total",
        "HubSpot API attempts by endpoint"
    );
    describe_counter!(
        "healthscore_hubspot_retries_total",
        "HubSpot API retries by endpoint"
    );
    describe_counter!(
        "healthscore_hubspot_rate_limited_total",
        "HubSpot 429 answers by policy"
    );
    describe_gauge!(
        "healthscore_customers",
        "materialized customers per portal and band"
    );
}

/// Middleware: times every request under its route template (never its raw path, whose ids
/// would make a series per customer).
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |path| path.as_str().to_string());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!(
        "healthscore_http_request_duration_seconds",
        "method" => method, "route" => route, "status" => status
    )
    .record(started.elapsed().as_secs_f64());
    response
}

/// `GET /metrics`: the Prometheus text format. With `HEALTHSCORE_METRICS_TOKEN` set it asks for
/// `Authorization: Bearer <token>` (the band counts name every portal).
#[utoipa::path(
    get, path = "/metrics", tag = "probes",
    security((), ("metrics_token" = [])),
    responses(
        (status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain"),
        (status = 401, description = "`HEALTHSCORE_METRICS_TOKEN` is set and was not sent", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn scrape(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(token) = &state.metrics_token {
        let given = super::auth::bearer(&headers).unwrap_or_default();
        let same: bool =
            subtle::ConstantTimeEq::ct_eq(given.as_bytes(), token.expose().as_bytes()).into();
        if !same {
            return Err(ApiError::unauthorized(
                "send Authorization: Bearer <HEALTHSCORE_METRICS_TOKEN>",
            ));
        }
    }
    let handle = handle();
    read_gauges(&state).await?;
    let body = handle.render();
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        body,
    )
        .into_response())
}

/// The gauges read at scrape time: the log's head, its consumers' positions, the band counts.
async fn read_gauges(state: &AppState) -> Result<(), healthscore_projections::StoreError> {
    let head = state.store.head().await?;
    let projected = Projector::new(state.store.clone()).checkpoint().await?;
    let scored = *state.scored_through.borrow();
    metrics::gauge!("healthscore_log_head").set(head as f64);
    metrics::gauge!("healthscore_projector_position").set(projected as f64);
    metrics::gauge!("healthscore_projector_lag_events").set((head - projected).max(0) as f64);
    metrics::gauge!("healthscore_scores_lag_events").set((head - scored).max(0) as f64);
    use healthscore_domain::scoring::Subject;
    let materialized = healthscore_projections::scoring::materialized::band_counts;
    for (portal, band, customers) in materialized(&state.db, Subject::Contact).await? {
        let portal = portal.to_string();
        metrics::gauge!("healthscore_customers", "portal" => portal, "band" => band)
            .set(customers as f64);
    }
    for (portal, band, accounts) in materialized(&state.db, Subject::Company).await? {
        let portal = portal.to_string();
        metrics::gauge!("healthscore_accounts", "portal" => portal, "band" => band)
            .set(accounts as f64);
    }
    Ok(())
}
