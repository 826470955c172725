//! The `healthscore` command.

use clap::Parser;
use healthscore_api::cli::{Cli, run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    healthscore_api::telemetry::init(&cli.log_format);
    run(cli).await
}
