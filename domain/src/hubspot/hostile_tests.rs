//! Hostile input for the pure edges: arbitrary bytes and structure-aware mutations of HubSpot
//! deliveries, forged signature headers, and arbitrary configuration documents. None may panic;
//! what is accepted is exactly what is valid.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::webhook::parse_delivery;
use super::{MAX_DELIVERY_EVENTS, SignedRequest, sign_v1, sign_v3, verify};
use crate::scoring::{ConfigDocument, ScoringDocument};

const SUBSCRIPTIONS: [&str; 9] = [
    "contact.creation",
    "contact.propertyChange",
    "contact.deletion",
    "contact.privacyDeletion",
    "contact.merge",
    "contact.associationChange",
    "company.propertyChange",
    "deal.creation",
    "unknown.thing",
];

/// A JSON value of any shape, up to a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        Just(json!("\u{0}")),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A number-like field HubSpot sends: valid, or one of the values that break parsers.
fn id_like() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (1u64..1_000_000).prop_map(Value::from),
        1 => Just(json!(0)),
        1 => Just(json!(-1)),
        1 => Just(json!(u64::MAX)),
        1 => Just(json!(i64::MIN)),
        1 => Just(json!(1e300)),
        1 => Just(json!(1.5)),
        1 => Just(json!("12")),
        1 => any_json(),
    ]
}

/// A delivery event, each field valid, mutated, missing or of the wrong type.
fn event() -> impl Strategy<Value = Value> {
    (
        id_like(),
        id_like(),
        prop_oneof![4 => Just(json!(1)), 1 => id_like()],
        prop_oneof![
            4 => (1_600_000_000_000i64..1_900_000_000_000).prop_map(Value::from),
            1 => id_like()
        ],
        prop_oneof![
            4 => prop::sample::select(&SUBSCRIPTIONS[..]).prop_map(Value::from),
            1 => any_json()
        ],
        id_like(),
        prop_oneof![3 => "[a-z_]{1,20}".prop_map(Value::from), 1 => any_json()],
        prop_oneof![3 => ".{0,30}".prop_map(Value::from), 1 => any_json()],
        prop::collection::vec(any::<bool>(), 8),
    )
        .prop_map(
            |(event_id, subscription_id, portal, at, kind, object, name, value, drop)| {
                let fields = [
                    ("eventId", event_id),
                    ("subscriptionId", subscription_id),
                    ("portalId", portal),
                    ("occurredAt", at),
                    ("subscriptionType", kind),
                    ("objectId", object),
                    ("propertyName", name),
                    ("propertyValue", value),
                ];
                Value::Object(
                    fields
                        .into_iter()
                        .zip(drop)
                        .filter(|(_, dropped)| !dropped)
                        .map(|((k, v), _)| (k.to_string(), v))
                        .collect(),
                )
            },
        )
}

/// A delivery: mostly an array of events (sometimes more than HubSpot's 100), sometimes any
/// other JSON.
fn delivery() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => prop::collection::vec(event(), 0..8).prop_map(Value::Array),
        1 => prop::collection::vec(event(), 99..103).prop_map(Value::Array),
        1 => any_json(),
    ]
}

