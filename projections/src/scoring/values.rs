//! The deal value V(c) of every current customer, kept up to date as facts arrive, so the
//! portal median R at "now" (SCORING.md, `deal_value`) costs a selection over cached values
//! instead of a portal-wide pass over every customer's companies and deals.
//!
//! V(c) depends on the contact, every company and deal associated with it, and the deals of
//! those companies. Each computation records those objects (its reach, live or not); a fact
//! about an object marks every customer whose last V reached it, and the object itself when it
//! is a contact, to be computed again. That needs no association to be recorded on both ends:
//! a customer can only come to reach an object through its own stream or through a company it
//! already reaches, and either change marks it.

use std::collections::{HashMap, HashSet};

use healthscore_domain::ids::ObjectType;
use rayon::prelude::*;
use rust_decimal::Decimal;

use super::index::PortalObjects;

/// An object of the portal, as the index keys it.
pub(super) type ObjectKey = (ObjectType, u64);

/// A customer's V(c) and the objects it was computed from.
type ValueAndReach = (Decimal, Vec<ObjectKey>);

/// At or after the latest fact: every state is the current one.
const NOW: i64 = i64::MAX;

/// V(c) of the current customers and what each one reached.
#[derive(Debug, Default)]
pub(super) struct CurrentValues {
    /// Built on first use; until then facts mark nothing.
    built: bool,
    /// V(c) > 0 of current customers (the only values the median counts).
    positive: HashMap<u64, Decimal>,
    /// The objects each customer's V was computed from.
    reach: HashMap<u64, Vec<ObjectKey>>,
    /// For each object, the customers whose V was computed from it.
    reached_by: HashMap<ObjectKey, HashSet<u64>>,
    /// Contacts whose V must be computed again.
    stale: HashSet<u64>,
    /// The median of `positive`, until one of them changes (most facts change no V: a
    /// contact's activity date, its lifecycle stage).
    median: Option<Option<Decimal>>,
}

impl CurrentValues {
    /// Marks what a fact about `object` can change.
    pub(super) fn touch(&mut self, object: ObjectKey) {
        if !self.built {
            return;
        }
        if object.0 == ObjectType::Contact {
            self.stale.insert(object.1);
        }
        if let Some(customers) = self.reached_by.get(&object) {
            self.stale.extend(customers.iter().copied());
        }
    }

    /// The median of V over the current customers, bringing stale values up to date first.
    pub(super) fn median(&mut self, objects: &PortalObjects) -> Option<Decimal> {
        if !self.built {
            let contacts: Vec<u64> = objects.contact_ids().collect();
            self.stale.extend(contacts);
            self.built = true;
        }
        if !self.stale.is_empty() {
            let stale: Vec<u64> = self.stale.drain().collect();
            let computed: Vec<(u64, Option<ValueAndReach>)> = stale
                .into_par_iter()
                .map(|id| (id, value_and_reach(objects, id)))
                .collect();
            for (id, outcome) in computed {
                let before = self.positive.get(&id).copied();
                self.forget(id);
                if let Some((value, reach)) = outcome {
                    self.remember(id, value, reach);
                }
                if self.positive.get(&id).copied() != before {
                    self.median = None;
                }
            }
        }
        *self.median.get_or_insert_with(|| {
            healthscore_domain::scoring::portal_median(self.positive.values().copied())
        })
    }

    fn forget(&mut self, id: u64) {
        self.positive.remove(&id);
        for object in self.reach.remove(&id).unwrap_or_default() {
            if let Some(customers) = self.reached_by.get_mut(&object) {
                customers.remove(&id);
                if customers.is_empty() {
                    self.reached_by.remove(&object);
                }
            }
        }
    }

    fn remember(&mut self, id: u64, value: Decimal, reach: Vec<ObjectKey>) {
        if value > Decimal::ZERO {
            self.positive.insert(id, value);
        }
        for object in &reach {
            self.reached_by.entry(*object).or_default().insert(id);
        }
        self.reach.insert(id, reach);
    }
}

