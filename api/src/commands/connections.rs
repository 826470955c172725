//! `healthscore connect --token pat-...` and `healthscore connections list|disconnect|rotate-key`.

use clap::{Args, Subcommand};
use healthscore_domain::ids::PortalId;
use healthscore_projections::{Db, EventStore, api_keys};

use crate::cli::WebhookArgs;
use crate::commands::sync::HubSpotArgs;
use crate::connections::{Connections, HubSpotSettings, Vault};
use crate::hubspot::OAuthApp;
use crate::secret::Secret;

/// Where the key that seals HubSpot tokens comes from.
#[derive(Debug, Clone, Args)]
pub struct SecretKeyArgs {
    /// Base64 of 32 bytes (`openssl rand -base64 32`); a comma list while rotating, the first
    /// one sealing. Unset on SQLite: a key file beside the database (created with mode 0600).
    /// Required on PostgreSQL.
    #[arg(long, env = "HEALTHSCORE_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<Secret>,
}

/// Connection management.
#[derive(Debug, Subcommand)]
pub enum ConnectionsCommand {
    /// Every portal's connection.
    List,
    /// Stop syncing a portal and delete its tokens (its data and scores stay).
    Disconnect {
        /// The HubSpot portal id.
        portal: u64,
    },
    /// Re-seal every stored token with the first key of HEALTHSCORE_SECRET_KEY (put the new
    /// key first, keep the old one after it until this has run).
    RotateKey,
}

/// The connections of `db`, with the HubSpot and OAuth settings of the command line.
pub fn connections(
    db: &Db,
    store: &EventStore,
    hubspot: &HubSpotArgs,
    webhook: &WebhookArgs,
    key: &SecretKeyArgs,
) -> anyhow::Result<Connections> {
    let vault = Vault::configure(key.secret_key.as_ref(), db.sqlite_file())?;
    let secret = webhook
        .hubspot_client_secret
        .as_ref()
        .and_then(|s| Secret::list(s.expose()).into_iter().next());
    let oauth = match (&hubspot.hubspot_app_client_id, secret, &webhook.public_url) {
        (Some(client_id), Some(client_secret), Some(public)) => Some(OAuthApp {
            client_id: client_id.clone(),
            client_secret,
            redirect_uri: format!("{}/connect/hubspot/callback", public.trim_end_matches('/')),
        }),
        _ => None,
    };
    let settings = HubSpotSettings {
        api_base: hubspot.hubspot_api_base.clone(),
        rate_limit: hubspot.hubspot_rate_limit,
        search_rate_limit: hubspot.hubspot_search_rate_limit,
        oauth,
        authorize_url: hubspot.hubspot_authorize_url.clone(),
    };
    Ok(Connections::new(
        db.clone(),
        store.clone(),
        vault,
        settings,
    )?)
}

/// `healthscore connect --token`: validates the token and connects its portal; the first
/// time, prints the portal's first API key.
pub async fn connect(db: &Db, connections: &Connections, token: Secret) -> anyhow::Result<()> {
    let connected = connections
        .connect_private_app(token, Some("healthscore connect".to_owned()))
        .await?;
    let portal = connected.portal;
    println!(
        "portal {portal} is connected (private app); `healthscore serve` syncs it{}",
        if connected.first_time {
            ""
        } else {
            " (it was connected before)"
        }
    );
    if !api_keys::portal_has_keys(db, portal).await? {
        let created = api_keys::create(db, portal, "first key").await?;
        println!("its first API key, shown only now:");
        println!("{}", created.key);
    }
    Ok(())
}

/// Runs a connections subcommand.
pub async fn run(connections: &Connections, command: ConnectionsCommand) -> anyhow::Result<()> {
    match command {
        ConnectionsCommand::List => {
            println!(
                "{:>12}  {:<12} {:<22} {:<24} by",
                "portal", "method", "status", "since"
            );
            for (portal, view) in connections.list().await? {
                println!(
                    "{:>12}  {:<12} {:<22} {:<24} {}",
                    portal,
                    serde_json::to_value(view.method)?
                        .as_str()
                        .unwrap_or_default(),
                    serde_json::to_value(view.status)?
                        .as_str()
                        .unwrap_or_default(),
                    healthscore_domain::time::rfc3339_ms(view.connected_at.timestamp_millis()),
                    view.connected_by.unwrap_or_default()
                );
            }
        }
        ConnectionsCommand::Disconnect { portal } => {
            connections.disconnect(PortalId(portal)).await?;
            println!("portal {portal} is disconnected: its tokens are deleted, its data stays");
        }
        ConnectionsCommand::RotateKey => {
            let resealed = connections.rotate_key().await?;
            println!(
                "re-sealed {resealed} portal(s)' tokens with the first key; the others' keys can go now"
            );
        }
    }
    Ok(())
}
