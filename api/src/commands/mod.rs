//! Implementations of the maintenance subcommands.

pub mod connections;
pub mod demo;
pub mod demo_activity;
pub mod keys;
pub mod projections;
pub mod sync;
