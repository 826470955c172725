//! Delivery parsing tests: HUBSPOT.md examples and every handled type; edge cases in `edge`.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use serde_json::{Value, json};

use super::*;

mod edge;

fn parse_one(event: Value) -> WebhookEvent {
    let body = Value::Array(vec![event]).to_string();
    let mut events = parse_delivery(body.as_bytes()).unwrap();
    assert_eq!(events.len(), 1);
    events.remove(0)
}

fn event(kind: &str, extra: Value) -> Value {
    let mut base = json!({
        "eventId": 7, "subscriptionId": 8, "portalId": 9, "appId": 10,
        "occurredAt": 1_700_000_000_000_i64, "subscriptionType": kind,
        "attemptNumber": 1, "objectId": 11, "changeSource": "CRM", "changeFlag": "NEW",
    });
    if let (Value::Object(base), Value::Object(extra)) = (&mut base, extra) {
        base.extend(extra);
    }
    base
}

#[test]
fn the_deal_creation_example_parses() {
    let body = br#"[{"eventId":1030198139,"subscriptionId":4578255,"portalId":242711451,"appId":19635961,"occurredAt":1769081993375,"subscriptionType":"deal.creation","attemptNumber":0,"objectId":267448862446,"changeFlag":"CREATED","changeSource":"CRM_UI","sourceId":"userId:52530071"}]"#;
    let events = parse_delivery(body).unwrap();
    let e = &events[0];
    assert_eq!(
        (e.portal_id, e.occurred_at_ms),
        (242_711_451, 1_769_081_993_375)
    );
    assert_eq!(
        (e.event_id, e.subscription_id),
        (Some(1_030_198_139), Some(4_578_255))
    );
    assert_eq!(e.subscription_type, "deal.creation");
    let object = ObjectTarget {
        object_type: ObjectType::Deal,
        object_id: 267_448_862_446,
    };
    assert_eq!(e.object, Some(object));
    assert_eq!(e.change, Change::Created);
    assert_eq!(e.change_source.as_deref(), Some("CRM_UI"));
    assert_eq!(e.source_id.as_deref(), Some("userId:52530071"));
    assert_eq!(e.attempt_number, Some(0));
    assert_eq!(e.raw["appId"], 19_635_961);
}

#[test]
fn the_event_type_alias_example_parses() {
    let body = br#"[{"objectId":1246965,"propertyName":"lifecyclestage","propertyValue":"subscriber","changeSource":"ACADEMY","eventId":3816279340,"subscriptionId":25,"portalId":33,"appId":1160452,"occurredAt":1462216307945,"eventType":"contact.propertyChange","attemptNumber":0}]"#;
    let e = &parse_delivery(body).unwrap()[0];
    assert_eq!(e.subscription_type, "contact.propertyChange");
    assert_eq!(
        e.object.map(|o| (o.object_type, o.object_id)),
        Some((ObjectType::Contact, 1_246_965))
    );
    let change = Change::PropertyChanged {
        name: "lifecyclestage".into(),
        value: "subscriber".into(),
    };
    assert_eq!(e.change, change);
}

#[test]
fn every_handled_type_parses_for_each_object_type() {
    let extras = json!({
        "propertyName": "amount", "propertyValue": "10",
        "primaryObjectId": 11, "mergedObjectIds": [12], "associationType": "DEAL_TO_CONTACT",
        "fromObjectId": 1, "toObjectId": 2,
    });
    let suffixes = [
        "creation",
        "deletion",
        "propertyChange",
        "merge",
        "restore",
        "associationChange",
    ];
    let types = [
        (ObjectType::Contact, "0-1"),
        (ObjectType::Company, "0-2"),
        (ObjectType::Deal, "0-3"),
    ];
    for (object_type, type_id) in types {
        for suffix in suffixes {
            let prefixed = parse_one(event(
                &format!("{}.{suffix}", object_type.as_str()),
                extras.clone(),
            ));
            let mut generic = event(&format!("object.{suffix}"), extras.clone());
            generic["objectTypeId"] = json!(type_id);
            let generic = parse_one(generic);
            for e in [&prefixed, &generic] {
                assert_ne!(e.change, Change::Unhandled, "{}", e.subscription_type);
                assert_eq!(
                    e.object,
                    Some(ObjectTarget {
                        object_type,
                        object_id: 11
                    })
                );
            }
            assert_eq!(prefixed.change, generic.change);
        }
    }
}

