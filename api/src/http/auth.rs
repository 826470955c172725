//! `Authorization: Bearer <key>`: every REST endpoint but the webhook and probes sees only its
//! key's portal.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use healthscore_domain::ids::PortalId;
use healthscore_projections::api_keys;

use super::AppState;
use super::problem::ApiError;

/// The portal the request's API key belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Portal(pub PortalId);

impl FromRequestParts<AppState> for Portal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or_else(|| ApiError::unauthorized("send Authorization: Bearer <API key>"))?;
        match api_keys::authenticate(&state.db, key.trim()).await {
            Ok(Some(portal)) => Ok(Portal(portal)),
            Ok(None) => Err(ApiError::unauthorized("unknown or revoked API key")),
            Err(error) => Err(ApiError::internal(error)),
        }
    }
}
