//! The CRM-object aggregate, given/when/then, and the order-independence law.

use std::collections::{BTreeMap, BTreeSet};

use cqrs_es::test::TestFramework;
use proptest::prelude::*;

use super::*;
use crate::ids::{ObjectRef, ObjectType, PortalId};

type Given = TestFramework<CrmObject>;

fn contact(id: u64) -> ObjectRef {
    ObjectRef::new(PortalId(1), ObjectType::Contact, id)
}

fn company(id: u64) -> ObjectRef {
    ObjectRef::new(PortalId(1), ObjectType::Company, id)
}

fn changed(object: ObjectRef, name: &str, value: &str, at: i64) -> CrmObjectEvent {
    let changes = [(name.to_string(), value.to_string())].into();
    CrmObjectEvent::PropertiesChanged {
        object,
        changes,
        occurred_at: at,
    }
}

fn snapshot(object: ObjectRef, properties: &[(&str, &str)], updated_at: i64) -> Snapshot {
    Snapshot {
        object,
        properties: properties
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        associations: BTreeMap::new(),
        archived: false,
        created_at: 1,
        updated_at,
        history: BTreeMap::new(),
        stamping: Stamping::Observed,
        others_created: BTreeMap::new(),
    }
}

#[tokio::test]
async fn a_property_change_is_recorded_even_when_older_than_the_known_value() {
    Given::with(())
        .given(vec![changed(contact(1), "email", "new@x.io", 20)])
        .when_async(CrmObjectCommand::RecordPropertyChange {
            object: contact(1),
            name: "email".into(),
            value: "old@x.io".into(),
            occurred_at: 10,
        })
        .await
        .then_expect_events(vec![changed(contact(1), "email", "old@x.io", 10)]);
}

#[tokio::test]
async fn a_command_for_another_object_is_refused() {
    Given::with(())
        .given(vec![CrmObjectEvent::ObjectCreated {
            object: contact(1),
            occurred_at: 1,
        }])
        .when_async(CrmObjectCommand::RecordDeletion {
            object: contact(2),
            occurred_at: 2,
        })
        .await
        .then_expect_error(CrmObjectError::WrongObject {
            stream: contact(1),
            command: contact(2),
        });
}

#[tokio::test]
async fn a_first_snapshot_records_creation_and_every_set_property() {
    Given::with(())
        .given_no_previous_events()
        .when_async(CrmObjectCommand::ObserveSnapshot(snapshot(
            contact(1),
            &[("email", "a@x.io"), ("firstname", "")],
            50,
        )))
        .await
        .then_expect_events(vec![
            CrmObjectEvent::ObjectCreated {
                object: contact(1),
                occurred_at: 1,
            },
            changed(contact(1), "email", "a@x.io", 50),
        ]);
}

