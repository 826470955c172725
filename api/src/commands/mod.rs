//! Implementations of the maintenance subcommands.

pub mod demo;
pub mod keys;
pub mod projections;
pub mod sync;
