//! The HTTP API: the router, its shared state and the middleware stack.

pub mod alerts;
pub mod assets;
pub mod auth;
pub mod body;
pub mod budget;
pub mod config;
pub mod connections;
pub mod dashboard;
pub mod destinations;
pub mod events;
mod health;
pub mod listing;
pub mod metrics;
pub mod movers;
pub mod objects;
pub mod openapi;
pub mod owners;
pub mod preview;
pub mod problem;
pub mod properties;
pub mod query;
pub mod scores;
pub mod sentiment;
pub mod server;
pub mod sync;
pub mod webhook;
pub mod writeback;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::routing::get;
use healthscore_projections::recorder::Recorder;
use healthscore_projections::{Db, EventStore};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi as _;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt as _};
use utoipa_axum::routes;

use healthscore_projections::scoring::service::ScoringService;
use tokio::sync::{Notify, watch};

use crate::hubspot::HubSpotClient;
use crate::sync::Syncer;
use crate::sync::runs::SyncRuns;

use crate::scoring::configs::Configs;
use crate::secret::Secret;

/// How webhook requests are verified.
#[derive(Debug, Clone, Default)]
pub struct WebhookSettings {
    /// Client secrets accepted (several during a rotation); none means webhooks answer 503.
    pub secrets: Vec<Secret>,
    /// The public base URL HubSpot calls (`HEALTHSCORE_PUBLIC_URL`); else `http://` + Host.
    pub public_url: Option<String>,
}

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// The event log (one instance per process, so appends wake local projectors).
    pub store: EventStore,
    /// Records HubSpot facts into the event log.
    pub recorder: Arc<Recorder>,
    /// Webhook verification settings.
    pub webhook: Arc<WebhookSettings>,
    /// Scores computed from the log.
    pub scoring: ScoringService,
    /// Scoring configurations.
    pub configs: Arc<Configs>,
    /// Signalled when a configuration changes (rescore everyone).
    pub config_changed: Arc<Notify>,
    /// The log position through which materialized scores are current.
    pub scored_through: Arc<watch::Sender<i64>>,
    /// Sync runs of every portal.
    pub sync_runs: Arc<SyncRuns>,
    /// Every portal's owners, as syncs recorded them.
    pub owners: Arc<crate::sync::owners::Owners>,
    /// Every portal's HubSpot properties, as discoveries recorded them.
    pub properties: Arc<crate::sync::properties::PropertyCatalogs>,
    /// The HubSpot sync of one fixed token (tests and the demo); servers use `connections`.
    pub syncer: Option<Syncer>,
    /// Every portal's connection to HubSpot, when connections are configured.
    pub connections: Option<crate::connections::Connections>,
    /// One syncer per connected portal, built on first use.
    pub portal_syncers:
        Arc<std::sync::Mutex<std::collections::HashMap<healthscore_domain::ids::PortalId, Syncer>>>,
    /// The bearer token `/metrics` asks for, when set.
    pub metrics_token: Option<crate::secret::Secret>,
    /// Origins browsers may call the API from (CORS); none when empty.
    pub cors_origins: Vec<HeaderValue>,
    /// Each API key's request budget, when there is one.
    pub key_budget: Option<budget::KeyBudget>,
    /// Stamps what the API records itself (sentiment).
    pub clock: crate::clock::Clock,
    /// Alert rules, destinations and alerts.
    pub alerts: Arc<crate::alerts::Alerts>,
    /// Each portal's write-back to HubSpot.
    pub writebacks: Arc<crate::writeback::Writebacks>,
}

impl AppState {
    /// State over a connected, migrated database.
    pub fn new(db: Db, webhook: WebhookSettings) -> Self {
        let store = EventStore::new(db.clone());
        let recorder = Arc::new(Recorder::start(store.clone()));
        Self {
            db,
            recorder,
            webhook: Arc::new(webhook),
            scoring: ScoringService::new(store.clone()),
            configs: Arc::new(Configs::new(&store)),
            config_changed: Arc::default(),
            scored_through: Arc::new(watch::channel(0).0),
            sync_runs: Arc::new(SyncRuns::new(&store)),
            owners: Arc::new(crate::sync::owners::Owners::new(&store)),
            properties: Arc::new(crate::sync::properties::PropertyCatalogs::new(&store)),
            syncer: None,
            connections: None,
            portal_syncers: Arc::default(),
            metrics_token: None,
            cors_origins: Vec::new(),
            key_budget: None,
            clock: crate::clock::Clock::system(),
            alerts: Arc::new(crate::alerts::Alerts::new(
                &store,
                crate::alerts::AlertSettings::default(),
                None,
            )),
            writebacks: Arc::new(crate::writeback::Writebacks::new(
                &store,
                std::time::Duration::from_secs(60),
            )),
            store,
        }
    }

