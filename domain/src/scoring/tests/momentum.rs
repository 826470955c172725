//! Edges of deal_momentum.

use super::{deal, dec, factor, t0, with_deals};
use crate::scoring::{DealFacts, Factor, FactorReport, ScoringConfig, score_customer};

fn momentum(deals: Vec<DealFacts>) -> FactorReport {
    let report = score_customer(&with_deals(deals), &ScoringConfig::default(), t0(), None);
    factor(&report, Factor::DealMomentum).clone()
}

#[test]
fn momentum_is_not_applicable_without_deals() {
    assert_eq!(momentum(vec![]).value, None);
}

#[test]
fn level_weights_probabilities_by_amount() {
    let deals = vec![
        deal(
            "a",
            &[("amount", "300"), ("hs_deal_stage_probability", "0.2")],
            Some(&[("hs_deal_stage_probability", "0.2")]),
        ),
        deal(
            "b",
            &[("amount", "100"), ("hs_deal_stage_probability", "0.6")],
            Some(&[("hs_deal_stage_probability", "0.6")]),
        ),
    ];
    let m = momentum(deals);
    assert_eq!(m.detail["level"], 0.3);
    assert_eq!(m.detail["velocity"], 0.5);
    assert_eq!(m.value, Some(dec("0.4")));
}

#[test]
fn level_is_the_plain_mean_when_every_amount_is_zero() {
    let deals = vec![
        deal(
            "a",
            &[("hs_deal_stage_probability", "0.2")],
            Some(&[("hs_deal_stage_probability", "0.2")]),
        ),
        deal(
            "b",
            &[("amount", "0"), ("hs_deal_stage_probability", "0.6")],
            Some(&[("hs_deal_stage_probability", "0.6")]),
        ),
    ];
    assert_eq!(momentum(deals).detail["level"], 0.4);
}

#[test]
fn a_deal_that_did_not_exist_then_started_from_zero() {
    let m = momentum(vec![deal(
        "new",
        &[("amount", "10"), ("dealstage", "appointmentscheduled")],
        None,
    )]);
    assert_eq!(m.detail["delta"], 0.2);
    assert_eq!(m.detail["velocity"], 0.9);
    assert_eq!(m.value, Some(dec("0.55")));
}

#[test]
fn a_deal_with_no_probability_then_started_from_zero() {
    let m = momentum(vec![deal(
        "d",
        &[("dealstage", "qualifiedtobuy")],
        Some(&[("dealstage", "custom")]),
    )]);
    assert_eq!(m.detail["open_deals"][0]["p_then"], 0);
}

#[test]
fn velocity_is_clamped_to_zero_and_one() {
    let up = momentum(vec![deal("d", &[("dealstage", "contractsent")], None)]);
    assert_eq!(up.detail["velocity"], 1);
    let down = momentum(vec![deal(
        "d",
        &[("dealstage", "appointmentscheduled")],
        Some(&[("dealstage", "contractsent")]),
    )]);
    assert_eq!(down.detail["velocity"], 0);
    assert_eq!(down.value, Some(dec("0.1")));
}

#[test]
fn open_deals_without_probability_and_closed_deals_are_left_out_of_o() {
    let deals = vec![
        deal("unknown", &[("dealstage", "custom")], None),
        deal("lost", &[("dealstage", "closedlost")], None),
        deal(
            "open",
            &[("dealstage", "contractsent")],
            Some(&[("dealstage", "contractsent")]),
        ),
    ];
    let m = momentum(deals);
    assert_eq!(m.detail["open_deals"].as_array().map(Vec::len), Some(1));
    assert_eq!(m.value, Some(dec("0.7")));
}

fn won_on(closedate: &str) -> DealFacts {
    deal(
        "won",
        &[("dealstage", "closedwon"), ("closedate", closedate)],
        None,
    )
}

#[test]
fn without_open_deals_a_won_deal_inside_the_lookback_gives_one() {
    assert_eq!(
        momentum(vec![won_on("2026-11-01T00:00:00Z")]).value,
        Some(dec("1"))
    );
    assert_eq!(momentum(vec![won_on("2026-08-25")]).value, Some(dec("1")));
    assert_eq!(
        momentum(vec![won_on("2026-11-23T00:00:00Z")]).value,
        Some(dec("1"))
    );
}

#[test]
fn without_open_deals_a_won_deal_outside_the_lookback_gives_zero() {
    assert_eq!(
        momentum(vec![won_on("2026-08-24T23:59:59Z")]).value,
        Some(dec("0"))
    );
    assert_eq!(
        momentum(vec![won_on("2026-11-23T00:00:01Z")]).value,
        Some(dec("0"))
    );
    assert_eq!(momentum(vec![won_on("not a date")]).value, Some(dec("0")));
}

#[test]
fn without_open_deals_only_lost_deals_give_zero() {
    let lost = deal(
        "lost",
        &[("dealstage", "closedlost"), ("closedate", "2026-11-20")],
        None,
    );
    assert_eq!(momentum(vec![lost]).value, Some(dec("0")));
}
