//! Folding a chunk of log events into the read-model changes they imply, coalesced per row so
//! each row is written once per chunk. Within a chunk the winner is the latest `occurred_at`,
//! a tie going to the later position: the same rule the SQL upserts apply across chunks.

use std::collections::HashMap;

use healthscore_domain::crm_object::CrmObjectEvent;
use healthscore_domain::ids::ObjectRef;

/// A stamped value: what, when in HubSpot, and where in the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Stamp<T> {
    /// The value.
    pub value: T,
    /// HubSpot time, epoch ms.
    pub occurred_at: i64,
    /// Log position (the tie-breaker).
    pub position: i64,
}

impl<T> Stamp<T> {
    fn beats(&self, other: &Self) -> bool {
        (self.occurred_at, self.position) >= (other.occurred_at, other.position)
    }
}

fn keep_latest<K: std::hash::Hash + Eq, T>(
    map: &mut HashMap<K, Stamp<T>>,
    key: K,
    stamp: Stamp<T>,
) {
    match map.get(&key) {
        Some(current) if !stamp.beats(current) => {}
        _ => {
            map.insert(key, stamp);
        }
    }
}

/// Changes to one object row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectChange {
    /// Earliest creation stamp seen.
    pub created_at: Option<i64>,
    /// Latest fact's stamp.
    pub updated_at: i64,
    /// Winning existence fact: true = deleted.
    pub deleted: Option<Stamp<bool>>,
    /// Merged into this primary.
    pub merged_into: Option<u64>,
    /// Privacy-erased.
    pub erased: bool,
}

/// Everything a chunk of events changes in the read models.
#[derive(Debug, Default)]
pub struct Changes {
    /// Object rows.
    pub objects: HashMap<ObjectRef, ObjectChange>,
    /// Winning property values.
    pub properties: HashMap<(ObjectRef, String), Stamp<String>>,
    /// Winning association states, keyed (from, to): true = present.
    pub associations: HashMap<(ObjectRef, ObjectRef), Stamp<bool>>,
    /// Objects whose personal data is erased.
    pub erasures: Vec<ObjectRef>,
}

impl Changes {
    /// Folds CRM-object events (in position order) into changes.
    pub fn fold(events: &[(i64, CrmObjectEvent)]) -> Self {
        let mut changes = Self::default();
        for (position, event) in events {
            changes.add(event, *position);
        }
        changes
    }

    fn add(&mut self, event: &CrmObjectEvent, position: i64) {
        // A CSM's sentiment is no HubSpot fact: the read models of the object do not change.
        if matches!(
            event,
            CrmObjectEvent::SentimentRecorded { .. } | CrmObjectEvent::SentimentCleared { .. }
        ) {
            return;
        }
        let object = event.object();
        let occurred_at = event.occurred_at();
        let row = self.objects.entry(object).or_default();
        row.updated_at = row.updated_at.max(occurred_at);
        match event {
            CrmObjectEvent::ObjectCreated { .. } => {
                row.created_at = Some(row.created_at.map_or(occurred_at, |c| c.min(occurred_at)));
                set_existence(
                    row,
                    Stamp {
                        value: false,
                        occurred_at,
                        position,
                    },
                );
            }
            CrmObjectEvent::ObjectRestored { .. } => {
                set_existence(
                    row,
                    Stamp {
                        value: false,
                        occurred_at,
                        position,
                    },
                );
            }
            CrmObjectEvent::ObjectDeleted { .. } => set_existence(
                row,
                Stamp {
                    value: true,
                    occurred_at,
                    position,
                },
            ),
            CrmObjectEvent::MergedInto { primary_id, .. } => row.merged_into = Some(*primary_id),
            CrmObjectEvent::ObjectsMergedIn { .. }
            | CrmObjectEvent::SentimentRecorded { .. }
            | CrmObjectEvent::SentimentCleared { .. } => {}
            CrmObjectEvent::PersonalDataErased { .. } => {
                row.erased = true;
                self.erasures.push(object);
            }
            CrmObjectEvent::PropertiesChanged { changes, .. } => {
                for (name, value) in changes {
                    keep_latest(
                        &mut self.properties,
                        (object, name.clone()),
                        Stamp {
                            value: value.clone(),
                            occurred_at,
                            position,
                        },
                    );
                }
            }
            CrmObjectEvent::AssociationChanged { other, removed, .. } => {
                keep_latest(
                    &mut self.associations,
                    (object, *other),
                    Stamp {
                        value: !removed,
                        occurred_at,
                        position,
                    },
                );
            }
        }
    }

    /// True when the chunk changes nothing.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

fn set_existence(row: &mut ObjectChange, deleted: Stamp<bool>) {
    if row
        .deleted
        .as_ref()
        .is_none_or(|current| deleted.beats(current))
    {
        row.deleted = Some(deleted);
    }
}
