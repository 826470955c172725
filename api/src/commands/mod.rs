//! Implementations of the maintenance subcommands.

pub mod keys;
pub mod projections;
