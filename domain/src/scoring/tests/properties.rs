//! HubSpot property helpers: dates, deal status, probability and amount.

use super::{at, dec, props};
use crate::scoring::{DealStatus, deal_amount, deal_probability, deal_status, parse_hubspot_date};

#[test]
fn iso_dates_parse_with_or_without_millis_and_offset() {
    let midnight = Some(at("2026-11-21T00:00:00Z"));
    for text in [
        "2026-11-21T00:00:00Z",
        "2026-11-21T00:00:00.000Z",
        "2026-11-21T01:00:00+01:00",
        "2026-11-20T19:00:00.000-05:00",
        "2026-11-21T01:00:00+0100",
        "2026-11-21T00:00:00",
        " 2026-11-21T00:00:00Z ",
    ] {
        assert_eq!(parse_hubspot_date(text), midnight, "{text}");
    }
}

#[test]
fn plain_dates_are_midnight_utc() {
    assert_eq!(
        parse_hubspot_date("2026-11-21"),
        Some(at("2026-11-21T00:00:00Z"))
    );
}

#[test]
fn epoch_milliseconds_parse() {
    assert_eq!(
        parse_hubspot_date("1795219200000"),
        Some(at("2026-11-21T00:00:00Z"))
    );
    assert_eq!(
        parse_hubspot_date("1795219200123"),
        Some(at("2026-11-21T00:00:00.123Z"))
    );
}

#[test]
fn invalid_dates_do_not_parse() {
    for text in [
        "",
        "yesterday",
        "2026-13-01",
        "2026-11-21T25:00:00Z",
        "21/11/2026",
        "99999999999999999999",
    ] {
        assert_eq!(parse_hubspot_date(text), None, "{text}");
    }
}

#[test]
fn hs_is_closed_won_decides_won_when_present() {
    assert_eq!(
        deal_status(&props(&[("hs_is_closed_won", "true")])),
        DealStatus::Won
    );
    let not_won = props(&[("hs_is_closed_won", "false"), ("dealstage", "closedwon")]);
    assert_eq!(deal_status(&not_won), DealStatus::Open);
}

#[test]
fn dealstage_closedwon_decides_won_without_hs_is_closed_won() {
    assert_eq!(
        deal_status(&props(&[("dealstage", "closedwon")])),
        DealStatus::Won
    );
}

#[test]
fn a_closed_deal_that_is_not_won_is_lost() {
    let closed = props(&[("hs_is_closed", "true"), ("hs_is_closed_won", "false")]);
    assert_eq!(deal_status(&closed), DealStatus::Lost);
    let closed_won = props(&[("hs_is_closed", "true"), ("hs_is_closed_won", "true")]);
    assert_eq!(deal_status(&closed_won), DealStatus::Won);
}

#[test]
fn dealstage_closedlost_decides_lost_without_hs_is_closed() {
    assert_eq!(
        deal_status(&props(&[("dealstage", "closedlost")])),
        DealStatus::Lost
    );
    let reopened = props(&[("hs_is_closed", "false"), ("dealstage", "closedlost")]);
    assert_eq!(deal_status(&reopened), DealStatus::Open);
    assert_eq!(
        deal_status(&props(&[("dealstage", "contractsent")])),
        DealStatus::Open
    );
}

#[test]
fn a_blank_flag_counts_as_absent() {
    let blank = props(&[("hs_is_closed_won", ""), ("dealstage", "closedwon")]);
    assert_eq!(deal_status(&blank), DealStatus::Won);
}

#[test]
fn the_explicit_probability_wins_over_the_stage_table() {
    let explicit = props(&[
        ("hs_deal_stage_probability", "0.35"),
        ("dealstage", "contractsent"),
    ]);
    assert_eq!(deal_probability(&explicit), Some(dec("0.35")));
    assert_eq!(
        deal_probability(&props(&[("hs_deal_stage_probability", "1")])),
        Some(dec("1"))
    );
}

#[test]
fn an_unusable_probability_falls_back_to_the_stage_table() {
    for p in ["", "abc", "1.5", "-0.1"] {
        let deal = props(&[
            ("hs_deal_stage_probability", p),
            ("dealstage", "contractsent"),
        ]);
        assert_eq!(deal_probability(&deal), Some(dec("0.9")), "{p}");
    }
}

#[test]
fn the_default_stage_table_gives_each_stage_its_probability() {
    let table = [
        ("appointmentscheduled", "0.2"),
        ("qualifiedtobuy", "0.4"),
        ("presentationscheduled", "0.6"),
        ("decisionmakerboughtin", "0.8"),
        ("contractsent", "0.9"),
        ("closedwon", "1.0"),
        ("closedlost", "0"),
    ];
    for (stage, p) in table {
        assert_eq!(
            deal_probability(&props(&[("dealstage", stage)])),
            Some(dec(p)),
            "{stage}"
        );
    }
}

#[test]
fn an_unknown_stage_without_probability_is_unknown() {
    assert_eq!(deal_probability(&props(&[("dealstage", "12345678")])), None);
    assert_eq!(deal_probability(&props(&[])), None);
}

#[test]
fn amounts_below_zero_or_unreadable_count_as_zero() {
    assert_eq!(
        deal_amount(&props(&[("amount", "1500.50")])),
        dec("1500.50")
    );
    assert_eq!(deal_amount(&props(&[("amount", "1e3")])), dec("1000"));
    for amount in ["", "n/a", "-10", "1,000"] {
        assert_eq!(
            deal_amount(&props(&[("amount", amount)])),
            dec("0"),
            "{amount}"
        );
    }
    assert_eq!(deal_amount(&props(&[])), dec("0"));
}
