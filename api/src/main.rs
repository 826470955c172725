//! The `healthscore` command.

use clap::Parser;
use std::process::ExitCode;

use healthscore_api::cli::{Cli, explain, run};

/// mimalloc: the read-model replay and the webhook path allocate many short-lived strings and
/// maps, and glibc's malloc spent about a fifth of a replay's CPU on them. Its `override`
/// feature (Cargo.toml) serves the bundled SQLite's allocations too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Where the kernel backs all anonymous memory with 2 MiB pages (THP `always`, the default of
/// many distributions), each page the allocator had returned and touches again is zeroed whole:
/// a tenth of `serve`'s CPU under a webhook flood (perf). Small pages are zeroed as touched.
/// Applies to every later page fault of the process; a kernel without the call changes nothing.
fn without_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    if let Err(error) = rustix::thread::disable_transparent_huge_pages(true) {
        eprintln!("warning: cannot opt out of transparent huge pages: {error}");
    }
}

/// An error is one line with every cause (`-v` prints the full report instead), and the exit
/// status is 1; a Rust backtrace only with `-v`.
#[tokio::main]
async fn main() -> ExitCode {
    without_transparent_huge_pages();
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
