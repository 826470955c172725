//! Facts recorded about a CRM object. Each carries `occurred_at` (epoch ms, HubSpot's time), so
//! readers can resolve state as of any moment and in any arrival order.

use std::collections::BTreeMap;

use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::ObjectRef;
use crate::sentiment::SentimentValue;

/// What happened to a contact, company or deal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CrmObjectEvent {
    /// The object was created in HubSpot.
    ObjectCreated {
        /// The object (so a reader of the log needs no stream-id parsing).
        object: ObjectRef,
        /// When, epoch ms.
        occurred_at: i64,
    },
    /// The object was deleted (archived) in HubSpot.
    ObjectDeleted {
        /// The object.
        object: ObjectRef,
        /// When, epoch ms.
        occurred_at: i64,
    },
    /// A deleted object was restored.
    ObjectRestored {
        /// The object.
        object: ObjectRef,
        /// When, epoch ms.
        occurred_at: i64,
    },
    /// One save changed these properties (values are HubSpot's strings; empty means cleared).
    PropertiesChanged {
        /// The object.
        object: ObjectRef,
        /// Property name to new value.
        changes: BTreeMap<String, String>,
        /// When the save happened, epoch ms.
        occurred_at: i64,
    },
    /// Other objects were merged into this one (this is the primary).
    ObjectsMergedIn {
        /// The primary object.
        object: ObjectRef,
        /// The ids that were merged into it.
        merged_ids: Vec<u64>,
        /// HubSpot's `newObjectId`, when it assigned one.
        new_object_id: Option<u64>,
        /// When, epoch ms.
        occurred_at: i64,
    },
    /// This object was merged into `primary` and no longer exists on its own.
    MergedInto {
        /// The merged-away object.
        object: ObjectRef,
        /// The id of the object it now lives in.
        primary_id: u64,
        /// When, epoch ms.
        occurred_at: i64,
    },
    /// An association to another object was added or removed (recorded on both ends).
    AssociationChanged {
        /// The object this stream is about.
        object: ObjectRef,
        /// The associated object.
        other: ObjectRef,
        /// HubSpot's association type, e.g. `CONTACT_TO_COMPANY`.
        association_type: String,
        /// True when the association was removed.
        removed: bool,
        /// When, epoch ms.
        occurred_at: i64,
        /// True when `occurred_at` is a sync's estimate (the later of the two ends' creation):
        /// HubSpot keeps no association history.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        estimated: bool,
    },
    /// A CSM recorded their sentiment about this contact or company (through the API).
    SentimentRecorded {
        /// The object.
        object: ObjectRef,
        /// Green, yellow or red.
        value: SentimentValue,
        /// Why, in the CSM's words (blanked by a privacy deletion).
        note: String,
        /// The name of the API key that recorded it.
        author: String,
        /// When it was recorded (the server's clock), epoch ms.
        occurred_at: i64,
    },
    /// A CSM withdrew the sentiment: from here on there is none.
    SentimentCleared {
        /// The object.
        object: ObjectRef,
        /// The name of the API key that cleared it.
        author: String,
        /// When, epoch ms.
        occurred_at: i64,
    },
    /// A GDPR privacy deletion: every personal value of this object is gone, here and in the log.
    PersonalDataErased {
        /// The object.
        object: ObjectRef,
        /// When, epoch ms.
        occurred_at: i64,
    },
}

impl CrmObjectEvent {
    /// When the fact happened in HubSpot, epoch ms.
    pub fn occurred_at(&self) -> i64 {
        match self {
            Self::ObjectCreated { occurred_at, .. }
            | Self::ObjectDeleted { occurred_at, .. }
            | Self::ObjectRestored { occurred_at, .. }
            | Self::PropertiesChanged { occurred_at, .. }
            | Self::ObjectsMergedIn { occurred_at, .. }
            | Self::MergedInto { occurred_at, .. }
            | Self::AssociationChanged { occurred_at, .. }
            | Self::SentimentRecorded { occurred_at, .. }
            | Self::SentimentCleared { occurred_at, .. }
            | Self::PersonalDataErased { occurred_at, .. } => *occurred_at,
        }
    }

