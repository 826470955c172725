//! `GET /customers/{id}`, `/companies/{id}`, `/deals/{id}`: one object with its properties and
//! associations. Another portal's object answers 404, exactly like a missing one.

use axum::Json;
use axum::extract::{Path, State};
use healthscore_domain::hubspot::properties;
use healthscore_domain::ids::{ObjectRef, ObjectType};
use healthscore_projections::read_models::queries::{self, ObjectView};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Portal;
use super::owners::OwnerRef;
use super::problem::{ApiError, Problem};

/// An object's HubSpot id.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ObjectPath {
    /// Its HubSpot id.
    #[param(example = "101")]
    id: String,
}

/// Parses a HubSpot id from the path; anything else is simply not found.
fn object_ref(portal: Portal, object_type: ObjectType, id: &str) -> Result<ObjectRef, ApiError> {
    let id = id.parse().map_err(|_| not_found(object_type, id))?;
    Ok(ObjectRef::new(portal.0, object_type, id))
}

fn not_found(object_type: ObjectType, id: &str) -> ApiError {
    ApiError::not_found(format!("no {} {id}", object_type.as_str()))
}

/// A customer (a live contact with an email), with its properties and associations.
#[utoipa::path(
    get, path = "/customers/{id}", tag = "customers",
    params(ObjectPath),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The customer", body = ObjectAnswer),
        (status = 404, description = "No such customer in this portal", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn customer(
    State(state): State<AppState>,
    portal: Portal,
    Path(ObjectPath { id }): Path<ObjectPath>,
) -> Result<Json<ObjectAnswer>, ApiError> {
    let contact = object_ref(portal, ObjectType::Contact, &id)?;
    let view = queries::customer(&state.db, contact)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no customer {id}")))?;
    with_owner(&state, portal, view).await
}

/// A company, with its properties and associations.
#[utoipa::path(
    get, path = "/companies/{id}", tag = "objects",
    params(ObjectPath),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The company", body = ObjectAnswer),
        (status = 404, description = "No such company in this portal", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn company(
    State(state): State<AppState>,
    portal: Portal,
    Path(ObjectPath { id }): Path<ObjectPath>,
) -> Result<Json<ObjectAnswer>, ApiError> {
    one(&state, portal, ObjectType::Company, &id).await
}

/// A deal, with its properties and associations.
#[utoipa::path(
    get, path = "/deals/{id}", tag = "objects",
    params(ObjectPath),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The deal", body = ObjectAnswer),
        (status = 404, description = "No such deal in this portal", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn deal(
    State(state): State<AppState>,
    portal: Portal,
    Path(ObjectPath { id }): Path<ObjectPath>,
) -> Result<Json<ObjectAnswer>, ApiError> {
    one(&state, portal, ObjectType::Deal, &id).await
}

async fn one(
    state: &AppState,
    portal: Portal,
    object_type: ObjectType,
    id: &str,
) -> Result<Json<ObjectAnswer>, ApiError> {
    let object = object_ref(portal, object_type, id)?;
    let view = queries::object(&state.db, object)
        .await?
        .ok_or_else(|| not_found(object_type, id))?;
    with_owner(state, portal, view).await
}

/// An object with its HubSpot owner.
#[derive(Debug, Serialize, ToSchema)]
pub struct ObjectAnswer {
    /// The object.
    #[serde(flatten)]
    object: ObjectView,
    /// Its owner (`hubspot_owner_id`, named from `GET /owners`); null when it has none.
    owner: Option<OwnerRef>,
}

async fn with_owner(
    state: &AppState,
    Portal(portal): Portal,
    object: ObjectView,
) -> Result<Json<ObjectAnswer>, ApiError> {
    let owners = state
        .owners
        .directory(portal)
        .await
        .map_err(ApiError::internal)?;
    let owner = OwnerRef::of(
        &owners,
        object.properties.get(properties::OWNER).map(String::as_str),
    );
    Ok(Json(ObjectAnswer { object, owner }))
}