    /// Lets browsers on `origins` call the API (CORS); with none, no cross-origin call is allowed.
    #[must_use]
    pub fn with_cors_origins(mut self, origins: Vec<HeaderValue>) -> Self {
        self.cors_origins = origins;
        self
    }

    /// Gives every API key a budget of `per_second` requests per second (429 past it).
    #[must_use]
    pub fn with_key_budget(mut self, per_second: Option<std::num::NonZeroU32>) -> Self {
        self.key_budget = per_second.map(budget::KeyBudget::per_second);
        self
    }

    /// Asks `/metrics` scrapers for `Authorization: Bearer <token>`.
    #[must_use]
    pub fn with_metrics_token(mut self, token: Option<crate::secret::Secret>) -> Self {
        self.metrics_token = token;
        self
    }

    /// Delivers alerts with `settings`, sealing destination secrets with `vault`.
    #[must_use]
    pub fn with_alerts(
        mut self,
        settings: crate::alerts::AlertSettings,
        vault: crate::connections::Vault,
    ) -> Self {
        self.alerts = Arc::new(crate::alerts::Alerts::new(
            &self.store,
            settings,
            Some(vault),
        ));
        self
    }

    /// Write-back passes at most every `min_interval`.
    #[must_use]
    pub fn with_writeback_interval(mut self, min_interval: std::time::Duration) -> Self {
        self.writebacks = Arc::new(crate::writeback::Writebacks::new(&self.store, min_interval));
        self
    }

    /// Stamps what the API records with `clock` instead of the system clock.
    #[must_use]
    pub fn with_clock(mut self, clock: crate::clock::Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Syncs each connected portal with its connection's token, and enables `/connections`.
    #[must_use]
    pub fn with_connections(mut self, connections: crate::connections::Connections) -> Self {
        self.connections = Some(connections);
        self
    }

    /// The syncer of `portal`: its connection's, else the fixed-token one (which checks the
    /// token is the portal's). An error says why the portal cannot sync.
    pub async fn syncer_for(
        &self,
        portal: healthscore_domain::ids::PortalId,
    ) -> Result<Syncer, problem::ApiError> {
        use healthscore_domain::connection::ConnectionStatus;
        let status = match &self.connections {
            Some(connections) => connections.load(portal).await?.view().map(|v| v.status),
            None => None,
        };
        match (status, &self.connections) {
            (Some(ConnectionStatus::Connected), Some(connections)) => {
                self.connected_syncer(connections, portal)
            }
            (Some(ConnectionStatus::NeedsReauthorisation), _) => Err(problem::ApiError::new(
                StatusCode::CONFLICT,
                "HubSpot refused this portal's refresh token: connect it again (GET /connect/hubspot with an operator key)",
            )),
            (Some(ConnectionStatus::Disconnected), _) => Err(problem::ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "this portal is disconnected: connect it again to sync",
            )),
            _ => self.syncer.clone().ok_or_else(|| {
                problem::ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "this portal is not connected: connect it with POST /connections or GET /connect/hubspot (operator key), or set HUBSPOT_ACCESS_TOKEN",
                )
            }),
        }
    }

    /// The syncer of a connected portal, built on first use. Its client takes each token from
    /// the connection, so it outlives refreshes, reconnects and disconnects.
    fn connected_syncer(
        &self,
        connections: &crate::connections::Connections,
        portal: healthscore_domain::ids::PortalId,
    ) -> Result<Syncer, problem::ApiError> {
        let mut syncers = self
            .portal_syncers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(syncer) = syncers.get(&portal) {
            return Ok(syncer.clone());
        }
        let syncer = Syncer::new(
            connections.client(portal)?,
            self.recorder.clone(),
            self.sync_runs.clone(),
            self.db.clone(),
        );
        syncers.insert(portal, syncer.clone());
        Ok(syncer)
    }

    /// Enables `POST /sync` and the periodic sync with `client`.
    #[must_use]
    pub fn with_sync(mut self, client: HubSpotClient) -> Self {
        self.syncer = Some(Syncer::new(
            client,
            self.recorder.clone(),
            self.sync_runs.clone(),
            self.db.clone(),
        ));
        self
    }
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    // Installed before the first request, so nothing recorded before a scrape is lost.
    metrics::handle();
    let cors_origins = state.cors_origins.clone();
    let (api, mut document) = routes().with_state(state).split_for_parts();
    let (docs, docs_document) = OpenApiRouter::new()
        .routes(routes!(openapi::document))
        .routes(routes!(openapi::page))
        .routes(routes!(dashboard::page))
        .split_for_parts();
    document.merge(docs_document);
    let document = Arc::new(
        serde_json::to_string(&openapi::with_common_responses(document))
            .unwrap_or_else(|_| "{}".to_owned()),
    );
    let docs = docs
        .route("/docs/", get(openapi::page))
        .route("/docs/{file}", get(openapi::file))
        .route("/ui/{file}", get(dashboard::file))
        .layer(axum::Extension(document));
    let app = api
        .merge(docs)
        .route_layer(axum::middleware::from_fn(metrics::track))
        // The last line of defence: a panic in a handler is a 500 problem, not a dropped
        // connection (and the panic is logged with the request's trace).
        .layer(CatchPanicLayer::custom(problem::panicked))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        // Outside the timeout, so its empty 408 becomes a problem document too.
        .layer(axum::middleware::map_response(problem::problems_everywhere))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid));
    with_cors(with_security_headers(app), cors_origins)
}

