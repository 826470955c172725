//! A portal's access token as its client sees it: read from the sealed store, kept in memory
//! until it is due for a refresh, refreshed before `expires_in` runs out and after a 401.
//! One refresh at a time per portal; a task that waited for it uses its result.

use std::sync::Weak;

use chrono::Utc;
use futures::future::BoxFuture;
use healthscore_domain::connection::{ConnectionCommand, ConnectionStatus};
use healthscore_domain::ids::PortalId;
use healthscore_projections::connection_tokens::{self, SealedTokens};

use super::{ConnectError, Connections, Inner};
use crate::hubspot::{HubSpotError, TokenSource};
use crate::secret::Secret;

/// Refresh this long before expiry at most (a fifth of the lifetime for short-lived tokens).
const REFRESH_MARGIN_MS: i64 = 60_000;

struct Cached {
    token: Secret,
    /// When to refresh (OAuth); `None` for a token that does not expire.
    refresh_at: Option<i64>,
}

/// The token source of one portal's client.
pub(crate) struct PortalToken {
    portal: PortalId,
    connections: Weak<Inner>,
    cached: tokio::sync::Mutex<Option<Cached>>,
    /// Set by a (re)connect or disconnect: the next use reads the store again.
    stale: std::sync::atomic::AtomicBool,
}

fn refresh_at(expires_at: i64, lifetime_ms: i64) -> i64 {
    expires_at - REFRESH_MARGIN_MS.min(lifetime_ms / 5)
}

impl PortalToken {
    pub(crate) fn new(portal: PortalId, connections: Weak<Inner>) -> Self {
        Self {
            portal,
            connections,
            cached: tokio::sync::Mutex::new(None),
            stale: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Drops what is cached: the connection changed.
    pub(crate) fn forget(&self) {
        self.stale.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    fn connections(&self) -> Result<Connections, HubSpotError> {
        self.connections
            .upgrade()
            .map(|inner| Connections { inner })
            .ok_or(HubSpotError::NotConnected)
    }

    async fn get(&self, rejected: Option<Secret>) -> Result<Secret, HubSpotError> {
        let mut cached = self.cached.lock().await;
        if self.stale.swap(false, std::sync::atomic::Ordering::SeqCst) {
            *cached = None;
        }
        let now = Utc::now().timestamp_millis();
        if let Some(current) = cached.as_ref() {
            let fresh = current.refresh_at.is_none_or(|at| now < at);
            let was_rejected = rejected.as_ref() == Some(&current.token);
            if fresh && !was_rejected {
                return Ok(current.token.clone());
            }
            if was_rejected && current.refresh_at.is_none() {
                // A private-app token HubSpot refuses cannot be refreshed.
                return Err(HubSpotError::Unauthorized);
            }
        }
        let connections = self.connections()?;
        // A token we held is due or was refused: refresh. Nothing held yet: the stored one will do
        // if it is still good.
        let force = rejected.is_some() || cached.is_some();
        let next = self.load_or_refresh(&connections, force).await;
        match next {
            Ok(next) => {
                let token = next.token.clone();
                *cached = Some(next);
                Ok(token)
            }
            Err(error) => {
                *cached = None;
                Err(error)
            }
        }
    }

    /// The stored token when it is still good (another instance may have refreshed it) and
    /// `force` is off; else a refreshed one.
    async fn load_or_refresh(
        &self,
        connections: &Connections,
        force: bool,
    ) -> Result<Cached, HubSpotError> {
        let inner = &connections.inner;
        let connection = connections.load(self.portal).await.map_err(into_hubspot)?;
        match connection.view().map(|v| (v.status, v.reason.clone())) {
            Some((ConnectionStatus::Connected, _)) => {}
            Some((ConnectionStatus::NeedsReauthorisation, reason)) => {
                return Err(HubSpotError::NeedsReauthorisation(
                    reason.unwrap_or_default(),
                ));
            }
            _ => return Err(HubSpotError::NotConnected),
        }
        let sealed = connection_tokens::load(&inner.db, self.portal)
            .await
            .map_err(|e| into_hubspot(e.into()))?
            .ok_or(HubSpotError::NotConnected)?;
        let open = |value: &str| {
            inner
                .vault
                .open(self.portal, value)
                .map_err(|e| into_hubspot(e.into()))
        };
        let token = open(&sealed.access_token)?;
        let (Some(refresh_token), Some(expires_at)) = (&sealed.refresh_token, sealed.expires_at)
        else {
            return Ok(Cached {
                token,
                refresh_at: None,
            });
        };
        let now = Utc::now().timestamp_millis();
        if !force && now < refresh_at(expires_at, expires_at - now) {
            return Ok(Cached {
                refresh_at: Some(refresh_at(expires_at, expires_at - now)),
                token,
            });
        }
        let app = inner.settings.oauth.as_ref().ok_or_else(|| {
            HubSpotError::NeedsReauthorisation("OAuth is not configured".to_owned())
        })?;
        let grant = match inner.endpoints.refresh(app, &open(refresh_token)?).await {
            Ok(grant) => grant,
            Err(HubSpotError::NeedsReauthorisation(reason)) => {
                tracing::warn!(portal = %self.portal, reason, "HubSpot refused the refresh token; the portal must be connected again");
                let command = ConnectionCommand::RequireReauthorisation {
                    reason: reason.clone(),
                    at: Utc::now(),
                };
                if let Err(error) = connections.execute(self.portal, command).await {
                    tracing::error!(portal = %self.portal, %error, "cannot record that the portal needs re-authorisation");
                }
                return Err(HubSpotError::NeedsReauthorisation(reason));
            }
            Err(error) => return Err(error),
        };
        let lifetime = i64::try_from(grant.expires_in).unwrap_or(i64::MAX / 2_000) * 1000;
        let now = Utc::now().timestamp_millis();
        let expires_at = now + lifetime;
        let resealed = SealedTokens {
            access_token: inner.vault.seal(self.portal, grant.access_token.expose()),
            refresh_token: match &grant.refresh_token {
                Some(new) => Some(inner.vault.seal(self.portal, new.expose())),
                None => sealed.refresh_token.clone(),
            },
            expires_at: Some(expires_at),
        };
        connection_tokens::store(&inner.db, self.portal, &resealed)
            .await
            .map_err(|e| into_hubspot(e.into()))?;
        let at = chrono::DateTime::from_timestamp_millis(expires_at).unwrap_or_default();
        let command = ConnectionCommand::RecordRefresh {
            expires_at: at,
            at: Utc::now(),
        };
        if let Err(error) = connections.execute(self.portal, command).await {
            tracing::warn!(portal = %self.portal, %error, "cannot record the token refresh");
        }
        tracing::debug!(portal = %self.portal, expires_in = grant.expires_in, "access token refreshed");
        Ok(Cached {
            token: grant.access_token,
            refresh_at: Some(refresh_at(expires_at, lifetime)),
        })
    }
}

/// A connection failure as the client reports it (no token in it).
fn into_hubspot(error: ConnectError) -> HubSpotError {
    match error {
        ConnectError::HubSpot(error) => error,
        other => HubSpotError::Api {
            status: 500,
            message: other.to_string(),
        },
    }
}

impl TokenSource for PortalToken {
    fn current(&self) -> BoxFuture<'_, Result<Secret, HubSpotError>> {
        Box::pin(self.get(None))
    }

    fn refresh_after(&self, rejected: Secret) -> BoxFuture<'_, Result<Secret, HubSpotError>> {
        Box::pin(self.get(Some(rejected)))
    }
}
