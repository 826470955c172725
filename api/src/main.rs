//! The `healthscore` command.

use clap::Parser;
use std::process::ExitCode;

use healthscore_api::cli::{Cli, explain, run};

/// mimalloc: the read-model replay and the webhook path allocate many short-lived strings and
/// maps, and glibc's malloc spent about a fifth of a replay's CPU on them. Its `override`
/// feature (Cargo.toml) serves the bundled SQLite's allocations too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An error is one line with every cause (`-v` prints the full report instead), and the exit
/// status is 1; a Rust backtrace only with `-v`.
#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let verbose = cli.verbose;
    healthscore_api::telemetry::init(cli.log_format);
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if verbose => {
            eprintln!("error: {error:?}");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("error: {}", explain(&error));
            ExitCode::FAILURE
        }
    }
}
