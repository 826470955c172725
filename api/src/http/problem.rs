//! The API's one error type, rendered as RFC 9457 problem details, and every module error's
//! way into it (`From`), so all status mapping lives here. A failure's cause is kept whole
//! and logged once, inside the request's span (with its `x-request-id`), when the answer is
//! made; it is never sent to the client.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::BoxError;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    detail: String,
    errors: Vec<FieldProblem>,
    run_id: Option<String>,
    cause: Option<BoxError>,
}

/// One field of a request that is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldProblem {
    /// The field: a query parameter, or a dotted path into the body (`weights.deal_value`).
    #[schema(example = "limit")]
    pub field: String,
    /// What is wrong with it, for a person.
    #[schema(example = "must be between 1 and 500")]
    pub message: String,
}

/// An RFC 9457 problem document (`application/problem+json`): every error answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "about:blank", "title": "Bad Request", "status": 400,
    "detail": "limit must be between 1 and 500, not 1000",
    "errors": [{"field": "limit", "message": "must be between 1 and 500"}]
}))]
pub struct Problem {
    /// Always `about:blank`: the status says what kind of problem it is.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's reason phrase.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong, for a person.
    pub detail: String,
    /// The fields that are wrong, when the request's fields are the problem.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
    /// With a 409 from `POST /sync`: the run already going (follow `/sync/runs/{run_id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

impl ApiError {
    /// An error with `status` and a message for the client.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            errors: Vec::new(),
            run_id: None,
            cause: None,
        }
    }

    /// Names the fields that are wrong.
    pub fn with_errors(mut self, errors: impl IntoIterator<Item = FieldProblem>) -> Self {
        self.errors.extend(errors);
        self
    }

    /// Keeps `cause`, logged when the answer is made.
    pub fn caused_by(mut self, cause: impl Into<BoxError>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    /// 400.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 400 for one bad field: `detail` for a person, `errors: [{field, message}]` for code.
    pub fn bad_field(field: &str, detail: impl Into<String>, message: &str) -> Self {
        Self::bad_request(detail).naming(field, message)
    }

    /// 422 naming the one field that is wrong.
    pub fn unprocessable_field(field: &str, detail: impl Into<String>, message: &str) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, detail).naming(field, message)
    }

    /// This problem with `errors: [{field, message}]`.
    fn naming(self, field: &str, message: &str) -> Self {
        self.with_errors([FieldProblem {
            field: field.to_owned(),
            message: message.to_owned(),
        }])
    }

    /// 401.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    /// 500: the client learns nothing of `cause`; the log does. A cause that is the database
    /// being out of reach or out of room (anywhere in its chain) is a 503 instead: the same
    /// request may succeed later.
    pub fn internal(cause: impl Into<BoxError>) -> Self {
        let cause = cause.into();
        if healthscore_projections::error::unavailable_in_chain(cause.as_ref()) {
            return Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is unavailable now; retry later",
            )
            .caused_by(cause);
        }
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; see the server log",
        )
        .caused_by(cause)
    }

    /// 503 with `Retry-After`: the event log could not record the request (nothing of it was
    /// written); the same request later may succeed.
    pub fn unavailable(cause: impl Into<BoxError>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the event log cannot record this now and nothing of it was recorded; retry later",
        )
        .caused_by(cause)
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message for the client.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

