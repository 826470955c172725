//! Connections: how each portal reaches HubSpot. What happened to a connection is an
//! event-sourced aggregate (`{portal}/connection`); its tokens are sealed in
//! `connection_tokens` (see [`vault`]). Every sync takes its token from the portal's
//! connection through a [`TokenSource`], so a client built once keeps working across refreshes,
//! reconnects and key rotations, and stops at a disconnect.

mod token;
pub mod vault;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::Utc;
use cqrs_es::{AggregateError, CqrsFramework, EventStore as _};
use healthscore_domain::connection::{
    CONNECTION_STREAM, Connection, ConnectionCommand, ConnectionError, ConnectionEvent,
    ConnectionMethod, ConnectionView,
};
use healthscore_domain::ids::PortalId;
use healthscore_projections::connection_tokens::{self, SealedTokens};
use healthscore_projections::{Db, EventStore, StoreError};

use crate::hubspot::{
    ClientConfig, HubSpotClient, HubSpotError, OAuthApp, OAuthEndpoints, TokenSource,
};
use crate::secret::Secret;
use token::PortalToken;
pub use vault::{Vault, VaultError};

type Store = healthscore_projections::AggregateStore<Connection>;

/// The read scopes an install asks for (HUBSPOT.md).
pub const READ_SCOPES: [&str; 7] = [
    "crm.objects.contacts.read",
    "crm.objects.companies.read",
    "crm.objects.deals.read",
    "crm.objects.owners.read",
    "crm.schemas.contacts.read",
    "crm.schemas.companies.read",
    "crm.schemas.deals.read",
];

/// How long an install's `state` stays valid.
const STATE_TTL_MS: i64 = 10 * 60 * 1000;

/// Where HubSpot lives and how fast each portal may be asked.
#[derive(Debug, Clone)]
pub struct HubSpotSettings {
    /// `HUBSPOT_API_BASE`.
    pub api_base: String,
    /// Requests per rolling 10 s, per portal.
    pub rate_limit: u32,
    /// Searches per second, per portal.
    pub search_rate_limit: u32,
    /// The OAuth app, when `HUBSPOT_APP_CLIENT_ID`, the client secret and a public URL are set.
    pub oauth: Option<OAuthApp>,
    /// `HUBSPOT_AUTHORIZE_URL`.
    pub authorize_url: String,
}

/// Why a connection could not be made or used. Never carries a token.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// HubSpot refused or failed.
    #[error(transparent)]
    HubSpot(#[from] HubSpotError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored token cannot be opened.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// The connection refused the command.
    #[error(transparent)]
    Refused(#[from] ConnectionError),
    /// Recording the connection failed.
    #[error("recording the connection failed")]
    Record(#[source] crate::BoxError),
    /// OAuth is not configured.
    #[error(
        "OAuth is off: set HUBSPOT_APP_CLIENT_ID, HUBSPOT_CLIENT_SECRET and HEALTHSCORE_PUBLIC_URL"
    )]
    OAuthOff,
    /// A token that is not a private-app token.
    #[error("that is not a private-app token (they start with pat-)")]
    NotAPrivateAppToken,
}

/// A portal just connected.
#[derive(Debug, Clone)]
pub struct Connected {
    /// The portal.
    pub portal: PortalId,
    /// True the first time this portal was connected.
    pub first_time: bool,
}

/// Every portal's connection. Cheap to clone.
#[derive(Clone)]
pub struct Connections {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    db: Db,
    log: EventStore,
    cqrs: CqrsFramework<Connection, Store>,
    store: Store,
    vault: Vault,
    settings: HubSpotSettings,
    endpoints: OAuthEndpoints,
    /// One client per portal (its pacing windows are the portal's), built on first use.
    clients: Mutex<HashMap<PortalId, (HubSpotClient, Arc<PortalToken>)>>,
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections")
            .field("api_base", &self.inner.settings.api_base)
            .field("oauth", &self.inner.settings.oauth.is_some())
            .finish_non_exhaustive()
    }
}

fn stream_id(portal: PortalId) -> String {
    format!("{portal}/{CONNECTION_STREAM}")
}

