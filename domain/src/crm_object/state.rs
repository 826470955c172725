//! The resolved state of a CRM object: latest `occurred_at` wins, a tie goes to the fact applied
//! (recorded) later. Because every fact is stamped, any arrival order yields the same state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::events::{CrmObjectEvent, ERASED_VALUE};
use crate::ids::ObjectRef;
use crate::sentiment::SentimentValue;

/// A value with the HubSpot time it was set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamped<T> {
    /// The value.
    pub value: T,
    /// When it was set, epoch ms.
    pub occurred_at: i64,
}

impl<T> Stamped<T> {
    /// A value set at `occurred_at`.
    pub fn new(value: T, occurred_at: i64) -> Self {
        Self { value, occurred_at }
    }

    /// Takes `value` unless the current one is strictly newer (a tie goes to the later fact).
    fn update(&mut self, value: T, occurred_at: i64) {
        if occurred_at >= self.occurred_at {
            *self = Self::new(value, occurred_at);
        }
    }
}

/// Sets a map entry or an optional slot by the same rule as [`Stamped::update`].
fn update_slot<T>(slot: Option<&mut Stamped<T>>, value: T, occurred_at: i64) -> Option<Stamped<T>> {
    match slot {
        Some(current) => {
            current.update(value, occurred_at);
            None
        }
        None => Some(Stamped::new(value, occurred_at)),
    }
}

/// One association as this object sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Association {
    /// The other end.
    pub other: ObjectRef,
    /// Present (true) or removed (false), with when.
    pub present: Stamped<bool>,
    /// True when that time is a sync's estimate (HubSpot keeps no association history).
    #[serde(default)]
    pub estimated: bool,
}

/// Everything recorded about one object, resolved.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObjectState {
    /// The object, once any fact about it is known.
    pub object: Option<ObjectRef>,
    /// Property values.
    pub properties: BTreeMap<String, Stamped<String>>,
    /// Exists (created or restored) or deleted, by the latest such fact; unknown until one arrives.
    pub existence: Option<Stamped<bool>>,
    /// The primary it was merged into, if any.
    pub merged_into: Option<u64>,
    /// Associations keyed by the other end's stream id.
    pub associations: BTreeMap<String, Association>,
    /// True after a privacy deletion.
    pub erased: bool,
    /// The latest sentiment recorded (`None` inside when it was cleared), stamped with when.
    #[serde(default)]
    pub sentiment: Option<Stamped<Option<SentimentValue>>>,
}

impl ObjectState {
    /// Folds one fact into the state.
    pub fn apply(&mut self, event: &CrmObjectEvent) {
        self.object = Some(event.object());
        match event {
            CrmObjectEvent::ObjectCreated { occurred_at, .. }
            | CrmObjectEvent::ObjectRestored { occurred_at, .. } => {
                self.set_existence(true, *occurred_at);
            }
            CrmObjectEvent::ObjectDeleted { occurred_at, .. } => {
                self.set_existence(false, *occurred_at);
            }
            CrmObjectEvent::PropertiesChanged {
                changes,
                occurred_at,
                ..
            } => {
                for (name, value) in changes {
                    let fresh =
                        update_slot(self.properties.get_mut(name), value.clone(), *occurred_at);
                    if let Some(fresh) = fresh {
                        self.properties.insert(name.clone(), fresh);
                    }
                }
            }
            CrmObjectEvent::ObjectsMergedIn { .. } => {}
            CrmObjectEvent::MergedInto { primary_id, .. } => self.merged_into = Some(*primary_id),
            CrmObjectEvent::AssociationChanged {
                other,
                removed,
                occurred_at,
                estimated,
                ..
            } => {
                let present = !removed;
                self.associations
                    .entry(other.stream_id())
                    .and_modify(|a| {
                        if *occurred_at >= a.present.occurred_at {
                            a.estimated = *estimated;
                        }
                        a.present.update(present, *occurred_at);
                    })
                    .or_insert_with(|| Association {
                        other: *other,
                        present: Stamped::new(present, *occurred_at),
                        estimated: *estimated,
                    });
            }
            CrmObjectEvent::SentimentRecorded {
                value, occurred_at, ..
            } => self.set_sentiment(Some(*value), *occurred_at),
            CrmObjectEvent::SentimentCleared { occurred_at, .. } => {
                self.set_sentiment(None, *occurred_at);
            }
            CrmObjectEvent::PersonalDataErased { .. } => {
                self.erased = true;
                for stamped in self.properties.values_mut() {
                    stamped.value = ERASED_VALUE.to_string();
                }
            }
        }
    }

    fn set_sentiment(&mut self, value: Option<SentimentValue>, occurred_at: i64) {
        if let Some(fresh) = update_slot(self.sentiment.as_mut(), value, occurred_at) {
            self.sentiment = Some(fresh);
        }
    }

    fn set_existence(&mut self, exists: bool, occurred_at: i64) {
        if let Some(fresh) = update_slot(self.existence.as_mut(), exists, occurred_at) {
            self.existence = Some(fresh);
        }
    }

    /// The current value of a property (empty when unset or erased).
    pub fn property(&self, name: &str) -> &str {
        self.properties
            .get(name)
            .map_or("", |stamped| stamped.value.as_str())
    }

    /// True unless the latest existence fact is a deletion.
    pub fn exists(&self) -> bool {
        self.existence.as_ref().is_none_or(|stamped| stamped.value)
    }

    /// The other ends of the associations that are currently present.
    pub fn associated(&self) -> impl Iterator<Item = ObjectRef> + '_ {
        self.associations
            .values()
            .filter(|a| a.present.value)
            .map(|a| a.other)
    }
}
