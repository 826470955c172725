//! Configuration: defaults, JSON shape and every validation rule.

use super::dec;
use crate::scoring::{ConfigDocument, FieldError, ScoringConfig};
use serde_json::{Value, json};

fn spec_defaults() -> Value {
    json!({
        "weights": {"engagement_recency": 25, "deal_momentum": 20, "lifecycle_stage": 15,
                    "activity_frequency": 20, "deal_value": 20},
        "bands": {"healthy_min": 70, "at_risk_min": 40},
        "min_coverage": 0.5,
        "engagement_recency": {"half_life_days": 14},
        "deal_momentum": {"window_days": 30, "won_lookback_days": 90},
        "lifecycle_stage": {"values": {"subscriber": 0.15, "lead": 0.30, "marketingqualifiedlead": 0.40,
                                       "salesqualifiedlead": 0.50, "opportunity": 0.65, "customer": 0.85,
                                       "evangelist": 1.00}},
        "activity_frequency": {"window_days": 30, "half_saturation": 4}
    })
}

fn weights(w: Value) -> Value {
    json!({ "weights": w })
}

/// The fields rejected for `body`, in order.
fn rejected(body: Value) -> Vec<String> {
    ScoringConfig::from_json(&body)
        .err()
        .unwrap_or_default()
        .into_iter()
        .map(|e: FieldError| e.field)
        .collect()
}

#[test]
fn the_defaults_serialize_as_the_specified_document() {
    let body = serde_json::to_value(ScoringConfig::default()).expect("serializable");
    assert_eq!(body, spec_defaults());
}

#[test]
fn the_specified_document_parses_to_the_defaults() {
    assert_eq!(
        ScoringConfig::from_json(&spec_defaults()),
        Ok(ScoringConfig::default())
    );
}

#[test]
fn only_weights_is_required_and_left_out_factors_weigh_zero() {
    let config =
        ScoringConfig::from_json(&weights(json!({"deal_value": 60, "lifecycle_stage": 40})))
            .expect("valid");
    assert_eq!(config.weights.deal_value, dec("60"));
    assert_eq!(config.weights.engagement_recency, dec("0"));
    assert_eq!(config.bands, ScoringConfig::default().bands);
    assert_eq!(rejected(json!({})), ["weights"]);
}

#[test]
fn weights_are_read_as_the_exact_decimals_written() {
    let body =
        weights(json!({"engagement_recency": 33.3, "deal_momentum": 33.3, "deal_value": 33.4}));
    let config = ScoringConfig::from_json(&body).expect("33.3 + 33.3 + 33.4 is exactly 100");
    assert_eq!(config.weights.engagement_recency, dec("33.3"));
    let body =
        weights(json!({"engagement_recency": 0.1, "deal_momentum": 0.2, "deal_value": 99.7}));
    assert!(ScoringConfig::from_json(&body).is_ok());
}

#[test]
fn a_document_is_read_with_its_numbers_as_written_not_as_f64() {
    let read = |text: &str| {
        let document = ConfigDocument::parse(text.as_bytes()).expect("json");
        ScoringConfig::from_document(&document)
    };
    // As f64 this is 100 exactly; as written it is more.
    let errors = read(r#"{"weights": {"deal_value": 100.0000000000000000000000000001}}"#)
        .expect_err("over 100");
    assert_eq!(errors[0].field, "weights.deal_value", "{errors:?}");
    let errors = read(
        r#"{"weights": {"engagement_recency": 33.333333333333333333333333333,
            "deal_momentum": 33.333333333333333333333333333,
            "lifecycle_stage": 33.333333333333333333333333333}}"#,
    )
    .expect_err("a hair under 100");
    assert_eq!(errors[0].field, "weights", "{errors:?}");
    // As f64 these add up to 100.000000000000008; as written, to exactly 100.
    let config = read(
        r#"{"weights": {"engagement_recency": 33.333333333333333333333333333,
            "deal_momentum": 33.333333333333333333333333333,
            "lifecycle_stage": 33.333333333333333333333333334}}"#,
    )
    .expect("exactly 100");
    assert_eq!(
        config.weights.lifecycle_stage,
        dec("33.333333333333333333333333334")
    );
    let config = read(
        r#"{"weights": {"lifecycle_stage": 100},
            "lifecycle_stage": {"values": {"lead": 0.333333333333333333333333333}}}"#,
    )
    .expect("valid");
    assert_eq!(
        config.lifecycle_stage.values["lead"],
        dec("0.333333333333333333333333333")
    );
    assert!(ConfigDocument::parse(b"{not json").is_err());

    // Exponents apply to the exact mantissa: never a rounded one.
    let errors = read(r#"{"weights": {"deal_value": 99.99999999999999999999999999999e0}}"#)
        .expect_err("too many digits");
    assert_eq!(errors[0].field, "weights.deal_value", "{errors:?}");
    let config = read(r#"{"weights": {"deal_value": 7.5E+1, "lifecycle_stage": 2500e-2}}"#)
        .expect("75 + 25");
    assert_eq!(config.weights.deal_value, dec("75"));
    assert_eq!(config.weights.lifecycle_stage, dec("25"));
    let errors = read(r#"{"weights": {"deal_value": 1e2}, "min_coverage": 1e-30}"#)
        .expect_err("past 28 places");
    assert_eq!(errors[0].field, "min_coverage", "{errors:?}");
}

#[test]
fn a_sum_other_than_100_is_rejected() {
    let body =
        weights(json!({"engagement_recency": 33.3, "deal_momentum": 33.3, "deal_value": 33.3}));
    let errors = ScoringConfig::from_json(&body).expect_err("99.9 is not 100");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].field, "weights");
    assert!(errors[0].message.contains("99.9"), "{}", errors[0].message);
    assert_eq!(
        rejected(weights(json!({"deal_value": 100.0000001}))),
        ["weights"]
    );
}

