//! Files built into the binary (the dashboard, the API docs page), served with a content
//! policy that lets a page load its own scripts and styles and call this API, nothing else.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::problem::ApiError;

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// Its name in the URL.
    pub name: &'static str,
    /// Its media type.
    pub content_type: &'static str,
    /// Its bytes.
    pub bytes: &'static [u8],
}

/// What a page may load: its own scripts and styles, `data:` images (icons drawn by CSS),
/// and calls to this API. No inline script or style attribute, nothing from elsewhere.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

/// `name` of `assets`, or 404.
pub fn serve(assets: &[Asset], name: &str) -> Result<Response, ApiError> {
    let asset = assets
        .iter()
        .find(|a| a.name == name)
        .ok_or_else(|| ApiError::not_found(format!("no file {name}")))?;
    Ok((
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(PAGE_POLICY),
            ),
            // Pages always revalidate: a new release's page never runs with old scripts.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        asset.bytes,
    )
        .into_response())
}
