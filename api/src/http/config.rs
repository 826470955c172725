//! `GET`/`PUT /scoring/config` (with `ETag` / `If-Match`) and `GET /scoring/config/versions`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use healthscore_domain::ids::PortalId;
use healthscore_domain::scoring::{ConfigDocument, ScoringDocument};
use healthscore_domain::scoring_config::ConfigVersion;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Portal;
use super::body::JsonBytes;
use super::problem::{ApiError, Problem};
use super::query::ApiQuery;

/// The largest configuration document accepted (`PUT /scoring/config`, `POST /scoring/preview`):
/// far above any real one, small enough that every version stays cheap to keep and list.
pub const MAX_CONFIG_BYTES: usize = 64 * 1024;
/// Versions listed per page unless `limit` says otherwise, and at most.
const DEFAULT_VERSIONS_PAGE: u32 = 20;
const MAX_VERSIONS_PAGE: u32 = 100;

/// One version of the configuration.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    /// The version number (1 is the defaults); also the `ETag`.
    version: u32,
    /// When it was accepted. Version 1, the defaults, counts from the portal's first API key.
    #[serde(serialize_with = "healthscore_domain::time::serialize_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    updated_at: Option<DateTime<Utc>>,
    /// The whole configuration of this version in the shape it was written in (a v1 document
    /// or `{"scorecards": [...]}`), defaults filled in.
    #[schema(value_type = Object)]
    config: Value,
}

impl VersionView {
    fn new(version: &ConfigVersion<'_>, portal_since: Option<DateTime<Utc>>) -> Self {
        Self {
            version: version.version,
            updated_at: version.updated_at.or(portal_since),
            config: version.document.to_json(),
        }
    }
}

/// When the portal began with the defaults (version 1).
async fn portal_since(
    state: &AppState,
    portal: PortalId,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    let since = healthscore_projections::api_keys::portal_since(&state.db, portal).await?;
    Ok(since.and_then(DateTime::from_timestamp_millis))
}

/// The current version of `portal`'s configuration, with its `ETag`.
async fn current(
    state: &AppState,
    portal: PortalId,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let configs = state.configs.load(portal).await?;
    let version = configs.current_version();
    let since = portal_since(state, portal).await?;
    let view = configs
        .versions()
        .into_iter()
        .find(|v| v.version == version)
        .map(|v| VersionView::new(&v, since))
        .ok_or_else(|| ApiError::internal("the current version is not among the versions"))?;
    let mut response = (status, Json(view)).into_response();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    Ok(response)
}

/// The current scoring configuration; its version is the `ETag`.
#[utoipa::path(
    get, path = "/scoring/config", tag = "configuration",
    security(("api_key" = [])),
    responses((status = 200, description = "The current version", body = VersionView,
        headers(("ETag" = String, description = "The version, quoted: send it back as If-Match"))))
)]
pub async fn get(
    State(state): State<AppState>,
    Portal(portal): Portal,
) -> Result<Response, ApiError> {
    current(&state, portal, StatusCode::OK).await
}

/// `?after=&limit=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct VersionsQuery {
    /// List the versions after this one (0 by default: from the first).
    #[param(minimum = 0, example = 0)]
    after: Option<i64>,
    /// Versions per page, 1 to 100 (20 by default).
    #[param(minimum = 1, maximum = 100, example = 20)]
    limit: Option<u32>,
}

/// A page of versions, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionPage {
    /// The version scores use unless a request names one.
    current_version: u32,
    /// Oldest first.
    versions: Vec<VersionView>,
    /// Pass as `after` for the next page; null on the last one.
    next_after: Option<u32>,
}

/// Every version of the configuration, oldest first, a page at a time.
#[utoipa::path(
    get, path = "/scoring/config/versions", tag = "configuration",
    params(VersionsQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "A page of versions", body = VersionPage),
        (status = 400, description = "A bad `after` or `limit`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn versions(
    State(state): State<AppState>,
    Portal(portal): Portal,
    ApiQuery(query): ApiQuery<VersionsQuery>,
) -> Result<Json<VersionPage>, ApiError> {
    let limit = super::query::limit(query.limit, DEFAULT_VERSIONS_PAGE, MAX_VERSIONS_PAGE)?;
    let after = query.after.unwrap_or(0);
    if after < 0 {
        return Err(ApiError::bad_field(
            "after",
            format!("after must be a version number (0 or more), not {after}"),
            "must be 0 or more",
        ));
    }
    let configs = state.configs.load(portal).await?;
    let since = portal_since(&state, portal).await?;
    let limit = limit as usize;
    let mut page: Vec<VersionView> = configs
        .versions()
        .iter()
        .filter(|v| i64::from(v.version) > after)
        .take(limit + 1)
        .map(|v| VersionView::new(v, since))
        .collect();
    let more = page.len() > limit;
    page.truncate(limit);
    let next_after = more.then(|| page.last().map(|v| v.version)).flatten();
    Ok(Json(VersionPage {
        current_version: configs.current_version(),
        versions: page,
        next_after,
    }))
}

