//! Scoring configuration per portal and the background work that keeps current scores.

pub mod bands;
pub mod configs;
pub mod refresh;