fn verify_at(
    body: &[u8],
    v3: Option<&str>,
    timestamp: Option<&str>,
    v1: Option<&str>,
    version: Option<&str>,
    now: i64,
) -> bool {
    let request = SignedRequest {
        method: "POST",
        uri: "https://example.com/webhooks/hubspot",
        body,
        signature_v3: v3,
        timestamp,
        signature: v1,
        signature_version: version,
    };
    verify(&request, &["the-secret"], now).is_ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic_the_delivery_parser(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_delivery(&body);
    }

    #[test]
    fn a_parsed_delivery_holds_only_valid_events(delivery in delivery()) {
        let body = delivery.to_string();
        if let Ok(events) = parse_delivery(body.as_bytes()) {
            let given = delivery.as_array().map_or(0, Vec::len);
            prop_assert!(!events.is_empty() && events.len() <= MAX_DELIVERY_EVENTS);
            prop_assert_eq!(events.len(), given, "a delivery is taken whole or not at all");
            for event in &events {
                prop_assert!(event.portal_id > 0);
            }
        }
    }

    #[test]
    fn mutated_delivery_bytes_never_panic_the_parser(
        delivery in delivery(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut body = delivery.to_string().into_bytes();
        if !body.is_empty() {
            for (at, byte) in flips {
                let at = at.index(body.len());
                body[at] = byte;
            }
        }
        let _ = parse_delivery(&body);
    }

    #[test]
    fn forged_signature_headers_never_verify(
        body in prop::collection::vec(any::<u8>(), 0..256),
        v3 in prop::option::of(".{0,64}"),
        timestamp in prop::option::of(prop_oneof![".{0,20}", any::<i64>().prop_map(|t| t.to_string())]),
        v1 in prop::option::of(prop_oneof![".{0,70}", "[0-9a-f]{64}"]),
        version in prop::option::of(prop_oneof![Just("v1".to_string()), Just("v2".to_string()), ".{0,4}"]),
        now in any::<i64>(),
    ) {
        prop_assert!(!verify_at(&body, v3.as_deref(), timestamp.as_deref(), v1.as_deref(), version.as_deref(), now));
    }

    #[test]
    fn a_signature_verifies_only_for_the_body_it_signs(
        body in prop::collection::vec(any::<u8>(), 1..256),
        at in any::<prop::sample::Index>(),
        now in 1_600_000_000_000i64..1_900_000_000_000,
    ) {
        let uri = "https://example.com/webhooks/hubspot";
        let v1 = sign_v1("the-secret", &body);
        let v3 = sign_v3("the-secret", "POST", uri, &body, now);
        let stamp = now.to_string();
        prop_assert!(verify_at(&body, None, None, Some(&v1), None, now));
        prop_assert!(verify_at(&body, Some(&v3), Some(&stamp), None, None, now));
        let mut tampered = body.clone();
        let at = at.index(tampered.len());
        tampered[at] ^= 0x01;
        prop_assert!(!verify_at(&tampered, None, None, Some(&v1), None, now));
        prop_assert!(!verify_at(&tampered, Some(&v3), Some(&stamp), None, None, now));
    }

    #[test]
    fn arbitrary_configuration_documents_never_panic_the_validator(document in any_json()) {
        let text = document.to_string();
        if let Ok(parsed) = ConfigDocument::parse(text.as_bytes())
            && let Err(problems) = ScoringDocument::from_document(&parsed)
        {
            prop_assert!(!problems.is_empty());
        }
    }

    #[test]
    fn mutated_weights_are_taken_or_refused_by_field(
        weights in prop::collection::btree_map(
            prop_oneof![
                4 => prop::sample::select(&["engagement_recency", "deal_momentum", "lifecycle_stage", "activity_frequency", "deal_value"][..]).prop_map(str::to_string),
                1 => ".{0,12}",
            ],
            prop_oneof![4 => (0u32..=100).prop_map(Value::from), 1 => id_like()],
            0..7,
        ),
        extra in prop::option::of(any_json()),
    ) {
        let mut document = json!({"weights": weights});
        if let Some(extra) = extra {
            document["bands"] = extra;
        }
        let parsed = ConfigDocument::parse(document.to_string().as_bytes()).expect("JSON");
        if let Err(problems) = ScoringDocument::from_document(&parsed) {
            prop_assert!(!problems.is_empty());
        }
    }
}

/// The named cases: each is refused (or taken) cleanly.
#[test]
fn named_hostile_deliveries_are_refused_cleanly() {
    let deep = "[".repeat(100_000) + &"]".repeat(100_000);
    assert!(parse_delivery(deep.as_bytes()).is_err(), "deep nesting");
    let tiny = format!("[{}]", vec!["{}"; 100_000].join(","));
    assert!(tiny.len() < 1 << 20);
    assert!(parse_delivery(tiny.as_bytes()).is_err(), "100k tiny events");
    assert!(parse_delivery(b"[\xff\xfe]").is_err(), "not UTF-8");
    assert!(
        parse_delivery(b"[{\"eventId\":1}\x00]").is_err(),
        "a NUL byte"
    );
    let event = |extra: &str| {
        format!(
            r#"[{{"eventId":1,"subscriptionId":1,"portalId":1,"occurredAt":1700000000000,"subscriptionType":"contact.creation","objectId":1{extra}}}]"#
        )
    };
    assert!(
        parse_delivery(event("").as_bytes()).is_ok(),
        "the valid base case"
    );
    // serde_json keeps the last of duplicate keys, which is then checked like any other.
    for (extra, what) in [
        (
            r#","objectId":-5"#,
            "a negative object id as a duplicate key",
        ),
        (r#","portalId":0"#, "a zero portal as a duplicate key"),
        (
            r#","occurredAt":-1"#,
            "a time before 1970 as a duplicate key",
        ),
    ] {
        assert!(parse_delivery(event(extra).as_bytes()).is_err(), "{what}");
    }
    let repeated = event(r#","objectId":7"#);
    let events = parse_delivery(repeated.as_bytes()).expect("a valid duplicate key");
    assert_eq!(
        events[0].object.as_ref().map(|o| o.object_id),
        Some(7),
        "the last of duplicate keys"
    );
    let huge = event("").replace("1700000000000", "99999999999999999999999");
    assert!(parse_delivery(huge.as_bytes()).is_err(), "a time past i64");
    let negative = event("").replace("\"objectId\":1", "\"objectId\":-1");
    assert!(
        parse_delivery(negative.as_bytes()).is_err(),
        "a negative object id"
    );
    let events: Vec<Value> = (0..=MAX_DELIVERY_EVENTS)
        .map(|n| json!({"eventId": n, "subscriptionId": 1, "portalId": 1, "occurredAt": 1_700_000_000_000_i64, "subscriptionType": "contact.creation", "objectId": 1}))
        .collect();
    assert!(
        parse_delivery(Value::Array(events).to_string().as_bytes()).is_err(),
        "101 events"
    );
}
