//! Scores: one customer's (at any time, with any configuration version) and its history,
//! computed from the log.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use healthscore_domain::ids::PortalId;
use healthscore_domain::scoring::{ScoreReport, ScoringConfig};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::AppState;
use super::auth::Portal;
use healthscore_domain::time::rfc3339;

use super::problem::ApiError;
use super::query::ApiQuery;

/// At most this many points in a history.
const MAX_HISTORY_POINTS: i64 = 366;

/// `?as_of=&config_version=`.
#[derive(Debug, Deserialize)]
pub struct ScoreQuery {
    as_of: Option<String>,
    config_version: Option<u32>,
}

/// A score as the API returns it.
#[derive(Debug, Serialize)]
pub struct ScoreResponse {
    customer_id: String,
    as_of: String,
    config_version: u32,
    #[serde(flatten)]
    report: ScoreReport,
}

/// Parses an RFC 3339 time (400 naming the field otherwise). A space where the offset's `+`
/// belongs is a `+` the client did not encode: the answer says so.
pub fn parse_time(field: &str, text: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            let hint = if text.contains(' ') {
                " (a + in a query string must be sent as %2B, or use Z)"
            } else {
                ""
            };
            ApiError::bad_field(
                field,
                format!("{field} must be an RFC 3339 time, e.g. 2026-11-23T00:00:00Z{hint}"),
                "not an RFC 3339 time",
            )
        })
}

/// The configuration of `version` (current when None) and its number.
pub async fn config_for(
    state: &AppState,
    portal: PortalId,
    version: Option<u32>,
) -> Result<(u32, ScoringConfig), ApiError> {
    let configs = state
        .configs
        .load(portal)
        .await
        .map_err(ApiError::internal)?;
    let version = version.unwrap_or(configs.current_version());
    let config = configs.version(version).cloned().ok_or_else(|| {
        ApiError::not_found(format!("no scoring configuration version {version}"))
    })?;
    Ok((version, config))
}

fn customer_id(id: &str) -> Result<u64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found(format!("no customer {id}")))
}

/// `GET /customers/{id}/score`.
pub async fn score(
    State(state): State<AppState>,
    Portal(portal): Portal,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ScoreQuery>,
) -> Result<Json<ScoreResponse>, ApiError> {
    let at = match &query.as_of {
        Some(text) => parse_time("as_of", text)?,
        None => Utc::now(),
    };
    let (version, config) = config_for(&state, portal, query.config_version).await?;
    let contact = customer_id(&id)?;
    state.scoring.catch_up().await.map_err(ApiError::internal)?;
    let report = state
        .scoring
        .score(portal, contact, at, &config)
        .ok_or_else(|| ApiError::not_found(format!("no customer {id} at {}", rfc3339(&at))))?;
    Ok(Json(ScoreResponse {
        customer_id: id,
        as_of: rfc3339(&at),
        config_version: version,
        report,
    }))
}

/// `?from=&to=&step=&config_version=`.
#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    from: Option<String>,
    to: Option<String>,
    step: Option<String>,
    config_version: Option<u32>,
}

/// `1d`, `12h`, `1w` to a duration.
fn parse_step(text: &str) -> Result<Duration, ApiError> {
    let bad = || ApiError::bad_request("step must look like 1d, 12h or 1w");
    let (number, hours_per_unit) = if let Some(n) = text.strip_suffix('h') {
        (n, 1)
    } else if let Some(n) = text.strip_suffix('d') {
        (n, 24)
    } else if let Some(n) = text.strip_suffix('w') {
        (n, 24 * 7)
    } else {
        return Err(bad());
    };
    let n: i64 = number.parse().map_err(|_| bad())?;
    n.checked_mul(hours_per_unit)
        .filter(|hours| *hours > 0)
        .and_then(Duration::try_hours)
        .ok_or_else(bad)
}

/// `GET /customers/{id}/score/history`: the score at each step from `from` to `to`.
pub async fn history(
    State(state): State<AppState>,
    Portal(portal): Portal,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Json<Value>, ApiError> {
    let to = match &query.to {
        Some(text) => parse_time("to", text)?,
        None => Utc::now(),
    };
    let from = match &query.from {
        Some(text) => parse_time("from", text)?,
        None => to - Duration::days(30),
    };
    let step = parse_step(query.step.as_deref().unwrap_or("1d"))?;
    if from > to {
        return Err(ApiError::bad_request("from must not be after to"));
    }
    let points = (to - from).num_milliseconds() / step.num_milliseconds() + 1;
    if points > MAX_HISTORY_POINTS {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "{points} points requested; at most {MAX_HISTORY_POINTS} (widen step or narrow from/to)"
            ),
        ));
    }
    let (version, config) = config_for(&state, portal, query.config_version).await?;
    let contact = customer_id(&id)?;
    state.scoring.catch_up().await.map_err(ApiError::internal)?;
    let known = state
        .scoring
        .with_portal(portal, |objects| objects.was_ever_customer(contact));
    if !known {
        return Err(ApiError::not_found(format!("no customer {id}")));
    }
    let series: Vec<Value> = (0..points)
        .map(|i| {
            let at = from + step * i32::try_from(i).unwrap_or(i32::MAX);
            match state.scoring.score(portal, contact, at, &config) {
                Some(report) => history_point(at, &report),
                None => serde_json::json!({"as_of": rfc3339(&at), "status": "not_a_customer"}),
            }
        })
        .collect();
    Ok(Json(
        serde_json::json!({"customer_id": id, "config_version": version, "points": series}),
    ))
}

/// One point of a history: the report's headline fields, serialized as the score itself is.
fn history_point(at: DateTime<Utc>, report: &ScoreReport) -> Value {
    let mut point = serde_json::json!({"as_of": rfc3339(&at)});
    if let (Value::Object(fields), Ok(Value::Object(all))) =
        (&mut point, serde_json::to_value(report))
    {
        for key in ["status", "score", "band", "coverage"] {
            if let Some(value) = all.get(key) {
                fields.insert(key.to_string(), value.clone());
            }
        }
    }
    point
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unencoded_plus_gets_a_hint() {
        let error = parse_time("as_of", "2026-11-23T00:00:00 01:00").unwrap_err();
        assert!(error.detail().contains("%2B"), "{}", error.detail());
        assert!(parse_time("as_of", "2026-11-23T00:00:00+01:00").is_ok());
        let plain = parse_time("as_of", "yesterday").unwrap_err();
        assert!(!plain.detail().contains("%2B"));
    }

    #[test]
    fn steps_parse_and_bad_ones_are_refused_without_panicking() {
        assert_eq!(parse_step("12h").ok(), Some(Duration::hours(12)));
        assert_eq!(parse_step("1d").ok(), Some(Duration::days(1)));
        assert_eq!(parse_step("2w").ok(), Some(Duration::weeks(2)));
        for bad in [
            "",
            "d",
            "0d",
            "-1d",
            "1x",
            "1é",
            "999999999999999d",
            "9223372036854775807h",
        ] {
            assert!(parse_step(bad).is_err(), "{bad:?}");
        }
    }
}
