//! Command-line interface: every option can also come from an environment variable.

use std::net::SocketAddr;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use healthscore_projections::Db;

use crate::commands::keys::KeysCommand;
use crate::commands::projections::ProjectionsCommand;
use crate::commands::sync::{HubSpotArgs, SyncCommand};
use crate::http::{self, WebhookSettings};
use crate::secret::Secret;
use crate::workers::Workers;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal only).
    Text,
    /// One JSON object per line.
    Json,
}

/// healthscore: an event-sourced customer-health engine for HubSpot.
#[derive(Debug, Parser)]
#[command(name = "healthscore", version, about)]
pub struct Cli {
    /// Log format.
    #[arg(
        long,
        env = "LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,
    /// On an error, print its full report (every cause and, with RUST_BACKTRACE, where).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API and the background workers.
    Serve(ServeArgs),
    /// Apply the database migrations and exit.
    Migrate(DatabaseArgs),
    /// Rebuild the read models from the log, or show projector status.
    Projections {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(subcommand)]
        command: ProjectionsCommand,
    },
    /// Create, list and revoke API keys.
    Keys {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Connect a portal with a private-app token (`healthscore serve` then syncs it).
    Connect {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(flatten)]
        hubspot: HubSpotArgs,
        #[command(flatten)]
        key: crate::commands::connections::SecretKeyArgs,
        /// The private app's access token (`pat-...`).
        #[arg(long, env = "HUBSPOT_ACCESS_TOKEN", hide_env_values = true)]
        token: Secret,
    },
    /// List connections, disconnect a portal, or re-seal tokens with a new key.
    Connections {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(flatten)]
        hubspot: HubSpotArgs,
        #[command(flatten)]
        webhook: WebhookArgs,
        #[command(flatten)]
        key: crate::commands::connections::SecretKeyArgs,
        #[command(subcommand)]
        command: crate::commands::connections::ConnectionsCommand,
    },
    /// Sync contacts, companies and deals from HubSpot's CRM API.
    Sync {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(flatten)]
        hubspot: HubSpotArgs,
        #[command(subcommand)]
        command: SyncCommand,
    },
    /// Serve a fake HubSpot CRM API with a generated portal (for trying healthscore out).
    FakeHubspot(healthscore_fixtures::fake_hubspot::FakeHubSpotArgs),
    /// Run everything end to end against a fake HubSpot: sync, webhooks, scores, the API.
    Demo(crate::commands::demo::DemoArgs),
    /// Measure the engine's hot paths.
    #[command(subcommand)]
    Bench(crate::bench::Bench),
}

/// Where the event log lives.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// `sqlite://path` (created if missing) or `postgres://user:pass@host/db`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://healthscore.db")]
    pub database_url: String,
}

/// Options of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Address to listen on (`host:port`; `localhost:8080` works too).
    #[arg(long, env = "HEALTHSCORE_BIND", default_value = "127.0.0.1:8080", value_parser = parse_bind)]
    pub bind: SocketAddr,
    #[command(flatten)]
    pub webhook: WebhookArgs,
    /// How often every customer is rescored (recency decays with time alone): 90s, 10m, 1h.
    #[arg(long, env = "HEALTHSCORE_RESCORE_INTERVAL", default_value = "10m", value_parser = crate::workers::parse_interval)]
    pub rescore_interval: std::time::Duration,
    #[command(flatten)]
    pub hubspot: HubSpotArgs,
    #[command(flatten)]
    pub key: crate::commands::connections::SecretKeyArgs,
    /// How often each connected portal's incremental HubSpot sync runs: 90s, 5m, 1h.
    #[arg(long, env = "HUBSPOT_SYNC_INTERVAL", default_value = "5m", value_parser = crate::workers::parse_interval)]
    pub sync_interval: std::time::Duration,
    /// Connections served at once (lowered to fit the open-files limit); more are answered 503.
    #[arg(long, env = "HEALTHSCORE_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// How long a client may take to send a request's headers, or idle between requests on a
    /// keep-alive connection, before it is closed: 10s, 1m.
    #[arg(long, env = "HEALTHSCORE_HEADER_TIMEOUT", default_value = "10s", value_parser = crate::workers::parse_interval)]
    pub header_timeout: std::time::Duration,
    /// Bearer token `GET /metrics` asks for (its band counts name every portal); unset, the
    /// metrics are open to whoever reaches the server.
    #[arg(long, env = "HEALTHSCORE_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<crate::secret::Secret>,
    /// Origins browsers may call the API from, comma-separated (e.g.
    /// `https://app.example.com`); unset, no cross-origin call is allowed.
    #[arg(long, env = "HEALTHSCORE_CORS_ORIGINS", value_delimiter = ',', value_parser = parse_origin)]
    pub cors_origins: Vec<axum::http::HeaderValue>,
    /// Requests per second each API key may make (bursts of twice that); past it, 429 with
    /// `Retry-After`. 0 turns the budget off.
    #[arg(long, env = "HEALTHSCORE_KEY_RATE_LIMIT", default_value_t = 1000)]
    pub key_rate_limit: u32,
    /// The wait after an alert's first failed delivery, doubled after each further one
    /// (with jitter, at most 1h): 500ms, 30s, 1m.
    #[arg(long, env = "HEALTHSCORE_ALERT_RETRY_BASE", default_value = "30s", value_parser = crate::workers::parse_interval)]
    pub alert_retry_base: std::time::Duration,
    /// How long an alert's deliveries are retried before it is marked failed: 24h, 30m.
    #[arg(long, env = "HEALTHSCORE_ALERT_RETRY_FOR", default_value = "24h", value_parser = crate::workers::parse_interval)]
    pub alert_retry_for: std::time::Duration,
}

