//! `healthscore bench ...`: reproducible measurements of the engine's hot paths. Each prints
//! its figures as a table; the numbers in docs/BENCHMARKS.md come from these commands.

mod anchor;
mod append;
mod lag;
mod portal;
mod sync;
mod under_load;
mod webhooks;

use clap::{Args, Subcommand};

use crate::cli::DatabaseArgs;

/// The benchmarks.
#[derive(Debug, Subcommand)]
pub enum Bench {
    /// Append 100-event batches straight to the event store.
    Append(AppendArgs),
    /// Signed 100-event webhook deliveries from concurrent senders through the real HTTP server,
    /// with `serve`'s workers, against raw SQLite writing the same rows.
    Webhooks(WebhookArgs),
    /// A full sync of a generated portal from the fake HubSpot at the real rate limit.
    Sync(SyncArgs),
    /// A large portal: replay into read models, scoring index, full rescore, API latency.
    Portal(PortalArgs),
    /// Webhook 2xx to read-API visibility, under a steady webhook load.
    Lag(LagArgs),
}

/// Options of `bench lag`.
#[derive(Debug, Args)]
pub struct LagArgs {
    /// Database to write (default: a fresh SQLite file in a temporary directory).
    #[arg(long, env = "BENCH_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Background webhook load, events per second (in 100-event deliveries).
    #[arg(long, default_value_t = 10_000)]
    pub events_per_second: u64,
    /// Concurrent load senders.
    #[arg(long, default_value_t = 10)]
    pub senders: usize,
    /// Timed changes.
    #[arg(long, default_value_t = 300)]
    pub probes: usize,
}

/// Options of `bench portal`.
#[derive(Debug, Args)]
pub struct PortalArgs {
    /// Database to write (default: a fresh SQLite file in a temporary directory).
    #[arg(long, env = "BENCH_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Contacts in the generated portal.
    #[arg(long, default_value_t = 100_000)]
    pub contacts: usize,
    /// Companies in the generated portal.
    #[arg(long, default_value_t = 30_000)]
    pub companies: usize,
    /// Deals in the generated portal.
    #[arg(long, default_value_t = 150_000)]
    pub deals: usize,
    /// Seed of the generated portal.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Concurrent API clients.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Requests per endpoint.
    #[arg(long, default_value_t = 20_000)]
    pub requests: usize,
    /// Webhook events per second flowing during the score reads under load.
    #[arg(long, default_value_t = 5_000)]
    pub webhook_load: u64,
    /// Concurrent score readers while webhooks flow.
    #[arg(long, default_value_t = 50)]
    pub clients_under_load: usize,
    /// How long the score readers run while webhooks flow, seconds.
    #[arg(long, default_value_t = 20)]
    pub seconds_under_load: u64,
}

/// Options of `bench sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Database to write (default: a fresh SQLite file in a temporary directory).
    #[arg(long, env = "BENCH_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Contacts in the generated portal.
    #[arg(long, default_value_t = 10_000)]
    pub contacts: usize,
    /// Companies in the generated portal.
    #[arg(long, default_value_t = 2_000)]
    pub companies: usize,
    /// Deals in the generated portal.
    #[arg(long, default_value_t = 10_000)]
    pub deals: usize,
    /// Requests per rolling 10 s, on both the fake and the client (HubSpot Free/Starter: 100).
    #[arg(long, default_value_t = 100)]
    pub rate_limit: u32,
}

/// Options of `bench append`.
#[derive(Debug, Args)]
pub struct AppendArgs {
    /// Database to write (default: a fresh SQLite file in a temporary directory).
    #[arg(long, env = "BENCH_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Batches to append.
    #[arg(long, default_value_t = 2_000)]
    pub batches: usize,
    /// Events per batch.
    #[arg(long, default_value_t = 100)]
    pub batch_size: usize,
}

/// Options of `bench webhooks`.
#[derive(Debug, Args)]
pub struct WebhookArgs {
    /// Database to write (default: a fresh SQLite file in a temporary directory).
    #[arg(long, env = "BENCH_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Concurrent senders (HubSpot keeps up to 10 requests in flight per portal).
    #[arg(long, default_value_t = 10)]
    pub senders: usize,
    /// Deliveries each sender posts.
    #[arg(long, default_value_t = 200)]
    pub deliveries: usize,
    /// Events per delivery (HubSpot sends at most 100).
    #[arg(long, default_value_t = 100)]
    pub events: usize,
    /// Distinct contacts the events touch.
    #[arg(long, default_value_t = 100_000)]
    pub objects: u64,
    /// Leave out `serve`'s workers (projector, score refresher, alerter, write-back), to
    /// isolate the HTTP path and the recorder.
    #[arg(long)]
    pub no_workers: bool,
    /// Skip the raw-SQLite anchor.
    #[arg(long)]
    pub no_anchor: bool,
    /// Send to this running `serve` (a base URL such as http://127.0.0.1:8080; repeat it for
    /// several instances, which each sender's deliveries then alternate between) instead of an
    /// in-process server. Start each with HUBSPOT_CLIENT_SECRET=bench-secret and
    /// HEALTHSCORE_PUBLIC_URL=https://bench.example.com.
    #[arg(long)]
    pub target: Vec<String>,
}

/// Runs one benchmark.
pub async fn run(bench: Bench) -> anyhow::Result<()> {
    match bench {
        Bench::Append(args) => append::run(args).await,
        Bench::Webhooks(args) => webhooks::run(args).await,
        Bench::Sync(args) => sync::run(args).await,
        Bench::Portal(args) => portal::run(args).await,
        Bench::Lag(args) => lag::run(args).await,
    }
}

/// A database for a benchmark: the given URL, or a fresh SQLite file kept alive by the guard.
pub(crate) async fn bench_database(
    url: Option<String>,
) -> anyhow::Result<(healthscore_projections::Db, Option<tempfile::TempDir>)> {
    match url {
        Some(url) => {
            let db = crate::cli::connect(&DatabaseArgs { database_url: url }).await?;
            Ok((db, None))
        }
        None => {
            let dir = tempfile::tempdir()?;
            let url = format!("sqlite://{}", dir.path().join("bench.db").display());
            let db = crate::cli::connect(&DatabaseArgs { database_url: url }).await?;
            Ok((db, Some(dir)))
        }
    }
}

/// The value at quantile `q` (0..=1) of sorted samples.
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// The process's resident memory now and at its peak, from `/proc/self/status` (Linux).
pub(crate) fn memory_line() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().strip_suffix("kB"))
            .and_then(|kb| kb.trim().parse::<f64>().ok())
            .map_or_else(|| "?".to_string(), |kb| format!("{:.0} MiB", kb / 1024.0))
    };
    format!(
        "resident memory  {} now, {} at peak",
        field("VmRSS:"),
        field("VmHWM:")
    )
}
