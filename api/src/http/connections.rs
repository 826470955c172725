//! Connecting portals: `GET/POST/DELETE /connections` and `POST/DELETE /keys` for operator
//! keys, the OAuth install (`GET /connect/hubspot` and its callback), and `GET /connection`, a
//! portal key's view of its own connection.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use healthscore_domain::connection::{ConnectionMethod, ConnectionStatus, ConnectionView};
use healthscore_domain::ids::PortalId;
use healthscore_domain::sync_run::SyncMode;
use healthscore_projections::api_keys;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::{Operator, Portal};
use super::body::ApiJson;
use super::problem::{ApiError, Problem};
use crate::connections::{Connected, Connections};
use crate::secret::Secret;

/// A portal's connection.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionRow {
    /// The HubSpot portal (hub) id.
    #[schema(example = "62515")]
    portal_id: String,
    /// OAuth install or private-app token.
    method: ConnectionMethod,
    /// `connected`, `needs_reauthorisation` (HubSpot refused the refresh token: install the
    /// app again) or `disconnected` (data and scores kept, no sync).
    status: ConnectionStatus,
    /// Scopes HubSpot granted (OAuth).
    scopes: Vec<String>,
    /// Who connected it.
    connected_by: Option<String>,
    /// When it was first connected.
    #[serde(serialize_with = "healthscore_domain::time::serialize")]
    #[schema(value_type = String, format = DateTime)]
    connected_at: DateTime<Utc>,
    /// When the current access token expires (OAuth).
    #[serde(serialize_with = "healthscore_domain::time::serialize_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    token_expires_at: Option<DateTime<Utc>>,
    /// Why it needs re-authorisation.
    reason: Option<String>,
    /// When anything last happened to it.
    #[serde(serialize_with = "healthscore_domain::time::serialize")]
    #[schema(value_type = String, format = DateTime)]
    updated_at: DateTime<Utc>,
}

impl ConnectionRow {
    fn new(portal: PortalId, view: ConnectionView) -> Self {
        Self {
            portal_id: portal.0.to_string(),
            method: view.method,
            status: view.status,
            scopes: view.scopes,
            connected_by: view.connected_by,
            connected_at: view.connected_at,
            token_expires_at: view.token_expires_at,
            reason: view.reason,
            updated_at: view.updated_at,
        }
    }
}

/// Every connection.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionList {
    /// By portal id.
    connections: Vec<ConnectionRow>,
}

fn connections(state: &AppState) -> Result<&Connections, ApiError> {
    state.connections.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "connections are off on this server",
        )
    })
}

/// Every portal's connection (operator key).
#[utoipa::path(
    get, path = "/connections", tag = "connections",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The connections", body = ConnectionList),
        (status = 403, description = "Not an operator key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    _operator: Operator,
) -> Result<Json<ConnectionList>, ApiError> {
    let rows = connections(&state)?.list().await?;
    Ok(Json(ConnectionList {
        connections: rows
            .into_iter()
            .map(|(portal, view)| ConnectionRow::new(portal, view))
            .collect(),
    }))
}

/// The key's own portal's connection.
#[utoipa::path(
    get, path = "/connection", tag = "connections",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The portal's connection", body = ConnectionRow),
        (status = 404, description = "The portal was never connected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn own(
    State(state): State<AppState>,
    Portal(portal): Portal,
) -> Result<Json<ConnectionRow>, ApiError> {
    let connection = connections(&state)?.load(portal).await?;
    let view = connection
        .view()
        .cloned()
        .ok_or_else(|| ApiError::not_found("this portal was never connected"))?;
    Ok(Json(ConnectionRow::new(portal, view)))
}

/// A private-app token to connect.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"access_token": "pat-na1-11111111-2222-4333-8444-555555555555"}))]
pub struct ConnectRequest {
    /// The private app's access token (`pat-...`).
    #[schema(value_type = String)]
    access_token: Secret,
}

/// A portal just connected.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectedPortal {
    /// The connection.
    connection: ConnectionRow,
    /// The first time a portal is connected, a key to read its data, shown only now.
    api_key: Option<String>,
    /// The first full sync, when one started.
    sync_run_url: Option<String>,
}

