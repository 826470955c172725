//! `GET /events?after=&limit=`: the audit feed, the key's portal's events in log order, so a
//! downstream system can follow the log. The cursor is the global position.

use axum::Json;
use axum::extract::State;
use healthscore_domain::time::rfc3339_ms;
use healthscore_projections::RecordedEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::AppState;
use super::auth::Portal;
use super::problem::ApiError;
use super::query::ApiQuery;

/// Events per page unless `limit` says otherwise.
const DEFAULT_LIMIT: i64 = 100;
/// The most events one page holds.
const MAX_LIMIT: i64 = 1_000;

/// `?after=<position>&limit=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    /// Events after this log position (0 by default: from the start).
    #[param(minimum = 0, example = 0)]
    after: Option<i64>,
    /// Events per page, 1 to 1000 (100 by default).
    #[param(minimum = 1, maximum = 1000, example = 100)]
    limit: Option<i64>,
}

/// One event of the feed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeedEvent {
    /// Global position: the cursor.
    position: i64,
    /// The stream, `{portal}/{type}/{id}`.
    stream_id: String,
    /// The stream's type (`crm_object`, `scoring_config`, `sync_run`, ...).
    stream_type: String,
    /// The event's number within its stream, from 1.
    sequence: i64,
    /// The event type, e.g. `PropertiesChanged`.
    #[serde(rename = "type")]
    event_type: String,
    /// The event type's version.
    version: String,
    /// When it happened in HubSpot (or here), RFC 3339.
    #[schema(format = DateTime)]
    occurred_at: String,
    /// When it was recorded, RFC 3339.
    #[schema(format = DateTime)]
    recorded_at: String,
    /// The event itself (personal values are blank after a privacy deletion).
    #[schema(value_type = Object)]
    payload: Value,
    /// Where it came from: source, delivery or run ids.
    #[schema(value_type = Object)]
    metadata: Value,
}

/// A page of the feed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeedPage {
    /// The events, in log order.
    events: Vec<FeedEvent>,
    /// The `after` of the next page: the last position here, or the one asked when empty.
    next_after: i64,
}

fn json_or_text(text: String) -> Value {
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

impl From<RecordedEvent> for FeedEvent {
    fn from(recorded: RecordedEvent) -> Self {
        let event = recorded.event;
        Self {
            position: recorded.position,
            stream_id: event.stream_id,
            stream_type: event.stream_type,
            sequence: event.sequence,
            event_type: event.event_type,
            version: event.event_version,
            occurred_at: rfc3339_ms(event.occurred_at),
            recorded_at: rfc3339_ms(recorded.recorded_at),
            payload: json_or_text(event.payload),
            metadata: json_or_text(event.metadata),
        }
    }
}

/// The audit feed: this portal's events in log order, a page at a time, so a downstream
/// system can follow the log. Resume with `after` = the last `next_after`.
#[utoipa::path(
    get, path = "/events", tag = "events",
    params(FeedQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "A page of events", body = FeedPage),
        (status = 400, description = "A bad `after` or `limit`", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn feed(
    State(state): State<AppState>,
    Portal(portal): Portal,
    ApiQuery(query): ApiQuery<FeedQuery>,
) -> Result<Json<FeedPage>, ApiError> {
    let after = query.after.unwrap_or(0);
    if after < 0 {
        return Err(ApiError::bad_field(
            "after",
            "after must be a log position (0 or more)",
            "must be 0 or more",
        ));
    }
    let limit = super::query::limit(query.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let events = state
        .store
        .read_prefix_after(&format!("{portal}/"), after, limit)
        .await?;
    let next_after = events.last().map_or(after, |e| e.position);
    Ok(Json(FeedPage {
        events: events.into_iter().map(FeedEvent::from).collect(),
        next_after,
    }))
}
