//! The `healthscore` command.

use clap::Parser;
use healthscore_api::cli::{Cli, run};

/// mimalloc: the read-model replay and the webhook path allocate many short-lived strings and
/// maps, and glibc's malloc spent about a fifth of a replay's CPU on them. Its `override`
/// feature (Cargo.toml) serves the bundled SQLite's allocations too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    healthscore_api::telemetry::init(&cli.log_format);
    run(cli).await
}
