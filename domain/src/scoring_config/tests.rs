//! The scoring-configuration aggregate, given/when/then, and what its queries read back.

use chrono::{DateTime, TimeZone, Utc};
use cqrs_es::test::TestFramework;
use cqrs_es::{Aggregate, DomainEvent};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};

use super::*;
use crate::scoring::{ConfigDocument, ScoringConfig, ScoringDocument};

type Given = TestFramework<PortalScoringConfig>;

fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, 0, 0, 0).unwrap()
}

fn document(deal_value: u32) -> Value {
    json!({
        "weights": {"engagement_recency": 100 - deal_value, "deal_value": deal_value},
        "bands": {"healthy_min": 80, "at_risk_min": 50.5},
    })
}

fn parsed(document: &Value) -> ScoringConfig {
    ScoringConfig::from_json(document).unwrap()
}

fn update(config: Value, expected_version: Option<u32>, day: u32) -> ScoringConfigCommand {
    ScoringConfigCommand::UpdateScoringConfig {
        config: ConfigDocument::from_value(config),
        expected_version,
        updated_at: at(day),
    }
}

fn updated(version: u32, config: ScoringConfig, day: u32) -> ScoringConfigEvent {
    ScoringConfigEvent::ScoringConfigUpdated {
        version,
        config,
        updated_at: at(day),
    }
}

fn rebuilt(events: Vec<ScoringConfigEvent>) -> PortalScoringConfig {
    let mut aggregate = PortalScoringConfig::default();
    for event in events {
        aggregate.apply(event);
    }
    aggregate
}

#[tokio::test]
async fn the_first_accepted_update_becomes_version_2() {
    Given::with(())
        .given_no_previous_events()
        .when_async(update(document(30), None, 1))
        .await
        .then_expect_events(vec![updated(2, parsed(&document(30)), 1)]);
}

#[tokio::test]
async fn an_if_match_naming_the_current_version_is_accepted() {
    Given::with(())
        .given(vec![updated(2, parsed(&document(30)), 1)])
        .when_async(update(document(40), Some(2), 2))
        .await
        .then_expect_events(vec![updated(3, parsed(&document(40)), 2)]);
}

#[tokio::test]
async fn an_if_match_of_version_1_is_current_on_a_new_portal() {
    Given::with(())
        .given_no_previous_events()
        .when_async(update(document(30), Some(1), 1))
        .await
        .then_expect_events(vec![updated(2, parsed(&document(30)), 1)]);
}

#[tokio::test]
async fn a_stale_if_match_is_refused_and_records_nothing() {
    Given::with(())
        .given(vec![updated(2, parsed(&document(30)), 1)])
        .when_async(update(document(40), Some(1), 2))
        .await
        .then_expect_error(ScoringConfigError::VersionMismatch {
            current: 2,
            expected: 1,
        });
}

#[tokio::test]
async fn a_stale_if_match_is_reported_before_an_invalid_body() {
    Given::with(())
        .given(vec![updated(2, parsed(&document(30)), 1)])
        .when_async(update(json!({}), Some(3), 2))
        .await
        .then_expect_error_message("scoring configuration is at version 2, not 3");
}

#[tokio::test]
async fn an_invalid_document_is_refused_with_every_field_error() {
    let invalid = json!({
        "weights": {"engagement_recency": 60, "deal_value": 30},
        "min_coverage": 0,
        "colour": "red",
    });
    let errors = ScoringConfig::from_json(&invalid).unwrap_err();
    assert_eq!(errors.len(), 3, "{errors:?}");
    Given::with(())
        .given_no_previous_events()
        .when_async(update(invalid, None, 1))
        .await
        .then_expect_error(ScoringConfigError::Invalid(errors));
}

#[tokio::test]
async fn an_invalid_document_names_its_fields_in_the_message() {
    Given::with(())
        .given_no_previous_events()
        .when_async(update(json!({"min_coverage": 0.5}), None, 1))
        .await
        .then_expect_error_message("invalid scoring configuration: weights: is required");
}

#[test]
fn a_new_portal_has_the_defaults_as_version_1() {
    let portal = PortalScoringConfig::default();
    assert_eq!(portal.current_version(), 1);
    assert_eq!(portal.current(), &ScoringDocument::default());
    assert_eq!(portal.version(1), Some(&ScoringDocument::default()));
    assert_eq!(portal.version(2), None);
    let versions = portal.versions();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].version, 1);
    assert_eq!(versions[0].updated_at, None);
}