impl Connections {
    /// Connections recorded in `log`, tokens sealed by `vault`.
    pub fn new(
        db: Db,
        log: EventStore,
        vault: Vault,
        settings: HubSpotSettings,
    ) -> Result<Self, HubSpotError> {
        let (cqrs, aggregate_store) = healthscore_projections::aggregates(&log);
        let endpoints = OAuthEndpoints::new(&settings.api_base)?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                log,
                cqrs,
                store: aggregate_store,
                vault,
                settings,
                endpoints,
                clients: Mutex::default(),
            }),
        })
    }

    /// The vault tokens are sealed with (alert destinations seal theirs with it too).
    pub fn vault(&self) -> &Vault {
        &self.inner.vault
    }

    /// The HubSpot settings.
    pub fn settings(&self) -> &HubSpotSettings {
        &self.inner.settings
    }

    /// Validates a private-app token (account info names its portal), then connects that
    /// portal with it.
    pub async fn connect_private_app(
        &self,
        token: Secret,
        by: Option<String>,
    ) -> Result<Connected, ConnectError> {
        if !token.expose().starts_with("pat-") {
            return Err(ConnectError::NotAPrivateAppToken);
        }
        let client = HubSpotClient::new(self.client_config(token.clone()))?;
        let portal = PortalId(client.account_portal_id().await?);
        if self.holds(portal, &token).await? {
            // The same token again (a restart with HUBSPOT_ACCESS_TOKEN): nothing happened.
            return Ok(Connected {
                portal,
                first_time: false,
            });
        }
        let sealed = SealedTokens {
            access_token: self.inner.vault.seal(portal, token.expose()),
            refresh_token: None,
            expires_at: None,
        };
        self.connect(portal, sealed, ConnectionMethod::PrivateApp, Vec::new(), by)
            .await
    }

    /// Whether `portal` is connected with exactly `token` now.
    async fn holds(&self, portal: PortalId, token: &Secret) -> Result<bool, ConnectError> {
        if !self.load(portal).await?.is_active() {
            return Ok(false);
        }
        let Some(sealed) = connection_tokens::load(&self.inner.db, portal).await? else {
            return Ok(false);
        };
        let stored = self.inner.vault.open(portal, &sealed.access_token)?;
        Ok(
            subtle::ConstantTimeEq::ct_eq(stored.expose().as_bytes(), token.expose().as_bytes())
                .into(),
        )
    }

    /// Finishes an OAuth install: exchanges `code`, asks which portal the token is for, and
    /// connects it.
    pub async fn connect_oauth(&self, code: &str) -> Result<Connected, ConnectError> {
        let app = self
            .inner
            .settings
            .oauth
            .as_ref()
            .ok_or(ConnectError::OAuthOff)?;
        let grant = self.inner.endpoints.exchange(app, code).await?;
        let info = self.inner.endpoints.info(&grant.access_token).await?;
        let portal = PortalId(info.hub_id);
        let expires_at = Utc::now().timestamp_millis()
            + i64::try_from(grant.expires_in).unwrap_or(i64::MAX / 2_000) * 1000;
        let sealed = SealedTokens {
            access_token: self.inner.vault.seal(portal, grant.access_token.expose()),
            refresh_token: grant
                .refresh_token
                .as_ref()
                .map(|t| self.inner.vault.seal(portal, t.expose())),
            expires_at: Some(expires_at),
        };
        self.connect(
            portal,
            sealed,
            ConnectionMethod::Oauth,
            info.scopes,
            info.user,
        )
        .await
    }

    async fn connect(
        &self,
        portal: PortalId,
        sealed: SealedTokens,
        method: ConnectionMethod,
        scopes: Vec<String>,
        by: Option<String>,
    ) -> Result<Connected, ConnectError> {
        // The tokens first: a connection recorded without them could not sync.
        connection_tokens::store(&self.inner.db, portal, &sealed).await?;
        let first_time = self.load(portal).await?.view().is_none();
        let command = ConnectionCommand::Connect {
            method,
            scopes,
            by,
            at: Utc::now(),
        };
        self.execute(portal, command).await?;
        self.forget_cached_token(portal);
        tracing::info!(%portal, ?method, first_time, "portal connected");
        Ok(Connected { portal, first_time })
    }

    /// Disconnects `portal`: its tokens are deleted and syncing stops; data and scores stay.
    pub async fn disconnect(&self, portal: PortalId) -> Result<(), ConnectError> {
        self.execute(portal, ConnectionCommand::Disconnect { at: Utc::now() })
            .await?;
        connection_tokens::delete(&self.inner.db, portal).await?;
        self.forget_cached_token(portal);
        Ok(())
    }

    /// Records a command on `portal`'s connection.
    pub(crate) async fn execute(
        &self,
        portal: PortalId,
        command: ConnectionCommand,
    ) -> Result<(), ConnectError> {
        match self.inner.cqrs.execute(&stream_id(portal), command).await {
            Ok(()) => Ok(()),
            Err(AggregateError::UserError(error)) => Err(ConnectError::Refused(error)),
            Err(other) => Err(ConnectError::Record(other.into())),
        }
    }

    /// `portal`'s connection as recorded.
    pub async fn load(&self, portal: PortalId) -> Result<Connection, ConnectError> {
        self.inner
            .store
            .load_aggregate(&stream_id(portal))
            .await
            .map(|context| context.aggregate)
            .map_err(|e| ConnectError::Record(e.into()))
    }

    /// Every portal ever connected, with its connection, by portal id.
    pub async fn list(&self) -> Result<Vec<(PortalId, ConnectionView)>, ConnectError> {
        // Every connection event in one read, folded per portal (in log order).
        let events = self.inner.log.read_type(CONNECTION_STREAM).await?;
        let mut connections: std::collections::BTreeMap<PortalId, Connection> = Default::default();
        for recorded in events {
            let event = recorded.event;
            let Some(portal) = event
                .stream_id
                .split('/')
                .next()
                .and_then(|p| p.parse().ok())
            else {
                continue;
            };
            let event: ConnectionEvent =
                serde_json::from_str(&event.payload).map_err(|e| ConnectError::Record(e.into()))?;
            connections
                .entry(PortalId(portal))
                .or_default()
                .apply_event(event);
        }
        Ok(connections
            .into_iter()
            .filter_map(|(portal, connection)| Some((portal, connection.view()?.clone())))
            .collect())
    }

    /// The portals that should sync now.
    pub async fn active(&self) -> Result<Vec<PortalId>, ConnectError> {
        Ok(self
            .list()
            .await?
            .into_iter()
            .filter(|(_, view)| {
                view.status == healthscore_domain::connection::ConnectionStatus::Connected
            })
            .map(|(portal, _)| portal)
            .collect())
    }

    /// `portal`'s client: one per portal, so its requests share the portal's pacing windows;
    /// its token always comes from the connection.
    pub fn client(&self, portal: PortalId) -> Result<HubSpotClient, ConnectError> {
        let mut clients = self
            .inner
            .clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((client, _)) = clients.get(&portal) {
            return Ok(client.clone());
        }
        let token = Arc::new(PortalToken::new(portal, Arc::downgrade(&self.inner)));
        let source: Arc<dyn TokenSource> = token.clone();
        let config = self.client_config(Secret::new(String::new()));
        let client = HubSpotClient::with_token_source(config, source)?;
        clients.insert(portal, (client.clone(), token));
        Ok(client)
    }

    fn forget_cached_token(&self, portal: PortalId) {
        let clients = self
            .inner
            .clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((_, token)) = clients.get(&portal) {
            token.forget();
        }
    }

    fn client_config(&self, token: Secret) -> ClientConfig {
        ClientConfig {
            base_url: self.inner.settings.api_base.clone(),
            rate_limit: self.inner.settings.rate_limit,
            search_rate_limit: self.inner.settings.search_rate_limit,
            ..ClientConfig::new(token)
        }
    }

    /// Starts an OAuth install: a single-use `state` and the URL to send the browser to.
    pub async fn begin_install(&self) -> Result<String, ConnectError> {
        let app = self
            .inner
            .settings
            .oauth
            .as_ref()
            .ok_or(ConnectError::OAuthOff)?;
        let state = random_token();
        let expires = Utc::now().timestamp_millis() + STATE_TTL_MS;
        connection_tokens::put_state(&self.inner.db, &state, expires).await?;
        let mut url = reqwest::Url::parse(&self.inner.settings.authorize_url).map_err(|e| {
            HubSpotError::InvalidBaseUrl {
                url: self.inner.settings.authorize_url.clone(),
                reason: e.to_string(),
            }
        })?;
        url.query_pairs_mut()
            .append_pair("client_id", &app.client_id)
            .append_pair("redirect_uri", &app.redirect_uri)
            .append_pair("scope", &READ_SCOPES.join(" "))
            .append_pair("state", &state);
        Ok(url.to_string())
    }

    /// Spends an install's `state`: true once for a state this server gave out in the last
    /// ten minutes.
    pub async fn take_state(&self, state: &str) -> Result<bool, ConnectError> {
        Ok(connection_tokens::take_state(&self.inner.db, state).await?)
    }

    /// Re-seals every stored token with the vault's first key; returns how many were re-sealed.
    pub async fn rotate_key(&self) -> Result<usize, ConnectError> {
        let vault = &self.inner.vault;
        let mut resealed = 0;
        for (portal, sealed) in connection_tokens::all(&self.inner.db).await? {
            let current = vault.is_current(&sealed.access_token)
                && sealed
                    .refresh_token
                    .as_deref()
                    .is_none_or(|t| vault.is_current(t));
            if current {
                continue;
            }
            let reseal = |value: &str| -> Result<String, VaultError> {
                Ok(vault.seal(portal, vault.open(portal, value)?.expose()))
            };
            let tokens = SealedTokens {
                access_token: reseal(&sealed.access_token)?,
                refresh_token: sealed.refresh_token.as_deref().map(reseal).transpose()?,
                expires_at: sealed.expires_at,
            };
            connection_tokens::store(&self.inner.db, portal, &tokens).await?;
            resealed += 1;
        }
        Ok(resealed)
    }
}

/// 32 random bytes, URL-safe base64.
fn random_token() -> String {
    use base64::Engine as _;
    use rand::RngCore as _;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
