//! `GET /properties/{contacts|companies|deals}`: the portal's HubSpot properties as last
//! discovered (every full sync reads them), and `POST /properties/refresh` to read them now.
//! Scorecards name properties from this list; once it is known, a configuration naming a
//! property the portal lacks is refused.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use healthscore_domain::ids::ObjectType;
use healthscore_domain::property_catalog::PropertyDefinition;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Portal;
use super::problem::{ApiError, Problem};
use crate::sync::SyncError;
use crate::sync::properties::DiscoveryError;

/// Which object type.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TypePath {
    /// `contacts`, `companies` or `deals`.
    #[param(example = "companies")]
    object_type: String,
}

/// One object type's properties.
#[derive(Debug, Serialize, ToSchema)]
pub struct PropertyList {
    /// `contacts`, `companies` or `deals`.
    #[schema(example = "companies")]
    object_type: &'static str,
    /// True once a discovery read this type; until then any property name is accepted.
    discovered: bool,
    /// When a discovery last found a change (null before the first).
    #[serde(serialize_with = "healthscore_domain::time::serialize_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    changed_at: Option<DateTime<Utc>>,
    /// Every property, by name.
    properties: Vec<PropertyDefinition>,
}

/// What a refresh read.
#[derive(Debug, Serialize, ToSchema)]
pub struct Refreshed {
    /// How many properties each type has now.
    #[schema(example = json!({"contacts": 412, "companies": 220, "deals": 180}))]
    counts: std::collections::BTreeMap<&'static str, usize>,
}

fn object_type(plural: &str) -> Result<ObjectType, ApiError> {
    ObjectType::ALL
        .into_iter()
        .find(|kind| kind.plural() == plural)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no object type {plural:?}: properties are listed for contacts, companies or deals"
            ))
        })
}

/// The portal's properties of one object type, as last discovered.
#[utoipa::path(
    get, path = "/properties/{object_type}", tag = "configuration",
    params(TypePath),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The properties", body = PropertyList),
        (status = 404, description = "Not contacts, companies or deals", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Portal(portal): Portal,
    Path(TypePath {
        object_type: plural,
    }): Path<TypePath>,
) -> Result<Json<PropertyList>, ApiError> {
    let kind = object_type(&plural)?;
    let catalog = state
        .properties
        .catalog(portal)
        .await
        .map_err(ApiError::internal)?;
    let found = catalog.of(kind);
    Ok(Json(PropertyList {
        object_type: kind.plural(),
        discovered: found.is_some(),
        changed_at: found.and_then(|f| f.changed_at),
        properties: found
            .map(|f| f.properties.values().cloned().collect())
            .unwrap_or_default(),
    }))
}

/// Reads every object type's properties from HubSpot now and records what changed.
#[utoipa::path(
    post, path = "/properties/refresh", tag = "configuration",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Read and recorded", body = Refreshed),
        (status = 403, description = "The configured token is another portal's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The portal must be connected again", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "HubSpot refused or failed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The portal is not connected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn refresh(
    State(state): State<AppState>,
    Portal(portal): Portal,
) -> Result<Json<Refreshed>, ApiError> {
    let syncer = state.syncer_for(portal).await?;
    let client = syncer.client();
    // A fixed token may be another portal's: its properties must not be recorded as ours.
    let token_portal = client.account_portal_id().await.map_err(SyncError::from)?;
    if token_portal != portal.0 {
        return Err(SyncError::OtherPortal {
            token_portal: healthscore_domain::ids::PortalId(token_portal),
            asked: portal,
        }
        .into());
    }
    let counts = state
        .properties
        .discover(client, portal, "api")
        .await
        .map_err(|error| match error {
            DiscoveryError::HubSpot(error) => ApiError::from(SyncError::from(error)),
            DiscoveryError::Record(error) => ApiError::internal(error),
        })?;
    Ok(Json(Refreshed {
        counts: counts
            .into_iter()
            .map(|(kind, count)| (kind.plural(), count))
            .collect(),
    }))
}
