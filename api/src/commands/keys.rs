//! `healthscore keys create|list|revoke`.

use clap::Subcommand;
use healthscore_domain::ids::PortalId;
use healthscore_projections::{Db, api_keys};

/// API key management.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key for a portal; the key is printed once, alone on the last line.
    Create {
        /// The HubSpot portal the key may read.
        #[arg(long)]
        portal: u64,
        /// A label for the key.
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// List keys (never the keys themselves).
    List,
    /// Revoke a key by its id.
    Revoke {
        /// The id `keys list` shows.
        id: String,
    },
}

/// Runs a keys subcommand.
pub async fn run(db: &Db, command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Create { portal, name } => {
            let created = api_keys::create(db, PortalId(portal), &name).await?;
            println!(
                "created key {} for portal {} ({name}); it is shown only now:",
                created.info.id, portal
            );
            println!("{}", created.key);
        }
        KeysCommand::List => {
            println!(
                "{:<14} {:>12}  {:<24} {:<10} name",
                "id", "portal", "created", "status"
            );
            for key in api_keys::list(db).await? {
                let created = healthscore_domain::time::rfc3339_ms(key.created_at);
                let status = if key.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!(
                    "{:<14} {:>12}  {:<24} {:<10} {}",
                    key.id, key.portal, created, status, key.name
                );
            }
        }
        KeysCommand::Revoke { id } => {
            anyhow::ensure!(
                api_keys::revoke(db, &id).await?,
                "no active key with id {id}"
            );
            println!("revoked key {id}");
        }
    }
    Ok(())
}