/// `error: cause: its cause ...`, the whole `source()` chain on one line.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(cause) = &self.cause {
            let cause = chain(cause.as_ref());
            if self.status.is_server_error() {
                tracing::error!(status = self.status.as_u16(), error = %cause, "request failed");
            } else {
                tracing::info!(status = self.status.as_u16(), error = %cause, "request refused");
            }
        }
        let body = Problem {
            kind: "about:blank".to_owned(),
            title: self.status.canonical_reason().unwrap_or("error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
            errors: self.errors,
            run_id: self.run_id,
        };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<healthscore_projections::StoreError> for ApiError {
    fn from(error: healthscore_projections::StoreError) -> Self {
        Self::internal(error)
    }
}

impl From<crate::scoring::configs::LoadError> for ApiError {
    fn from(error: crate::scoring::configs::LoadError) -> Self {
        Self::internal(error)
    }
}

impl From<crate::sync::runs::RunError> for ApiError {
    fn from(error: crate::sync::runs::RunError) -> Self {
        Self::internal(error)
    }
}

impl From<healthscore_projections::recorder::RecordError> for ApiError {
    fn from(error: healthscore_projections::recorder::RecordError) -> Self {
        use healthscore_projections::recorder::RecordError;
        match error {
            RecordError::Store(_) | RecordError::Stopped => Self::unavailable(error),
            RecordError::Domain(_) => Self::internal(error),
        }
    }
}

impl From<healthscore_domain::scoring::FieldError> for FieldProblem {
    fn from(error: healthscore_domain::scoring::FieldError) -> Self {
        Self {
            field: error.field,
            message: error.message,
        }
    }
}

impl From<crate::scoring::configs::UpdateError> for ApiError {
    fn from(error: crate::scoring::configs::UpdateError) -> Self {
        use crate::scoring::configs::UpdateError;
        use healthscore_domain::scoring_config::ScoringConfigError;
        match error {
            UpdateError::Refused(ScoringConfigError::Invalid(fields)) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the configuration is invalid",
            )
            .with_errors(fields.into_iter().map(FieldProblem::from)),
            UpdateError::Refused(error @ ScoringConfigError::VersionMismatch { .. }) => {
                Self::new(StatusCode::PRECONDITION_FAILED, error.to_string())
            }
            UpdateError::Concurrent => Self::new(
                StatusCode::PRECONDITION_FAILED,
                "the configuration changed concurrently; fetch it again",
            ),
            UpdateError::Store(_) => Self::internal(error),
        }
    }
}

impl From<crate::alerts::AlertsError> for ApiError {
    fn from(error: crate::alerts::AlertsError) -> Self {
        use crate::alerts::AlertsError;
        use healthscore_domain::alerts::{AlertError, DestinationError};
        match error {
            AlertsError::Rules(_) => Self::new(StatusCode::PRECONDITION_FAILED, error.to_string()),
            AlertsError::Concurrent => Self::new(
                StatusCode::CONFLICT,
                "changed concurrently by another request; fetch it again",
            ),
            AlertsError::Destination(DestinationError::Missing) => {
                Self::not_found(error.to_string())
            }
            AlertsError::Alert(AlertError::Missing) => Self::not_found(error.to_string()),
            AlertsError::Alert(AlertError::Delivered | AlertError::InFlight)
            | AlertsError::Destination(DestinationError::Exists) => {
                Self::new(StatusCode::CONFLICT, error.to_string())
            }
            AlertsError::NoVault => Self::new(StatusCode::SERVICE_UNAVAILABLE, error.to_string()),
            AlertsError::Alert(_) | AlertsError::Unreadable | AlertsError::Store(_) => {
                Self::internal(error)
            }
        }
    }
}

impl From<crate::sync::SyncError> for ApiError {
    fn from(error: crate::sync::SyncError) -> Self {
        use crate::sync::SyncError;
        match error {
            SyncError::Busy { run_id } => Self {
                run_id: Some(run_id.clone()),
                ..Self::new(
                    StatusCode::CONFLICT,
                    format!("a sync of this portal is already running: /sync/runs/{run_id}"),
                )
            },
            // Which portal the token is for is that portal's business, not the caller's.
            SyncError::OtherPortal { .. } => Self::new(
                StatusCode::FORBIDDEN,
                "the configured HubSpot token is for another portal than this key's",
            )
            .caused_by(error),
            SyncError::HubSpot(ref hubspot) => {
                Self::new(StatusCode::BAD_GATEWAY, hubspot.to_string()).caused_by(error)
            }
            other => Self::internal(other),
        }
    }
}

