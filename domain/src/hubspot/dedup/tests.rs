//! Dedup key properties: stable across attempts, different for any identifying change.

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::hubspot::webhook::parse_delivery;

fn key(event: &Value) -> [u8; 32] {
    let body = Value::Array(vec![event.clone()]).to_string();
    match parse_delivery(body.as_bytes()).as_deref() {
        Ok([parsed]) => parsed.dedup_key(),
        other => panic!("unexpected parse result {other:?}"),
    }
}

/// Identifying fields changed in place by [`changed`].
const IDENTIFYING: [&str; 6] = [
    "portalId",
    "subscriptionId",
    "eventId",
    "objectId",
    "occurredAt",
    "propertyValue",
];

/// A value different from `value`, of the same JSON type.
fn changed(value: &Value) -> Value {
    match value {
        Value::String(s) => json!(format!("{s}!")),
        other => json!(other.as_u64().map_or(0, |n| n ^ 1)),
    }
}

prop_compose! {
    fn property_change()(
        portal in 1..u64::MAX / 2, sub in any::<u64>(), event in any::<u64>(), object in any::<u64>(),
        at in 0..i64::MAX, name in "[a-z_]{1,12}", value in ".{0,20}", attempt in 0..10_u32,
        kind in prop::sample::select(vec!["contact", "company", "deal"]),
    ) -> Value {
        json!({
            "portalId": portal, "subscriptionId": sub, "eventId": event, "objectId": object,
            "occurredAt": at, "subscriptionType": format!("{kind}.propertyChange"),
            "propertyName": name, "propertyValue": value, "attemptNumber": attempt,
        })
    }
}

proptest! {
    #[test]
    fn the_attempt_number_never_changes_the_key(event in property_change(), other in 0..u32::MAX) {
        let mut retried = event.clone();
        retried["attemptNumber"] = json!(other);
        prop_assert_eq!(key(&event), key(&retried));
        retried.as_object_mut().map(|m| m.remove("attemptNumber"));
        prop_assert_eq!(key(&event), key(&retried));
    }

    #[test]
    fn any_identifying_field_changes_the_key(event in property_change(), pick in 0..IDENTIFYING.len() + 2) {
        let mut other = event.clone();
        match IDENTIFYING.get(pick) {
            Some(field) => other[*field] = changed(&event[*field]),
            None if pick == IDENTIFYING.len() => other["propertyName"] = json!("changed_name_"),
            None => other["subscriptionType"] = json!("contact.creation"),
        }
        prop_assert_ne!(key(&event), key(&other));
    }

    #[test]
    fn unhandled_events_differ_by_any_field_but_the_attempt(
        extra in "[a-z]{1,8}", a in any::<i64>(), b in any::<i64>(), attempt in 0..10_u32,
    ) {
        let event = |v: i64, attempt: u32| json!({
            "portalId": 1, "occurredAt": 2, "subscriptionType": "ticket.creation",
            "attemptNumber": attempt, "nested": {extra.clone(): v},
        });
        prop_assert_eq!(key(&event(a, 0)), key(&event(a, attempt)));
        prop_assert_eq!(key(&event(a, 0)) == key(&event(b, 0)), a == b);
    }
}

#[test]
fn unhandled_keys_ignore_key_order_but_not_nested_attempts() {
    let a: Value = serde_json::from_str(
        r#"{"portalId":1,"occurredAt":2,"subscriptionType":"t.x","p":1,"q":2}"#,
    )
    .unwrap_or_default();
    let b: Value = serde_json::from_str(
        r#"{"q":2,"subscriptionType":"t.x","occurredAt":2,"p":1,"portalId":1}"#,
    )
    .unwrap_or_default();
    assert_eq!(key(&a), key(&b));
    let mut nested = a.clone();
    nested["p"] = json!({"attemptNumber": 1});
    let mut nested_other = a.clone();
    nested_other["p"] = json!({"attemptNumber": 2});
    assert_ne!(key(&nested), key(&nested_other));
}

#[test]
fn merge_and_association_details_are_identifying() {
    let merge = |ids: Value| json!({"portalId": 1, "occurredAt": 2, "subscriptionType": "deal.merge", "primaryObjectId": 3, "mergedObjectIds": ids});
    assert_ne!(key(&merge(json!([4, 5]))), key(&merge(json!([45]))));
    assert_ne!(key(&merge(json!([4, 5]))), key(&merge(json!([5, 4]))));
    let assoc = |removed: bool| {
        json!({"portalId": 1, "occurredAt": 2, "subscriptionType": "contact.associationChange",
        "associationType": "CONTACT_TO_COMPANY", "fromObjectId": 3, "toObjectId": 4, "associationRemoved": removed})
    };
    assert_ne!(key(&assoc(true)), key(&assoc(false)));
}

#[test]
fn generic_events_for_different_object_types_differ() {
    let generic = |type_id: &str| json!({"portalId": 1, "occurredAt": 2, "subscriptionType": "object.creation", "objectTypeId": type_id, "objectId": 3});
    assert_ne!(key(&generic("0-1")), key(&generic("0-2")));
}

#[test]
fn the_key_does_not_contain_property_values_in_clear() {
    let event = json!({"portalId": 1, "occurredAt": 2, "subscriptionType": "contact.propertyChange", "objectId": 3,
        "propertyName": "email", "propertyValue": "a@b.c"});
    let key = key(&event);
    assert!(!key.windows(5).any(|w| w == b"a@b.c"));
}
