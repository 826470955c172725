//! What a HubSpot record becomes: a snapshot the CRM-object aggregate diffs against what it
//! knows, so only differences are recorded.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use healthscore_domain::crm_object::{CrmObjectCommand, Snapshot, Stamping};
use healthscore_domain::ids::{ObjectRef, ObjectType, PortalId};
use healthscore_projections::recorder::Message;
use serde_json::json;

use crate::hubspot::CrmRecord;

/// The two other kinds, whose associations a listing asks for.
pub fn associated_kinds(kind: ObjectType) -> Vec<ObjectType> {
    ObjectType::ALL.into_iter().filter(|k| *k != kind).collect()
}

/// How a page's records are turned into snapshots.
#[derive(Debug, Clone, Copy)]
pub struct Observing<'a> {
    /// The properties the page asked for: each one missing from a record is empty.
    pub properties: &'a [&'a str],
    /// The kinds whose associations the page lists completely.
    pub authoritative: &'a [ObjectType],
    /// How associations seen for the first time are stamped.
    pub stamping: Stamping,
    /// `createdAt` of the objects recorded so far, for [`Stamping::FromCreation`].
    pub created: &'a HashMap<ObjectRef, Option<i64>>,
}

impl Observing<'_> {
    fn created(&self, object: &ObjectRef) -> Option<i64> {
        self.created.get(object).copied().flatten()
    }
}

/// The objects `record` is associated with, as refs (non-numeric ids left out).
pub fn associated(portal: PortalId, record: &CrmRecord) -> Vec<ObjectRef> {
    record
        .associations
        .iter()
        .flat_map(|(other_kind, ids)| {
            ids.iter()
                .filter_map(|id| id.parse::<u64>().ok())
                .map(move |id| ObjectRef::new(portal, *other_kind, id))
        })
        .collect()
}

/// The ref of `record`, `None` for a record whose id is not numeric.
pub fn object_ref(portal: PortalId, kind: ObjectType, record: &CrmRecord) -> Option<ObjectRef> {
    let id: u64 = record.id.parse().ok()?;
    Some(ObjectRef::new(portal, kind, id))
}

/// The snapshot of `record`; its associations count as complete for the authoritative kinds
/// only. `None` for a record whose id is not numeric.
pub fn snapshot(
    portal: PortalId,
    kind: ObjectType,
    record: &CrmRecord,
    observing: &Observing<'_>,
) -> Option<Snapshot> {
    let object = object_ref(portal, kind, record)?;
    let properties = observing
        .properties
        .iter()
        .map(|name| {
            let value = record.properties.get(*name).cloned().unwrap_or_default();
            ((*name).to_string(), value)
        })
        .collect();
    let associations: BTreeMap<ObjectType, BTreeSet<u64>> = observing
        .authoritative
        .iter()
        .map(|other| {
            let ids = record
                .associations
                .get(other)
                .map(|ids| ids.iter().filter_map(|id| id.parse().ok()).collect())
                .unwrap_or_default();
            (*other, ids)
        })
        .collect();
    let others_created = associated(portal, record)
        .into_iter()
        .filter_map(|other| Some((other, observing.created(&other)?)))
        .collect();
    Some(Snapshot {
        object,
        properties,
        associations,
        archived: record.archived,
        created_at: record.created_at.timestamp_millis(),
        updated_at: record.updated_at.timestamp_millis(),
        history: record.history.clone(),
        stamping: observing.stamping,
        others_created,
    })
}

/// Messages recording, on the other end, each association `record` has: a search page sees
/// only the changed side, and a full listing records an association once both ends are known
/// (the read models answer from either end). Under [`Stamping::FromCreation`] each is stamped
/// at the later of the two creations, and one whose other end is unknown is left out.
pub fn other_ends(
    portal: PortalId,
    kind: ObjectType,
    record: &CrmRecord,
    run_id: &str,
    observing: &Observing<'_>,
) -> Vec<Message> {
    let Some(this) = object_ref(portal, kind, record) else {
        return Vec::new();
    };
    let created = record.created_at.timestamp_millis();
    let updated = record.updated_at.timestamp_millis();
    associated(portal, record)
        .into_iter()
        .filter_map(|other| {
            let observed_at = match observing.stamping {
                Stamping::Observed => updated,
                Stamping::FromCreation { .. } => created.max(observing.created(&other)?),
            };
            Some((other, observed_at))
        })
        .flat_map(|(other, observed_at)| {
            // A deleted record's listing is never a complete set: its own side goes this way too.
            let own_side = record.archived.then_some((this, other));
            own_side
                .into_iter()
                .chain([(other, this)])
                .map(move |(object, other)| (object, other, observed_at))
        })
        .map(|(object, other, observed_at)| {
            let seen = CrmObjectCommand::ObserveAssociation {
                object,
                other,
                present: true,
                observed_at,
                stamping: observing.stamping,
            };
            command_message(seen, run_id)
        })
        .collect()
}

/// Messages ending, at `record`'s deletion, each association a deleted record had, on both
/// ends: a live record's listing no longer shows it, so it ended then (as HubSpot's webhooks
/// report). Only under [`Stamping::FromCreation`], for ends whose creation is known.
pub fn ended_by_deletion(
    portal: PortalId,
    kind: ObjectType,
    record: &CrmRecord,
    run_id: &str,
    observing: &Observing<'_>,
) -> Vec<Message> {
    let Some(this) = object_ref(portal, kind, record) else {
        return Vec::new();
    };
    if !record.archived || matches!(observing.stamping, Stamping::Observed) {
        return Vec::new();
    }
    let deleted_at = record
        .archived_at
        .unwrap_or(record.updated_at)
        .timestamp_millis();
    associated(portal, record)
        .into_iter()
        .filter(|other| observing.created(other).is_some())
        .flat_map(|other| [(this, other), (other, this)])
        .map(|(object, other)| {
            let ended = CrmObjectCommand::ObserveAssociation {
                object,
                other,
                present: false,
                observed_at: deleted_at,
                stamping: Stamping::Observed,
            };
            command_message(ended, run_id)
        })
        .collect()
}

/// The message recording `snapshot` for run `run_id`. Snapshots need no dedup key: observing
/// the same data twice records nothing the second time.
pub fn message(snapshot: Snapshot, run_id: &str) -> Message {
    command_message(CrmObjectCommand::ObserveSnapshot(snapshot), run_id)
}

/// The message recording one observation for run `run_id`.
fn command_message(command: CrmObjectCommand, run_id: &str) -> Message {
    Message {
        dedup_key: None,
        commands: vec![command],
        metadata: sync_metadata(run_id),
        raw_events: Vec::new(),
    }
}

/// The metadata of every event a sync run records.
fn sync_metadata(run_id: &str) -> String {
    json!({"source": "sync", "run_id": run_id}).to_string()
}
