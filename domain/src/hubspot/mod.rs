//! HubSpot integration: webhook signature verification, delivery parsing and dedup keys.
//!
//! Pure code with no I/O and no clock reads; callers pass the current time in.

mod dedup;
pub mod properties;
pub mod signature;
pub mod webhook;

pub use signature::{
    SignatureError, SignatureVersion, SignedRequest, crm_webhook_headers, sign_v1, sign_v2,
    sign_v3, verify,
};
pub use webhook::{
    Change, DeliveryError, MAX_DELIVERY_EVENTS, ObjectTarget, WebhookEvent, parse_delivery,
};

#[cfg(test)]
mod hostile_tests;
