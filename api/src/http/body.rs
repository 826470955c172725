//! JSON request bodies, refused as problem details: not JSON by its content type 415, larger
//! than the route's limit 413, malformed 400, well-formed but the wrong shape 422. Every endpoint
//! that takes JSON treats content types alike.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use super::problem::ApiError;

/// True when the request says its body is JSON (`application/json` or `application/*+json`).
fn says_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let essence = essence.to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// 415 unless the request says its body is JSON.
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    if says_json(headers) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the body as JSON with Content-Type: application/json",
        ))
    }
}

/// `bytes` as a `T`: 400 when they are not JSON, 422 when the JSON does not fit `T`.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|error| match error.classify() {
        serde_json::error::Category::Data => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the body does not fit this endpoint: {error}"),
        ),
        _ => ApiError::bad_request(format!("the body is not valid JSON: {error}")),
    })
}

/// A JSON body's bytes as sent (for endpoints that keep the exact text), after the content
/// type check; the route's body limit applies.
#[derive(Debug, Clone)]
pub struct JsonBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBytes {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        require_json(request.headers())?;
        Bytes::from_request(request, state)
            .await
            .map(Self)
            .map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))
    }
}

/// A JSON body deserialized into `T`.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let JsonBytes(bytes) = JsonBytes::from_request(request, state).await?;
        parse(&bytes).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types_are_recognised() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, value.parse().expect("header"));
            says_json(&headers)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(with("application/merge-patch+json"));
        assert!(!with("text/plain"));
        assert!(!with("application/jsonx"));
        assert!(!says_json(&HeaderMap::new()));
    }

    #[test]
    fn malformed_json_is_400_and_the_wrong_shape_422() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Mode {
            mode: String,
        }
        let status = |bytes: &[u8]| parse::<Mode>(bytes).map(|_| ()).unwrap_err().status();
        assert_eq!(status(b"{"), StatusCode::BAD_REQUEST);
        assert_eq!(status(b"{\"mode\": 3}"), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(parse::<Mode>(b"{\"mode\": \"full\"}").is_ok());
    }
}
