//! `GET /customers/{id}`, `/companies/{id}`, `/deals/{id}`: one object with its properties and
//! associations. Another portal's object answers 404, exactly like a missing one.

use axum::Json;
use axum::extract::{Path, State};
use healthscore_domain::ids::{ObjectRef, ObjectType};
use healthscore_projections::read_models::queries::{self, ObjectView};
use serde::Deserialize;
use utoipa::IntoParams;

use super::AppState;
use super::auth::Portal;
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
        (status = 200, description = "The customer", body = ObjectView),
        (status = 404, description = "No such customer in this portal", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn customer(
    State(state): State<AppState>,
    portal: Portal,
    Path(ObjectPath { id }): Path<ObjectPath>,
) -> Result<Json<ObjectView>, ApiError> {
    let contact = object_ref(portal, ObjectType::Contact, &id)?;
    let view = queries::customer(&state.db, contact).await?;
    view.map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no customer {id}")))
}

/// A company, with its properties and associations.
#[utoipa::path(
    get, path = "/companies/{id}", tag = "objects",
    params(ObjectPath),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The company", body = ObjectView),
        (status = 404, description = "No such company in this portal", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn company(
    State(state): State<AppState>,
    portal: Portal,
    Path(ObjectPath { id }): Path<ObjectPath>,
) -> Result<Json<ObjectView>, ApiError> {
    one(&state, portal, ObjectType::Company, &id).await
}

/// A deal, with its properties and associations.
#[utoipa::path(
    get, path = "/deals/{id}", tag = "objects",
    params(ObjectPath),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The deal", body = ObjectView),
        (status = 404, description = "No such deal in this portal", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn deal(
    State(state): State<AppState>,
    portal: Portal,
    Path(ObjectPath { id }): Path<ObjectPath>,
) -> Result<Json<ObjectView>, ApiError> {
    one(&state, portal, ObjectType::Deal, &id).await
}

async fn one(
    state: &AppState,
    portal: Portal,
    object_type: ObjectType,
    id: &str,
) -> Result<Json<ObjectView>, ApiError> {
    let object = object_ref(portal, object_type, id)?;
    let view = queries::object(&state.db, object).await?;
    view.map(Json).ok_or_else(|| not_found(object_type, id))
}