    /// Whether the fact is customer activity (`activity_frequency`): a creation, a restore, an
    /// association change, or a property change touching a property other than the ones the
    /// engine writes back itself ([`is_written_back`]), so a write-back never feeds a score.
    pub fn is_activity(&self) -> bool {
        match self {
            Self::ObjectCreated { .. }
            | Self::ObjectRestored { .. }
            | Self::AssociationChanged { .. } => true,
            Self::PropertiesChanged { changes, .. } => {
                changes.keys().any(|name| !is_written_back(name))
            }
            _ => false,
        }
    }

    /// The object the event is about.
    pub fn object(&self) -> ObjectRef {
        match self {
            Self::ObjectCreated { object, .. }
            | Self::ObjectDeleted { object, .. }
            | Self::ObjectRestored { object, .. }
            | Self::PropertiesChanged { object, .. }
            | Self::ObjectsMergedIn { object, .. }
            | Self::MergedInto { object, .. }
            | Self::AssociationChanged { object, .. }
            | Self::SentimentRecorded { object, .. }
            | Self::SentimentCleared { object, .. }
            | Self::PersonalDataErased { object, .. } => *object,
        }
    }
}

/// The stable type name of [`CrmObjectEvent::PropertiesChanged`], whose values are personal data.
pub const PROPERTIES_CHANGED: &str = "PropertiesChanged";

/// The stable type name of [`CrmObjectEvent::SentimentRecorded`], whose note is personal data.
pub const SENTIMENT_RECORDED: &str = "SentimentRecorded";

/// The replacement for an erased property value.
pub const ERASED_VALUE: &str = "";

impl DomainEvent for CrmObjectEvent {
    fn event_type(&self) -> String {
        match self {
            Self::ObjectCreated { .. } => "ObjectCreated",
            Self::ObjectDeleted { .. } => "ObjectDeleted",
            Self::ObjectRestored { .. } => "ObjectRestored",
            Self::PropertiesChanged { .. } => PROPERTIES_CHANGED,
            Self::ObjectsMergedIn { .. } => "ObjectsMergedIn",
            Self::MergedInto { .. } => "MergedInto",
            Self::AssociationChanged { .. } => "AssociationChanged",
            Self::SentimentRecorded { .. } => SENTIMENT_RECORDED,
            Self::SentimentCleared { .. } => "SentimentCleared",
            Self::PersonalDataErased { .. } => "PersonalDataErased",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}

/// Blanks every property value and sentiment note in a stored event payload, keeping names and
/// structure. Used to erase a contact's history in place on a privacy deletion.
pub fn redact_payload(event_type: &str, payload: &mut Value) {
    match event_type {
        PROPERTIES_CHANGED => {
            if let Some(changes) = payload.get_mut("changes").and_then(Value::as_object_mut) {
                for value in changes.values_mut() {
                    *value = Value::String(ERASED_VALUE.to_string());
                }
            }
        }
        SENTIMENT_RECORDED => {
            if let Some(note) = payload.get_mut("note") {
                *note = Value::String(ERASED_VALUE.to_string());
            }
        }
        _ => {}
    }
}

impl CrmObjectEvent {
    /// The same event with its personal data blanked (what [`redact_payload`] leaves in the log).
    pub fn redact(&mut self) {
        match self {
            Self::PropertiesChanged { changes, .. } => changes
                .values_mut()
                .for_each(|value| *value = ERASED_VALUE.to_string()),
            Self::SentimentRecorded { note, .. } => *note = ERASED_VALUE.to_string(),
            _ => {}
        }
    }
}

/// The prefix of the properties the engine writes back to HubSpot (`healthscore_score`...).
pub const WRITTEN_BACK_PREFIX: &str = "healthscore_";

/// Whether `name` is one of the engine's own written-back properties.
pub fn is_written_back(name: &str) -> bool {
    name.starts_with(WRITTEN_BACK_PREFIX)
}
