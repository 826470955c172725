//! Rules, their validation, and an alert's delivery life.

use chrono::{Duration, TimeZone, Utc};
use serde_json::json;

use super::*;
use crate::scoring::{Band, Subject};

fn rules(document: serde_json::Value) -> Vec<AlertRule> {
    parse_rules(&document).expect("valid rules")
}

fn fields(document: serde_json::Value) -> Vec<String> {
    parse_rules(&document)
        .expect_err("invalid")
        .into_iter()
        .map(|p| p.field)
        .collect()
}

fn change(old: Option<Band>, new: Option<Band>) -> BandMove<'static> {
    BandMove {
        subject: Subject::Contact,
        old,
        new,
        scorecard: Some("default"),
        owner: Some("7"),
    }
}

#[test]
fn a_minimal_rule_gets_defaults_and_a_stable_id() {
    let one = rules(json!({"rules": [{"on": "band_worsened", "destination": "d1"}]}));
    assert_eq!(one[0].subject, SubjectScope::Any);
    assert_eq!(one[0].cooldown_hours, 24);
    let again = rules(json!({"rules": [{"on": "band_worsened", "destination": "d1"}]}));
    assert_eq!(one[0].id, again[0].id, "the same rule keeps its id");
    let other = rules(json!({"rules": [{"on": "band_changed", "destination": "d1"}]}));
    assert_ne!(one[0].id, other[0].id);
}

#[test]
fn every_bad_field_is_named() {
    assert_eq!(
        fields(json!({"rules": [
            {"on": "band_fell", "destination": "", "cooldown_hours": 721, "extra": 1},
            {"on": "score_dropped", "destination": "d", "points": 0},
            {"on": "band_changed", "destination": "d", "days": 3, "subject": "deal"},
        ]})),
        vec![
            "rules[0].extra",
            "rules[0].on",
            "rules[0].destination",
            "rules[0].cooldown_hours",
            "rules[1].points",
            "rules[1].days",
            "rules[2].subject",
            "rules[2].days",
        ]
    );
    assert_eq!(fields(json!({"rule": []})), vec!["rule", "rules"]);
    assert_eq!(
        fields(json!({"rules": [
            {"on": "band_changed", "destination": "d", "id": "a"},
            {"on": "band_worsened", "destination": "d", "id": "a"},
        ]})),
        vec!["rules[1].id"]
    );
}

#[test]
fn band_worsened_fires_on_worse_bands_only() {
    let rule = &rules(json!({"rules": [{"on": "band_worsened", "destination": "d"}]}))[0];
    let (h, a, c) = (
        Some(Band::Healthy),
        Some(Band::AtRisk),
        Some(Band::Critical),
    );
    assert!(rule.fires_on(&change(h, a)));
    assert!(rule.fires_on(&change(a, c)));
    assert!(rule.fires_on(&change(h, c)));
    assert!(!rule.fires_on(&change(c, a)));
    assert!(
        !rule.fires_on(&change(None, c)),
        "a first band is no change"
    );
    assert!(
        !rule.fires_on(&change(h, None)),
        "insufficient data is no band"
    );
    let any = &rules(json!({"rules": [{"on": "band_changed", "destination": "d"}]}))[0];
    assert!(any.fires_on(&change(c, a)));
}

#[test]
fn filters_narrow_the_subjects() {
    let set = rules(json!({"rules": [
        {"on": "band_changed", "destination": "d", "subject": "company"},
        {"on": "band_changed", "destination": "d", "scorecard": "enterprise"},
        {"on": "band_changed", "destination": "d", "owner": "7"},
    ]}));
    let moved = change(Some(Band::Healthy), Some(Band::AtRisk));
    assert!(!set[0].fires_on(&moved));
    assert!(!set[1].fires_on(&moved));
    assert!(set[2].fires_on(&moved));
}

fn t(minutes: i64) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap() + Duration::minutes(minutes)
}

