//! healthscore's edge: the HTTP API, the background workers and the command line.

pub mod alerts;
pub mod bench;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod connections;
pub mod http;
pub mod hubspot;
pub mod scoring;
pub mod secret;
pub mod sync;
pub mod telemetry;
pub mod workers;
pub mod writeback;

/// A failure's cause, kept whole (its `source()` chain) for the one place that logs it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
