//! Contacts, companies and deals: one event-sourced aggregate per HubSpot object.

mod aggregate;
mod commands;
mod error;
mod events;
mod from_webhook;
mod observe;
mod recorded;
mod state;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_history;

pub use aggregate::CrmObject;
pub use commands::{CrmObjectCommand, PastValue, Snapshot, Stamping, association_type};
pub use error::CrmObjectError;
pub use events::{
    CrmObjectEvent, ERASED_VALUE, PROPERTIES_CHANGED, SENTIMENT_RECORDED, WRITTEN_BACK_PREFIX,
    is_written_back, redact_payload,
};
pub use from_webhook::commands_for;
pub use state::{Association, ObjectState, Stamped};
