//! What a stream has recorded beyond its resolved state: every past value of each property and
//! what is known of each association's past. A sync that reads HubSpot's property history
//! records each past fact once, however often it (or a webhook) reported it before.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::events::CrmObjectEvent;
use crate::ids::ObjectRef;

/// One association's recorded past.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct AssociationPast {
    /// The earliest stamp it was recorded present at.
    first_present_at: Option<i64>,
    /// True once any removal was recorded.
    ever_removed: bool,
}

/// The facts of one stream that scoring's resolved state folds away.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Recorded {
    /// Every (time, value) recorded per property.
    values: BTreeMap<String, BTreeSet<(i64, String)>>,
    /// True once a creation was recorded.
    created: bool,
    /// Per association, keyed by the other end's stream id.
    associations: BTreeMap<String, AssociationPast>,
}

impl Recorded {
    /// Notes one recorded fact.
    pub(super) fn apply(&mut self, event: &CrmObjectEvent) {
        match event {
            CrmObjectEvent::ObjectCreated { .. } => self.created = true,
            CrmObjectEvent::PropertiesChanged {
                changes,
                occurred_at,
                ..
            } => {
                for (name, value) in changes {
                    self.values
                        .entry(name.clone())
                        .or_default()
                        .insert((*occurred_at, value.clone()));
                }
            }
            CrmObjectEvent::AssociationChanged {
                other,
                removed,
                occurred_at,
                ..
            } => {
                let past = self.associations.entry(other.stream_id()).or_default();
                if *removed {
                    past.ever_removed = true;
                } else {
                    past.first_present_at = Some(
                        past.first_present_at
                            .map_or(*occurred_at, |first| first.min(*occurred_at)),
                    );
                }
            }
            // The values are gone from the log; nothing personal is kept here either.
            CrmObjectEvent::PersonalDataErased { .. } => self.values.clear(),
            _ => {}
        }
    }

    /// True when `name` was recorded as `value` at `at`.
    pub(super) fn has_value(&self, name: &str, at: i64, value: &str) -> bool {
        self.values
            .get(name)
            .is_some_and(|values| values.contains(&(at, value.to_string())))
    }

    /// True once a creation was recorded.
    pub(super) fn created(&self) -> bool {
        self.created
    }

    /// True when the association with `other` was recorded present only, never removed, first
    /// later than `estimate`: a history backfill may move its start back to the estimate.
    pub(super) fn may_restamp(&self, other: &ObjectRef, estimate: i64) -> bool {
        self.associations
            .get(&other.stream_id())
            .is_some_and(|past| {
                !past.ever_removed && past.first_present_at.is_some_and(|first| first > estimate)
            })
    }
}
