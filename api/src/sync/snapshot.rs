//! What a HubSpot record becomes: a snapshot the CRM-object aggregate diffs against what it
//! knows, so only differences are recorded.

use std::collections::{BTreeMap, BTreeSet};

use healthscore_domain::crm_object::{CrmObjectCommand, Snapshot};
use healthscore_domain::ids::{ObjectRef, ObjectType, PortalId};
use healthscore_projections::recorder::Message;
use serde_json::json;

use crate::hubspot::{CrmRecord, ObjectKind};

/// The properties scoring and the read models need, per kind (HUBSPOT.md).
pub fn properties(kind: ObjectKind) -> &'static [&'static str] {
    match kind {
        ObjectKind::Contacts => &[
            "email",
            "firstname",
            "lastname",
            "company",
            "lifecyclestage",
            "hs_lead_status",
            "hs_last_sales_activity_date",
            "createdate",
            "lastmodifieddate",
        ],
        ObjectKind::Companies => &[
            "name",
            "domain",
            "industry",
            "numberofemployees",
            "annualrevenue",
            "hs_last_sales_activity_date",
            "createdate",
            "hs_lastmodifieddate",
        ],
        ObjectKind::Deals => &[
            "dealname",
            "dealstage",
            "pipeline",
            "amount",
            "closedate",
            "hs_deal_stage_probability",
            "hs_is_closed",
            "hs_is_closed_won",
            "createdate",
            "hs_lastmodifieddate",
        ],
    }
}

/// The two other kinds, whose associations a listing asks for.
pub fn associated_kinds(kind: ObjectKind) -> Vec<ObjectKind> {
    ObjectKind::ALL.into_iter().filter(|k| *k != kind).collect()
}

/// The domain's name for a kind.
pub fn object_type(kind: ObjectKind) -> ObjectType {
    match kind {
        ObjectKind::Contacts => ObjectType::Contact,
        ObjectKind::Companies => ObjectType::Company,
        ObjectKind::Deals => ObjectType::Deal,
    }
}

/// The snapshot of `record`; its associations count as complete for `authoritative` kinds only.
/// `None` for a record whose id is not numeric.
pub fn snapshot(
    portal: PortalId,
    kind: ObjectKind,
    record: &CrmRecord,
    authoritative: &[ObjectKind],
) -> Option<Snapshot> {
    let id: u64 = record.id.parse().ok()?;
    let properties = properties(kind)
        .iter()
        .map(|name| {
            let value = record.properties.get(*name).cloned().unwrap_or_default();
            ((*name).to_string(), value)
        })
        .collect();
    let associations: BTreeMap<ObjectType, BTreeSet<u64>> = authoritative
        .iter()
        .map(|other| {
            let ids = record
                .associations
                .get(other)
                .map(|ids| ids.iter().filter_map(|id| id.parse().ok()).collect())
                .unwrap_or_default();
            (object_type(*other), ids)
        })
        .collect();
    Some(Snapshot {
        object: ObjectRef::new(portal, object_type(kind), id),
        properties,
        associations,
        archived: record.archived,
        created_at: record.created_at.timestamp_millis(),
        updated_at: record.updated_at.timestamp_millis(),
    })
}

/// Messages recording, on the other end, each association `record` has: a search page sees
/// only the changed side, and the read models answer from either end.
pub fn other_ends(
    portal: PortalId,
    kind: ObjectKind,
    record: &CrmRecord,
    run_id: &str,
) -> Vec<Message> {
    let Ok(id) = record.id.parse::<u64>() else {
        return Vec::new();
    };
    let this = ObjectRef::new(portal, object_type(kind), id);
    let observed_at = record.updated_at.timestamp_millis();
    record
        .associations
        .iter()
        .flat_map(|(other_kind, ids)| {
            ids.iter()
                .filter_map(|id| id.parse::<u64>().ok())
                .map(move |other_id| ObjectRef::new(portal, object_type(*other_kind), other_id))
        })
        .map(|other| Message {
            dedup_key: None,
            commands: vec![CrmObjectCommand::ObserveAssociation {
                object: other,
                other: this,
                present: true,
                observed_at,
            }],
            metadata: sync_metadata(run_id),
            raw_events: Vec::new(),
        })
        .collect()
}

/// The message recording `snapshot` for run `run_id`. Snapshots need no dedup key: observing
/// the same data twice records nothing the second time.
pub fn message(snapshot: Snapshot, run_id: &str) -> Message {
    Message {
        dedup_key: None,
        commands: vec![CrmObjectCommand::ObserveSnapshot(snapshot)],
        metadata: sync_metadata(run_id),
        raw_events: Vec::new(),
    }
}

/// The metadata of every event a sync run records.
fn sync_metadata(run_id: &str) -> String {
    json!({"source": "sync", "run_id": run_id}).to_string()
}
