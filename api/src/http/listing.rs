//! `GET /customers` (filtered, sorted, cursor-paginated) and `GET /scores/summary`, both from
//! the materialized current scores.

use axum::Json;
use axum::extract::State;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use healthscore_domain::scoring::float_json;
use healthscore_domain::time::rfc3339_ms as rfc3339;
use healthscore_projections::scoring::materialized::{self, ListFilter, ScoreRow, Sort, SortKey};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::auth::Portal;
use super::problem::ApiError;
use super::query::ApiQuery;

/// `?band=&status=&min_score=&max_score=&sort=&limit=&cursor=`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    band: Option<String>,
    status: Option<String>,
    min_score: Option<Decimal>,
    max_score: Option<Decimal>,
    sort: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// A score bound in tenths; 400 naming `field` unless it is a score (0 to 100).
fn tenths(field: &str, score: Option<Decimal>) -> Result<Option<i64>, ApiError> {
    let Some(score) = score else { return Ok(None) };
    if score < Decimal::ZERO || score > Decimal::ONE_HUNDRED {
        return Err(ApiError::bad_field(
            field,
            format!("{field} must be a score from 0 to 100"),
            "must be from 0 to 100",
        ));
    }
    // In range, so neither the product nor the conversion can overflow.
    Ok((score * Decimal::TEN).round().to_i64())
}

/// The score of a row as a JSON number with one decimal.
pub fn score_of(row: &ScoreRow) -> Value {
    row.score_tenths
        .map_or(Value::Null, |t| float_json(Decimal::new(t, 1)))
}

fn filter(query: &ListQuery) -> Result<ListFilter, ApiError> {
    let one_of = |field: &str, value: &Option<String>, allowed: &[&str]| match value {
        Some(v) if !allowed.contains(&v.as_str()) => Err(ApiError::bad_request(format!(
            "{field} must be one of {}",
            allowed.join(", ")
        ))),
        _ => Ok(value.clone()),
    };
    let sort = match query.sort.as_deref() {
        None | Some("-score") => Sort::ScoreDesc,
        Some("score") => Sort::ScoreAsc,
        Some("name") => Sort::Name,
        Some(_) => return Err(ApiError::bad_request("sort must be score, -score or name")),
    };
    let after = match &query.cursor {
        Some(cursor) => Some(decode_cursor(cursor, sort)?),
        None => None,
    };
    Ok(ListFilter {
        band: one_of("band", &query.band, &["healthy", "at_risk", "critical"])?,
        status: one_of("status", &query.status, &["scored", "insufficient_data"])?,
        min_tenths: tenths("min_score", query.min_score)?,
        max_tenths: tenths("max_score", query.max_score)?,
        sort,
        limit: match query.limit {
            None => 50,
            Some(limit) if (1..=500).contains(&limit) => limit,
            Some(limit) => {
                return Err(ApiError::bad_field(
                    "limit",
                    format!("limit must be between 1 and 500, not {limit}"),
                    "must be between 1 and 500",
                ));
            }
        },
        after,
    })
}

/// The sort a cursor belongs to, so a cursor is never read under another order.
fn sort_name(sort: Sort) -> &'static str {
    match sort {
        Sort::ScoreDesc => "-score",
        Sort::ScoreAsc => "score",
        Sort::Name => "name",
    }
}

fn encode_cursor(sort: Sort, key: &SortKey, id: u64) -> String {
    URL_SAFE_NO_PAD.encode(json!([sort_name(sort), key, id]).to_string())
}

fn decode_cursor(cursor: &str, sort: Sort) -> Result<(SortKey, u64), ApiError> {
    let bad = || ApiError::bad_request("cursor is not one this API gave out");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let (cursor_sort, key, id): (String, SortKey, u64) =
        serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let fits = matches!(
        (sort, &key),
        (Sort::Name, SortKey::Name(_)) | (Sort::ScoreDesc | Sort::ScoreAsc, SortKey::Score(_))
    );
    if cursor_sort != sort_name(sort) || !fits {
        return Err(ApiError::bad_request(format!(
            "this cursor belongs to sort={cursor_sort}; keep the sort a cursor came with"
        )));
    }
    Ok((key, id))
}

/// `GET /customers`.
pub async fn list(
    State(state): State<AppState>,
    Portal(portal): Portal,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let filter = filter(&query)?;
    let rows = materialized::list(&state.db, portal, &filter)
        .await
        .map_err(ApiError::internal)?;
    let next_cursor = (rows.len() as i64 == filter.limit).then(|| {
        rows.last().map(|row| {
            let key = match filter.sort {
                Sort::Name => SortKey::Name(row.name.clone()),
                _ => SortKey::Score(row.score_tenths.unwrap_or(-1)),
            };
            encode_cursor(filter.sort, &key, row.customer_id)
        })
    });
    let customers: Vec<Value> = rows
        .iter()
        .map(|row| {
            json!({
                "id": row.customer_id.to_string(), "email": row.email, "name": row.name,
                "score": score_of(row), "band": row.band, "status": row.status,
                "config_version": row.config_version, "scored_at": rfc3339(row.scored_at),
            })
        })
        .collect();
    Ok(Json(
        json!({"customers": customers, "next_cursor": next_cursor.flatten()}),
    ))
}

/// `GET /scores/summary`.
pub async fn summary(
    State(state): State<AppState>,
    Portal(portal): Portal,
) -> Result<Json<Value>, ApiError> {
    let rows = materialized::all(&state.db, portal)
        .await
        .map_err(ApiError::internal)?;
    let count = |band: &str| {
        rows.iter()
            .filter(|r| r.band.as_deref() == Some(band))
            .count()
    };
    let scored: Vec<i64> = rows.iter().filter_map(|r| r.score_tenths).collect();
    let mean = (!scored.is_empty()).then(|| {
        (Decimal::from(scored.iter().sum::<i64>()) / Decimal::from(scored.len()) / Decimal::TEN)
            .round_dp(1)
    });
    let as_of = rows.iter().map(|r| r.scored_at).max().map(rfc3339);
    Ok(Json(json!({
        "as_of": as_of,
        "customers": rows.len(),
        "bands": {"healthy": count("healthy"), "at_risk": count("at_risk"), "critical": count("critical")},
        "insufficient_data": rows.iter().filter(|r| r.status == "insufficient_data").count(),
        "mean_score": mean.map(float_json),
    })))
}