#[test]
fn every_accepted_version_stays_readable() {
    let portal = rebuilt(vec![
        updated(2, parsed(&document(30)), 1),
        updated(3, parsed(&document(40)), 2),
    ]);
    assert_eq!(portal.current_version(), 3);
    assert_eq!(
        portal.current(),
        &ScoringDocument::v1(parsed(&document(40)))
    );
    assert_eq!(portal.version(1), Some(&ScoringDocument::default()));
    assert_eq!(
        portal.version(2),
        Some(&ScoringDocument::v1(parsed(&document(30))))
    );
    assert_eq!(portal.version(0), None);
    assert_eq!(portal.version(4), None);
    let listed: Vec<_> = portal
        .versions()
        .iter()
        .map(|v| (v.version, v.updated_at))
        .collect();
    assert_eq!(listed, [(1, None), (2, Some(at(1))), (3, Some(at(2)))]);
}

#[test]
fn a_stored_update_reads_back_exactly_even_beyond_f64_precision() {
    let mut config = ScoringConfig::default();
    config.weights.engagement_recency = dec!(33.333333333333333333333333);
    config.weights.deal_momentum = dec!(33.333333333333333333333333);
    config.weights.lifecycle_stage = dec!(33.333333333333333333333334);
    config.weights.activity_frequency = Decimal::ZERO;
    config.weights.deal_value = Decimal::ZERO;
    config.min_coverage = dec!(0.50);
    config
        .lifecycle_stage
        .values
        .insert("custom".into(), dec!(0.1234567890123456789));
    let event = updated(2, config.clone(), 1);

    let text = serde_json::to_string(&event).unwrap();
    let back: ScoringConfigEvent = serde_json::from_str(&text).unwrap();
    let value = serde_json::to_value(&event).unwrap();
    let from_value: ScoringConfigEvent = serde_json::from_value(value).unwrap();

    assert_eq!(back, event);
    assert_eq!(from_value, event);
    let ScoringConfigEvent::ScoringConfigUpdated { config: read, .. } = back else {
        panic!("a v1 update reads back as one");
    };
    assert_eq!(read.min_coverage.to_string(), "0.50");
    assert_eq!(
        read.lifecycle_stage.values["custom"].to_string(),
        "0.1234567890123456789"
    );
}

#[test]
fn the_stored_event_is_the_api_document_with_decimal_strings() {
    let value = serde_json::to_value(updated(2, parsed(&document(30)), 1)).unwrap();
    assert_eq!(value["type"], "scoring_config_updated");
    assert_eq!(value["version"], 2);
    assert_eq!(value["config"]["weights"]["deal_value"], "30");
    assert_eq!(value["config"]["bands"]["at_risk_min"], "50.5");
    assert_eq!(value["config"]["lifecycle_stage"]["values"]["lead"], "0.30");
    assert_eq!(value["updated_at"], "2026-11-01T00:00:00Z");
}

#[test]
fn a_snapshot_of_the_aggregate_round_trips() {
    let portal = rebuilt(vec![updated(2, parsed(&document(30)), 1)]);
    let text = serde_json::to_string(&portal).unwrap();
    let back: PortalScoringConfig = serde_json::from_str(&text).unwrap();
    assert_eq!(back, portal);
}

#[test]
fn the_event_has_a_stable_type_name_and_version() {
    let event = updated(2, ScoringConfig::default(), 1);
    assert_eq!(event.event_type(), SCORING_CONFIG_UPDATED);
    assert_eq!(event.event_type(), "ScoringConfigUpdated");
    assert_eq!(event.event_version(), "1");
}

#[tokio::test]
async fn the_current_configuration_again_is_no_new_version() {
    Given::with(())
        .given(vec![updated(2, parsed(&document(30)), 1)])
        .when_async(update(document(30), Some(2), 2))
        .await
        .then_expect_events(vec![]);
    let defaults = json!({"weights": {"engagement_recency": 25, "deal_momentum": 20,
        "lifecycle_stage": 15, "activity_frequency": 20, "deal_value": 20}});
    Given::with(())
        .given_no_previous_events()
        .when_async(update(defaults, None, 1))
        .await
        .then_expect_events(vec![]);
}
