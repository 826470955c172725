//! Scoring over the log: the in-memory index of every object's history and the facts scoring
//! reads from it at any time.

pub mod facts;
pub mod index;
pub mod materialized;
pub mod service;
pub mod subjects;
mod values;
