//! `GET /owners`: the HubSpot users who own the portal's records, as the last sync read them,
//! and the owner every customer and company answer names.

use axum::Json;
use axum::extract::State;
use healthscore_domain::owners::{Owner, OwnerDirectory};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::Portal;
use super::problem::ApiError;

/// A record's owner.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OwnerRef {
    /// The HubSpot owner id (`hubspot_owner_id`); pass it as `?owner=` to list their customers.
    #[schema(example = "70000137")]
    id: String,
    /// "First Last" (or the email); null when no sync has read this owner yet.
    #[schema(example = "Brianna Cho")]
    name: Option<String>,
    /// Their email, when known.
    email: Option<String>,
    /// True when the user has left the portal; their records still name them.
    archived: bool,
}

impl OwnerRef {
    /// The owner named by a record's `hubspot_owner_id` value, if it names one.
    pub fn of(directory: &OwnerDirectory, owner_id: Option<&str>) -> Option<Self> {
        let id = owner_id?.trim();
        let known = id.parse().ok().and_then(|id| directory.get(id));
        Some(match known {
            Some(owner) => Self::from(owner),
            None if id.is_empty() => return None,
            None => Self {
                id: id.to_owned(),
                name: None,
                email: None,
                archived: false,
            },
        })
    }
}

impl From<&Owner> for OwnerRef {
    fn from(owner: &Owner) -> Self {
        Self {
            id: owner.id.to_string(),
            name: Some(owner.display_name()),
            email: owner.email.clone(),
            archived: owner.archived,
        }
    }
}

/// The portal's owners.
#[derive(Debug, Serialize, ToSchema)]
pub struct OwnerList {
    /// Active owners first, then those who left, each by name.
    owners: Vec<OwnerRef>,
}

/// The portal's owners, as the last sync read them from HubSpot (`/crm/v3/owners`).
#[utoipa::path(
    get, path = "/owners", tag = "customers",
    security(("api_key" = [])),
    responses((status = 200, description = "The owners", body = OwnerList))
)]
pub async fn list(
    State(state): State<AppState>,
    Portal(portal): Portal,
) -> Result<Json<OwnerList>, ApiError> {
    let directory = state
        .owners
        .directory(portal)
        .await
        .map_err(ApiError::internal)?;
    let mut owners: Vec<&Owner> = directory.all().collect();
    owners.sort_by_cached_key(|o| (o.archived, o.display_name().to_lowercase(), o.id));
    Ok(Json(OwnerList {
        owners: owners.into_iter().map(OwnerRef::from).collect(),
    }))
}
