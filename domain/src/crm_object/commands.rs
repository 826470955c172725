//! What the webhook endpoint and the sync ask a CRM object to record.

use std::collections::{BTreeMap, BTreeSet};

use crate::ids::{ObjectRef, ObjectType};
use crate::sentiment::SentimentValue;

/// A request to record something HubSpot told us about one object.
#[derive(Debug, Clone, PartialEq)]
pub enum CrmObjectCommand {
    /// HubSpot says the object was created.
    RecordCreation {
        /// The object.
        object: ObjectRef,
        /// When, epoch ms.
        occurred_at: i64,
    },
    /// HubSpot says the object was deleted.
    RecordDeletion {
        /// The object.
        object: ObjectRef,
        /// When, epoch ms.
        occurred_at: i64,
    },
    /// HubSpot says the object was restored.
    RecordRestore {
        /// The object.
        object: ObjectRef,
        /// When, epoch ms.
        occurred_at: i64,
    },
    /// HubSpot says a property changed.
    RecordPropertyChange {
        /// The object.
        object: ObjectRef,
        /// Property name.
        name: String,
        /// New value (a string, as HubSpot sends it).
        value: String,
        /// When, epoch ms.
        occurred_at: i64,
    },
    /// HubSpot says other objects were merged into this one.
    RecordMergeIn {
        /// The primary object.
        object: ObjectRef,
        /// The merged-away ids.
        merged_ids: Vec<u64>,
        /// HubSpot's `newObjectId`.
        new_object_id: Option<u64>,
        /// When, epoch ms.
        occurred_at: i64,
    },
    /// This object was merged into `primary_id`.
    RecordMergedInto {
        /// The merged-away object.
        object: ObjectRef,
        /// The primary's id.
        primary_id: u64,
        /// When, epoch ms.
        occurred_at: i64,
    },
    /// HubSpot says an association was added or removed (sent to both ends).
    RecordAssociation {
        /// The object of this stream.
        object: ObjectRef,
        /// The other end.
        other: ObjectRef,
        /// HubSpot's association type.
        association_type: String,
        /// True when removed.
        removed: bool,
        /// When, epoch ms.
        occurred_at: i64,
    },
    /// A GDPR privacy deletion of a contact.
    ErasePersonalData {
        /// The object.
        object: ObjectRef,
        /// When, epoch ms.
        occurred_at: i64,
    },
    /// A CSM records their sentiment (`PUT .../sentiment`).
    RecordSentiment {
        /// The contact or company.
        object: ObjectRef,
        /// Green, yellow or red.
        value: SentimentValue,
        /// The CSM's note.
        note: String,
        /// The API key's name.
        author: String,
        /// The server's clock, epoch ms.
        recorded_at: i64,
    },
    /// A CSM clears the sentiment (`DELETE .../sentiment`).
    ClearSentiment {
        /// The contact or company.
        object: ObjectRef,
        /// The API key's name.
        author: String,
        /// The server's clock, epoch ms.
        recorded_at: i64,
    },
    /// A sync saw the object in this state; only differences become events.
    ObserveSnapshot(Snapshot),
    /// A sync saw (or stopped seeing) an association from the other end's listing.
    ObserveAssociation {
        /// The object of this stream.
        object: ObjectRef,
        /// The other end.
        other: ObjectRef,
        /// True when the association exists.
        present: bool,
        /// The time to stamp a difference with, epoch ms.
        observed_at: i64,
        /// How `observed_at` was found: from the ends' creation (an estimate) or as observed.
        stamping: Stamping,
    },
}

/// How a sync stamps an association it sees for the first time (HubSpot keeps no association
/// history, so the moment it began is never known exactly).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Stamping {
    /// At the record's `updatedAt`: an incremental sync sees a recent change.
    #[default]
    Observed,
    /// At the later of the two ends' creation, flagged as an estimate (full and history syncs).
    FromCreation {
        /// Also move a known association that was never removed back to that estimate when it
        /// is earlier (a history backfill of a portal synced without history).
        restamp: bool,
    },
}

/// One past value of a property, from HubSpot's property history.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PastValue {
    /// When it was set, epoch ms.
    pub at: i64,
    /// The value (empty means cleared).
    pub value: String,
}

/// An object as a CRM API listing shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The object.
    pub object: ObjectRef,
    /// Every requested property; an unset one as an empty string.
    pub properties: BTreeMap<String, String>,
    /// Associated ids per type, for the types the listing asked for (authoritative for those).
    pub associations: BTreeMap<ObjectType, BTreeSet<u64>>,
    /// True when the object is archived (deleted).
    pub archived: bool,
    /// `createdAt`, epoch ms.
    pub created_at: i64,
    /// `updatedAt`, epoch ms: the stamp for any difference found.
    pub updated_at: i64,
    /// Past values per property (`propertiesWithHistory`), in any order; empty when the
    /// listing did not ask for history. Each is recorded at its own time unless recorded before.
    pub history: BTreeMap<String, Vec<PastValue>>,
    /// How associations seen here for the first time are stamped.
    pub stamping: Stamping,
    /// `createdAt` of the other ends, where known: [`Stamping::FromCreation`] stamps an
    /// association at the later of the two; one whose other end is unknown is left for that
    /// end's own listing to record.
    pub others_created: BTreeMap<ObjectRef, i64>,
}

impl CrmObjectCommand {
    /// The object the command is for.
    pub fn object(&self) -> ObjectRef {
        match self {
            Self::RecordCreation { object, .. }
            | Self::RecordDeletion { object, .. }
            | Self::RecordRestore { object, .. }
            | Self::RecordPropertyChange { object, .. }
            | Self::RecordMergeIn { object, .. }
            | Self::RecordMergedInto { object, .. }
            | Self::RecordAssociation { object, .. }
            | Self::ErasePersonalData { object, .. }
            | Self::RecordSentiment { object, .. }
            | Self::ClearSentiment { object, .. }
            | Self::ObserveAssociation { object, .. } => *object,
            Self::ObserveSnapshot(snapshot) => snapshot.object,
        }
    }
}

/// HubSpot's name for an association from `from` to `to`, e.g. `CONTACT_TO_COMPANY`.
pub fn association_type(from: ObjectType, to: ObjectType) -> String {
    format!("{}_TO_{}", from.as_str(), to.as_str()).to_uppercase()
}
