//! `POST /scoring/preview`: what a candidate configuration would do, without saving it.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use healthscore_domain::scoring::float_json;
use healthscore_domain::scoring::{Band, ConfigDocument, ScoreReport, ScoringConfig};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::AppState;
use super::auth::Portal;
use healthscore_domain::time::rfc3339;

use super::body::JsonBytes;
use super::problem::ApiError;
use super::scores::config_for;

fn band_name(report: &ScoreReport) -> &'static str {
    match report.band {
        Some(Band::Healthy) => "healthy",
        Some(Band::AtRisk) => "at_risk",
        Some(Band::Critical) => "critical",
        None => "insufficient_data",
    }
}

/// Band counts now and with the candidate, the transition matrix and the 20 biggest movers.
pub async fn preview(
    State(state): State<AppState>,
    Portal(portal): Portal,
    JsonBytes(body): JsonBytes,
) -> Result<Json<Value>, ApiError> {
    let document = ConfigDocument::parse(&body)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    let candidate = ScoringConfig::from_document(&document).map_err(|fields| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the candidate configuration is invalid",
        )
        .with_errors(serde_json::to_value(&fields).unwrap_or_default())
    })?;
    let (version, current) = config_for(&state, portal, None).await?;
    state.scoring.catch_up().await.map_err(ApiError::internal)?;
    let now = Utc::now();
    let before = state.scoring.score_all(portal, now, &current);
    let after: BTreeMap<u64, ScoreReport> = state
        .scoring
        .score_all(portal, now, &candidate)
        .into_iter()
        .map(|s| (s.id, s.report))
        .collect();
    let mut counts_now: BTreeMap<&str, usize> = BTreeMap::new();
    let mut counts_candidate: BTreeMap<&str, usize> = BTreeMap::new();
    let mut transitions: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    let mut movers = Vec::new();
    for score in &before {
        let Some(next) = after.get(&score.id) else {
            continue;
        };
        let (from, to) = (band_name(&score.report), band_name(next));
        *counts_now.entry(from).or_default() += 1;
        *counts_candidate.entry(to).or_default() += 1;
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
    let top: Vec<Value> = movers
        .iter()
        .take(20)
        .map(|(id, a, b)| json!({"customer_id": id.to_string(), "score_now": float_json(*a), "score_candidate": float_json(*b), "delta": float_json((*b - *a).round_dp(1))}))
        .collect();
    Ok(Json(json!({
        "as_of": rfc3339(&now),
        "current_version": version,
        "customers": before.len(),
        "bands_now": counts_now,
        "bands_candidate": counts_candidate,
        "transitions": transitions,
        "biggest_moves": top,
        "mean_delta": mean_delta(&movers).map(float_json),
    })))
}

fn mean_delta(movers: &[(u64, Decimal, Decimal)]) -> Option<Decimal> {
    (!movers.is_empty()).then(|| {
        let total: Decimal = movers.iter().map(|(_, a, b)| *b - *a).sum();
        (total / Decimal::from(movers.len())).round_dp(2)
    })
}
