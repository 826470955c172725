//! Diffing what a sync observed against the recorded state, so only differences become events.
//! A difference is recorded only when the observation is not older than what we know. Past
//! values from HubSpot's property history are facts with their own times: each is recorded
//! once, whatever arrived before it, and resolves by its time like any other fact.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::commands::{Snapshot, Stamping, association_type};
use super::events::CrmObjectEvent;
use super::recorded::Recorded;
use super::state::ObjectState;
use crate::ids::ObjectRef;

/// The events that bring `state` in line with `snapshot`.
pub(super) fn snapshot(
    state: &ObjectState,
    recorded: &Recorded,
    snapshot: &Snapshot,
) -> Vec<CrmObjectEvent> {
    let object = snapshot.object;
    let at = snapshot.updated_at;
    let mut events = Vec::new();
    if !recorded.created() {
        events.push(CrmObjectEvent::ObjectCreated {
            object,
            occurred_at: snapshot.created_at,
        });
    }
    let mut state = Cow::Borrowed(state);
    if !state.erased {
        for past in past_values(recorded, snapshot) {
            state.to_mut().apply(&past);
            events.push(past);
        }
        let changes: BTreeMap<String, String> = snapshot
            .properties
            .iter()
            .filter(|(name, value)| match state.properties.get(*name) {
                Some(known) => known.value != **value && known.occurred_at <= at,
                None => !value.is_empty(),
            })
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        // The last save often is the one the history ended with: one event for both.
        let same_save = match events.last_mut() {
            Some(CrmObjectEvent::PropertiesChanged {
                changes: saved,
                occurred_at,
                ..
            }) if *occurred_at == at && changes.keys().all(|name| !saved.contains_key(name)) => {
                Some(saved)
            }
            _ => None,
        };
        match same_save {
            Some(saved) => saved.extend(changes),
            None if !changes.is_empty() => events.push(CrmObjectEvent::PropertiesChanged {
                object,
                changes,
                occurred_at: at,
            }),
            None => {}
        }
    }
    for (other_type, ids) in &snapshot.associations {
        for id in ids {
            let other = ObjectRef::new(object.portal, *other_type, *id);
            let (stamp, stamping) = match snapshot.stamping {
                Stamping::Observed => (at, Stamping::Observed),
                from_creation => match snapshot.others_created.get(&other) {
                    Some(created) => (snapshot.created_at.max(*created), from_creation),
                    // That end is not recorded yet: its own listing records both sides.
                    None if !state.associations.contains_key(&other.stream_id()) => continue,
                    None => (at, Stamping::Observed),
                },
            };
            let seen = Seen {
                present: true,
                at: stamp,
                updated_at: at,
                stamping,
            };
            events.extend(association(&state, recorded, object, other, seen));
        }
        let gone = state
            .associated()
            .filter(|other| other.object_type == *other_type && !ids.contains(&other.id));
        for other in gone {
            let seen = Seen {
                present: false,
                at,
                updated_at: at,
                stamping: Stamping::Observed,
            };
            events.extend(association(&state, recorded, object, other, seen));
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

/// The snapshot's past values not recorded before, oldest first, one event per save (values
/// sharing a time). HubSpot lists each property's values newest first, so of two values with
/// the same time the one listed first is applied last and wins, as it did in HubSpot.
fn past_values(recorded: &Recorded, snapshot: &Snapshot) -> Vec<CrmObjectEvent> {
    let mut saves: BTreeMap<i64, Vec<BTreeMap<String, String>>> = BTreeMap::new();
    for (name, values) in &snapshot.history {
        let mut oldest_first: Vec<_> = values.iter().rev().collect();
        oldest_first.sort_by_key(|past| past.at);
        for past in oldest_first {
            if recorded.has_value(name, past.at, &past.value) {
                continue;
            }
            let same_time = saves.entry(past.at).or_default();
            match same_time.iter_mut().find(|save| !save.contains_key(name)) {
                Some(save) => {
                    save.insert(name.clone(), past.value.clone());
                }
                None => same_time.push(BTreeMap::from([(name.clone(), past.value.clone())])),
            }
        }
    }
    saves
        .into_iter()
        .flat_map(|(at, same_time)| {
            same_time
                .into_iter()
                .map(move |changes| CrmObjectEvent::PropertiesChanged {
                    object: snapshot.object,
                    changes,
                    occurred_at: at,
                })
        })
        .collect()
}

/// One observation of an association.
#[derive(Debug, Clone, Copy)]
pub(super) struct Seen {
    /// Whether it exists.
    pub(super) present: bool,
    /// The stamp for an association seen for the first time (an estimate under
    /// [`Stamping::FromCreation`]).
    pub(super) at: i64,
    /// The record's `updatedAt`: the stamp for a change to a known association.
    pub(super) updated_at: i64,
    /// How `at` was found.
    pub(super) stamping: Stamping,
}

/// The event recording that `object` is (or is no longer) associated with `other`, if that
/// differs from what is known. An association never seen before is stamped at `seen.at`; a
/// known one that changed, at the record's update. A history backfill also moves a known,
/// never-removed association's start back to an earlier estimate.
pub(super) fn association(
    state: &ObjectState,
    recorded: &Recorded,
    object: ObjectRef,
    other: ObjectRef,
    seen: Seen,
) -> Option<CrmObjectEvent> {
    let estimated = seen.present && matches!(seen.stamping, Stamping::FromCreation { .. });
    let restamp = matches!(seen.stamping, Stamping::FromCreation { restamp: true });
    let stamp = match state.associations.get(&other.stream_id()) {
        None => seen.present.then_some((seen.at, estimated)),
        Some(known) if known.present.value != seen.present => {
            (known.present.occurred_at <= seen.updated_at).then_some((seen.updated_at, false))
        }
        Some(_) => (seen.present && restamp && recorded.may_restamp(&other, seen.at))
            .then_some((seen.at, true)),
    };
    stamp.map(
        |(occurred_at, estimated)| CrmObjectEvent::AssociationChanged {
            object,
            other,
            association_type: association_type(object.object_type, other.object_type),
            removed: !seen.present,
            occurred_at,
            estimated,
        },
    )
}
