//! Scores: one customer's or account's (at any time, with any configuration version) and its
//! history, computed from the log.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use healthscore_domain::ids::PortalId;
use healthscore_domain::scoring::{
    Band, ScoreReport, ScoreStatus, ScoringDocument, Subject, serialize_opt_float,
};
use healthscore_domain::time::rfc3339;
use healthscore_projections::scoring::subjects::Scorer;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Portal;
use super::problem::ApiError;
use super::query::{self, ApiQuery};

/// At most this many points in a history.
const MAX_HISTORY_POINTS: i64 = 366;

/// A customer's HubSpot contact id.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CustomerPath {
    /// The contact's HubSpot id.
    #[param(example = "101")]
    id: String,
}

/// An account's HubSpot company id.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CompanyPath {
    /// The company's HubSpot id.
    #[param(example = "5001")]
    id: String,
}

impl CustomerPath {
    /// The id as sent.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl CompanyPath {
    /// The id as sent.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// `?as_of=&config_version=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ScoreQuery {
    /// Score as of this time (RFC 3339; encode a `+` offset as `%2B`). Now when left out.
    #[serde(default, deserialize_with = "query::time")]
    #[param(value_type = Option<String>, format = DateTime, example = "2026-11-23T00:00:00Z")]
    as_of: Option<DateTime<Utc>>,
    /// Score with this configuration version; the current one when left out.
    #[param(minimum = 1, example = 1)]
    config_version: Option<u32>,
}

/// A customer's score with every factor's part in it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScoreResponse {
    /// The contact's HubSpot id.
    #[schema(example = "101")]
    customer_id: String,
    /// The time scored at.
    #[serde(serialize_with = "healthscore_domain::time::serialize")]
    #[schema(value_type = String, format = DateTime)]
    as_of: DateTime<Utc>,
    /// The configuration version scored with.
    config_version: u32,
    #[serde(flatten)]
    report: ScoreReport,
}

/// An account's score with every factor's part in it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompanyScoreResponse {
    /// The company's HubSpot id.
    #[schema(example = "5001")]
    company_id: String,
    /// The time scored at.
    #[serde(serialize_with = "healthscore_domain::time::serialize")]
    #[schema(value_type = String, format = DateTime)]
    as_of: DateTime<Utc>,
    /// The configuration version scored with.
    config_version: u32,
    #[serde(flatten)]
    report: ScoreReport,
}

/// The configuration of `version` (current when None) and its number.
pub async fn config_for(
    state: &AppState,
    portal: PortalId,
    version: Option<u32>,
) -> Result<(u32, ScoringDocument), ApiError> {
    let configs = state.configs.load(portal).await?;
    let version = version.unwrap_or(configs.current_version());
    let config = configs.version(version).cloned().ok_or_else(|| {
        ApiError::not_found(format!("no scoring configuration version {version}"))
    })?;
    Ok((version, config))
}

/// What the subject type is called in messages.
fn noun(subject: Subject) -> &'static str {
    match subject {
        Subject::Contact => "customer",
        Subject::Company => "account",
    }
}

fn subject_id(subject: Subject, id: &str) -> Result<u64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found(format!("no {} {id}", noun(subject))))
}

/// One subject's explained report at `at`, with the configuration version used.
async fn report_at(
    state: &AppState,
    portal: PortalId,
    subject: Subject,
    id: &str,
    query: ScoreQuery,
) -> Result<(DateTime<Utc>, u32, ScoreReport), ApiError> {
    let at = query.as_of.unwrap_or_else(Utc::now);
    let (version, document) = config_for(state, portal, query.config_version).await?;
    let numeric = subject_id(subject, id)?;
    if !document.scores(subject) {
        return Err(ApiError::not_found(format!(
            "configuration version {version} has no {} scorecard: {}s are not scored",
            subject.as_str(),
            subject.as_str()
        )));
    }
    state.scoring.catch_up().await?;
    let report = state
        .scoring
        .with_portal(portal, |objects| {
            Scorer::new(objects, &document, at).explain(subject, numeric)
        })
        .ok_or_else(|| {
            ApiError::not_found(format!("no {} {id} at {}", noun(subject), rfc3339(&at)))
        })?;
    Ok((at, version, report))
}

