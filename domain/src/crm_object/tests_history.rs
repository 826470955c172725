//! A sync's history import: past values at their own times, recorded once; associations
//! stamped at the later of their ends' creation.

use std::collections::{BTreeMap, BTreeSet};

use cqrs_es::Aggregate;
use cqrs_es::test::TestFramework;

use super::*;
use crate::ids::{ObjectRef, ObjectType, PortalId};

type Given = TestFramework<CrmObject>;

fn contact(id: u64) -> ObjectRef {
    ObjectRef::new(PortalId(1), ObjectType::Contact, id)
}

fn company(id: u64) -> ObjectRef {
    ObjectRef::new(PortalId(1), ObjectType::Company, id)
}

fn changes(object: ObjectRef, at: i64, values: &[(&str, &str)]) -> CrmObjectEvent {
    CrmObjectEvent::PropertiesChanged {
        object,
        changes: values
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        occurred_at: at,
    }
}

fn created(object: ObjectRef, at: i64) -> CrmObjectEvent {
    CrmObjectEvent::ObjectCreated {
        object,
        occurred_at: at,
    }
}

/// Contact 1 created at 10, updated at 300, with `history` (newest first, as HubSpot lists).
fn with_history(history: &[(&str, &[(i64, &str)])]) -> Snapshot {
    let history: BTreeMap<String, Vec<PastValue>> = history
        .iter()
        .map(|(name, values)| {
            let values = values
                .iter()
                .map(|(at, value)| PastValue {
                    at: *at,
                    value: value.to_string(),
                })
                .collect();
            (name.to_string(), values)
        })
        .collect();
    let properties = history
        .iter()
        .map(|(name, values)| (name.clone(), values[0].value.clone()))
        .collect();
    Snapshot {
        object: contact(1),
        properties,
        associations: BTreeMap::new(),
        archived: false,
        created_at: 10,
        updated_at: 300,
        history,
        stamping: Stamping::FromCreation { restamp: false },
        others_created: BTreeMap::new(),
    }
}

#[tokio::test]
async fn past_values_are_recorded_at_their_own_times_one_event_per_save() {
    let snapshot = with_history(&[
        ("email", &[(10, "a@x.io")]),
        (
            "lifecyclestage",
            &[(300, "customer"), (100, "lead"), (10, "subscriber")],
        ),
    ]);
    Given::with(())
        .given_no_previous_events()
        .when_async(CrmObjectCommand::ObserveSnapshot(snapshot))
        .await
        .then_expect_events(vec![
            created(contact(1), 10),
            changes(
                contact(1),
                10,
                &[("email", "a@x.io"), ("lifecyclestage", "subscriber")],
            ),
            changes(contact(1), 100, &[("lifecyclestage", "lead")]),
            changes(contact(1), 300, &[("lifecyclestage", "customer")]),
        ]);
}

#[tokio::test]
async fn a_past_value_a_webhook_recorded_is_not_recorded_twice() {
    let snapshot = with_history(&[("lifecyclestage", &[(300, "customer"), (100, "lead")])]);
    Given::with(())
        .given(vec![
            created(contact(1), 10),
            changes(contact(1), 100, &[("lifecyclestage", "lead")]),
            changes(contact(1), 300, &[("lifecyclestage", "customer")]),
        ])
        .when_async(CrmObjectCommand::ObserveSnapshot(snapshot))
        .await
        .then_expect_events(vec![]);
}

#[test]
fn an_older_past_value_never_overwrites_a_newer_one() {
    let mut object = CrmObject::default();
    for event in [
        created(contact(1), 10),
        changes(contact(1), 500, &[("lifecyclestage", "evangelist")]),
    ] {
        object.apply(event);
    }
    let snapshot = with_history(&[("lifecyclestage", &[(300, "customer"), (100, "lead")])]);
    let events = object
        .decide(CrmObjectCommand::ObserveSnapshot(snapshot))
        .unwrap();
    assert_eq!(
        events,
        vec![
            changes(contact(1), 100, &[("lifecyclestage", "lead")]),
            changes(contact(1), 300, &[("lifecyclestage", "customer")]),
        ]
    );
    for event in events {
        object.apply(event);
    }
    assert_eq!(object.state().property("lifecyclestage"), "evangelist");
}