impl ServeArgs {
    /// The connection limits these options ask for, within the descriptor limit.
    pub fn connection_limits(&self) -> http::server::ConnectionLimits {
        http::server::ConnectionLimits {
            max_connections: self.max_connections,
            header_timeout: self.header_timeout,
            ..Default::default()
        }
        .within_descriptor_limit()
    }
}

/// Webhook verification.
#[derive(Debug, Clone, Args)]
pub struct WebhookArgs {
    /// HubSpot app client secret(s), comma-separated to rotate without downtime.
    #[arg(long, env = "HUBSPOT_CLIENT_SECRET", hide_env_values = true)]
    pub hubspot_client_secret: Option<Secret>,
    /// Public base URL HubSpot calls, e.g. https://scores.example.com (else http:// + Host).
    #[arg(long, env = "HEALTHSCORE_PUBLIC_URL")]
    pub public_url: Option<String>,
}

impl WebhookArgs {
    /// The settings the router uses.
    pub fn settings(&self) -> WebhookSettings {
        WebhookSettings {
            secrets: self
                .hubspot_client_secret
                .as_ref()
                .map_or_else(Vec::new, |s| Secret::list(s.expose())),
            public_url: self.public_url.clone(),
        }
    }
}

/// Runs the parsed command to completion.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Bench(bench) => crate::bench::run(bench).await,
        Command::Projections { database, command } => {
            let db = connect(&database).await?;
            let result = crate::commands::projections::run(&db, command).await;
            db.close().await;
            result
        }
        Command::Keys { database, command } => {
            let db = connect(&database).await?;
            let result = crate::commands::keys::run(&db, command).await;
            db.close().await;
            result
        }
        Command::Sync {
            database,
            hubspot,
            command,
        } => {
            let db = connect(&database).await?;
            let result = crate::commands::sync::run(&db, &hubspot, command).await;
            db.close().await;
            result
        }
        Command::Connect {
            database,
            hubspot,
            key,
            token,
        } => {
            let db = connect(&database).await?;
            let store = healthscore_projections::EventStore::new(db.clone());
            let webhook = WebhookArgs {
                hubspot_client_secret: None,
                public_url: None,
            };
            let connections =
                crate::commands::connections::connections(&db, &store, &hubspot, &webhook, &key)?;
            let result = crate::commands::connections::connect(&db, &connections, token).await;
            db.close().await;
            result
        }
        Command::Connections {
            database,
            hubspot,
            webhook,
            key,
            command,
        } => {
            let db = connect(&database).await?;
            let store = healthscore_projections::EventStore::new(db.clone());
            let connections =
                crate::commands::connections::connections(&db, &store, &hubspot, &webhook, &key)?;
            let result = crate::commands::connections::run(&connections, command).await;
            db.close().await;
            result
        }
        Command::FakeHubspot(args) => Ok(args.run().await?),
        Command::Demo(args) => crate::commands::demo::run(args).await,
        Command::Migrate(args) => {
            let db = connect(&args).await?;
            tracing::info!(backend = ?db.backend(), "migrations applied");
            db.close().await;
            Ok(())
        }
    }
}

/// Connects to the configured database and applies migrations.
pub async fn connect(args: &DatabaseArgs) -> anyhow::Result<Db> {
    check_database_url(&args.database_url)?;
    Db::connect_and_migrate(&args.database_url)
        .await
        .with_context(|| format!("opening the database ({})", redact_url(&args.database_url)))
}

/// Refuses, with what to do, a database URL that cannot work: a bare path, or a SQLite file
/// in a directory that does not exist.
fn check_database_url(url: &str) -> anyhow::Result<()> {
    if !(url.starts_with("sqlite:")
        || url.starts_with("postgres:")
        || url.starts_with("postgresql:"))
    {
        anyhow::bail!(
            "DATABASE_URL must be a URL, e.g. sqlite://{} or postgres://user:password@host/db, not {}",
            if url.is_empty() {
                "healthscore.db"
            } else {
                url
            },
            redact_url(url)
        );
    }
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let path = rest.trim_start_matches("//");
        let path = std::path::Path::new(path.split('?').next().unwrap_or_default());
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
            && !parent.is_dir()
        {
            anyhow::bail!(
                "the directory {} does not exist: create it, or point DATABASE_URL elsewhere",
                parent.display()
            );
        }
    }
    Ok(())
}

