//! The client handle: one HTTP connection pool, the token, both pacing windows and the counters,
//! shared by every clone.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, Url};
use serde_json::Value;

use super::HubSpotError;
use super::config::ClientConfig;
use super::history::HistoryLimit;
use super::limiter::RollingLimiter;
use super::retry::RetryPolicy;
use super::stats::{ClientCounters, ClientStats};
use crate::secret::Secret;

/// A paced, retrying HubSpot CRM API client. Cheap to clone; clones share the pacing windows,
/// so every task of one portal should use clones of one client.
#[derive(Clone)]
pub struct HubSpotClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) base: Url,
    pub(crate) token: Token,
    pub(crate) general: RollingLimiter,
    pub(crate) search: RollingLimiter,
    pub(crate) policy: RetryPolicy,
    pub(crate) counters: ClientCounters,
    pub(crate) history_limit: HistoryLimit,
}

/// Where the bearer token comes from.
pub(crate) enum Token {
    /// A private-app token: it does not expire.
    Fixed(Secret),
    /// An OAuth connection's token, refreshed before it expires and after a 401.
    Refreshing(Arc<dyn TokenSource>),
}

/// A token that can change while the client lives (an OAuth connection's access token).
pub trait TokenSource: Send + Sync {
    /// The access token to send now (refreshed first when it is about to expire).
    fn current(&self) -> futures::future::BoxFuture<'_, Result<Secret, HubSpotError>>;
    /// HubSpot answered 401 to `rejected`: a new token, unless another task already got one.
    fn refresh_after(
        &self,
        rejected: Secret,
    ) -> futures::future::BoxFuture<'_, Result<Secret, HubSpotError>>;
}

/// Which HubSpot rate limit a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lane {
    /// The ten-secondly limit of every non-search endpoint.
    General,
    /// The per-second search limit, counted separately by HubSpot.
    Search,
}

/// One logical request, rebuilt for each attempt.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) what: &'static str,
    pub(crate) method: Method,
    pub(crate) lane: Lane,
    pub(crate) segments: Vec<String>,
    pub(crate) query: Vec<(&'static str, String)>,
    pub(crate) body: Option<Value>,
}

impl Call {
    /// A `GET` of the path made of `segments` (each percent-encoded as needed).
    pub(crate) fn get(what: &'static str, segments: &[&str]) -> Self {
        Self {
            what,
            method: Method::GET,
            lane: Lane::General,
            segments: segments.iter().map(|s| (*s).to_owned()).collect(),
            query: Vec::new(),
            body: None,
        }
    }

    /// A search `POST` with a JSON body, paced by the search window.
    pub(crate) fn search(what: &'static str, segments: &[&str], body: Value) -> Self {
        Self {
            method: Method::POST,
            lane: Lane::Search,
            body: Some(body),
            ..Self::get(what, segments)
        }
    }

    /// Adds a query parameter.
    pub(crate) fn query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }

    /// Adds a comma-separated list parameter, unless the list is empty.
    pub(crate) fn list<'a>(
        self,
        name: &'static str,
        values: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let joined = values.into_iter().collect::<Vec<_>>().join(",");
        if joined.is_empty() {
            self
        } else {
            self.query(name, joined)
        }
    }
}

impl HubSpotClient {
    /// Builds a client. Fails only on a base URL that cannot carry paths or a TLS set-up error.
    pub fn new(config: ClientConfig) -> Result<Self, HubSpotError> {
        let token = Token::Fixed(config.access_token.clone());
        Self::build(config, token)
    }

    /// A client like [`HubSpotClient::new`]'s whose token comes from `source` (the
    /// configuration's token is not used).
    pub fn with_token_source(
        config: ClientConfig,
        source: Arc<dyn TokenSource>,
    ) -> Result<Self, HubSpotError> {
        Self::build(config, Token::Refreshing(source))
    }

    fn build(config: ClientConfig, token: Token) -> Result<Self, HubSpotError> {
        let invalid = |reason: String| HubSpotError::InvalidBaseUrl {
            url: config.base_url.clone(),
            reason,
        };
        let base = Url::parse(&config.base_url).map_err(|error| invalid(error.to_string()))?;
        if base.cannot_be_a_base() || !matches!(base.scheme(), "http" | "https") {
            return Err(invalid("not an http(s) URL".to_owned()));
        }
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("healthscore/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(HubSpotError::Client)?;
        let inner = Inner {
            http,
            base,
            general: RollingLimiter::new(config.rate_limit, config.rate_window),
            search: RollingLimiter::new(config.search_rate_limit, config.search_window),
            policy: RetryPolicy::from(&config),
            token,
            counters: ClientCounters::default(),
            history_limit: HistoryLimit::default(),
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The token to send now.
    pub(crate) async fn token(&self) -> Result<Secret, HubSpotError> {
        match &self.inner.token {
            Token::Fixed(token) => Ok(token.clone()),
            Token::Refreshing(source) => source.current().await,
        }
    }

    /// After a 401 to `rejected`: a new token to retry with, when the token can be refreshed.
    pub(crate) async fn refreshed(&self, rejected: Secret) -> Option<Result<Secret, HubSpotError>> {
        match &self.inner.token {
            Token::Fixed(_) => None,
            Token::Refreshing(source) => Some(source.refresh_after(rejected).await),
        }
    }

    /// Counters since the client was built (shared by its clones).
    pub fn stats(&self) -> ClientStats {
        self.inner.counters.snapshot()
    }

    /// The base URL with `segments` appended as path segments.
    pub(crate) fn url(&self, segments: &[String]) -> Result<Url, HubSpotError> {
        let mut url = self.inner.base.clone();
        url.path_segments_mut()
            .map_err(|()| HubSpotError::InvalidBaseUrl {
                url: self.inner.base.to_string(),
                reason: "cannot carry a path".to_owned(),
            })?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    pub(crate) fn limiter(&self, lane: Lane) -> &RollingLimiter {
        match lane {
            Lane::General => &self.inner.general,
            Lane::Search => &self.inner.search,
        }
    }
}

impl fmt::Debug for HubSpotClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubSpotClient")
            .field("base_url", &self.inner.base.as_str())
            .field("access_token", &"***")
            .field("stats", &self.stats())
            .finish()
    }
}
