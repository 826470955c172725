//! Logging through `tracing`: human-readable by default, JSON lines with `LOG_FORMAT=json`,
//! filtered by `RUST_LOG`.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `format` is `json` or anything else for text.
pub fn init(format: &str) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests) is harmless: the first subscriber stays.
    let _ = if format.eq_ignore_ascii_case("json") {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
