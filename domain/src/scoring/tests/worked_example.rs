//! SCORING.md's worked example, end to end through `score_customer`.

use super::{at, deal, dec, factor, props, t0};
use crate::scoring::{
    Band, CustomerFacts, Factor, FactorStatus, ScoreStatus, ScoringConfig, score_customer,
};
use serde_json::json;

fn example() -> CustomerFacts {
    let ms = |text: &str| at(text).timestamp_millis();
    CustomerFacts {
        contact: props(&[
            ("email", "ada@example.com"),
            ("lifecyclestage", "customer"),
            ("hs_last_sales_activity_date", "2026-11-21T00:00:00Z"),
        ]),
        companies: vec![],
        deals: vec![deal(
            "d1",
            &[
                ("amount", "1000"),
                ("hs_deal_stage_probability", "0.6"),
                ("dealstage", "presentationscheduled"),
            ],
            Some(&[
                ("amount", "1000"),
                ("hs_deal_stage_probability", "0.4"),
                ("dealstage", "qualifiedtobuy"),
            ]),
        )],
        activity: vec![
            // Before the window: the deal's creation.
            ("deal:d1".to_owned(), ms("2026-10-01T09:00:00Z")),
            // Five distinct saves inside it, one of them recorded twice.
            ("contact:c1".to_owned(), ms("2026-11-02T10:00:00Z")),
            ("contact:c1".to_owned(), ms("2026-11-05T10:00:00Z")),
            ("deal:d1".to_owned(), ms("2026-11-10T12:00:00Z")),
            ("deal:d1".to_owned(), ms("2026-11-10T12:00:00Z")),
            ("contact:c1".to_owned(), ms("2026-11-10T12:00:00Z")),
            ("contact:c1".to_owned(), ms("2026-11-21T00:00:00Z")),
        ],
        links: Vec::new(),
    }
}

#[test]
fn the_worked_example_scores_72_and_is_healthy() {
    let report = score_customer(
        &example(),
        &ScoringConfig::default(),
        t0(),
        Some(dec("1000")),
    );

    assert_eq!(report.status, ScoreStatus::Scored);
    assert_eq!(report.score, Some(dec("72.0")));
    assert_eq!(report.band, Some(Band::Healthy));
    assert_eq!(report.coverage, dec("1.0"));
    let expected = [
        (Factor::EngagementRecency, "25", "0.9057", "22.64"),
        (Factor::DealMomentum, "20", "0.7500", "15.00"),
        (Factor::LifecycleStage, "15", "0.8500", "12.75"),
        (Factor::ActivityFrequency, "20", "0.5796", "11.59"),
        (Factor::DealValue, "20", "0.5000", "10.00"),
    ];
    let order: Vec<Factor> = report.factors.iter().map(|f| f.factor).collect();
    assert_eq!(order, Factor::ALL);
    for (name, weight, value, contribution) in expected {
        let line = factor(&report, name);
        assert_eq!(line.status, FactorStatus::Scored, "{name:?}");
        assert_eq!(line.weight, dec(weight), "{name:?}");
        assert_eq!(line.value, Some(dec(value)), "{name:?}");
        assert_eq!(line.contribution, Some(dec(contribution)), "{name:?}");
    }
}

#[test]
fn the_worked_example_reports_its_inputs() {
    let report = score_customer(
        &example(),
        &ScoringConfig::default(),
        t0(),
        Some(dec("1000")),
    );

    let recency = &factor(&report, Factor::EngagementRecency).detail;
    assert_eq!(recency["days"], json!(2));
    assert_eq!(
        recency["last_activity_at"],
        json!("2026-11-21T00:00:00.000Z")
    );
    let momentum = &factor(&report, Factor::DealMomentum).detail;
    assert_eq!(momentum["level"], json!(0.6));
    assert_eq!(momentum["delta"], json!(0.2));
    assert_eq!(momentum["velocity"], json!(0.9));
    assert_eq!(momentum["open_deals"][0]["p_then"], json!(0.4));
    assert_eq!(
        factor(&report, Factor::ActivityFrequency).detail["events"],
        json!(5)
    );
    let value = &factor(&report, Factor::DealValue).detail;
    assert_eq!(
        (value["value_total"].clone(), value["portal_median"].clone()),
        (json!(1000), json!(1000))
    );
}

#[test]
fn the_worked_example_serializes_numbers_as_json_numbers() {
    let report = score_customer(
        &example(),
        &ScoringConfig::default(),
        t0(),
        Some(dec("1000")),
    );
    let body = serde_json::to_value(&report).expect("serializable");

    assert_eq!(body["status"], json!("scored"));
    assert_eq!(body["score"], json!(72.0));
    assert_eq!(body["band"], json!("healthy"));
    assert_eq!(body["coverage"], json!(1.0));
    assert_eq!(body["factors"][0]["factor"], json!("engagement_recency"));
    assert_eq!(body["factors"][0]["weight"], json!(25));
    assert_eq!(body["factors"][0]["value"], json!(0.9057));
    assert_eq!(body["factors"][0]["contribution"], json!(22.64));
    assert_eq!(body["factors"][1]["value"], json!(0.75));
}
