//! A customer's health band over time: one aggregate per customer that records
//! [`CustomerBandChanged`](CustomerHealthEvent::CustomerBandChanged) whenever a new score moves the
//! customer into another band (or into or out of insufficient data), and nothing otherwise.

mod aggregate;
mod commands;
mod error;
mod events;
mod stored;
#[cfg(test)]
mod tests;

pub use aggregate::{ACCOUNT_HEALTH_STREAM, CUSTOMER_HEALTH_STREAM, CustomerHealth};
pub use commands::CustomerHealthCommand;
pub use error::CustomerHealthError;
pub use events::{ACCOUNT_BAND_CHANGED, CUSTOMER_BAND_CHANGED, CustomerHealthEvent};