/// One customer's score, now or as of any past time, with any configuration version.
#[utoipa::path(
    get, path = "/customers/{id}/score", tag = "scores",
    params(CustomerPath, ScoreQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The score and its explanation", body = ScoreResponse),
        (status = 400, description = "A bad `as_of` or `config_version`", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer at that time, or no such configuration version", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn score(
    State(state): State<AppState>,
    Portal(portal): Portal,
    Path(CustomerPath { id }): Path<CustomerPath>,
    ApiQuery(query): ApiQuery<ScoreQuery>,
) -> Result<Json<ScoreResponse>, ApiError> {
    let (as_of, config_version, report) =
        report_at(&state, portal, Subject::Contact, &id, query).await?;
    Ok(Json(ScoreResponse {
        customer_id: id,
        as_of,
        config_version,
        report,
    }))
}

/// One account's score, now or as of any past time, with any configuration version.
#[utoipa::path(
    get, path = "/companies/{id}/score", tag = "accounts",
    params(CompanyPath, ScoreQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The score and its explanation", body = CompanyScoreResponse),
        (status = 400, description = "A bad `as_of` or `config_version`", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account at that time, no company scorecard, or no such configuration version", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn company_score(
    State(state): State<AppState>,
    Portal(portal): Portal,
    Path(CompanyPath { id }): Path<CompanyPath>,
    ApiQuery(query): ApiQuery<ScoreQuery>,
) -> Result<Json<CompanyScoreResponse>, ApiError> {
    let (as_of, config_version, report) =
        report_at(&state, portal, Subject::Company, &id, query).await?;
    Ok(Json(CompanyScoreResponse {
        company_id: id,
        as_of,
        config_version,
        report,
    }))
}

/// A history's step: `12h`, `1d`, `2w`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step(Duration);

impl Step {
    /// `1d`, `12h`, `1w` to a step; `None` unless a positive whole number of h, d or w.
    fn parse(text: &str) -> Option<Self> {
        let (number, hours_per_unit) = if let Some(n) = text.strip_suffix('h') {
            (n, 1)
        } else if let Some(n) = text.strip_suffix('d') {
            (n, 24)
        } else if let Some(n) = text.strip_suffix('w') {
            (n, 24 * 7)
        } else {
            return None;
        };
        let n: i64 = number.parse().ok()?;
        n.checked_mul(hours_per_unit)
            .filter(|hours| *hours > 0)
            .and_then(Duration::try_hours)
            .map(Self)
    }
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).ok_or_else(|| serde::de::Error::custom("must look like 12h, 1d or 2w"))
    }
}

/// `?from=&to=&step=&config_version=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// The first point (RFC 3339); 30 days before `to` when left out.
    #[serde(default, deserialize_with = "query::time")]
    #[param(value_type = Option<String>, format = DateTime, example = "2026-10-24T00:00:00Z")]
    from: Option<DateTime<Utc>>,
    /// The last point at most (RFC 3339); now when left out.
    #[serde(default, deserialize_with = "query::time")]
    #[param(value_type = Option<String>, format = DateTime, example = "2026-11-23T00:00:00Z")]
    to: Option<DateTime<Utc>>,
    /// Time between points: hours, days or weeks (`12h`, `1d`, `2w`); `1d` when left out.
    #[param(value_type = Option<String>, pattern = "^[0-9]+[hdw]$", example = "1d")]
    step: Option<Step>,
    /// Score with this configuration version; the current one when left out.
    #[param(minimum = 1, example = 1)]
    config_version: Option<u32>,
}

/// What a history point is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PointStatus {
    /// Scored: `score` and `band` are set.
    Scored,
    /// A customer then, but too little was known to score.
    InsufficientData,
    /// Not a customer at that time (before becoming one, or after leaving).
    NotACustomer,
    /// Not an account at that time (before it existed, deleted, or outside the population).
    NotAnAccount,
}

/// One point of a score history: the score's headline at one time.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryPoint {
    /// The point's time.
    #[serde(serialize_with = "healthscore_domain::time::serialize")]
    #[schema(value_type = String, format = DateTime)]
    as_of: DateTime<Utc>,
    /// Scored, too little data, or not a customer then.
    status: PointStatus,
    /// 0-100, one decimal; null unless scored.
    #[serde(serialize_with = "serialize_opt_float")]
    #[schema(value_type = Option<f64>, example = 72.5)]
    score: Option<Decimal>,
    /// Null unless scored.
    band: Option<Band>,
    /// Share of the weight whose factors applied; null when not a customer.
    #[serde(serialize_with = "serialize_opt_float")]
    #[schema(value_type = Option<f64>)]
    coverage: Option<Decimal>,
    /// The scorecard that scored it then; left out when not a subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    scorecard: Option<String>,
}

