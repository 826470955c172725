//! `GET /scores/movers`: the customers whose scores moved most between a past time and now,
//! both scored from the log with the current configuration.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use healthscore_domain::scoring::{Band, Subject, serialize_float};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Portal;
use super::preview::name_of;
use super::problem::{ApiError, Problem};
use super::query::{self, ApiQuery};
use super::scores::config_for;

/// A customer's id, score then and now, band then and now.
type Move = (u64, Decimal, Decimal, Option<Band>, Option<Band>);

/// `?since=&limit=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MoversQuery {
    /// Compare with the scores at this time (RFC 3339); a week ago when left out.
    #[serde(default, deserialize_with = "query::time")]
    #[param(value_type = Option<String>, format = DateTime, example = "2026-11-24T00:00:00Z")]
    since: Option<DateTime<Utc>>,
    /// How many customers, 1 to 100 (10 by default).
    #[param(minimum = 1, maximum = 100, example = 10)]
    limit: Option<u32>,
}

/// One customer whose score moved.
#[derive(Debug, Serialize, ToSchema)]
pub struct Mover {
    /// The contact's HubSpot id.
    #[schema(example = "101")]
    customer_id: String,
    /// Its name (first and last, else email).
    name: Option<String>,
    /// Its score at `since`.
    #[serde(serialize_with = "serialize_float")]
    #[schema(value_type = f64, example = 74.0)]
    score_then: Decimal,
    /// Its score now.
    #[serde(serialize_with = "serialize_float")]
    #[schema(value_type = f64, example = 52.5)]
    score_now: Decimal,
    /// `score_now - score_then`.
    #[serde(serialize_with = "serialize_float")]
    #[schema(value_type = f64, example = -21.5)]
    delta: Decimal,
    /// Its band at `since`.
    band_then: Option<Band>,
    /// Its band now.
    band_now: Option<Band>,
}

/// The biggest movers, biggest move first.
#[derive(Debug, Serialize, ToSchema)]
pub struct Movers {
    /// The earlier time.
    #[serde(serialize_with = "healthscore_domain::time::serialize")]
    #[schema(value_type = String, format = DateTime)]
    since: DateTime<Utc>,
    /// Now.
    #[serde(serialize_with = "healthscore_domain::time::serialize")]
    #[schema(value_type = String, format = DateTime)]
    as_of: DateTime<Utc>,
    /// Customers scored at both times, by how far their score moved.
    movers: Vec<Mover>,
}

/// The customers whose scores moved most since a past time (a week ago by default).
#[utoipa::path(
    get, path = "/scores/movers", tag = "scores",
    params(MoversQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The biggest movers", body = Movers),
        (status = 400, description = "A bad `since` (or one in the future) or `limit`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn movers(
    State(state): State<AppState>,
    Portal(portal): Portal,
    ApiQuery(query): ApiQuery<MoversQuery>,
) -> Result<Json<Movers>, ApiError> {
    let now = Utc::now();
    let since = query.since.unwrap_or(now - Duration::days(7));
    if since > now {
        return Err(ApiError::bad_field(
            "since",
            "since must be in the past",
            "in the future",
        ));
    }
    let limit = query::limit(query.limit, 10, 100)?;
    let (_, config) = config_for(&state, portal, None).await?;
    state.scoring.catch_up().await?;
    let then: BTreeMap<u64, _> = state
        .scoring
        .score_all_subjects(portal, Subject::Contact, since, &config)
        .into_iter()
        .map(|s| (s.id, s.report))
        .collect();
    let mut moves: Vec<Move> = state
        .scoring
        .score_all_subjects(portal, Subject::Contact, now, &config)
        .into_iter()
        .filter_map(|s| {
            let before = then.get(&s.id)?;
            Some((
                s.id,
                before.score?,
                s.report.score?,
                before.band,
                s.report.band,
            ))
        })
        .filter(|(_, a, b, _, _)| a != b)
        .collect();
    moves.sort_by(|x, y| {
        (y.2 - y.1)
            .abs()
            .cmp(&(x.2 - x.1).abs())
            .then(x.0.cmp(&y.0))
    });
    moves.truncate(limit as usize);
    let movers = state.scoring.with_portal(portal, |objects| {
        moves
            .iter()
            .map(|(id, then, now, band_then, band_now)| Mover {
                customer_id: id.to_string(),
                name: name_of(objects, *id),
                score_then: *then,
                score_now: *now,
                delta: (*now - *then).round_dp(1),
                band_then: *band_then,
                band_now: *band_now,
            })
            .collect()
    });
    Ok(Json(Movers {
        since,
        as_of: now,
        movers,
    }))
}