impl From<crate::connections::ConnectError> for ApiError {
    fn from(error: crate::connections::ConnectError) -> Self {
        use crate::connections::ConnectError;
        use crate::hubspot::HubSpotError;
        match error {
            ConnectError::NotAPrivateAppToken => Self::unprocessable_field(
                "access_token",
                "access_token is not a private-app token (they start with pat-)",
                "not a private-app token",
            ),
            ConnectError::HubSpot(HubSpotError::Unauthorized) => Self::unprocessable_field(
                "access_token",
                "HubSpot rejected the access token (401): check it was copied whole and the app is installed",
                "rejected by HubSpot",
            ),
            ConnectError::OAuthOff => Self::new(StatusCode::SERVICE_UNAVAILABLE, error.to_string()),
            ConnectError::Refused(ref refused) => {
                Self::new(StatusCode::NOT_FOUND, refused.to_string())
            }
            ConnectError::HubSpot(ref hubspot) => {
                Self::new(StatusCode::BAD_GATEWAY, hubspot.to_string()).caused_by(error)
            }
            other => Self::internal(other),
        }
    }
}

/// How much of a framework error's plain-text body becomes the problem's `detail`.
const MAX_PLAIN_DETAIL: usize = 4 * 1024;

/// Middleware: turns every error answer that is not a problem document yet (the router's own
/// 404 and 405, axum's JSON and body-limit rejections, the timeout's 408) into one, keeping
/// the status and headers such as `Allow`, with the framework's text as `detail`.
pub async fn problems_everywhere(response: Response) -> Response {
    let status = response.status();
    // A page made for a browser (the install callback's) keeps its own words.
    let is_problem_or_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| {
            let value = value.as_bytes();
            value.starts_with(b"application/problem+json") || value.starts_with(b"text/html")
        });
    if !(status.is_client_error() || status.is_server_error()) || is_problem_or_page {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_PLAIN_DETAIL)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_string())
        .unwrap_or_default();
    let detail = match (status, text.is_empty()) {
        (StatusCode::NOT_FOUND, true) => "no such endpoint; see /openapi.json".to_string(),
        (StatusCode::METHOD_NOT_ALLOWED, true) => {
            "this endpoint does not take that method; the Allow header lists those it takes"
                .to_string()
        }
        (StatusCode::REQUEST_TIMEOUT, true) => {
            "the request took too long and was abandoned".to_string()
        }
        (_, true) => status.canonical_reason().unwrap_or("error").to_string(),
        (_, false) => text,
    };
    let mut problem = ApiError::new(status, detail).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().insert(name.clone(), value.clone());
        }
    }
    problem
}

/// The answer to a handler that panicked (see the router's `CatchPanicLayer`).
pub fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string());
    ApiError::internal(format!("handler panicked: {message}")).into_response()
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::get;
    use tower::ServiceExt as _;
    use tower_http::catch_panic::CatchPanicLayer;

    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_is_a_500_problem_not_a_dropped_connection() {
        async fn boom() -> &'static str {
            panic!("boom")
        }
        let app = Router::new()
            .route("/boom", get(boom))
            .layer(CatchPanicLayer::custom(panicked));
        let request = Request::get("/boom").body(Body::empty()).expect("request");
        let response = app.oneshot(request).await.expect("an answer");
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }

    #[tokio::test]
    async fn a_timeout_is_a_408_problem() {
        async fn never() -> &'static str {
            std::future::pending().await
        }
        let app = Router::new()
            .route("/slow", get(never))
            .layer(tower_http::timeout::TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                std::time::Duration::from_millis(20),
            ))
            .layer(axum::middleware::map_response(problems_everywhere));
        let request = Request::get("/slow").body(Body::empty()).expect("request");
        let response = app.oneshot(request).await.expect("an answer");
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }
}
