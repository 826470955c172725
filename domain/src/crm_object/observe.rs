//! Diffing what a sync observed against the recorded state, so only differences become events.
//! A difference is recorded only when the observation is not older than what we know.

use std::collections::BTreeMap;

use super::commands::{Snapshot, association_type};
use super::events::CrmObjectEvent;
use super::state::ObjectState;
use crate::ids::ObjectRef;

/// The events that bring `state` in line with `snapshot`.
pub(super) fn snapshot(state: &ObjectState, snapshot: &Snapshot) -> Vec<CrmObjectEvent> {
    let object = snapshot.object;
    let at = snapshot.updated_at;
    let mut events = Vec::new();
    if state.object.is_none() {
        events.push(CrmObjectEvent::ObjectCreated {
            object,
            occurred_at: snapshot.created_at,
        });
    }
    if !state.erased {
        let changes: BTreeMap<String, String> = snapshot
            .properties
            .iter()
            .filter(|(name, value)| match state.properties.get(*name) {
                Some(known) => known.value != **value && known.occurred_at <= at,
                None => !value.is_empty(),
            })
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        if !changes.is_empty() {
            events.push(CrmObjectEvent::PropertiesChanged {
                object,
                changes,
                occurred_at: at,
            });
        }
    }
    for (other_type, ids) in &snapshot.associations {
        for id in ids {
            let other = ObjectRef::new(object.portal, *other_type, *id);
            events.extend(association(state, object, other, true, at));
        }
        let gone = state
            .associated()
            .filter(|other| other.object_type == *other_type && !ids.contains(&other.id));
        for other in gone {
            events.extend(association(state, object, other, false, at));
        }
    }
    let known_existence = state.existence.as_ref();
    let newer = |known: i64| known <= at;
    match (snapshot.archived, known_existence) {
        (true, existence) if existence.is_none_or(|e| e.value && newer(e.occurred_at)) => {
            events.push(CrmObjectEvent::ObjectDeleted {
                object,
                occurred_at: at,
            });
        }
        (false, Some(e)) if !e.value && newer(e.occurred_at) => {
            events.push(CrmObjectEvent::ObjectRestored {
                object,
                occurred_at: at,
            });
        }
        _ => {}
    }
    events
}

/// The event recording that `object` is (or is no longer) associated with `other`, if that differs.
pub(super) fn association(
    state: &ObjectState,
    object: ObjectRef,
    other: ObjectRef,
    present: bool,
    at: i64,
) -> Option<CrmObjectEvent> {
    let known = state.associations.get(&other.stream_id());
    let differs = match known {
        Some(a) => a.present.value != present && a.present.occurred_at <= at,
        None => present,
    };
    differs.then(|| CrmObjectEvent::AssociationChanged {
        object,
        other,
        association_type: association_type(object.object_type, other.object_type),
        removed: !present,
        occurred_at: at,
    })
}