#[tokio::test]
async fn an_unchanged_snapshot_records_nothing() {
    Given::with(())
        .given(vec![
            CrmObjectEvent::ObjectCreated {
                object: contact(1),
                occurred_at: 1,
            },
            changed(contact(1), "email", "a@x.io", 50),
        ])
        .when_async(CrmObjectCommand::ObserveSnapshot(snapshot(
            contact(1),
            &[("email", "a@x.io")],
            60,
        )))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn a_snapshot_older_than_a_webhook_change_does_not_overwrite_it() {
    Given::with(())
        .given(vec![
            CrmObjectEvent::ObjectCreated {
                object: contact(1),
                occurred_at: 1,
            },
            changed(contact(1), "email", "webhook@x.io", 90),
        ])
        .when_async(CrmObjectCommand::ObserveSnapshot(snapshot(
            contact(1),
            &[("email", "old@x.io")],
            60,
        )))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn a_snapshot_records_added_and_removed_associations() {
    let mut observed = snapshot(contact(1), &[], 70);
    observed
        .associations
        .insert(ObjectType::Company, BTreeSet::from([3]));
    let associated =
        |other: ObjectRef, removed: bool, at: i64| CrmObjectEvent::AssociationChanged {
            object: contact(1),
            other,
            association_type: "CONTACT_TO_COMPANY".into(),
            removed,
            occurred_at: at,
            estimated: false,
        };
    Given::with(())
        .given(vec![
            CrmObjectEvent::ObjectCreated {
                object: contact(1),
                occurred_at: 1,
            },
            associated(company(2), false, 10),
        ])
        .when_async(CrmObjectCommand::ObserveSnapshot(observed))
        .await
        .then_expect_events(vec![
            associated(company(3), false, 70),
            associated(company(2), true, 70),
        ]);
}

#[tokio::test]
async fn an_archived_snapshot_deletes_a_live_object_once() {
    let mut archived = snapshot(contact(1), &[], 80);
    archived.archived = true;
    Given::with(())
        .given(vec![CrmObjectEvent::ObjectCreated {
            object: contact(1),
            occurred_at: 1,
        }])
        .when_async(CrmObjectCommand::ObserveSnapshot(archived.clone()))
        .await
        .then_expect_events(vec![CrmObjectEvent::ObjectDeleted {
            object: contact(1),
            occurred_at: 80,
        }]);
    Given::with(())
        .given(vec![
            CrmObjectEvent::ObjectCreated {
                object: contact(1),
                occurred_at: 1,
            },
            CrmObjectEvent::ObjectDeleted {
                object: contact(1),
                occurred_at: 80,
            },
        ])
        .when_async(CrmObjectCommand::ObserveSnapshot(archived))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn after_a_privacy_deletion_late_changes_carry_no_personal_data() {
    Given::with(())
        .given(vec![
            changed(contact(1), "email", "a@x.io", 10),
            CrmObjectEvent::PersonalDataErased {
                object: contact(1),
                occurred_at: 20,
            },
        ])
        .when_async(CrmObjectCommand::RecordPropertyChange {
            object: contact(1),
            name: "email".into(),
            value: "late@x.io".into(),
            occurred_at: 15,
        })
        .await
        .then_expect_events(vec![changed(contact(1), "email", ERASED_VALUE, 15)]);
}

#[test]
fn redaction_blanks_values_and_keeps_names() {
    let mut payload = serde_json::to_value(changed(contact(1), "email", "a@x.io", 1)).unwrap();
    redact_payload(PROPERTIES_CHANGED, &mut payload);
    assert_eq!(payload["changes"]["email"], "");
    assert_eq!(payload["occurred_at"], 1);
}

#[test]
fn a_tie_goes_to_the_fact_applied_later() {
    let mut state = ObjectState::default();
    state.apply(&changed(contact(1), "lifecyclestage", "lead", 5));
    state.apply(&changed(contact(1), "lifecyclestage", "customer", 5));
    assert_eq!(state.property("lifecyclestage"), "customer");
}

/// Facts with distinct stamps per slot (property, existence, association, sentiment), so the resolved state
/// is defined whatever the order; the same fact may repeat (a duplicate delivery).
fn facts() -> impl Strategy<Value = Vec<CrmObjectEvent>> {
    facts_at(|i, _| i as i64 * 10 + 100) // distinct per fact
}

/// Facts whose times often tie: drawn from four instants.
fn facts_with_ties() -> impl Strategy<Value = Vec<CrmObjectEvent>> {
    facts_at(|_, tick| i64::from(tick) * 10 + 100)
}

/// Facts for one contact; `time` gives a fact's occurredAt from its index and a drawn tick.
fn facts_at(time: fn(usize, u8) -> i64) -> impl Strategy<Value = Vec<CrmObjectEvent>> {
    let fact = (0u8..8, 0u8..3, 0u64..3, 0u8..4);
    proptest::collection::vec(fact, 1..40).prop_map(move |raw| {
        raw.into_iter()
            .enumerate()
            .map(|(i, (kind, pick, other, tick))| {
                let at = time(i, tick);
                let object = contact(1);
                match kind {
                    0 => changed(
                        object,
                        ["email", "lifecyclestage", "firstname"][pick as usize],
                        &format!("v{i}"),
                        at,
                    ),
                    1 => CrmObjectEvent::ObjectDeleted {
                        object,
                        occurred_at: at,
                    },
                    2 => CrmObjectEvent::ObjectRestored {
                        object,
                        occurred_at: at,
                    },
                    3 => CrmObjectEvent::ObjectCreated {
                        object,
                        occurred_at: at,
                    },
                    6 => CrmObjectEvent::SentimentRecorded {
                        object,
                        value: crate::sentiment::SentimentValue::ALL[pick as usize],
                        note: format!("n{i}"),
                        author: "csm".into(),
                        occurred_at: at,
                    },
                    7 => CrmObjectEvent::SentimentCleared {
                        object,
                        author: "csm".into(),
                        occurred_at: at,
                    },
                    _ => CrmObjectEvent::AssociationChanged {
                        object,
                        other: company(other),
                        association_type: "CONTACT_TO_COMPANY".into(),
                        removed: kind == 5,
                        occurred_at: at,
                        estimated: false,
                    },
                }
            })
            .collect()
    })
}

#[test]
fn a_tie_goes_to_the_fact_that_arrived_later() {
    for (first, second) in [("lead", "customer"), ("customer", "lead")] {
        let mut state = ObjectState::default();
        state.apply(&changed(contact(1), "lifecyclestage", first, 500));
        state.apply(&changed(contact(1), "lifecyclestage", second, 500));
        state.apply(&changed(contact(1), "lifecyclestage", "subscriber", 499));
        assert_eq!(state.property("lifecyclestage"), second);
    }
}

proptest! {
    #[test]
    fn any_arrival_order_with_duplicates_resolves_to_the_same_state(
        facts in facts(),
        seed in any::<u64>(),
        dupes in proptest::collection::vec(any::<prop::sample::Index>(), 0..10),
    ) {
        let mut in_order = ObjectState::default();
        facts.iter().for_each(|fact| in_order.apply(fact));

        let mut shuffled = facts.clone();
        shuffled.extend(dupes.iter().map(|index| index.get(&facts).clone()));
        let mut rng = seed;
        for i in (1..shuffled.len()).rev() {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (rng >> 33) as usize % (i + 1));
        }
        let mut arrived = ObjectState::default();
        shuffled.iter().for_each(|fact| arrived.apply(fact));
        prop_assert_eq!(in_order, arrived);
    }

    /// Facts at often tied times, in any arrival order (proptest's own permutations), some
    /// arriving twice: the newest fact wins and a tie goes to the one that arrived later, so
    /// the state is that of the same arrivals stably sorted by time.
    #[test]
    fn tied_times_go_to_the_later_arrival_whatever_the_order(
        arrived in facts_with_ties().prop_shuffle(),
        dupes in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut arrivals = arrived.clone();
        arrivals.extend(dupes.iter().map(|index| index.get(&arrived).clone()));
        let mut as_arrived = ObjectState::default();
        arrivals.iter().for_each(|fact| as_arrived.apply(fact));
        let mut by_time = arrivals.clone();
        by_time.sort_by_key(CrmObjectEvent::occurred_at);
        let mut in_time_order = ObjectState::default();
        by_time.iter().for_each(|fact| in_time_order.apply(fact));
        prop_assert_eq!(as_arrived, in_time_order);
    }
}
