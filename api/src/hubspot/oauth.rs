//! HubSpot's OAuth endpoints (HUBSPOT.md, "Connecting a portal"): exchanging an install's code
//! and refreshing an access token at `/oauth/v1/token`, and asking which portal a token is for
//! at `/oauth/v1/access-tokens/{token}`. They are not portal requests, so no portal's pacing
//! applies; a token never appears in an error.

use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;

use super::HubSpotError;
use crate::secret::Secret;

/// The OAuth app healthscore is installed as.
#[derive(Debug, Clone)]
pub struct OAuthApp {
    /// `HUBSPOT_APP_CLIENT_ID`.
    pub client_id: String,
    /// `HUBSPOT_CLIENT_SECRET` (the one webhooks are signed with).
    pub client_secret: Secret,
    /// Where HubSpot sends the browser back: `HEALTHSCORE_PUBLIC_URL/connect/hubspot/callback`.
    pub redirect_uri: String,
}

/// Tokens HubSpot granted.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The access token.
    pub access_token: Secret,
    /// The refresh token (OAuth keeps it until the app is uninstalled).
    pub refresh_token: Option<Secret>,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

/// What a token is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The portal.
    pub hub_id: u64,
    /// The user who installed the app.
    pub user: Option<String>,
    /// The scopes granted.
    pub scopes: Vec<String>,
}

#[derive(Deserialize)]
struct WireGrant {
    access_token: String,
    refresh_token: Option<String>,
    expires_in: u64,
}

#[derive(Deserialize)]
struct WireInfo {
    hub_id: u64,
    user: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
}

#[derive(Deserialize)]
struct WireRefusal {
    status: Option<String>,
    message: Option<String>,
}

/// HubSpot's OAuth endpoints under one API base.
#[derive(Debug, Clone)]
pub struct OAuthEndpoints {
    http: reqwest::Client,
    base: Url,
}

impl OAuthEndpoints {
    /// The endpoints under `base` (`https://api.hubapi.com` or a fake).
    pub fn new(base: &str) -> Result<Self, HubSpotError> {
        let base = Url::parse(base).map_err(|error| HubSpotError::InvalidBaseUrl {
            url: base.to_owned(),
            reason: error.to_string(),
        })?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("healthscore/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(HubSpotError::Client)?;
        Ok(Self { http, base })
    }

    fn url(&self, segments: &[&str]) -> Result<Url, HubSpotError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| HubSpotError::InvalidBaseUrl {
                url: self.base.to_string(),
                reason: "cannot carry a path".to_owned(),
            })?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// Exchanges an install's `code` for tokens.
    pub async fn exchange(&self, app: &OAuthApp, code: &str) -> Result<Grant, HubSpotError> {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("client_id", &app.client_id),
            ("client_secret", app.client_secret.expose()),
            ("redirect_uri", &app.redirect_uri),
            ("code", code),
        ])
        .await
    }

    /// A new access token for `refresh_token`. `BAD_REFRESH_TOKEN` (the app was uninstalled or
    /// the token revoked) is [`HubSpotError::NeedsReauthorisation`].
    pub async fn refresh(
        &self,
        app: &OAuthApp,
        refresh_token: &Secret,
    ) -> Result<Grant, HubSpotError> {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("client_id", &app.client_id),
            ("client_secret", app.client_secret.expose()),
            ("redirect_uri", &app.redirect_uri),
            ("refresh_token", refresh_token.expose()),
        ])
        .await
    }

    async fn token(&self, form: &[(&str, &str)]) -> Result<Grant, HubSpotError> {
        let response = self
            .http
            .post(self.url(&["oauth", "v1", "token"])?)
            .form(form)
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        let body = response.bytes().await.map_err(unreachable)?;
        if status.is_success() {
            let grant: WireGrant =
                serde_json::from_slice(&body).map_err(|source| HubSpotError::Decode {
                    what: "oauth token",
                    source,
                })?;
            return Ok(Grant {
                access_token: Secret::new(grant.access_token),
                refresh_token: grant.refresh_token.map(Secret::new),
                expires_in: grant.expires_in,
            });
        }
        let refusal: Option<WireRefusal> = serde_json::from_slice(&body).ok();
        let code = refusal
            .as_ref()
            .and_then(|r| r.status.clone())
            .unwrap_or_default();
        let message = refusal
            .and_then(|r| r.message)
            .unwrap_or_else(|| format!("status {status}"));
        if matches!(code.as_str(), "BAD_REFRESH_TOKEN" | "BAD_AUTH_CODE") {
            return Err(HubSpotError::NeedsReauthorisation(code));
        }
        if status.is_server_error() {
            return Err(HubSpotError::ServerError {
                status: status.as_u16(),
                retries: 0,
            });
        }
        Err(HubSpotError::Api {
            status: status.as_u16(),
            message: if code.is_empty() {
                message
            } else {
                format!("{code}: {message}")
            },
        })
    }

    /// Which portal `access_token` is for, who installed and with which scopes.
    pub async fn info(&self, access_token: &Secret) -> Result<TokenInfo, HubSpotError> {
        let url = self.url(&["oauth", "v1", "access-tokens", access_token.expose()])?;
        let response = self.http.get(url).send().await.map_err(unreachable)?;
        let status = response.status();
        if !status.is_success() {
            return Err(HubSpotError::Api {
                status: status.as_u16(),
                message: "the access-token lookup failed".to_owned(),
            });
        }
        let body = response.bytes().await.map_err(unreachable)?;
        let info: WireInfo =
            serde_json::from_slice(&body).map_err(|source| HubSpotError::Decode {
                what: "access-token info",
                source,
            })?;
        Ok(TokenInfo {
            hub_id: info.hub_id,
            user: info.user,
            scopes: info.scopes,
        })
    }
}

/// HubSpot could not be reached. The URL is dropped: the token lookup's carries the token.
fn unreachable(source: reqwest::Error) -> HubSpotError {
    HubSpotError::Transport {
        retries: 0,
        source: source.without_url(),
    }
}