/// `--bind`: a socket address, or `host:port` resolved (`localhost:8080`).
pub fn parse_bind(text: &str) -> Result<SocketAddr, String> {
    if let Ok(address) = text.parse() {
        return Ok(address);
    }
    use std::net::ToSocketAddrs as _;
    text.to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
        .ok_or_else(|| format!("{text:?} is not host:port, e.g. 127.0.0.1:8080 or localhost:8080"))
}

/// The one line an error is printed as: every cause, and what to do for the common ones.
pub fn explain(error: &anyhow::Error) -> String {
    let mut text = format!("{error:#}");
    let refused = error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
            || cause.to_string().contains("Connection refused")
    });
    let timed_out = error
        .chain()
        .any(|cause| cause.to_string().contains("pool timed out"));
    if refused || timed_out {
        text.push_str(" (nothing answers at that address: is the server running, and are host and port right?)");
    }
    let in_use = error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::AddrInUse)
    });
    if in_use {
        text.push_str(
            " (another process has that port: choose another with --bind or HEALTHSCORE_BIND)",
        );
    }
    text
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let db = connect(&args.database).await?;
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("listening on {}", args.bind))?;
    tracing::info!(addr = %listener.local_addr()?, backend = ?db.backend(), "serving");
    if args.webhook.settings().secrets.is_empty() {
        tracing::warn!(
            "no HubSpot client secret (HUBSPOT_CLIENT_SECRET): POST /webhooks/hubspot answers 503"
        );
    }
    let state = http::AppState::new(db.clone(), args.webhook.settings())
        .with_metrics_token(args.metrics_token.clone())
        .with_cors_origins(args.cors_origins.clone())
        .with_key_budget(std::num::NonZeroU32::new(args.key_rate_limit));
    let connections = crate::commands::connections::connections(
        &db,
        &state.store,
        &args.hubspot,
        &args.webhook,
        &args.key,
    )?;
    if connections.settings().oauth.is_none() {
        tracing::info!(
            "OAuth installs are off (set HUBSPOT_APP_CLIENT_ID, HUBSPOT_CLIENT_SECRET and HEALTHSCORE_PUBLIC_URL to turn on GET /connect/hubspot)"
        );
    }
    // The shortcut: the token's portal is connected (once; a restart with the same token
    // records nothing).
    if let Some(token) = &args.hubspot.hubspot_access_token {
        match connections
            .connect_private_app(token.clone(), Some("HUBSPOT_ACCESS_TOKEN".to_owned()))
            .await
        {
            Ok(connected) => {
                tracing::info!(portal = %connected.portal, "HUBSPOT_ACCESS_TOKEN's portal is connected")
            }
            Err(error) => tracing::error!(%error, "cannot connect HUBSPOT_ACCESS_TOKEN's portal"),
        }
    } else if connections.active().await?.is_empty() {
        tracing::warn!(
            "no portal is connected: connect one with `healthscore connect --token pat-...`, POST /connections or GET /connect/hubspot (operator key)"
        );
    }
    let alerts = crate::alerts::AlertSettings {
        public_url: args
            .webhook
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", args.bind)),
        retry_base: args.alert_retry_base,
        retry_for: args.alert_retry_for,
        ..Default::default()
    };
    let state = state
        .with_alerts(alerts, connections.vault().clone())
        .with_connections(connections);
    let workers =
        Workers::start(&state, args.rescore_interval).with_connections(&state, args.sync_interval);
    http::server::serve(
        listener,
        http::router(state),
        args.connection_limits(),
        shutdown_signal(),
    )
    .await
    .context("serving HTTP")?;
    workers.stop().await;
    db.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// An origin as browsers send it: `scheme://host[:port]`, nothing after.
fn parse_origin(text: &str) -> Result<axum::http::HeaderValue, String> {
    let text = text.trim();
    let url = reqwest::Url::parse(text).map_err(|e| format!("{text:?} is not an origin: {e}"))?;
    let bare = url.path() == "/" && url.query().is_none() && !text.ends_with('/');
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || !bare {
        return Err(format!(
            "{text:?} is not an origin: write scheme://host[:port], e.g. https://app.example.com"
        ));
    }
    axum::http::HeaderValue::from_str(text).map_err(|e| e.to_string())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => tracing::error!(%error, "cannot listen for SIGTERM"),
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

/// A database URL with its password replaced, safe to log.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_origin;

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        assert!(parse_origin("https://app.example.com").is_ok());
        assert!(parse_origin(" http://localhost:3000 ").is_ok());
        for bad in [
            "app.example.com",
            "https://app.example.com/",
            "https://app.example.com/path",
            "ftp://x.example",
            "*",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }
}