/// Connects the portal of a private-app token (operator key): the token is checked with
/// HubSpot, stored encrypted, and a first full sync starts.
#[utoipa::path(
    post, path = "/connections", tag = "connections",
    request_body(content = ConnectRequest, content_type = "application/json"),
    security(("api_key" = [])),
    responses(
        (status = 201, description = "Connected", body = ConnectedPortal),
        (status = 403, description = "Not an operator key", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a private-app token, or HubSpot rejected it", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "HubSpot failed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn connect(
    State(state): State<AppState>,
    Operator(operator): Operator,
    ApiJson(request): ApiJson<ConnectRequest>,
) -> Result<Response, ApiError> {
    let by = Some(format!("operator key {}", operator.id));
    let connected = connections(&state)?
        .connect_private_app(request.access_token, by)
        .await?;
    let answer = after_connect(&state, &connected).await?;
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// What follows a connection: the first key (first time only) and a full sync.
async fn after_connect(
    state: &AppState,
    connected: &Connected,
) -> Result<ConnectedPortal, ApiError> {
    let portal = connected.portal;
    let api_key = if connected.first_time && !api_keys::portal_has_keys(&state.db, portal).await? {
        Some(api_keys::create(&state.db, portal, "first key").await?.key)
    } else {
        None
    };
    let sync_run_url = match state.syncer_for(portal).await {
        Ok(syncer) => match syncer.begin(SyncMode::Full, Some(portal)).await {
            Ok(started) => {
                let url = format!("/sync/runs/{}", started.run_id);
                tokio::spawn(async move {
                    let _ = started.run().await;
                });
                Some(url)
            }
            Err(error) => {
                tracing::warn!(%portal, %error, "the first sync did not start");
                None
            }
        },
        Err(_) => None,
    };
    let view = connections(state)?
        .load(portal)
        .await?
        .view()
        .cloned()
        .ok_or_else(|| ApiError::internal("a connection just recorded is missing"))?;
    Ok(ConnectedPortal {
        connection: ConnectionRow::new(portal, view),
        api_key,
        sync_run_url,
    })
}

/// A portal id in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PortalPath {
    /// The HubSpot portal id.
    #[param(example = 62515)]
    pub portal: u64,
}

/// Disconnects a portal (operator key): its tokens are deleted and syncing stops; its data,
/// scores and keys stay.
#[utoipa::path(
    delete, path = "/connections/{portal}", tag = "connections",
    params(PortalPath),
    security(("api_key" = [])),
    responses(
        (status = 204, description = "Disconnected"),
        (status = 403, description = "Not an operator key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The portal was never connected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn disconnect(
    State(state): State<AppState>,
    _operator: Operator,
    Path(PortalPath { portal }): Path<PortalPath>,
) -> Result<StatusCode, ApiError> {
    connections(&state)?.disconnect(PortalId(portal)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A key to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"portal_id": "62515", "name": "dashboard"}))]
pub struct KeyRequest {
    /// The portal the key reads.
    #[schema(value_type = String)]
    portal_id: StringOrNumber,
    /// A label.
    #[serde(default = "default_key_name")]
    name: String,
}

/// An id sent as a string (as HubSpot does) or a number.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum StringOrNumber {
    /// `62515`.
    Number(u64),
    /// `"62515"`.
    Text(String),
}

fn default_key_name() -> String {
    "default".to_owned()
}

/// A created key.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    /// The key's id (for `DELETE /keys/{id}`).
    id: String,
    /// The portal it reads.
    portal_id: String,
    /// Its label.
    name: String,
    /// The key itself, shown only now.
    key: String,
}

