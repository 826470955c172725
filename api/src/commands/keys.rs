//! `healthscore keys create|list|revoke`.

use clap::Subcommand;
use healthscore_domain::ids::PortalId;
use healthscore_projections::{Db, api_keys};

/// API key management.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key for a portal (or, with --operator, one that manages every portal's
    /// connections and keys); the key is printed once, alone on the last line.
    Create {
        /// The HubSpot portal the key may read.
        #[arg(
            long,
            required_unless_present = "operator",
            conflicts_with = "operator"
        )]
        portal: Option<u64>,
        /// An operator key: manages connections and keys, reads no portal's data.
        #[arg(long)]
        operator: bool,
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
        KeysCommand::Create {
            portal,
            operator,
            name,
        } => {
            let created = match portal {
                Some(portal) if !operator => {
                    let created = api_keys::create(db, PortalId(portal), &name).await?;
                    println!(
                        "created key {} for portal {portal} ({name}); it is shown only now:",
                        created.info.id
                    );
                    created
                }
                _ => {
                    let created = api_keys::create_operator(db, &name).await?;
                    println!(
                        "created operator key {} ({name}); it is shown only now:",
                        created.info.id
                    );
                    created
                }
            };
            println!("{}", created.key);
        }
        KeysCommand::List => {
            println!(
                "{:<14} {:>12}  {:<9} {:<24} {:<10} name",
                "id", "portal", "scope", "created", "status"
            );
            for key in api_keys::list(db).await? {
                let created = healthscore_domain::time::rfc3339_ms(key.created_at);
                let status = if key.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!(
                    "{:<14} {:>12}  {:<9} {:<24} {:<10} {}",
                    key.id,
                    match key.scope {
                        api_keys::KeyScope::Operator => "-".to_owned(),
                        api_keys::KeyScope::Portal => key.portal.to_string(),
                    },
                    key.scope.as_str(),
                    created,
                    status,
                    key.name
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
