//! Parsing a HubSpot webhook delivery (a JSON array of events) into typed events.
//!
//! Contact, company and deal events (and generic `object.*` events for those types) become
//! typed [`Change`]s; anything else is kept as [`Change::Unhandled`] and never fails parsing,
//! as long as it has a portal, a time and a type.

use crate::ids::ObjectType;
use serde_json::Value;

mod change;
mod fields;

use change::classify;
use fields::Fields;

/// One event of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    /// `portalId`: the HubSpot account the event belongs to.
    pub portal_id: u64,
    /// `occurredAt` in epoch milliseconds; deliveries are unordered, so order by this.
    pub occurred_at_ms: i64,
    /// `eventId`, not unique on its own.
    pub event_id: Option<u64>,
    /// `subscriptionId`.
    pub subscription_id: Option<u64>,
    /// `subscriptionType` (or the older `eventType`), e.g. `contact.propertyChange`.
    pub subscription_type: String,
    /// The CRM object the event is about, for handled types that carry an `objectId`.
    pub object: Option<ObjectTarget>,
    /// What happened.
    pub change: Change,
    /// `changeSource`, e.g. `CRM_UI`.
    pub change_source: Option<String>,
    /// `sourceId`, e.g. `userId:52530071`.
    pub source_id: Option<String>,
    /// `attemptNumber`: informational only, never part of the identity.
    pub attempt_number: Option<u32>,
    /// The element exactly as received.
    pub raw: Value,
}

/// A CRM object of a handled type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ObjectTarget {
    /// Contact, company or deal.
    pub object_type: ObjectType,
    /// HubSpot's `objectId`.
    pub object_id: u64,
}

/// What an event says happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `.creation`.
    Created,
    /// `.deletion`.
    Deleted,
    /// `.propertyChange`; a cleared or absent value is the empty string.
    PropertyChanged {
        /// `propertyName`.
        name: String,
        /// `propertyValue`, possibly `REDACTED` for sensitive properties.
        value: String,
    },
    /// `.merge`.
    Merged {
        /// `primaryObjectId`: the record that survived.
        primary_object_id: u64,
        /// `mergedObjectIds`: the records merged into it.
        merged_object_ids: Vec<u64>,
        /// `newObjectId`, when the merge produced a new id.
        new_object_id: Option<u64>,
    },
    /// `.restore`.
    Restored,
    /// `.associationChange`.
    AssociationChanged {
        /// `associationType`, e.g. `CONTACT_TO_COMPANY`.
        association_type: String,
        /// `fromObjectId`.
        from_object_id: u64,
        /// `toObjectId`.
        to_object_id: u64,
        /// `associationRemoved`, false when absent.
        removed: bool,
        /// `isPrimaryAssociation`, false when absent.
        is_primary: bool,
        /// Type of the `from` side, when known.
        from_type: Option<ObjectType>,
        /// Type of the `to` side, when known.
        to_type: Option<ObjectType>,
    },
    /// `contact.privacyDeletion` (GDPR); a `contact.deletion` also arrives, in any order.
    PrivacyDeleted,
    /// Any other type: kept in `raw`, acknowledged and ignored.
    Unhandled,
}

/// Why a delivery body could not be parsed. Messages name fields, never their values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The body is not JSON at all.
    #[error("webhook body is not valid JSON: {0}")]
    NotJson(String),
    /// The body is JSON but not an array.
    #[error("webhook body is not a JSON array")]
    NotArray,
    /// No event at all: HubSpot never sends an empty delivery.
    #[error("a webhook delivery holds at least one event")]
    Empty,
    /// More events than HubSpot ever sends in one request (one request must not hold the
    /// writer for long).
    #[error("a webhook delivery holds at most {MAX_DELIVERY_EVENTS} events, this one {0}")]
    TooManyEvents(usize),
    /// An element of the array is not an object.
    #[error("webhook event {index} is not a JSON object")]
    NotObject {
        /// Zero-based position in the array.
        index: usize,
    },
    /// A required field is absent or null.
    #[error("webhook event {index} lacks `{field}`")]
    MissingField {
        /// Zero-based position in the array.
        index: usize,
        /// JSON field name.
        field: &'static str,
    },
    /// A field has the wrong JSON type or is out of range.
    #[error("webhook event {index} has a bad `{field}`")]
    BadField {
        /// Zero-based position in the array.
        index: usize,
        /// JSON field name.
        field: &'static str,
    },
}

/// The most events HubSpot sends in one webhook request.
pub const MAX_DELIVERY_EVENTS: usize = 100;

/// Parses a delivery body: a JSON array of 1 to [`MAX_DELIVERY_EVENTS`] event objects.
///
/// # Errors
///
/// A [`DeliveryError`] naming the first problem: not JSON, not an array, empty, more than
/// [`MAX_DELIVERY_EVENTS`] elements, an element that is
/// not an object, or an element without a valid `portalId`, `occurredAt` or type. Handled
/// types must also carry the fields their [`Change`] needs; unhandled ones need nothing more.
pub fn parse_delivery(body: &[u8]) -> Result<Vec<WebhookEvent>, DeliveryError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| DeliveryError::NotJson(e.to_string()))?;
    let Value::Array(elements) = value else {
        return Err(DeliveryError::NotArray);
    };
    if elements.is_empty() {
        return Err(DeliveryError::Empty);
    }
    if elements.len() > MAX_DELIVERY_EVENTS {
        return Err(DeliveryError::TooManyEvents(elements.len()));
    }
    elements
        .into_iter()
        .enumerate()
        .map(|(index, element)| parse_event(index, element))
        .collect()
}

fn parse_event(index: usize, raw: Value) -> Result<WebhookEvent, DeliveryError> {
    let Value::Object(map) = &raw else {
        return Err(DeliveryError::NotObject { index });
    };
    let fields = Fields::new(map, index);
    let portal_id = fields.required(fields.portal("portalId"), "portalId")?;
    let occurred_at_ms = fields.required(fields.epoch_ms("occurredAt"), "occurredAt")?;
    let subscription_type = match fields.str("subscriptionType")? {
        Some(kind) => kind,
        None => fields.required(fields.str("eventType"), "subscriptionType")?,
    }
    .to_owned();
    let handled = classify(&subscription_type, &fields);
    // Unknown types are acknowledged whatever else they carry; known ones must have
    // well-formed identifying fields. Informational fields never fail a delivery.
    let strict = handled.is_some();
    let event_id = lenient(strict, fields.u64("eventId"))?;
    let subscription_id = lenient(strict, fields.u64("subscriptionId"))?;
    let attempt_number = fields.u32("attemptNumber").ok().flatten();
    let change_source = fields.str("changeSource").ok().flatten().map(str::to_owned);
    let source_id = fields.str("sourceId").ok().flatten().map(str::to_owned);
    let (object, change) = match handled {
        Some((object_type, action)) => action.parse(object_type, &fields)?,
        None => (None, Change::Unhandled),
    };
    Ok(WebhookEvent {
        portal_id,
        occurred_at_ms,
        event_id,
        subscription_id,
        subscription_type,
        object,
        change,
        change_source,
        source_id,
        attempt_number,
        raw,
    })
}

/// Passes errors through when `strict`, otherwise turns a bad optional field into `None`.
fn lenient<T>(
    strict: bool,
    field: Result<Option<T>, DeliveryError>,
) -> Result<Option<T>, DeliveryError> {
    if strict {
        field
    } else {
        Ok(field.ok().flatten())
    }
}

#[cfg(test)]
mod tests;
