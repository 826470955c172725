//! Edges of engagement_recency, lifecycle_stage, activity_frequency and deal_value.

use super::{at, deal, dec, factor, props, t0, with_deals};
use crate::scoring::factors::Detail;
use crate::scoring::{
    CustomerFacts, Factor, FactorReport, FactorStatus, ScoringConfig, portal_median, score_customer,
};
use rust_decimal::Decimal;

fn line(facts: &CustomerFacts, median: Option<Decimal>, which: Factor) -> FactorReport {
    let report = score_customer(facts, &ScoringConfig::default(), t0(), median);
    factor(&report, which).clone()
}

fn last_activity(contact: &str, companies: &[&str]) -> CustomerFacts {
    let date = |d: &str| props(&[("hs_last_sales_activity_date", d)]);
    CustomerFacts {
        contact: date(contact),
        companies: companies.iter().map(|d| date(d)).collect(),
        ..CustomerFacts::default()
    }
}

#[test]
fn recency_is_not_applicable_without_a_readable_date() {
    let none = line(&CustomerFacts::default(), None, Factor::EngagementRecency);
    assert_eq!(
        (none.status, none.value),
        (FactorStatus::NotApplicable, None)
    );
    let unreadable = line(
        &last_activity("soon", &[""]),
        None,
        Factor::EngagementRecency,
    );
    assert_eq!(unreadable.value, None);
}

#[test]
fn recency_halves_after_one_half_life() {
    let recency = line(
        &last_activity("2026-11-09", &[]),
        None,
        Factor::EngagementRecency,
    );
    assert_eq!(recency.value, Some(dec("0.5")));
}

#[test]
fn recency_takes_the_latest_date_of_the_contact_and_its_companies() {
    let facts = last_activity("2026-10-01", &["2026-11-09T00:00:00Z", "1795219200000"]);
    let recency = line(&facts, None, Factor::EngagementRecency);
    assert_eq!(recency.value, Some(dec("0.9057")));
}

#[test]
fn a_future_activity_date_counts_as_zero_days() {
    let recency = line(
        &last_activity("2027-01-01", &[]),
        None,
        Factor::EngagementRecency,
    );
    assert_eq!(recency.value, Some(dec("1")));
}

#[test]
fn lifecycle_stage_is_not_applicable_when_missing_or_unmapped() {
    for stage in [None, Some(""), Some("other"), Some("98765")] {
        let contact = stage.map_or_else(|| props(&[]), |s| props(&[("lifecyclestage", s)]));
        let facts = CustomerFacts {
            contact,
            ..CustomerFacts::default()
        };
        assert_eq!(
            line(&facts, None, Factor::LifecycleStage).value,
            None,
            "{stage:?}"
        );
    }
}

#[test]
fn a_configured_custom_stage_has_its_value() {
    let mut config = ScoringConfig::default();
    config
        .lifecycle_stage
        .values
        .insert("98765".to_owned(), dec("0.7"));
    let facts = CustomerFacts {
        contact: props(&[("lifecyclestage", "98765")]),
        ..CustomerFacts::default()
    };
    let report = score_customer(&facts, &config, t0(), None);
    assert_eq!(
        factor(&report, Factor::LifecycleStage).value,
        Some(dec("0.7"))
    );
}

fn activity(events: &[(&str, &str)]) -> FactorReport {
    let activity = events
        .iter()
        .map(|(o, t)| ((*o).to_owned(), at(t).timestamp_millis()))
        .collect();
    let facts = CustomerFacts {
        activity,
        ..CustomerFacts::default()
    };
    line(&facts, None, Factor::ActivityFrequency)
}

#[test]
fn no_activity_is_zero_not_not_applicable() {
    let none = activity(&[]);
    assert_eq!(
        (none.status, none.value),
        (FactorStatus::Scored, Some(dec("0")))
    );
}