#[test]
fn negative_weights_and_unknown_factors_are_rejected() {
    let body = weights(json!({"deal_value": 110, "lifecycle_stage": -10, "nps": 0}));
    assert_eq!(rejected(body), ["weights.lifecycle_stage", "weights.nps"]);
}

#[test]
fn non_numbers_are_rejected_by_field() {
    let body = json!({"weights": {"deal_value": "100"}, "min_coverage": null, "bands": []});
    assert_eq!(
        rejected(body),
        ["weights.deal_value", "bands", "min_coverage"]
    );
    assert_eq!(rejected(json!({"weights": 100})), ["weights"]);
    assert_eq!(rejected(json!([1])), ["$"]);
}

#[test]
fn unknown_keys_are_rejected_wherever_they_are() {
    let mut body = spec_defaults();
    body["colour"] = json!("red");
    body["bands"]["warning_min"] = json!(50);
    body["deal_momentum"]["window"] = json!(30);
    assert_eq!(
        rejected(body),
        ["colour", "bands.warning_min", "deal_momentum.window"]
    );
}

#[test]
fn bands_must_satisfy_zero_below_at_risk_below_healthy_up_to_100() {
    let bands = |b: Value| {
        let mut body = spec_defaults();
        body["bands"] = b;
        rejected(body)
    };
    assert!(bands(json!({"healthy_min": 100, "at_risk_min": 0.1})).is_empty());
    assert_eq!(bands(json!({"healthy_min": 100.5})), ["bands.healthy_min"]);
    assert_eq!(bands(json!({"at_risk_min": 0})), ["bands.at_risk_min"]);
    assert_eq!(bands(json!({"at_risk_min": 70})), ["bands.at_risk_min"]);
    assert_eq!(bands(json!({"healthy_min": 30})), ["bands.at_risk_min"]);
}

#[test]
fn min_coverage_must_be_in_zero_exclusive_to_one() {
    let coverage = |c: Value| rejected(json!({"weights": {"deal_value": 100}, "min_coverage": c}));
    assert!(coverage(json!(1)).is_empty());
    assert!(coverage(json!(0.01)).is_empty());
    assert_eq!(coverage(json!(0)), ["min_coverage"]);
    assert_eq!(coverage(json!(1.01)), ["min_coverage"]);
}

#[test]
fn half_lives_half_saturations_and_windows_must_be_positive() {
    let mut body = spec_defaults();
    body["engagement_recency"]["half_life_days"] = json!(0);
    body["deal_momentum"] = json!({"window_days": -1, "won_lookback_days": 0});
    body["activity_frequency"] = json!({"window_days": 0, "half_saturation": -4});
    let expected = [
        "engagement_recency.half_life_days",
        "deal_momentum.window_days",
        "deal_momentum.won_lookback_days",
        "activity_frequency.window_days",
        "activity_frequency.half_saturation",
    ];
    assert_eq!(rejected(body), expected);
}

#[test]
fn lifecycle_values_must_lie_in_zero_to_one_and_replace_the_defaults() {
    let body = |values: Value| json!({"weights": {"deal_value": 100}, "lifecycle_stage": {"values": values}});
    let errors = rejected(body(
        json!({"lead": 1.2, "customer": -0.1, "evangelist": 1}),
    ));
    assert_eq!(
        errors,
        [
            "lifecycle_stage.values.customer",
            "lifecycle_stage.values.lead"
        ]
    );
    let config = ScoringConfig::from_json(&body(json!({"98765": 0.7}))).expect("valid");
    assert_eq!(config.lifecycle_stage.values.len(), 1);
    assert_eq!(
        config.lifecycle_stage.values.get("98765"),
        Some(&dec("0.7"))
    );
}

#[test]
fn every_error_is_reported_at_once() {
    let body = json!({
        "weights": {"deal_value": 50, "nps": 10},
        "bands": {"healthy_min": 20, "at_risk_min": 40},
        "min_coverage": 2,
        "lifecycle_stage": {"values": {"lead": 3}, "extra": true},
    });
    let expected = [
        "weights.nps",
        "weights",
        "bands.at_risk_min",
        "min_coverage",
        "lifecycle_stage.extra",
        "lifecycle_stage.values.lead",
    ];
    assert_eq!(rejected(body), expected);
}

#[test]
fn field_errors_display_their_path() {
    let errors = ScoringConfig::from_json(&json!({})).expect_err("weights missing");
    assert_eq!(errors[0].to_string(), "weights: is required");
}
