//! Logging through `tracing`: human-readable by default (coloured only on a terminal), JSON
//! lines with `LOG_FORMAT=json`, filtered by `RUST_LOG`.

use std::io::{IsTerminal as _, Write};
use std::sync::Mutex;

use indicatif::ProgressBar;
use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Installs the global subscriber.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(|| AroundProgress);
    // A second init (tests) is harmless: the first subscriber stays.
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// The progress bar on screen, if any: log lines are written above it, not into it.
static PROGRESS: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Shows `bar` until the guard is dropped; log lines meanwhile print above it.
#[must_use = "the bar is shown only while the guard lives"]
pub fn show_progress(bar: &ProgressBar) -> ProgressGuard {
    *lock() = Some(bar.clone());
    ProgressGuard(bar.clone())
}

/// Hides the bar registered by [`show_progress`] when dropped.
pub struct ProgressGuard(ProgressBar);

impl Drop for ProgressGuard {
    fn drop(&mut self) {
        self.0.finish_and_clear();
        *lock() = None;
    }
}

fn lock() -> std::sync::MutexGuard<'static, Option<ProgressBar>> {
    // A poisoned lock still holds a usable Option.
    PROGRESS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Standard error, with the progress bar (if any) cleared while a log line is written. The
/// formatter writes each event in one call, so a line is never split around the bar.
struct AroundProgress;

impl Write for AroundProgress {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = lock().clone();
        match bar {
            Some(bar) => bar.suspend(|| std::io::stderr().write(buf)),
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