/// Factor weights: each 0 to 100, adding up to 100; a factor left out weighs 0.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WeightsInput {
    /// How recently the customer engaged.
    #[schema(minimum = 0, maximum = 100)]
    pub engagement_recency: Option<f64>,
    /// How its open deals move.
    #[schema(minimum = 0, maximum = 100)]
    pub deal_momentum: Option<f64>,
    /// Its deal value against the portal's median.
    #[schema(minimum = 0, maximum = 100)]
    pub deal_value: Option<f64>,
    /// Its lifecycle stage.
    #[schema(minimum = 0, maximum = 100)]
    pub lifecycle_stage: Option<f64>,
    /// How often it is active.
    #[schema(minimum = 0, maximum = 100)]
    pub activity_frequency: Option<f64>,
}

/// Band thresholds on the 0-100 score, `healthy_min` above `at_risk_min`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BandsInput {
    /// Scores at or above this are healthy.
    #[schema(minimum = 0, maximum = 100)]
    pub healthy_min: Option<f64>,
    /// Scores at or above this (and below `healthy_min`) are at risk; below, critical.
    #[schema(minimum = 0, maximum = 100)]
    pub at_risk_min: Option<f64>,
}

/// A configuration document: the weights, and any other part of the configuration; what is
/// left out keeps its default. Rules no schema can say (weights adding up to 100, healthy
/// above at risk) answer 422 naming the field.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "weights": {"engagement_recency": 30, "deal_momentum": 25, "deal_value": 15, "lifecycle_stage": 15, "activity_frequency": 15},
    "bands": {"healthy_min": 70, "at_risk_min": 40}
}))]
pub struct ConfigInput {
    /// Factor weights adding up to 100.
    pub weights: WeightsInput,
    /// Band thresholds.
    pub bands: Option<BandsInput>,
    /// The share of weight (0, 1] that must apply for a score.
    #[schema(exclusive_minimum = 0, maximum = 1)]
    pub min_coverage: Option<f64>,
    /// `half_life_days` (> 0).
    #[schema(value_type = Option<Object>)]
    pub engagement_recency: Option<Value>,
    /// `window_days` and `won_lookback_days` (> 0).
    #[schema(value_type = Option<Object>)]
    pub deal_momentum: Option<Value>,
    /// `values`: lifecycle stage id to a value in [0, 1]; replaces the default map whole.
    #[schema(value_type = Option<Object>)]
    pub lifecycle_stage: Option<Value>,
    /// `window_days` and `half_saturation` (> 0).
    #[schema(value_type = Option<Object>)]
    pub activity_frequency: Option<Value>,
}

/// `config` as a scoring document: 422 naming each bad field, and each property the portal
/// lacks once its properties were discovered.
pub(crate) async fn validated(
    state: &AppState,
    portal: healthscore_domain::ids::PortalId,
    config: &ConfigDocument,
    invalid: &str,
) -> Result<ScoringDocument, ApiError> {
    let refuse = |fields: Vec<healthscore_domain::scoring::FieldError>| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, invalid)
            .with_errors(fields.into_iter().map(super::problem::FieldProblem::from))
    };
    let document = ScoringDocument::from_document(config).map_err(refuse)?;
    let catalog = state
        .properties
        .catalog(portal)
        .await
        .map_err(ApiError::internal)?;
    let unknown = document.unknown_properties(&|kind, name| {
        healthscore_domain::hubspot::properties::kept(kind).contains(&name)
            || catalog.may_have(kind, name)
    });
    if unknown.is_empty() {
        Ok(document)
    } else {
        Err(refuse(unknown))
    }
}

/// Saves a new version (a document identical to the current version saves nothing). Send the
/// `ETag` you read as `If-Match` so an update made since is not overwritten.
#[utoipa::path(
    put, path = "/scoring/config", tag = "configuration",
    request_body(content = ConfigInput, content_type = "application/json"),
    params(("If-Match" = Option<String>, Header, description = "The version you read (its ETag), or `*` for any", example = "\"1\"")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The version now current", body = VersionView,
            headers(("ETag" = String, description = "The new version, quoted"))),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version than the current one", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The configuration is invalid: `errors` names each bad field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put(
    State(state): State<AppState>,
    Portal(portal): Portal,
    headers: HeaderMap,
    JsonBytes(body): JsonBytes,
) -> Result<Response, ApiError> {
    let config = ConfigDocument::parse(&body)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    // A request that is wrong whatever the version is refused as such (400, 422) before its
    // precondition is looked at (RFC 9110, 13.2.1).
    validated(&state, portal, &config, "the configuration is invalid").await?;
    let expected = match headers.get(header::IF_MATCH) {
        Some(value) => parse_if_match(value)?,
        None => None,
    };
    if let Some(expected) = expected {
        // The aggregate checks again when it records, so a concurrent update is still caught.
        let current = state.configs.load(portal).await?.current_version();
        if expected != current {
            return Err(ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                format!("If-Match \"{expected}\" is stale: the current version is {current}"),
            ));
        }
    }
    state
        .configs
        .update(portal, config, expected, Utc::now())
        .await?;
    state.config_changed.notify_one();
    current(&state, portal, StatusCode::OK).await
}

/// `If-Match: "3"` (or `3`, or `W/"3"`) to version 3; `*`, which matches any version, to `None`.
pub(crate) fn parse_if_match(value: &HeaderValue) -> Result<Option<u32>, ApiError> {
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    text.parse().map(Some).map_err(|_| {
        ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            format!("If-Match {text:?} names no version"),
        )
    })
}
