//! The API's OpenAPI 3.1 document, generated from the handlers' types (utoipa), served at
//! `/openapi.json`, and the interactive docs at `/docs`: Swagger UI, vendored from npm at a
//! pinned version (`api/assets/docs/VERSION`) and embedded in the binary, so it works offline.

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::Modify;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

use super::assets::{Asset, serve};
use super::problem::ApiError;

/// The document's fixed parts; the paths come from the router (`utoipa_axum::routes!`).
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "healthscore",
        description = "Customer health scores from HubSpot, event-sourced: every fact HubSpot \
            sends is kept in an append-only log, and customers, scores and their history are \
            derived from it.\n\nEvery error is an RFC 9457 problem document \
            (`application/problem+json`). Times are RFC 3339 in UTC with milliseconds. \
            Send an API key (`healthscore keys create`) as `Authorization: Bearer <key>`.",
        license(name = "MIT OR Apache-2.0"),
    ),
    modifiers(&Security),
    components(schemas(super::problem::Problem)),
    tags(
        (name = "customers", description = "Customers and their current scores"),
        (name = "scores", description = "Scores at any time, and their history"),
        (name = "accounts", description = "Companies scored by a company scorecard"),
        (name = "sentiment", description = "A CSM's own judgement of a customer or account"),
        (name = "configuration", description = "Scoring weights, bands and factor settings, versioned"),
        (name = "alerts", description = "Alert rules, destinations and the alerts sent when health drops"),
        (name = "objects", description = "Companies and deals"),
        (name = "sync", description = "HubSpot syncs"),
        (name = "events", description = "The audit feed of the event log"),
        (name = "webhooks", description = "HubSpot's webhook deliveries"),
        (name = "probes", description = "Liveness, readiness and metrics"),
        (name = "docs", description = "This document and its interactive page"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(description))
                    .build(),
            )
        };
        components.add_security_scheme(
            "api_key",
            bearer("An API key made with `healthscore keys create --portal <id>`; it sees only its portal"),
        );
        components.add_security_scheme(
            "metrics_token",
            bearer("`HEALTHSCORE_METRICS_TOKEN`, when the server sets one"),
        );
    }
}

fn problem(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build(),
    )
}

/// Adds what every operation of a kind can answer, so each handler lists only its own
/// errors: 401 and 429 where an API key is asked for, 400 where a path or query is read.
pub fn with_common_responses(mut api: OpenApi) -> OpenApi {
    for item in api.paths.paths.values_mut() {
        let operations: [&mut Option<Operation>; 4] = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
        ];
        for operation in operations.into_iter().flatten() {
            let keyed = operation.security.as_ref().is_some_and(|requirements| {
                let text = serde_json::to_string(requirements).unwrap_or_default();
                text.contains("\"api_key\"")
            });
            let responses = &mut operation.responses.responses;
            if keyed {
                responses
                    .entry("401".to_owned())
                    .or_insert_with(|| problem("No API key, or an unknown or revoked one"));
                responses.entry("429".to_owned()).or_insert_with(|| {
                    problem("The key's request budget is spent: wait `Retry-After` seconds")
                });
            }
            let reads_input = operation.parameters.as_ref().is_some_and(|p| !p.is_empty())
                || operation.request_body.is_some();
            if reads_input {
                responses
                    .entry("400".to_owned())
                    .or_insert_with(|| problem("The request is malformed"));
            }
        }
    }
    api
}

/// `GET /openapi.json`.
#[utoipa::path(get, path = "/openapi.json", tag = "docs",
    responses((status = 200, description = "This OpenAPI 3.1 document", body = Object)))]
pub async fn document(
    axum::extract::Extension(api): axum::extract::Extension<std::sync::Arc<String>>,
) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        api.as_str().to_owned(),
    )
        .into_response()
}

const ASSETS: [Asset; 4] = [
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        bytes: include_bytes!("../../assets/docs/index.html"),
    },
    Asset {
        name: "init.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/docs/init.js"),
    },
    Asset {
        name: "swagger-ui-bundle.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/docs/swagger-ui-bundle.js"),
    },
    Asset {
        name: "swagger-ui.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../assets/docs/swagger-ui.css"),
    },
];

fn asset(name: &str) -> Result<Response, ApiError> {
    serve(&ASSETS, name)
}

/// `GET /docs`: the interactive API docs.
#[utoipa::path(get, path = "/docs", tag = "docs",
    responses((status = 200, description = "The interactive docs page", body = String, content_type = "text/html")))]
pub async fn page() -> Result<Response, ApiError> {
    asset("index.html")
}

/// `GET /docs/{file}`: the page's scripts and styles.
pub async fn file(Path(name): Path<String>) -> Result<Response, ApiError> {
    asset(&name)
}