#[tokio::test]
async fn two_values_of_one_time_keep_hubspots_order() {
    // Newest first: "b" was set after "a" within the same millisecond.
    let snapshot = with_history(&[("hs_lead_status", &[(200, "b"), (200, "a")])]);
    let mut object = CrmObject::default();
    let events = object
        .decide(CrmObjectCommand::ObserveSnapshot(snapshot))
        .unwrap();
    for event in events {
        object.apply(event);
    }
    assert_eq!(object.state().property("hs_lead_status"), "b");
}

#[tokio::test]
async fn after_an_erasure_no_past_value_comes_back() {
    let snapshot = with_history(&[("email", &[(10, "a@x.io")])]);
    Given::with(())
        .given(vec![
            created(contact(1), 10),
            CrmObjectEvent::PersonalDataErased {
                object: contact(1),
                occurred_at: 20,
            },
        ])
        .when_async(CrmObjectCommand::ObserveSnapshot(snapshot))
        .await
        .then_expect_events(vec![]);
}

fn associated(other: ObjectRef, at: i64, estimated: bool) -> CrmObjectEvent {
    CrmObjectEvent::AssociationChanged {
        object: contact(1),
        other,
        association_type: "CONTACT_TO_COMPANY".into(),
        removed: false,
        occurred_at: at,
        estimated,
    }
}

fn linked_to(companies: &[(u64, Option<i64>)], restamp: bool) -> Snapshot {
    let mut snapshot = with_history(&[]);
    snapshot.associations.insert(
        ObjectType::Company,
        companies.iter().map(|(id, _)| *id).collect::<BTreeSet<_>>(),
    );
    snapshot.others_created = companies
        .iter()
        .filter_map(|(id, created)| Some((company(*id), (*created)?)))
        .collect();
    snapshot.stamping = Stamping::FromCreation { restamp };
    snapshot
}

#[tokio::test]
async fn a_new_association_is_stamped_at_the_later_creation_as_an_estimate() {
    // Company 5 was created before the contact (10), company 6 after; 7 is not recorded yet.
    let snapshot = linked_to(&[(5, Some(3)), (6, Some(40)), (7, None)], false);
    Given::with(())
        .given(vec![created(contact(1), 10)])
        .when_async(CrmObjectCommand::ObserveSnapshot(snapshot))
        .await
        .then_expect_events(vec![
            associated(company(5), 10, true),
            associated(company(6), 40, true),
        ]);
}

#[tokio::test]
async fn only_a_backfill_moves_a_known_association_back_and_never_past_a_removal() {
    let known = vec![
        created(contact(1), 10),
        associated(company(5), 250, false),
        associated(company(6), 250, false),
        CrmObjectEvent::AssociationChanged {
            object: contact(1),
            other: company(6),
            association_type: "CONTACT_TO_COMPANY".into(),
            removed: true,
            occurred_at: 200,
            estimated: false,
        },
    ];
    let companies = [(5, Some(3)), (6, Some(3))];
    Given::with(())
        .given(known.clone())
        .when_async(CrmObjectCommand::ObserveSnapshot(linked_to(
            &companies, false,
        )))
        .await
        .then_expect_events(vec![]);
    Given::with(())
        .given(known)
        .when_async(CrmObjectCommand::ObserveSnapshot(linked_to(
            &companies, true,
        )))
        .await
        .then_expect_events(vec![associated(company(5), 10, true)]);
}

#[test]
fn the_resolved_association_says_whether_its_time_is_an_estimate() {
    let mut object = CrmObject::default();
    object.apply(associated(company(5), 10, true));
    assert!(object.state().associations[&company(5).stream_id()].estimated);
    object.apply(associated(company(5), 20, false));
    assert!(!object.state().associations[&company(5).stream_id()].estimated);
}
