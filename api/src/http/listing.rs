//! `GET /customers` and `GET /companies` (filtered, sorted, cursor-paginated) and
//! `GET /scores/summary`, from the materialized current scores.

use axum::Json;
use axum::extract::State;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use healthscore_domain::scoring::{Band, ScoreStatus, Subject, serialize_opt_float};
use healthscore_domain::time::normalize_property_time;
use healthscore_projections::scoring::materialized::{self, ListFilter, ScoreRow, Sort, SortKey};
use healthscore_projections::scoring::subjects::Scorer;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Portal;
use super::owners::OwnerRef;
use super::problem::ApiError;
use super::query::ApiQuery;
use healthscore_domain::owners::OwnerDirectory;

/// Rows per page unless `limit` says otherwise, and at most.
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;

/// The order of the customer list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
pub enum ListSort {
    /// Highest score first (unscored last).
    #[default]
    #[serde(rename = "-score")]
    ScoreDesc,
    /// Lowest score first (unscored last).
    #[serde(rename = "score")]
    ScoreAsc,
    /// By name.
    #[serde(rename = "name")]
    Name,
}

impl From<ListSort> for Sort {
    fn from(sort: ListSort) -> Self {
        match sort {
            ListSort::ScoreDesc => Sort::ScoreDesc,
            ListSort::ScoreAsc => Sort::ScoreAsc,
            ListSort::Name => Sort::Name,
        }
    }
}

/// `?band=&status=&owner=&scorecard=&min_score=&max_score=&sort=&limit=&cursor=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only those in this band.
    #[param(inline)]
    band: Option<Band>,
    /// Only those with this status.
    #[param(inline)]
    status: Option<ScoreStatus>,
    /// Only those this HubSpot owner owns (an id from `GET /owners`).
    #[param(minimum = 1, example = 70000137)]
    owner: Option<i64>,
    /// Only those the scorecard of this name scored.
    #[param(example = "accounts")]
    scorecard: Option<String>,
    /// Only scores at least this (0-100).
    #[param(value_type = Option<f64>, minimum = 0, maximum = 100, example = 40)]
    min_score: Option<Decimal>,
    /// Only scores at most this (0-100).
    #[param(value_type = Option<f64>, minimum = 0, maximum = 100, example = 70)]
    max_score: Option<Decimal>,
    /// `-score` (default), `score` or `name`.
    #[param(inline)]
    sort: Option<ListSort>,
    /// Rows per page, 1 to 500 (50 by default).
    #[param(minimum = 1, maximum = 500, example = 50)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page (with the same sort).
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

