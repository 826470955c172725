//! healthscore's edge: the HTTP API, the background workers and the command line.

pub mod bench;
pub mod cli;
pub mod commands;
pub mod http;
pub mod hubspot;
pub mod scoring;
pub mod secret;
pub mod sync;
pub mod telemetry;
pub mod workers;
