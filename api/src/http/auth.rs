//! `Authorization: Bearer <key>`: every REST endpoint but the webhook and probes sees only its
//! key's portal, and spends one request of the key's budget when there is one.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use healthscore_domain::ids::PortalId;
use healthscore_projections::api_keys::{self, KeyIdentity, KeyScope};

use super::AppState;
use super::problem::ApiError;

/// The portal the request's API key belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Portal(pub PortalId);

impl FromRequestParts<AppState> for Portal {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let key = authenticate(parts, state).await?;
        match key.scope {
            KeyScope::Portal => Ok(Portal(key.portal)),
            KeyScope::Operator => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "an operator key manages connections and keys; read a portal's data with one of its own keys",
            )
            .into_response()),
        }
    }
}

/// A portal key and its name: for requests that record who made them.
#[derive(Debug, Clone)]
pub struct PortalKey {
    /// The key's portal.
    pub portal: PortalId,
    /// The key's name.
    pub name: String,
}

impl FromRequestParts<AppState> for PortalKey {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let key = authenticate(parts, state).await?;
        match key.scope {
            KeyScope::Portal => Ok(PortalKey {
                portal: key.portal,
                name: key.name,
            }),
            KeyScope::Operator => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "an operator key manages connections and keys; write a portal's data with one of its own keys",
            )
            .into_response()),
        }
    }
}

/// An operator key: it manages every portal's connections and keys.
#[derive(Debug, Clone)]
pub struct Operator(pub KeyIdentity);

impl FromRequestParts<AppState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let key = authenticate(parts, state).await?;
        match key.scope {
            KeyScope::Operator => Ok(Operator(key)),
            KeyScope::Portal => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "this needs an operator key (healthscore keys create --operator)",
            )
            .into_response()),
        }
    }
}

/// The live key the request carries, with its budget spent; 401 without one.
async fn authenticate(parts: &Parts, state: &AppState) -> Result<KeyIdentity, Response> {
    let refuse = |error: ApiError| error.into_response();
    let key = bearer(&parts.headers).ok_or_else(|| {
        refuse(ApiError::unauthorized(
            "send Authorization: Bearer <API key>",
        ))
    })?;
    let key = key.trim();
    match api_keys::authenticate(&state.db, key).await {
        Ok(Some(identity)) => {
            if let Some(budget) = &state.key_budget {
                budget.spend(key).map_err(IntoResponse::into_response)?;
            }
            Ok(identity)
        }
        Ok(None) => Err(refuse(ApiError::unauthorized("unknown or revoked API key"))),
        Err(error) => Err(refuse(ApiError::from(error))),
    }
}

/// The token of `Authorization: Bearer <token>`, if sent.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
}
