//! The customer-health aggregate, given/when/then, and the stored shape of its event.

use chrono::{DateTime, TimeZone, Utc};
use cqrs_es::test::TestFramework;
use cqrs_es::{Aggregate, DomainEvent};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::json;

use super::*;
use crate::scoring::Band;

type Given = TestFramework<CustomerHealth>;

fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, 0, 0, 0).unwrap()
}

fn scored(band: Option<Band>, score: Option<Decimal>, day: u32) -> CustomerHealthCommand {
    CustomerHealthCommand::RecordScore {
        band,
        score,
        config_version: 2,
        scored_at: at(day),
    }
}

fn changed(
    old_band: Option<Band>,
    new_band: Option<Band>,
    score: Option<Decimal>,
    day: u32,
) -> CustomerHealthEvent {
    CustomerHealthEvent::CustomerBandChanged {
        old_band,
        new_band,
        score,
        config_version: 2,
        changed_at: at(day),
    }
}

#[tokio::test]
async fn a_first_score_with_a_band_records_a_change_from_no_band() {
    Given::with(())
        .given_no_previous_events()
        .when_async(scored(Some(Band::Healthy), Some(dec!(72.0)), 1))
        .await
        .then_expect_events(vec![changed(
            None,
            Some(Band::Healthy),
            Some(dec!(72.0)),
            1,
        )]);
}

#[tokio::test]
async fn a_first_score_with_insufficient_data_records_nothing() {
    Given::with(())
        .given_no_previous_events()
        .when_async(scored(None, None, 1))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn a_score_in_the_same_band_records_nothing() {
    Given::with(())
        .given(vec![changed(None, Some(Band::AtRisk), Some(dec!(55)), 1)])
        .when_async(scored(Some(Band::AtRisk), Some(dec!(61.5)), 2))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn a_score_in_another_band_records_the_old_and_the_new_band() {
    Given::with(())
        .given(vec![changed(None, Some(Band::Healthy), Some(dec!(72)), 1)])
        .when_async(scored(Some(Band::Critical), Some(dec!(12.25)), 2))
        .await
        .then_expect_events(vec![changed(
            Some(Band::Healthy),
            Some(Band::Critical),
            Some(dec!(12.25)),
            2,
        )]);
}

#[tokio::test]
async fn losing_enough_data_for_a_score_is_a_change_to_no_band() {
    Given::with(())
        .given(vec![changed(None, Some(Band::Healthy), Some(dec!(72)), 1)])
        .when_async(scored(None, None, 2))
        .await
        .then_expect_events(vec![changed(Some(Band::Healthy), None, None, 2)]);
}

#[tokio::test]
async fn a_band_without_a_score_is_refused() {
    Given::with(())
        .given_no_previous_events()
        .when_async(scored(Some(Band::Healthy), None, 1))
        .await
        .then_expect_error(CustomerHealthError::ScoreBandMismatch {
            band: Some(Band::Healthy),
            score: None,
        });
}

#[tokio::test]
async fn a_score_without_a_band_is_refused() {
    Given::with(())
        .given_no_previous_events()
        .when_async(scored(None, Some(dec!(50)), 1))
        .await
        .then_expect_error_message(
            "a score and its band come together, got band None and score Some(50)",
        );
}

#[test]
fn the_band_is_the_last_recorded_one() {
    let mut health = CustomerHealth::default();
    assert_eq!((health.band(), health.band_since()), (None, None));
    health.apply(changed(None, Some(Band::Healthy), Some(dec!(72)), 1));
    health.apply(changed(
        Some(Band::Healthy),
        Some(Band::AtRisk),
        Some(dec!(45)),
        3,
    ));
    assert_eq!(health.band(), Some(Band::AtRisk));
    assert_eq!(health.band_since(), Some(at(3)));
}

#[test]
fn the_stored_event_reads_back_with_bands_as_names_and_the_score_exact() {
    let event = changed(Some(Band::AtRisk), Some(Band::Healthy), Some(dec!(72.0)), 1);
    let value = serde_json::to_value(&event).unwrap();
    assert_eq!(
        value,
        json!({
            "type": "customer_band_changed",
            "old_band": "at_risk",
            "new_band": "healthy",
            "score": "72.0",
            "config_version": 2,
            "changed_at": "2026-11-01T00:00:00Z",
        })
    );
    let back: CustomerHealthEvent = serde_json::from_value(value).unwrap();
    assert_eq!(back, event);
}

#[test]
fn an_event_without_a_band_reads_back_with_nulls() {
    let event = changed(Some(Band::Critical), None, None, 1);
    let value = serde_json::to_value(&event).unwrap();
    assert_eq!(value["new_band"], json!(null));
    assert_eq!(value["score"], json!(null));
    let back: CustomerHealthEvent = serde_json::from_value(value).unwrap();
    assert_eq!(back, event);
}

#[test]
fn a_snapshot_of_the_aggregate_round_trips() {
    let mut health = CustomerHealth::default();
    health.apply(changed(None, Some(Band::Critical), Some(dec!(3)), 1));
    let text = serde_json::to_string(&health).unwrap();
    let back: CustomerHealth = serde_json::from_str(&text).unwrap();
    assert_eq!(back, health);
}

#[test]
fn the_event_has_a_stable_type_name_and_version() {
    let event = changed(None, Some(Band::Healthy), Some(dec!(72)), 1);
    assert_eq!(event.event_type(), "CustomerBandChanged");
    assert_eq!(event.event_type(), CUSTOMER_BAND_CHANGED);
    assert_eq!(event.event_version(), "1");
}