/// Every documented endpoint, each with its OpenAPI description.
fn routes() -> OpenApiRouter<AppState> {
    let config_body = || DefaultBodyLimit::max(config::MAX_CONFIG_BYTES);
    let sentiment_body = || DefaultBodyLimit::max(sentiment::MAX_SENTIMENT_BYTES);
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(listing::list))
        .routes(routes!(objects::customer))
        .routes(routes!(scores::score))
        .routes(routes!(scores::history))
        .routes(routes!(listing::summary))
        .routes(routes!(owners::list))
        .routes(routes!(movers::movers))
        .routes(routes!(config::get))
        .routes(routes!(config::put).layer(config_body()))
        .routes(routes!(config::versions))
        .routes(routes!(properties::list))
        .routes(routes!(properties::refresh))
        .routes(routes!(preview::preview).layer(config_body()))
        .routes(routes!(objects::company))
        .routes(routes!(listing::list_companies))
        .routes(routes!(scores::company_score))
        .routes(routes!(scores::company_history))
        .routes(
            routes!(
                sentiment::get_customer,
                sentiment::put_customer,
                sentiment::delete_customer
            )
            .layer(sentiment_body()),
        )
        .routes(
            routes!(
                sentiment::get_company,
                sentiment::put_company,
                sentiment::delete_company
            )
            .layer(sentiment_body()),
        )
        .routes(routes!(objects::deal))
        .routes(routes!(sync::start))
        .routes(routes!(sync::runs))
        .routes(routes!(sync::run))
        .routes(routes!(events::feed))
        .routes(routes!(connections::list, connections::connect))
        .routes(routes!(connections::own))
        .routes(routes!(connections::disconnect))
        .routes(routes!(writeback::get, writeback::put))
        .routes(routes!(connections::create_key))
        .routes(routes!(connections::revoke_key))
        .routes(routes!(connections::install))
        .routes(routes!(connections::callback))
        .routes(
            routes!(alerts::get_rules, alerts::put_rules)
                .layer(DefaultBodyLimit::max(alerts::MAX_RULES_BYTES)),
        )
        .routes(
            routes!(destinations::create, destinations::list)
                .layer(DefaultBodyLimit::max(destinations::MAX_DESTINATION_BYTES)),
        )
        .routes(routes!(destinations::delete))
        .routes(routes!(destinations::test))
        .routes(routes!(alerts::list))
        .routes(routes!(alerts::get))
        .routes(routes!(alerts::retry))
        .routes(routes!(metrics::scrape))
        .routes(routes!(webhook::receive).layer(DefaultBodyLimit::max(webhook::MAX_BODY_BYTES)))
}

/// Each request's span carries its `x-request-id` (set just outside), so every line logged
/// while answering it, an error's cause included, names the request.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        method = %request.method(),
        uri = %request.uri().path(),
        request_id,
    )
}

/// CORS for the named origins only; without any, browsers keep their same-origin rule.
fn with_cors(router: Router, origins: Vec<HeaderValue>) -> Router {
    if origins.is_empty() {
        return router;
    }
    use axum::http::Method;
    let cors = tower_http::cors::CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::PUT, Method::POST, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            header::HeaderName::from_static("x-request-id"),
        ])
        .max_age(Duration::from_secs(600));
    router.layer(cors)
}

/// Headers every answer carries: no MIME sniffing, no framing, no referrer, and a content
/// policy that lets a JSON answer load nothing (a page that needs more sets its own).
fn with_security_headers(router: Router) -> Router {
    let header =
        |name, value| SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value));
    router
        .layer(header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header(header::REFERRER_POLICY, "no-referrer"))
        .layer(header(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ))
}
