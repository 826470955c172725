//! The deal value V of every current subject (customers, or accounts), kept up to date as
//! facts arrive, so the median R at "now" (SCORING.md, `deal_value`) costs a selection over
//! cached values instead of a portal-wide pass over every subject's companies and deals.
//!
//! V(c) of a customer depends on the contact, every company and deal associated with it, and
//! the deals of those companies; V(s) of an account on the company, its contacts and deals and
//! those contacts' deals. Each computation records those objects (its reach, live or not); a
//! fact about an object marks every subject whose last V reached it, and the object itself when
//! it is of the subject's type, to be computed again. For customers that needs no association
//! to be recorded on both ends: a customer can only come to reach an object through its own
//! stream or through a company it already reaches, and either change marks it. An account can
//! come to reach a contact or deal through that object's stream alone, so a fact about a
//! contact or deal also marks the companies it is associated with now.

use std::collections::{HashMap, HashSet};

use healthscore_domain::ids::ObjectType;
use healthscore_domain::scoring::{Population, Subject};
use rayon::prelude::*;
use rust_decimal::Decimal;

use super::index::PortalObjects;

/// An object of the portal, as the index keys it.
pub(super) type ObjectKey = (ObjectType, u64);

/// A subject's V and the objects it was computed from.
type ValueAndReach = (Decimal, Vec<ObjectKey>);

/// At or after the latest fact: every state is the current one.
const NOW: i64 = i64::MAX;

/// V of the current subjects of one type (under one population) and what each one reached.
#[derive(Debug)]
pub(super) struct CurrentValues {
    /// Customers or accounts.
    subject: Subject,
    /// Who counts as one.
    population: Population,
    /// Built on first use; until then facts mark nothing.
    built: bool,
    /// V > 0 of current subjects (the only values the median counts).
    positive: HashMap<u64, Decimal>,
    /// The objects each subject's V was computed from.
    reach: HashMap<u64, Vec<ObjectKey>>,
    /// For each object, the subjects whose V was computed from it.
    reached_by: HashMap<ObjectKey, HashSet<u64>>,
    /// Objects facts arrived about since the last median.
    touched: HashSet<ObjectKey>,
    /// Subjects whose V must be computed again.
    stale: HashSet<u64>,
    /// The median of `positive`, until one of them changes (most facts change no V: a
    /// contact's activity date, its lifecycle stage).
    median: Option<Option<Decimal>>,
}

impl Default for CurrentValues {
    /// Every customer (a live contact with an email), as v1 counts them.
    fn default() -> Self {
        Self::of(Subject::Contact, Population::default())
    }
}

impl CurrentValues {
    /// The values of `subject`'s type under `population`, built on first use.
    pub(super) fn of(subject: Subject, population: Population) -> Self {
        Self {
            subject,
            population,
            built: false,
            positive: HashMap::new(),
            reach: HashMap::new(),
            reached_by: HashMap::new(),
            touched: HashSet::new(),
            stale: HashSet::new(),
            median: None,
        }
    }

    /// Notes a fact about `object`; what it can change is worked out at the next median.
    pub(super) fn touch(&mut self, object: ObjectKey) {
        if self.built {
            self.touched.insert(object);
        }
    }

    /// The subjects a fact about `object` can change.
    fn mark(&mut self, objects: &PortalObjects, object: ObjectKey) {
        if object.0 == self.subject.object_type() {
            self.stale.insert(object.1);
        }
        if let Some(subjects) = self.reached_by.get(&object) {
            self.stale.extend(subjects.iter().copied());
        }
        if self.subject == Subject::Company && object.0 != ObjectType::Company {
            let companies_of = |key: ObjectKey| -> Vec<u64> {
                objects
                    .get(key.0, key.1)
                    .map(|h| {
                        h.current()
                            .associated()
                            .filter(|o| o.object_type == ObjectType::Company)
                            .map(|o| o.id)
                            .collect()
                    })
                    .unwrap_or_default()
            };
            self.stale.extend(companies_of(object));
            if object.0 == ObjectType::Deal
                && let Some(deal) = objects.get(ObjectType::Deal, object.1)
            {
                let contacts: Vec<u64> = deal
                    .current()
                    .associated()
                    .filter(|o| o.object_type == ObjectType::Contact)
                    .map(|o| o.id)
                    .collect();
                for contact in contacts {
                    self.stale
                        .extend(companies_of((ObjectType::Contact, contact)));
                }
            }
        }
    }

    /// The median of V over the current subjects, bringing stale values up to date first.
    pub(super) fn median(&mut self, objects: &PortalObjects) -> Option<Decimal> {
        if !self.built {
            let ids: Vec<u64> = objects.ids_of(self.subject.object_type()).collect();
            self.stale.extend(ids);
            self.built = true;
        }
        for object in std::mem::take(&mut self.touched) {
            self.mark(objects, object);
        }
        if !self.stale.is_empty() {
            let stale: Vec<u64> = self.stale.drain().collect();
            let (subject, population) = (self.subject, &self.population);
            let compute = |id| (id, value_and_reach(objects, subject, population, id));
            // The caller holds a lock (or a cell's initialisation) around this: on a rayon
            // worker, a parallel loop could run another task of the pool that waits for the
            // same lock on this very thread, so there it computes sequentially.
            let computed: Vec<(u64, Option<ValueAndReach>)> =
                if rayon::current_thread_index().is_some() {
                    stale.into_iter().map(compute).collect()
                } else {
                    stale.into_par_iter().map(compute).collect()
                };
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
            if let Some(subjects) = self.reached_by.get_mut(&object) {
                subjects.remove(&id);
                if subjects.is_empty() {
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

/// V now and the objects it was computed from (live or not: a restore changes it too); `None`
/// when `id` is not a subject now.
fn value_and_reach(
    objects: &PortalObjects,
    subject: Subject,
    population: &Population,
    id: u64,
) -> Option<ValueAndReach> {
    if !objects.is_subject_at(subject, id, NOW, population) {
        // Not a subject: it counts in no median, and becoming one is a fact on its own stream.
        return None;
    }
    let state = objects.get(subject.object_type(), id)?.current();
    let mut reach = Vec::new();
    // Customers reach their companies' deals; accounts their contacts' deals.
    let through = match subject {
        Subject::Contact => ObjectType::Company,
        Subject::Company => ObjectType::Contact,
    };
    for other in state.associated() {
        reach.push((other.object_type, other.id));
        if other.object_type == through
            && let Some(middle) = objects.get(through, other.id)
        {
            reach.extend(
                middle
                    .current()
                    .associated()
                    .filter(|o| o.object_type == ObjectType::Deal)
                    .map(|o| (o.object_type, o.id)),
            );
        }
    }
    let value = match subject {
        Subject::Contact => objects.deal_value_at(id, NOW),
        Subject::Company => objects.account_deal_value_at(id, NOW),
    };
    Some((value, reach))
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

        /// Whatever facts arrive, in whatever batches, the cached current medians (customers'
        /// and accounts') are the ones a portal-wide pass computes.
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
                let everyone = Population::default();
                let accounts = objects.subject_median_at(Subject::Company, later, &everyone);
                let t = later.timestamp_millis();
                prop_assert_eq!(accounts, objects.compute_subject_median_at(Subject::Company, t, &everyone));
            }
            prop_assert!(medians.iter().any(Option::is_some), "a median was compared");
        }
    }
}