#[test]
fn one_save_of_several_properties_counts_once() {
    let one_save = [("contact:1", "2026-11-20T10:00:00Z"); 3];
    assert_eq!(activity(&one_save).detail["events"], 1);
    let two_objects = [
        ("contact:1", "2026-11-20T10:00:00Z"),
        ("deal:7", "2026-11-20T10:00:00Z"),
    ];
    assert_eq!(activity(&two_objects).detail["events"], 2);
}

#[test]
fn the_activity_window_excludes_its_start_and_includes_t() {
    let events = [
        ("contact:1", "2026-10-24T00:00:00Z"),
        ("contact:1", "2026-10-24T00:00:00.001Z"),
        ("contact:1", "2026-11-23T00:00:00Z"),
        ("contact:1", "2026-11-23T00:00:00.001Z"),
    ];
    assert_eq!(activity(&events).detail["events"], 2);
}

#[test]
fn half_saturation_events_give_one_half() {
    let days = ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"];
    let events: Vec<(&str, String)> = days
        .iter()
        .map(|d| ("contact:1", format!("{d}T00:00:00Z")))
        .collect();
    let events: Vec<(&str, &str)> = events.iter().map(|(o, t)| (*o, t.as_str())).collect();
    assert_eq!(activity(&events).value, Some(dec("0.5")));
}

#[test]
fn deal_value_is_not_applicable_without_deals_or_median() {
    assert_eq!(
        line(
            &CustomerFacts::default(),
            Some(dec("100")),
            Factor::DealValue
        )
        .value,
        None
    );
    let facts = with_deals(vec![deal("d1", &[("amount", "100")], None)]);
    assert_eq!(line(&facts, None, Factor::DealValue).value, None);
}

#[test]
fn deal_value_ignores_lost_deals() {
    let facts = with_deals(vec![
        deal(
            "won",
            &[("amount", "300"), ("dealstage", "closedwon")],
            None,
        ),
        deal("open", &[("amount", "100")], None),
        deal(
            "lost",
            &[("amount", "5000"), ("dealstage", "closedlost")],
            None,
        ),
    ]);
    let value = line(&facts, Some(dec("1200")), Factor::DealValue);
    assert_eq!(value.value, Some(dec("0.25")));
    assert_eq!(value.detail["value_total"], 400);
}

#[test]
fn deal_value_is_zero_when_every_deal_is_lost_or_empty() {
    let facts = with_deals(vec![deal(
        "lost",
        &[("amount", "50"), ("dealstage", "closedlost")],
        None,
    )]);
    assert_eq!(
        line(&facts, Some(dec("10")), Factor::DealValue).value,
        Some(dec("0"))
    );
}

#[test]
fn the_median_of_an_odd_count_is_the_middle_value() {
    let values = ["300", "0", "100", "200"].map(dec);
    assert_eq!(portal_median(values), Some(dec("200")));
}

#[test]
fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
    let values = ["400", "100", "300", "200"].map(dec);
    assert_eq!(portal_median(values), Some(dec("250")));
}

#[test]
fn there_is_no_median_without_a_positive_value() {
    assert_eq!(portal_median(["0", "0"].map(dec)), None);
    assert_eq!(portal_median(Vec::new()), None);
}

#[test]
fn factor_values_are_computed_well_below_one_billionth() {
    let facts = CustomerFacts {
        activity: (0..5)
            .map(|i| {
                (
                    "contact:1".to_owned(),
                    at("2026-11-20T00:00:00Z").timestamp_millis() + i,
                )
            })
            .collect(),
        ..last_activity("2026-11-21", &[])
    };
    let config = ScoringConfig::default();
    let recency =
        crate::scoring::factors::engagement_recency(&facts, &config, t0(), Detail::Explain);
    let activity =
        crate::scoring::factors::activity_frequency(&facts, &config, t0(), Detail::Explain);
    let close = |got: Option<Decimal>, want: &str| {
        got.is_some_and(|g| (g - dec(want)).abs() < dec("0.000000000001"))
    };
    assert!(
        close(recency.value, "0.905723664263906672"),
        "{:?}",
        recency.value
    );
    assert!(
        close(activity.value, "0.579551792373142728"),
        "{:?}",
        activity.value
    );
}