fn filter(query: &ListQuery) -> Result<ListFilter, ApiError> {
    let sort: Sort = query.sort.unwrap_or_default().into();
    let after = match &query.cursor {
        Some(cursor) => Some(decode_cursor(cursor, sort)?),
        None => None,
    };
    let limit = super::query::limit(query.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    Ok(ListFilter {
        band: query.band,
        status: query.status,
        owner: match query.owner {
            Some(id) => Some(u64::try_from(id).ok().filter(|id| *id > 0).ok_or_else(|| {
                ApiError::bad_field(
                    "owner",
                    "owner must be an owner id from GET /owners",
                    "not an owner id",
                )
            })?),
            None => None,
        },
        scorecard: query.scorecard.clone(),
        min_tenths: tenths("min_score", query.min_score)?,
        max_tenths: tenths("max_score", query.max_score)?,
        sort,
        limit,
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
    let text = serde_json::to_string(&(sort_name(sort), key, id)).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(text)
}

fn decode_cursor(cursor: &str, sort: Sort) -> Result<(SortKey, u64), ApiError> {
    let bad = || {
        ApiError::bad_field(
            "cursor",
            "cursor is not one this API gave out",
            "not a cursor",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let (cursor_sort, key, id): (String, SortKey, u64) =
        serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let fits = matches!(
        (sort, &key),
        (Sort::Name, SortKey::Name(_)) | (Sort::ScoreDesc | Sort::ScoreAsc, SortKey::Score(_))
    );
    if cursor_sort != sort_name(sort) || !fits {
        return Err(ApiError::bad_field(
            "cursor",
            format!("this cursor belongs to sort={cursor_sort}; keep the sort a cursor came with"),
            "belongs to another sort",
        ));
    }
    Ok((key, id))
}

/// One customer of the list, as last scored.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerRow {
    /// The contact's HubSpot id.
    #[schema(example = "101")]
    id: String,
    /// Its email.
    email: String,
    /// Its name (or email when it has none).
    name: String,
    /// 0-100, one decimal; null unless scored.
    #[serde(serialize_with = "serialize_opt_float")]
    #[schema(value_type = Option<f64>, example = 72.5)]
    score: Option<Decimal>,
    /// Null unless scored.
    band: Option<Band>,
    /// Scored, or too little known to score.
    status: ScoreStatus,
    /// The configuration version it was scored with.
    config_version: u32,
    /// When it was scored.
    #[serde(serialize_with = "healthscore_domain::time::serialize")]
    #[schema(value_type = String, format = DateTime)]
    scored_at: chrono::DateTime<chrono::Utc>,
    /// The factor that costs it the most points (a built-in factor's name or a custom
    /// factor's key); null when none applies.
    #[schema(example = "engagement_recency")]
    weakest_factor: Option<String>,
    /// Its own last sales activity in HubSpot; null when it never had one.
    #[serde(serialize_with = "healthscore_domain::time::serialize_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    last_activity_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Its HubSpot owner; null when it has none.
    owner: Option<OwnerRef>,
    /// The scorecard that scored it.
    #[schema(example = "default")]
    scorecard: String,
}

impl CustomerRow {
    fn from_row(row: ScoreRow, owners: &OwnerDirectory) -> Self {
        let listed = Listed::from_row(row, owners);
        Self {
            id: listed.id,
            email: listed.handle,
            name: listed.name,
            score: listed.score,
            band: listed.band,
            status: listed.status,
            config_version: listed.config_version,
            scored_at: listed.scored_at,
            weakest_factor: listed.weakest_factor,
            last_activity_at: listed.last_activity_at,
            owner: listed.owner,
            scorecard: listed.scorecard,
        }
    }
}

/// One account of the list, as last scored.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompanyRow {
    /// The company's HubSpot id.
    #[schema(example = "5001")]
    id: String,
    /// Its domain (empty when it has none).
    domain: String,
    /// Its name (or domain when it has none).
    name: String,
    /// 0-100, one decimal; null unless scored.
    #[serde(serialize_with = "serialize_opt_float")]
    #[schema(value_type = Option<f64>, example = 72.9)]
    score: Option<Decimal>,
    /// Null unless scored.
    band: Option<Band>,
    /// Scored, or too little known to score.
    status: ScoreStatus,
    /// The configuration version it was scored with.
    config_version: u32,
    /// When it was scored.
    #[serde(serialize_with = "healthscore_domain::time::serialize")]
    #[schema(value_type = String, format = DateTime)]
    scored_at: chrono::DateTime<chrono::Utc>,
    /// The factor that costs it the most points; null when none applies.
    #[schema(example = "customer_health")]
    weakest_factor: Option<String>,
    /// Its own last sales activity in HubSpot; null when it never had one.
    #[serde(serialize_with = "healthscore_domain::time::serialize_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    last_activity_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Its HubSpot owner; null when it has none.
    owner: Option<OwnerRef>,
    /// The scorecard that scored it.
    #[schema(example = "accounts")]
    scorecard: String,
}

impl CompanyRow {
    fn from_row(row: ScoreRow, owners: &OwnerDirectory) -> Self {
        let listed = Listed::from_row(row, owners);
        Self {
            id: listed.id,
            domain: listed.handle,
            name: listed.name,
            score: listed.score,
            band: listed.band,
            status: listed.status,
            config_version: listed.config_version,
            scored_at: listed.scored_at,
            weakest_factor: listed.weakest_factor,
            last_activity_at: listed.last_activity_at,
            owner: listed.owner,
            scorecard: listed.scorecard,
        }
    }
}

/// A stored row read for a listing, whichever the subject type.
struct Listed {
    id: String,
    handle: String,
    name: String,
    score: Option<Decimal>,
    band: Option<Band>,
    status: ScoreStatus,
    config_version: u32,
    scored_at: chrono::DateTime<chrono::Utc>,
    weakest_factor: Option<String>,
    last_activity_at: Option<chrono::DateTime<chrono::Utc>>,
    owner: Option<OwnerRef>,
    scorecard: String,
}

impl Listed {
    fn from_row(row: ScoreRow, owners: &OwnerDirectory) -> Self {
        let band = Band::ALL
            .into_iter()
            .find(|b| row.band.as_deref() == Some(b.as_str()));
        let status = if row.status == ScoreStatus::Scored.as_str() {
            ScoreStatus::Scored
        } else {
            ScoreStatus::InsufficientData
        };
        Self {
            owner: OwnerRef::of(owners, row.owner_id.as_deref()),
            id: row.subject_id.to_string(),
            handle: row.email,
            name: row.name,
            score: row.score_tenths.map(|t| Decimal::new(t, 1)),
            band,
            status,
            config_version: row.config_version,
            scored_at: chrono::DateTime::from_timestamp_millis(row.scored_at).unwrap_or_default(),
            weakest_factor: row.weakest_factor,
            last_activity_at: row
                .last_activity
                .as_deref()
                .map(normalize_property_time)
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.with_timezone(&chrono::Utc)),
            scorecard: row.scorecard,
        }
    }
}

/// A page of customers.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerPage {
    /// In the asked order.
    customers: Vec<CustomerRow>,
    /// Pass as `cursor` for the next page; null on the last one.
    next_cursor: Option<String>,
}

/// A page of accounts.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompanyPage {
    /// In the asked order.
    companies: Vec<CompanyRow>,
    /// Pass as `cursor` for the next page; null on the last one.
    next_cursor: Option<String>,
}