fn raised() -> Alert {
    let mut alert = Alert::default();
    let raise = AlertCommand::Raise(Box::new(Raised {
        alert_id: "al_1".into(),
        rule_id: "r".into(),
        trigger: Trigger::BandWorsened,
        destination: "d".into(),
        subject: Subject::Contact,
        subject_id: 1,
        body: "{}".into(),
        changed_at: t(0),
        raised_at: t(0),
        give_up_at: t(60),
    }));
    apply_all(&mut alert, raise);
    alert
}

fn apply_all(alert: &mut Alert, command: AlertCommand) {
    use cqrs_es::Aggregate as _;
    for event in alert.decide(command).expect("accepted") {
        alert.apply(event);
    }
}

fn fail(alert: &mut Alert, at: i64, retry: i64) {
    apply_all(
        alert,
        AlertCommand::Finish {
            attempt: alert.attempts(),
            status: Some(503),
            error: Some("503".into()),
            at: t(at),
            retry_at: Some(t(retry)),
        },
    );
}

#[test]
fn an_alert_is_decided_once_and_retried_until_its_deadline() {
    let mut alert = raised();
    assert_eq!(
        alert.decide(AlertCommand::Raise(Box::new(
            alert.raised().unwrap().clone()
        ))),
        Err(AlertError::AlreadyRaised)
    );
    let start = |at| AlertCommand::StartAttempt {
        at: t(at),
        stale_after: Duration::minutes(2),
    };
    apply_all(&mut alert, start(0));
    assert_eq!(
        alert.decide(start(1)),
        Err(AlertError::NotDue),
        "one in flight"
    );
    fail(&mut alert, 1, 10);
    assert_eq!(
        alert.decide(start(5)),
        Err(AlertError::NotDue),
        "backing off"
    );
    apply_all(&mut alert, start(10));
    fail(&mut alert, 10, 61);
    assert_eq!(
        alert.state(),
        Some(DeliveryState::Failed),
        "past the deadline"
    );
    apply_all(
        &mut alert,
        AlertCommand::Retry {
            at: t(70),
            window: Duration::hours(24),
        },
    );
    apply_all(&mut alert, start(70));
    apply_all(
        &mut alert,
        AlertCommand::Finish {
            attempt: 3,
            status: Some(200),
            error: None,
            at: t(70),
            retry_at: None,
        },
    );
    assert_eq!(alert.state(), Some(DeliveryState::Delivered { at: t(70) }));
    assert_eq!(
        alert.decide(AlertCommand::Retry {
            at: t(80),
            window: Duration::hours(1)
        }),
        Err(AlertError::Delivered)
    );
}

#[test]
fn a_claim_without_an_outcome_is_taken_over_once_stale() {
    let mut alert = raised();
    let start = |at| AlertCommand::StartAttempt {
        at: t(at),
        stale_after: Duration::minutes(2),
    };
    apply_all(&mut alert, start(0));
    assert_eq!(alert.decide(start(1)), Err(AlertError::NotDue));
    let events = alert.decide(start(2)).expect("stale claim taken over");
    assert!(matches!(
        events[0],
        AlertEvent::DeliveryFailed { attempt: 1, .. }
    ));
    assert!(matches!(
        events[1],
        AlertEvent::DeliveryAttempted { attempt: 2, .. }
    ));
}

#[test]
fn retry_delays_double_up_to_the_cap_within_their_jitter() {
    let (base, cap) = (Duration::seconds(30), Duration::hours(1));
    assert_eq!(retry_delay(1, base, cap, 1.0), Duration::seconds(30));
    assert_eq!(retry_delay(1, base, cap, 0.0), Duration::seconds(15));
    assert_eq!(retry_delay(3, base, cap, 1.0), Duration::seconds(120));
    assert_eq!(retry_delay(40, base, cap, 1.0), Duration::hours(1));
}