#[test]
fn object_types_round_trip() {
    for (t, id) in [
        (ObjectType::Contact, "0-1"),
        (ObjectType::Company, "0-2"),
        (ObjectType::Deal, "0-3"),
    ] {
        assert_eq!(ObjectType::from_prefix(t.as_str()), Some(t));
        assert_eq!(ObjectType::from_type_id(id), Some(t));
    }
    assert_eq!(ObjectType::from_prefix("ticket"), None);
    assert_eq!(ObjectType::from_type_id("0-5"), None);
}

#[test]
fn merge_fields_are_read() {
    let extra = json!({"primaryObjectId": 11, "mergedObjectIds": [12, 13], "newObjectId": 14, "numberOfPropertiesMoved": 3});
    let e = parse_one(event("company.merge", extra));
    let merged = Change::Merged {
        primary_object_id: 11,
        merged_object_ids: vec![12, 13],
        new_object_id: Some(14),
    };
    assert_eq!(e.change, merged);
}

#[test]
fn association_fields_and_side_types_are_read() {
    let cases = [
        (
            "CONTACT_TO_COMPANY",
            Some(ObjectType::Contact),
            Some(ObjectType::Company),
        ),
        (
            "DEAL_TO_CONTACT",
            Some(ObjectType::Deal),
            Some(ObjectType::Contact),
        ),
        (
            "COMPANY_TO_DEAL",
            Some(ObjectType::Company),
            Some(ObjectType::Deal),
        ),
        (
            "CONTACT_TO_COMPANY_UNLABELED",
            Some(ObjectType::Contact),
            Some(ObjectType::Company),
        ),
        ("PARENT_TO_CHILD_COMPANY", None, None),
    ];
    for (kind, from_type, to_type) in cases {
        let extra = json!({"associationType": kind, "fromObjectId": 1, "toObjectId": 2, "associationRemoved": true, "isPrimaryAssociation": true});
        let mut raw = event("contact.associationChange", extra);
        raw.as_object_mut().map(|m| m.remove("objectId"));
        let e = parse_one(raw);
        assert_eq!(e.object, None);
        let expected = Change::AssociationChanged {
            association_type: kind.into(),
            from_object_id: 1,
            to_object_id: 2,
            removed: true,
            is_primary: true,
            from_type,
            to_type,
        };
        assert_eq!(e.change, expected);
    }
}

#[test]
fn generic_association_types_come_from_type_ids() {
    let extra = json!({"associationTypeId": 279, "fromObjectTypeId": "0-1", "toObjectTypeId": "0-2", "fromObjectId": 1, "toObjectId": 2});
    let mut raw = event("object.associationChange", extra);
    raw.as_object_mut().map(|m| m.remove("objectId"));
    let Change::AssociationChanged {
        association_type,
        from_type,
        to_type,
        removed,
        ..
    } = parse_one(raw).change
    else {
        panic!("not an association change");
    };
    assert_eq!(association_type, "279");
    assert_eq!(
        (from_type, to_type, removed),
        (Some(ObjectType::Contact), Some(ObjectType::Company), false)
    );
}

#[test]
fn privacy_deletion_is_its_own_change() {
    assert_eq!(
        parse_one(event("contact.privacyDeletion", json!({}))).change,
        Change::PrivacyDeleted
    );
    assert_eq!(
        parse_one(event("deal.privacyDeletion", json!({}))).change,
        Change::Unhandled
    );
}

#[test]
fn a_delivery_holds_at_most_a_hundred_events() {
    let delivery = |n: usize| {
        let events: Vec<Value> = (0..n)
            .map(|_| event("contact.creation", json!({})))
            .collect();
        Value::Array(events).to_string()
    };
    assert_eq!(
        parse_delivery(delivery(MAX_DELIVERY_EVENTS).as_bytes())
            .unwrap()
            .len(),
        100
    );
    assert!(matches!(
        parse_delivery(delivery(MAX_DELIVERY_EVENTS + 1).as_bytes()),
        Err(DeliveryError::TooManyEvents(101))
    ));
}