impl HistoryPoint {
    fn new(as_of: DateTime<Utc>, subject: Subject, report: Option<ScoreReport>) -> Self {
        let Some(report) = report else {
            return Self {
                as_of,
                status: match subject {
                    Subject::Contact => PointStatus::NotACustomer,
                    Subject::Company => PointStatus::NotAnAccount,
                },
                score: None,
                band: None,
                coverage: None,
                scorecard: None,
            };
        };
        Self {
            as_of,
            status: match report.status {
                ScoreStatus::Scored => PointStatus::Scored,
                ScoreStatus::InsufficientData => PointStatus::InsufficientData,
            },
            score: report.score,
            band: report.band,
            coverage: Some(report.coverage),
            scorecard: report.scorecard,
        }
    }
}

/// An account's score at each step from `from` to `to`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompanyHistoryResponse {
    /// The company's HubSpot id.
    #[schema(example = "5001")]
    company_id: String,
    /// The configuration version every point is scored with.
    config_version: u32,
    /// Oldest first.
    points: Vec<HistoryPoint>,
}

/// A customer's score at each step from `from` to `to`.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryResponse {
    /// The contact's HubSpot id.
    #[schema(example = "101")]
    customer_id: String,
    /// The configuration version every point is scored with.
    config_version: u32,
    /// Oldest first.
    points: Vec<HistoryPoint>,
}

/// A customer's score at each step from `from` to `to`, all with one configuration version.
#[utoipa::path(
    get, path = "/customers/{id}/score/history", tag = "scores",
    params(CustomerPath, HistoryQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "One point per step, oldest first", body = HistoryResponse),
        (status = 400, description = "A bad time or step, or `from` after `to`", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Never a customer, or no such configuration version", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "More than 366 points asked for", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn history(
    State(state): State<AppState>,
    Portal(portal): Portal,
    Path(CustomerPath { id }): Path<CustomerPath>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Json<HistoryResponse>, ApiError> {
    let (config_version, points) =
        history_points(&state, portal, Subject::Contact, &id, query).await?;
    Ok(Json(HistoryResponse {
        customer_id: id,
        config_version,
        points,
    }))
}

/// An account's score at each step from `from` to `to`, all with one configuration version.
#[utoipa::path(
    get, path = "/companies/{id}/score/history", tag = "accounts",
    params(CompanyPath, HistoryQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "One point per step, oldest first", body = CompanyHistoryResponse),
        (status = 400, description = "A bad time or step, or `from` after `to`", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Never an account, no company scorecard, or no such configuration version", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "More than 366 points asked for", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn company_history(
    State(state): State<AppState>,
    Portal(portal): Portal,
    Path(CompanyPath { id }): Path<CompanyPath>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Json<CompanyHistoryResponse>, ApiError> {
    let (config_version, points) =
        history_points(&state, portal, Subject::Company, &id, query).await?;
    Ok(Json(CompanyHistoryResponse {
        company_id: id,
        config_version,
        points,
    }))
}

/// The points of one subject's history and the configuration version they used.
async fn history_points(
    state: &AppState,
    portal: PortalId,
    subject: Subject,
    id: &str,
    query: HistoryQuery,
) -> Result<(u32, Vec<HistoryPoint>), ApiError> {
    let to = query.to.unwrap_or_else(Utc::now);
    let from = query.from.unwrap_or(to - Duration::days(30));
    let Step(step) = query.step.unwrap_or(Step(Duration::days(1)));
    if from > to {
        return Err(ApiError::bad_field(
            "from",
            "from must not be after to",
            "after to",
        ));
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
    let (version, document) = config_for(state, portal, query.config_version).await?;
    let numeric = subject_id(subject, id)?;
    state.scoring.catch_up().await?;
    let known = document.scores(subject)
        && state.scoring.with_portal(portal, |objects| {
            objects.was_ever_subject(subject, numeric, &document.population)
        });
    if !known {
        return Err(ApiError::not_found(format!("no {} {id}", noun(subject))));
    }
    let points = (0..points)
        .map(|i| {
            let at = from + step * i32::try_from(i).unwrap_or(i32::MAX);
            let report = state.scoring.with_portal(portal, |objects| {
                let scorer = Scorer::new(objects, &document, at);
                scorer.score(subject, numeric, false, &|contact| {
                    scorer.customer_score(contact)
                })
            });
            HistoryPoint::new(at, subject, report)
        })
        .collect();
    Ok((version, points))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_parse_and_bad_ones_are_refused_without_panicking() {
        assert_eq!(Step::parse("12h"), Some(Step(Duration::hours(12))));
        assert_eq!(Step::parse("1d"), Some(Step(Duration::days(1))));
        assert_eq!(Step::parse("2w"), Some(Step(Duration::weeks(2))));
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
            assert!(Step::parse(bad).is_none(), "{bad:?}");
        }
    }
}