/// V(c) now and the companies and deals it was computed from (live or not: a restore changes
/// it too); `None` when `id` is not a customer now.
fn value_and_reach(objects: &PortalObjects, id: u64) -> Option<ValueAndReach> {
    if !objects.is_customer_at(id, NOW) {
        // Not a customer: it counts in no median, and becoming one is a fact on its own stream.
        return None;
    }
    let state = objects.get(ObjectType::Contact, id)?.current();
    let mut reach = Vec::new();
    for other in state.associated() {
        reach.push((other.object_type, other.id));
        if other.object_type == ObjectType::Company
            && let Some(company) = objects.get(ObjectType::Company, other.id)
        {
            reach.extend(
                company
                    .current()
                    .associated()
                    .filter(|o| o.object_type == ObjectType::Deal)
                    .map(|o| (o.object_type, o.id)),
            );
        }
    }
    Some((objects.deal_value_at(id, NOW), reach))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::{DateTime, Utc};
    use healthscore_domain::crm_object::CrmObjectEvent;
    use healthscore_domain::ids::{ObjectRef, PortalId};
    use proptest::prelude::*;

    use super::super::index::ScoringIndex;
    use super::*;

    const PORTAL: PortalId = PortalId(7);

    /// One fact of a small portal (ids 1-4 of each type), as random as the strategy makes it.
    #[derive(Debug, Clone)]
    enum Fact {
        Created(ObjectType, u64),
        Deleted(ObjectType, u64),
        Restored(ObjectType, u64),
        Email(u64, bool),
        Amount(u64, u32),
        Lost(u64, bool),
        /// An association, recorded on the first end only or on both.
        Associated(ObjectKey, ObjectKey, bool, bool),
        Merged(u64, u64),
    }

    fn kind() -> impl Strategy<Value = ObjectType> {
        prop_oneof![
            Just(ObjectType::Contact),
            Just(ObjectType::Company),
            Just(ObjectType::Deal)
        ]
    }

    fn fact() -> impl Strategy<Value = Fact> {
        let id = 1..5_u64;
        prop_oneof![
            (kind(), id.clone()).prop_map(|(k, i)| Fact::Created(k, i)),
            (kind(), id.clone()).prop_map(|(k, i)| Fact::Deleted(k, i)),
            (kind(), id.clone()).prop_map(|(k, i)| Fact::Restored(k, i)),
            (id.clone(), any::<bool>()).prop_map(|(i, e)| Fact::Email(i, e)),
            (id.clone(), 0..4_u32).prop_map(|(i, a)| Fact::Amount(i, a * 500)),
            (id.clone(), any::<bool>()).prop_map(|(i, l)| Fact::Lost(i, l)),
            (
                (kind(), id.clone()),
                (kind(), id.clone()),
                any::<bool>(),
                any::<bool>()
            )
                .prop_map(|(a, b, removed, both)| Fact::Associated(a, b, removed, both)),
            (id.clone(), id).prop_map(|(a, b)| Fact::Merged(a, b)),
        ]
    }

    fn object((kind, id): ObjectKey) -> ObjectRef {
        ObjectRef::new(PORTAL, kind, id)
    }

    fn changed(key: ObjectKey, name: &str, value: String, at: i64) -> CrmObjectEvent {
        CrmObjectEvent::PropertiesChanged {
            object: object(key),
            changes: BTreeMap::from([(name.to_string(), value)]),
            occurred_at: at,
        }
    }

    fn events(fact: &Fact, at: i64) -> Vec<CrmObjectEvent> {
        use ObjectType::{Contact, Deal};
        let association =
            |from: ObjectKey, to: ObjectKey, removed| CrmObjectEvent::AssociationChanged {
                object: object(from),
                other: object(to),
                association_type: "TEST".to_string(),
                removed,
                occurred_at: at,
                estimated: false,
            };
        match fact.clone() {
            Fact::Created(k, i) => vec![CrmObjectEvent::ObjectCreated {
                object: object((k, i)),
                occurred_at: at,
            }],
            Fact::Deleted(k, i) => vec![CrmObjectEvent::ObjectDeleted {
                object: object((k, i)),
                occurred_at: at,
            }],
            Fact::Restored(k, i) => vec![CrmObjectEvent::ObjectRestored {
                object: object((k, i)),
                occurred_at: at,
            }],
            Fact::Email(i, set) => {
                let email = if set {
                    format!("c{i}@example.com")
                } else {
                    String::new()
                };
                vec![changed((Contact, i), "email", email, at)]
            }
            Fact::Amount(i, amount) => vec![changed((Deal, i), "amount", amount.to_string(), at)],
            Fact::Lost(i, lost) => {
                let stage = if lost {
                    "closedlost"
                } else {
                    "appointmentscheduled"
                };
                vec![changed((Deal, i), "dealstage", stage.to_string(), at)]
            }
            Fact::Associated(a, b, removed, both) => {
                let mut events = vec![association(a, b, removed)];
                if both {
                    events.push(association(b, a, removed));
                }
                events
            }
            Fact::Merged(a, b) => vec![CrmObjectEvent::MergedInto {
                object: object((Contact, a)),
                primary_id: b,
                occurred_at: at,
            }],
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever facts arrive, in whatever batches, the cached current median is the one a
        /// portal-wide pass computes.
        #[test]
        fn the_cached_median_is_the_portal_wide_one(
            batches in proptest::collection::vec(proptest::collection::vec(fact(), 1..8), 1..12)
        ) {
            let mut index = ScoringIndex::default();
            let (mut position, mut at) = (0, 1_700_000_000_000_i64);
            let later = DateTime::<Utc>::from_timestamp_millis(1_800_000_000_000).expect("time");
            // A portal where medians exist: every object live, customers with emails, deals
            // with amounts, contacts on deals directly and through companies.
            let mut setup = Vec::new();
            for id in 1..5 {
                for kind in [ObjectType::Contact, ObjectType::Company, ObjectType::Deal] {
                    setup.push(Fact::Created(kind, id));
                }
                setup.push(Fact::Email(id, true));
                setup.push(Fact::Amount(id, 1_000 * id as u32));
            }
            for (contact, company, deal) in [(1, 1, 1), (2, 1, 2), (3, 2, 3), (4, 3, 4)] {
                let contact = (ObjectType::Contact, contact);
                setup.push(Fact::Associated(contact, (ObjectType::Company, company), false, true));
                setup.push(Fact::Associated((ObjectType::Company, company), (ObjectType::Deal, deal), false, true));
            }
            setup.push(Fact::Associated((ObjectType::Contact, 4), (ObjectType::Deal, 3), false, true));
            let setup = [setup];
            let mut medians = HashSet::new();
            for batch in setup.iter().chain(&batches) {
                let mut applied = Vec::new();
                for fact in batch {
                    at += 1_000;
                    for event in events(fact, at) {
                        position += 1;
                        applied.push((position, event));
                    }
                }
                index.apply(applied);
                let objects = index.portal(PORTAL).expect("the portal has facts");
                let median = objects.median_at(later);
                prop_assert_eq!(median, objects.compute_median_at(later));
                medians.insert(median);
            }
            prop_assert!(medians.iter().any(Option::is_some), "a median was compared");
        }
    }
}
