//! Edge cases: unknown types, defaults, malformed bodies and delivery sizes.

use serde_json::{Value, json};

use super::{event, parse_one};
use crate::hubspot::webhook::{Change, DeliveryError, parse_delivery};

#[test]
fn unknown_types_are_unhandled_but_parse() {
    let odd = json!({"objectId": "x-1", "eventId": "nope", "attemptNumber": -1, "changeSource": 5});
    for kind in [
        "ticket.creation",
        "conversation.newMessage",
        "contact.somethingNew",
        "nodot",
    ] {
        let e = parse_one(event(kind, odd.clone()));
        assert_eq!(
            (e.change, e.object, e.event_id),
            (Change::Unhandled, None, None),
            "{kind}"
        );
    }
    let mut other = event("object.creation", json!({}));
    other["objectTypeId"] = json!("0-5");
    assert_eq!(parse_one(other).change, Change::Unhandled);
    assert_eq!(
        parse_one(event("object.creation", json!({}))).change,
        Change::Unhandled
    );
}

#[test]
fn bad_informational_fields_never_fail_a_handled_event() {
    let odd = json!({"attemptNumber": "x", "changeSource": 5, "sourceId": []});
    let e = parse_one(event("deal.deletion", odd));
    assert_eq!(
        (e.attempt_number, e.change_source, e.source_id),
        (None, None, None)
    );
    assert_eq!(e.change, Change::Deleted);
}

#[test]
fn cleared_property_values_are_empty() {
    let e = parse_one(event(
        "deal.propertyChange",
        json!({"propertyName": "amount", "propertyValue": null}),
    ));
    assert_eq!(
        e.change,
        Change::PropertyChanged {
            name: "amount".into(),
            value: String::new()
        }
    );
}

#[test]
fn malformed_bodies_are_errors() {
    let cases: [(&[u8], DeliveryError); 6] = [
        (b"[", DeliveryError::NotJson(String::new())),
        (b"{\"portalId\":1}", DeliveryError::NotArray),
        (b"[1,2]", DeliveryError::NotObject { index: 0 }),
        (
            br#"[{"occurredAt":1,"subscriptionType":"deal.creation","objectId":1}]"#,
            DeliveryError::MissingField {
                index: 0,
                field: "portalId",
            },
        ),
        (
            br#"[{"portalId":1,"occurredAt":"1","subscriptionType":"x.y"}]"#,
            DeliveryError::BadField {
                index: 0,
                field: "occurredAt",
            },
        ),
        (
            br#"[{"portalId":1,"occurredAt":1}]"#,
            DeliveryError::MissingField {
                index: 0,
                field: "subscriptionType",
            },
        ),
    ];
    for (body, expected) in cases {
        match (parse_delivery(body), expected) {
            (Err(DeliveryError::NotJson(_)), DeliveryError::NotJson(_)) => {}
            (got, expected) => assert_eq!(got, Err(expected)),
        }
    }
}

#[test]
fn handled_types_must_be_well_formed() {
    let cases = [
        (event("contact.propertyChange", json!({})), "propertyName"),
        (
            event("deal.merge", json!({"primaryObjectId": 1})),
            "mergedObjectIds",
        ),
        (
            event(
                "company.associationChange",
                json!({"associationType": "COMPANY_TO_DEAL", "toObjectId": 2}),
            ),
            "fromObjectId",
        ),
    ];
    for (raw, field) in cases {
        let body = Value::Array(vec![
            json!({"portalId": 1, "occurredAt": 1, "subscriptionType": "ticket.x"}),
            raw,
        ])
        .to_string();
        assert_eq!(
            parse_delivery(body.as_bytes()),
            Err(DeliveryError::MissingField { index: 1, field })
        );
    }
    let mut no_object = event("deal.creation", json!({}));
    no_object.as_object_mut().map(|m| m.remove("objectId"));
    let body = Value::Array(vec![no_object]).to_string();
    assert_eq!(
        parse_delivery(body.as_bytes()),
        Err(DeliveryError::MissingField {
            index: 0,
            field: "objectId"
        })
    );
    let body = Value::Array(vec![event("deal.creation", json!({"eventId": "1"}))]).to_string();
    assert_eq!(
        parse_delivery(body.as_bytes()),
        Err(DeliveryError::BadField {
            index: 0,
            field: "eventId"
        })
    );
}

#[test]
fn an_empty_delivery_is_refused_and_a_full_one_parses() {
    assert_eq!(parse_delivery(b"[]"), Err(DeliveryError::Empty));
    let many = Value::Array(vec![event("deal.deletion", json!({})); 100]).to_string();
    assert_eq!(parse_delivery(many.as_bytes()).map(|e| e.len()), Ok(100));
}