/// The portal's customers by current score: filtered, sorted and a page at a time.
#[utoipa::path(
    get, path = "/customers", tag = "customers",
    params(ListQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "A page of customers", body = CustomerPage),
        (status = 400, description = "A bad filter, sort, limit or cursor", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Portal(portal): Portal,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<CustomerPage>, ApiError> {
    let (rows, owners, next_cursor) = page(&state, portal, Subject::Contact, &query).await?;
    Ok(Json(CustomerPage {
        customers: rows
            .into_iter()
            .map(|row| CustomerRow::from_row(row, &owners))
            .collect(),
        next_cursor,
    }))
}

/// The portal's accounts (companies a company scorecard scores) by current score: filtered,
/// sorted and a page at a time.
#[utoipa::path(
    get, path = "/companies", tag = "accounts",
    params(ListQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "A page of accounts", body = CompanyPage),
        (status = 400, description = "A bad filter, sort, limit or cursor", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_companies(
    State(state): State<AppState>,
    Portal(portal): Portal,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<CompanyPage>, ApiError> {
    let (rows, owners, next_cursor) = page(&state, portal, Subject::Company, &query).await?;
    Ok(Json(CompanyPage {
        companies: rows
            .into_iter()
            .map(|row| CompanyRow::from_row(row, &owners))
            .collect(),
        next_cursor,
    }))
}

/// One page of stored rows, the owner directory to name their owners, and the next cursor.
async fn page(
    state: &AppState,
    portal: healthscore_domain::ids::PortalId,
    subject: Subject,
    query: &ListQuery,
) -> Result<(Vec<ScoreRow>, OwnerDirectory, Option<String>), ApiError> {
    let filter = filter(query)?;
    let rows = materialized::list(&state.db, portal, subject, &filter).await?;
    let owners = state
        .owners
        .directory(portal)
        .await
        .map_err(ApiError::internal)?;
    let next_cursor = (rows.len() as i64 == filter.limit)
        .then(|| {
            rows.last().map(|row| {
                let key = match filter.sort {
                    Sort::Name => SortKey::Name(row.name.clone()),
                    _ => SortKey::Score(row.score_tenths.unwrap_or(-1)),
                };
                encode_cursor(filter.sort, &key, row.subject_id)
            })
        })
        .flatten();
    Ok((rows, owners, next_cursor))
}

/// How many customers are in each band.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct BandCounts {
    /// Healthy customers.
    healthy: usize,
    /// At-risk customers.
    at_risk: usize,
    /// Critical customers.
    critical: usize,
}

/// The portal at a glance.
#[derive(Debug, Serialize, ToSchema)]
pub struct Summary {
    /// The newest score's time; null before anything is scored.
    #[serde(serialize_with = "healthscore_domain::time::serialize_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    as_of: Option<chrono::DateTime<chrono::Utc>>,
    /// What is counted: customers (`contact`) or accounts (`company`).
    subject: Subject,
    /// Customers (or, for `subject=company`, accounts) in all.
    customers: usize,
    /// Scored customers per band.
    bands: BandCounts,
    /// Customers too little is known about to score.
    insufficient_data: usize,
    /// The mean score of the scored customers, one decimal; null when none is scored.
    #[serde(serialize_with = "serialize_opt_float")]
    #[schema(value_type = Option<f64>, example = 64.2)]
    mean_score: Option<Decimal>,
}

/// `?as_of=&subject=&scorecard=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {
    /// `contact` (customers, the default) or `company` (accounts).
    #[param(inline)]
    subject: Option<Subject>,
    /// Only the subjects this scorecard scores.
    #[param(example = "accounts")]
    scorecard: Option<String>,
    /// The portal as of this past time (RFC 3339), scored from the log with the current
    /// configuration; left out, the current scores as last materialized.
    #[serde(default, deserialize_with = "super::query::time")]
    #[param(value_type = Option<String>, format = DateTime, example = "2026-11-24T00:00:00Z")]
    as_of: Option<chrono::DateTime<chrono::Utc>>,
}

/// Band counts and the mean score of the portal's customers: as last scored, or as of any
/// past time (for trends: "since last week").
#[utoipa::path(
    get, path = "/scores/summary", tag = "scores",
    params(SummaryQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The portal's band counts and mean", body = Summary),
        (status = 404, description = "No such configuration", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn summary(
    State(state): State<AppState>,
    Portal(portal): Portal,
    ApiQuery(query): ApiQuery<SummaryQuery>,
) -> Result<Json<Summary>, ApiError> {
    let subject = query.subject.unwrap_or_default();
    let scorecard = query.scorecard.as_deref();
    if let Some(at) = query.as_of {
        return summary_at(&state, portal, subject, scorecard, at)
            .await
            .map(Json);
    }
    let mut rows = materialized::all(&state.db, portal, subject).await?;
    if let Some(name) = scorecard {
        rows.retain(|row| row.scorecard == name);
    }
    let mut bands = BandCounts::default();
    for row in &rows {
        match row.band.as_deref() {
            Some("healthy") => bands.healthy += 1,
            Some("at_risk") => bands.at_risk += 1,
            Some("critical") => bands.critical += 1,
            _ => {}
        }
    }
    let scored: Vec<i64> = rows.iter().filter_map(|r| r.score_tenths).collect();
    let mean_score = (!scored.is_empty()).then(|| {
        (Decimal::from(scored.iter().sum::<i64>()) / Decimal::from(scored.len()) / Decimal::TEN)
            .round_dp(1)
    });
    let as_of = rows
        .iter()
        .map(|r| r.scored_at)
        .max()
        .and_then(chrono::DateTime::from_timestamp_millis);
    Ok(Json(Summary {
        as_of,
        subject,
        customers: rows.len(),
        bands,
        insufficient_data: rows
            .iter()
            .filter(|r| r.status == ScoreStatus::InsufficientData.as_str())
            .count(),
        mean_score,
    }))
}

/// The summary as of `at`, every subject then scored from the log with the current
/// configuration (one full scoring pass: the cost of a preview).
async fn summary_at(
    state: &AppState,
    portal: healthscore_domain::ids::PortalId,
    subject: Subject,
    scorecard: Option<&str>,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Summary, ApiError> {
    let (_, document) = super::scores::config_for(state, portal, None).await?;
    state.scoring.catch_up().await?;
    let mut scores = state.scoring.with_portal(portal, |objects| {
        Scorer::new(objects, &document, at).score_all(subject, false)
    });
    if let Some(name) = scorecard {
        scores.retain(|s| s.report.scorecard.as_deref() == Some(name));
    }
    let mut bands = BandCounts::default();
    let mut total = Decimal::ZERO;
    let mut scored = 0usize;
    for score in &scores {
        match score.report.band {
            Some(Band::Healthy) => bands.healthy += 1,
            Some(Band::AtRisk) => bands.at_risk += 1,
            Some(Band::Critical) => bands.critical += 1,
            None => {}
        }
        if let Some(value) = score.report.score {
            total += value;
            scored += 1;
        }
    }
    Ok(Summary {
        as_of: Some(at),
        subject,
        customers: scores.len(),
        bands,
        insufficient_data: scores.len() - scored,
        mean_score: (scored > 0).then(|| (total / Decimal::from(scored)).round_dp(1)),
    })
}