/// Creates a key for a portal (operator key).
#[utoipa::path(
    post, path = "/keys", tag = "connections",
    request_body(content = KeyRequest, content_type = "application/json"),
    security(("api_key" = [])),
    responses(
        (status = 201, description = "Created", body = CreatedKey),
        (status = 403, description = "Not an operator key", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No portal id", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_key(
    State(state): State<AppState>,
    _operator: Operator,
    ApiJson(request): ApiJson<KeyRequest>,
) -> Result<Response, ApiError> {
    let portal = match &request.portal_id {
        StringOrNumber::Number(n) => Some(*n),
        StringOrNumber::Text(text) => text.trim().parse().ok(),
    }
    .filter(|n| *n > 0)
    .ok_or_else(|| {
        ApiError::unprocessable_field(
            "portal_id",
            "portal_id must be a HubSpot portal id",
            "not a portal id",
        )
    })?;
    let name = request.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(ApiError::unprocessable_field(
            "name",
            "name must be 1 to 100 characters",
            "1 to 100 characters",
        ));
    }
    let created = api_keys::create(&state.db, PortalId(portal), name).await?;
    let body = CreatedKey {
        id: created.info.id,
        portal_id: portal.to_string(),
        name: created.info.name,
        key: created.key,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// A key id in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct KeyPath {
    /// The key's id.
    id: String,
}

/// Revokes a key (operator key).
#[utoipa::path(
    delete, path = "/keys/{id}", tag = "connections",
    params(KeyPath),
    security(("api_key" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "Not an operator key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No live key has that id", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn revoke_key(
    State(state): State<AppState>,
    _operator: Operator,
    Path(KeyPath { id }): Path<KeyPath>,
) -> Result<StatusCode, ApiError> {
    if api_keys::revoke(&state.db, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no live key {id}")))
    }
}

/// Where to send the browser to install the app.
#[derive(Debug, Serialize, ToSchema)]
pub struct InstallStart {
    /// HubSpot's install page, with a single-use `state` valid for ten minutes.
    authorize_url: String,
}

/// Starts an OAuth install (operator key): answers 303 to HubSpot's install page (the body
/// has the same URL, for clients that do not follow redirects with headers).
#[utoipa::path(
    get, path = "/connect/hubspot", tag = "connections",
    security(("api_key" = [])),
    responses(
        (status = 303, description = "To HubSpot's install page", body = InstallStart,
            headers(("Location" = String, description = "HubSpot's install page"))),
        (status = 403, description = "Not an operator key", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "OAuth is not configured", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn install(
    State(state): State<AppState>,
    _operator: Operator,
) -> Result<Response, ApiError> {
    let url = connections(&state)?.begin_install().await?;
    let body = Json(InstallStart {
        authorize_url: url.clone(),
    });
    Ok((StatusCode::SEE_OTHER, [(header::LOCATION, url)], body).into_response())
}

/// What HubSpot sends the browser back with.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The install's code (on success).
    code: Option<String>,
    /// The `state` this server gave out.
    state: Option<String>,
    /// `access_denied` when the user refused.
    error: Option<String>,
    /// HubSpot's words about the error.
    error_description: Option<String>,
}

/// Where HubSpot sends the browser after an install: checks `state`, exchanges the code,
/// records the connection, starts the first full sync and shows the result. A refusal, a bad
/// state or a failed exchange shows why and records nothing.
#[utoipa::path(
    get, path = "/connect/hubspot/callback", tag = "connections",
    params(CallbackQuery),
    responses(
        (status = 200, description = "Connected: a page with the result", content_type = "text/html"),
        (status = 400, description = "Refused, or a bad or used state: a page saying why", content_type = "text/html"),
        (status = 502, description = "HubSpot failed the exchange: a page saying why", content_type = "text/html"),
    )
)]
pub async fn callback(
    State(state): State<AppState>,
    Query(query): Query<CallbackQuery>,
) -> Response {
    match finish_install(&state, query).await {
        // The page may show a key: never cached.
        Ok(page) => ([(header::CACHE_CONTROL, "no-store")], page).into_response(),
        Err((status, message)) => (status, page("Not connected", &[message], None)).into_response(),
    }
}

async fn finish_install(
    state: &AppState,
    query: CallbackQuery,
) -> Result<Html<String>, (StatusCode, String)> {
    let refused = |message: String| (StatusCode::BAD_REQUEST, message);
    if let Some(error) = query.error {
        let why = query.error_description.unwrap_or_default();
        return Err(refused(format!(
            "HubSpot says the install was refused ({error}) {why}. Nothing was recorded."
        )));
    }
    let connections = connections(state)
        .map_err(|_| refused("Connections are off on this server.".to_owned()))?;
    let (Some(code), Some(install_state)) = (query.code, query.state) else {
        return Err(refused(
            "The link is missing its code or state. Start again from GET /connect/hubspot."
                .to_owned(),
        ));
    };
    let valid = connections
        .take_state(&install_state)
        .await
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    if !valid {
        return Err(refused(
            "This install link was already used, has expired (after ten minutes) or was not made here. Start again from GET /connect/hubspot.".to_owned(),
        ));
    }
    let connected = connections.connect_oauth(&code).await.map_err(|error| {
        tracing::warn!(%error, "the OAuth code exchange failed");
        (
            StatusCode::BAD_GATEWAY,
            format!("HubSpot did not complete the install: {error}. Nothing was recorded."),
        )
    })?;
    let answer = after_connect(state, &connected).await.map_err(|error| {
        tracing::error!(portal = %connected.portal, ?error, "the first key or sync after an install failed");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "Portal {} is connected, but its first key or sync failed; see the server log.",
                connected.portal
            ),
        )
    })?;
    let portal = connected.portal;
    let line = match answer.sync_run_url {
        Some(_) => format!("Portal {portal} is connected; its first full sync has started."),
        None => format!(
            "Portal {portal} is connected; its first sync could not start yet, the periodic sync will run it."
        ),
    };
    let label = "This portal's first API key, shown only now (sign in to the dashboard with it):";
    let key = answer.api_key.as_deref().map(|key| (label, key));
    Ok(page("Connected to HubSpot", &[line], key))
}

/// A plain page: no script, no styles, every text escaped.
fn page(title: &str, lines: &[String], secret: Option<(&str, &str)>) -> Html<String> {
    let mut body = format!("<h1>{}</h1>", escape(title));
    for line in lines {
        body.push_str(&format!("<p>{}</p>", escape(line)));
    }
    if let Some((label, value)) = secret {
        body.push_str(&format!(
            "<p>{}</p><pre>{}</pre>",
            escape(label),
            escape(value)
        ));
    }
    body.push_str("<p><a href=\"/\">Open the dashboard</a></p>");
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} · healthscore</title></head><body>{body}</body></html>",
        escape(title)
    ))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
