//! `POST /scoring/preview`: what a candidate configuration would do, without saving it.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use healthscore_domain::ids::ObjectType;
use healthscore_domain::scoring::{
    Band, ConfigDocument, ScoreReport, ScoringConfig, serialize_float, serialize_opt_float,
};
use healthscore_projections::read_models::queries::display_name;
use healthscore_projections::scoring::index::PortalObjects;
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::Portal;
use super::body::JsonBytes;
use super::config::ConfigInput;
use super::problem::{ApiError, FieldProblem, Problem};
use super::scores::config_for;

/// How many of the biggest movers a preview lists.
const BIGGEST_MOVES: usize = 20;

/// A customer's band, or `insufficient_data` when it has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Scored healthy.
    Healthy,
    /// Scored at risk.
    AtRisk,
    /// Scored critical.
    Critical,
    /// Too little known to score.
    InsufficientData,
}

impl Outcome {
    fn of(report: &ScoreReport) -> Self {
        match report.band {
            Some(Band::Healthy) => Self::Healthy,
            Some(Band::AtRisk) => Self::AtRisk,
            Some(Band::Critical) => Self::Critical,
            None => Self::InsufficientData,
        }
    }
}

/// One customer whose score the candidate moves.
#[derive(Debug, Serialize, ToSchema)]
pub struct Move {
    /// The contact's HubSpot id.
    #[schema(example = "101")]
    customer_id: String,
    /// Its name (first and last, else email).
    name: Option<String>,
    /// Its score with the current configuration.
    #[serde(serialize_with = "serialize_float")]
    #[schema(value_type = f64, example = 72.5)]
    score_now: Decimal,
    /// Its score with the candidate.
    #[serde(serialize_with = "serialize_float")]
    #[schema(value_type = f64, example = 58.0)]
    score_candidate: Decimal,
    /// `score_candidate - score_now`.
    #[serde(serialize_with = "serialize_float")]
    #[schema(value_type = f64, example = -14.5)]
    delta: Decimal,
}

/// What the candidate would change.
#[derive(Debug, Serialize, ToSchema)]
pub struct Preview {
    /// The time both configurations scored at (now).
    #[serde(serialize_with = "healthscore_domain::time::serialize")]
    #[schema(value_type = String, format = DateTime)]
    as_of: DateTime<Utc>,
    /// The version the candidate is compared with.
    current_version: u32,
    /// Customers scored.
    customers: usize,
    /// Customers per outcome with the current configuration.
    bands_now: BTreeMap<Outcome, usize>,
    /// Customers per outcome with the candidate.
    bands_candidate: BTreeMap<Outcome, usize>,
    /// From each outcome now to each with the candidate: how many customers.
    transitions: BTreeMap<Outcome, BTreeMap<Outcome, usize>>,
    /// The customers whose scores move most, biggest first (at most 20).
    biggest_moves: Vec<Move>,
    /// The mean change over the customers scored both ways, two decimals; null when none.
    #[serde(serialize_with = "serialize_opt_float")]
    #[schema(value_type = Option<f64>)]
    mean_delta: Option<Decimal>,
}

pub(crate) fn name_of(objects: &PortalObjects, id: u64) -> Option<String> {
    let contact = objects.get(ObjectType::Contact, id)?.current();
    let properties: BTreeMap<String, String> = ["firstname", "lastname", "email"]
        .into_iter()
        .map(|name| (name.to_owned(), contact.property(name).to_owned()))
        .collect();
    display_name(ObjectType::Contact, &properties)
}

/// Band counts now and with a candidate configuration, the transitions between them and
/// the customers that move most. Nothing is saved.
#[utoipa::path(
    post, path = "/scoring/preview", tag = "configuration",
    request_body(content = ConfigInput, content_type = "application/json"),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "What the candidate would change", body = Preview),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The candidate is invalid: `errors` names each bad field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn preview(
    State(state): State<AppState>,
    Portal(portal): Portal,
    JsonBytes(body): JsonBytes,
) -> Result<Json<Preview>, ApiError> {
    let document = ConfigDocument::parse(&body)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    let candidate = ScoringConfig::from_document(&document).map_err(|fields| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the candidate configuration is invalid",
        )
        .with_errors(fields.into_iter().map(FieldProblem::from))
    })?;
    let (version, current) = config_for(&state, portal, None).await?;
    state.scoring.catch_up().await?;
    let now = Utc::now();
    let before = state.scoring.score_all(portal, now, &current);
    let after: BTreeMap<u64, ScoreReport> = state
        .scoring
        .score_all(portal, now, &candidate)
        .into_iter()
        .map(|s| (s.id, s.report))
        .collect();
    let mut bands_now: BTreeMap<Outcome, usize> = BTreeMap::new();
    let mut bands_candidate: BTreeMap<Outcome, usize> = BTreeMap::new();
    let mut transitions: BTreeMap<Outcome, BTreeMap<Outcome, usize>> = BTreeMap::new();
    let mut movers = Vec::new();
    for score in &before {
        let Some(next) = after.get(&score.id) else {
            continue;
        };
        let (from, to) = (Outcome::of(&score.report), Outcome::of(next));
        *bands_now.entry(from).or_default() += 1;
        *bands_candidate.entry(to).or_default() += 1;
        *transitions.entry(from).or_default().entry(to).or_default() += 1;
        if let (Some(a), Some(b)) = (score.report.score, next.score) {
            movers.push((score.id, a, b));
        }
    }
    movers.sort_by(|x, y| {
        (y.2 - y.1)
            .abs()
            .cmp(&(x.2 - x.1).abs())
            .then(x.0.cmp(&y.0))
    });
    let biggest_moves = state.scoring.with_portal(portal, |objects| {
        movers
            .iter()
            .take(BIGGEST_MOVES)
            .map(|(id, now, candidate)| Move {
                customer_id: id.to_string(),
                name: name_of(objects, *id),
                score_now: *now,
                score_candidate: *candidate,
                delta: (*candidate - *now).round_dp(1),
            })
            .collect()
    });
    Ok(Json(Preview {
        as_of: now,
        current_version: version,
        customers: before.len(),
        bands_now,
        bands_candidate,
        transitions,
        biggest_moves,
        mean_delta: mean_delta(&movers),
    }))
}

fn mean_delta(movers: &[(u64, Decimal, Decimal)]) -> Option<Decimal> {
    (!movers.is_empty()).then(|| {
        let total: Decimal = movers.iter().map(|(_, a, b)| *b - *a).sum();
        (total / Decimal::from(movers.len())).round_dp(2)
    })
}
