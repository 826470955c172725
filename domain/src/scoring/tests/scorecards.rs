//! v2: the scorecards document (shape, validation by field), segments and population, the new
//! factors and transforms, and SCORING.md's worked example v2 through `score_subject`.

use super::{at, deal, dec, props, t0};
use crate::ids::ObjectType;
use crate::scoring::{
    Band, ConfigDocument, CustomerFacts, Properties, ScoreStatus, ScoringDocument, Shape, Subject,
    SubjectFacts, Transform, score_subject,
};
use crate::sentiment::SentimentValue;
use serde_json::{Value, json};

/// SCORING.md's scorecards document.
fn spec_document() -> Value {
    json!({"scorecards": [
      {"name": "enterprise accounts", "subject": "company",
       "filter": [{"property": "numberofemployees", "op": "gte", "value": "1000"}],
       "weights": {"engagement_recency": 30, "deal_value": 30, "customer_health": 40}},
      {"name": "accounts", "subject": "company",
       "weights": {"engagement_recency": 20, "deal_momentum": 15, "lifecycle_stage": 10,
                   "activity_frequency": 15, "deal_value": 10, "customer_health": 15,
                   "csm_sentiment": 5, "product_usage": 10},
       "custom_factors": [{"key": "product_usage", "property": "usage_score",
                           "transform": {"type": "linear", "min": 0, "max": 100}}]},
      {"name": "contacts", "subject": "contact", "weights": {"engagement_recency": 25, "deal_momentum": 20,
       "lifecycle_stage": 15, "activity_frequency": 20, "deal_value": 20}}
    ]})
}

fn parse(value: Value) -> Result<ScoringDocument, Vec<(String, String)>> {
    let text = value.to_string();
    let document = ConfigDocument::parse(text.as_bytes()).expect("JSON");
    ScoringDocument::from_document(&document)
        .map_err(|errors| errors.into_iter().map(|e| (e.field, e.message)).collect())
}

fn fields(value: Value) -> Vec<String> {
    let mut fields: Vec<String> = parse(value)
        .expect_err("refused")
        .into_iter()
        .map(|(f, _)| f)
        .collect();
    fields.sort();
    fields
}

fn properties(pairs: &[(&str, &str)]) -> Properties {
    (*props(pairs)).clone()
}

#[test]
fn the_spec_document_is_accepted_and_reads_back_in_its_shape() {
    let document = parse(spec_document()).expect("valid");
    assert_eq!(document.shape, Shape::Scorecards);
    assert_eq!(document.scorecards.len(), 3);
    let written = document.to_json();
    assert_eq!(
        written["scorecards"][1]["weights"]["product_usage"],
        json!(10)
    );
    assert_eq!(
        written["scorecards"][1]["custom_factors"][0]["transform"]["max"],
        json!(100)
    );
    assert_eq!(
        written["scorecards"][2]["csm_sentiment"]["expires_days"],
        json!(90)
    );
    // What GET answers parses back to the same document.
    assert_eq!(parse(written).expect("valid"), document);
}

#[test]
fn a_v1_document_keeps_its_shape_and_meaning() {
    let v1 = json!({"weights": {"engagement_recency": 25, "deal_momentum": 20,
        "lifecycle_stage": 15, "activity_frequency": 20, "deal_value": 20}});
    let document = parse(v1.clone()).expect("valid");
    assert_eq!(document, ScoringDocument::default());
    let written = document.to_json();
    assert!(written.get("scorecards").is_none());
    assert!(written.get("csm_sentiment").is_none());
    assert_eq!(written["weights"].as_object().map(|w| w.len()), Some(5));
    // v2 factors are not v1 factors.
    let mut with_sentiment = v1;
    with_sentiment["weights"]["csm_sentiment"] = json!(0);
    assert_eq!(fields(with_sentiment), ["weights.csm_sentiment"]);
}

#[test]
fn each_rule_is_refused_with_its_field() {
    let contact = |extra: Value| {
        let mut card = json!({"name": "c", "weights": {"engagement_recency": 100}});
        card.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        card
    };
    let cases = [
        (json!({"scorecards": []}), vec!["scorecards"]),
        (
            json!({"scorecards": [contact(json!({"name": ""}))]}),
            vec!["scorecards[0].name"],
        ),
        (
            json!({"scorecards": [contact(json!({"name": "x".repeat(65)}))]}),
            vec!["scorecards[0].name"],
        ),
        (
            json!({"scorecards": [contact(json!({})), contact(json!({}))]}),
            vec!["scorecards[1].name"],
        ),
        (
            json!({"scorecards": [contact(json!({"subject": "deal"}))]}),
            vec!["scorecards[0].subject"],
        ),
        (
            json!({"scorecards": [contact(json!({"filter": [{"property": "a", "op": "eq", "value": "b"}]}))]}),
            vec!["scorecards[0].filter"],
        ),
        (
            json!({"scorecards": [contact(json!({"name": "a", "filter": [{"property": "n", "op": "gte", "value": "many"}]})), contact(json!({}))]}),
            vec!["scorecards[0].filter[0].value"],
        ),
        (
            json!({"scorecards": [contact(json!({"name": "a", "filter": [{"property": "n", "op": "in"}]})), contact(json!({}))]}),
            vec!["scorecards[0].filter[0].values"],
        ),
        (
            json!({"scorecards": [contact(json!({"name": "a", "filter": [{"property": "n", "op": "like", "value": "x"}]})), contact(json!({}))]}),
            vec!["scorecards[0].filter[0].op"],
        ),
        (
            // A weight that cannot be taken leaves the rest short of 100: both are said.
            json!({"scorecards": [contact(json!({"weights": {"engagement_recency": 50, "customer_health": 50}}))]}),
            vec![
                "scorecards[0].weights",
                "scorecards[0].weights.customer_health",
            ],
        ),
        (
            json!({"scorecards": [{"name": "a", "subject": "company", "weights": {"engagement_recency": 50, "customer_health": 50}}]}),
            vec!["scorecards[0].weights.customer_health"],
        ),
        (
            json!({"scorecards": [contact(json!({"weights": {"engagement_recency": 50, "usage": 50}}))]}),
            vec!["scorecards[0].weights", "scorecards[0].weights.usage"],
        ),
        (
            json!({"scorecards": [contact(json!({"weights": {"engagement_recency": 90, "usage": 10},
                "custom_factors": [{"key": "usage", "property": "u", "transform": {"type": "linear", "min": 5, "max": 5}}]}))]}),
            vec!["scorecards[0].custom_factors[0].transform.max"],
        ),
        (
            json!({"scorecards": [contact(json!({"custom_factors": [{"key": "Deal value", "property": "u", "of": "contacts", "transform": {"type": "recency", "half_life_days": 0}}]}))]}),
            vec![
                "scorecards[0].custom_factors[0].key",
                "scorecards[0].custom_factors[0].of",
                "scorecards[0].custom_factors[0].transform.half_life_days",
            ],
        ),
        (
            json!({"scorecards": [contact(json!({"custom_factors": [{"key": "deal_value", "property": "u", "transform": {"type": "steps", "steps": [[10, 0.2], [5, 0.5]], "above": 2}}]}))]}),
            vec![
                "scorecards[0].custom_factors[0].key",
                "scorecards[0].custom_factors[0].transform.above",
                "scorecards[0].custom_factors[0].transform.steps[1][0]",
            ],
        ),
        (
            json!({"scorecards": [contact(json!({"csm_sentiment": {"values": {"green": 2, "blue": 1}, "expires_days": -1}}))]}),
            vec![
                "scorecards[0].csm_sentiment.expires_days",
                "scorecards[0].csm_sentiment.values.blue",
                "scorecards[0].csm_sentiment.values.green",
            ],
        ),
        (
            json!({"scorecards": [contact(json!({"colour": "red"}))], "population": {"deal": []}, "extra": 1}),
            vec!["extra", "population.deal", "scorecards[0].colour"],
        ),
        (
            json!({"scorecards": [contact(json!({"weights": {"engagement_recency": 99}}))]}),
            vec!["scorecards[0].weights"],
        ),
    ];
    for (document, expected) in cases {
        assert_eq!(fields(document.clone()), expected, "{document}");
    }
}

#[test]
fn unknown_properties_are_named_by_field() {
    let mut document = spec_document();
    document["population"] =
        json!({"contact": [{"property": "lifecyclestage", "op": "in", "values": ["customer"]}]});
    let document = parse(document).expect("valid");
    let known = |kind: ObjectType, name: &str| kind == ObjectType::Contact || name == "usage_score";
    let errors: Vec<String> = document
        .unknown_properties(&known)
        .into_iter()
        .map(|e| e.field)
        .collect();
    assert_eq!(errors, ["scorecards[0].filter[0].property"]);
    let named = document.properties_named(ObjectType::Company);
    assert_eq!(
        named.into_iter().collect::<Vec<_>>(),
        ["numberofemployees", "usage_score"]
    );
}

#[test]
fn conditions_treat_missing_values_as_the_spec_says() {
    let parsed = parse(json!({"scorecards": [
        {"name": "a", "filter": [
            {"property": "n", "op": "gte", "value": "1000"},
            {"property": "plan", "op": "not_in", "values": ["free"]},
            {"property": "churned", "op": "not_exists"},
            {"property": "region", "op": "neq", "value": "emea"}
        ], "weights": {"engagement_recency": 100}},
        {"name": "b", "weights": {"engagement_recency": 100}}
    ]}))
    .expect("valid");
    let pick = |pairs: &[(&str, &str)]| {
        parsed
            .select(Subject::Contact, &properties(pairs))
            .map(|s| s.name.clone())
    };
    assert_eq!(pick(&[("n", "1000")]).as_deref(), Some("a"));
    assert_eq!(pick(&[("n", "999.9")]).as_deref(), Some("b"));
    assert_eq!(pick(&[("n", "lots")]).as_deref(), Some("b"));
    assert_eq!(pick(&[]).as_deref(), Some("b"));
    assert_eq!(
        pick(&[("n", "5000"), ("plan", "free")]).as_deref(),
        Some("b")
    );
    assert_eq!(
        pick(&[("n", "5000"), ("churned", "yes")]).as_deref(),
        Some("b")
    );
    assert_eq!(
        pick(&[("n", "5000"), ("region", "emea")]).as_deref(),
        Some("b")
    );
    assert_eq!(
        pick(&[("n", "5000"), ("churned", "")]).as_deref(),
        Some("a")
    );
    assert_eq!(parsed.select(Subject::Company, &properties(&[])), None);
}

#[test]
fn transforms_give_the_spec_values() {
    let t = t0();
    let linear = Transform::Linear {
        min: dec("0"),
        max: dec("100"),
    };
    assert_eq!(linear.apply("80", t), Some(dec("0.8")));
    assert_eq!(linear.apply("150", t), Some(dec("1")));
    assert_eq!(linear.apply("", t), None);
    assert_eq!(linear.apply("high", t), None);
    let lower_better = Transform::Linear {
        min: dec("10"),
        max: dec("0"),
    };
    assert_eq!(lower_better.apply("2", t), Some(dec("0.8")));
    let recency = Transform::Recency {
        half_life_days: dec("7"),
    };
    assert_eq!(recency.apply("2026-11-16", t), Some(dec("0.5")));
    assert_eq!(recency.apply("2026-12-01", t), Some(dec("1")));
    let steps = Transform::Steps {
        steps: vec![(dec("1"), dec("0.2")), (dec("5"), dec("0.6"))],
        above: dec("1"),
    };
    assert_eq!(steps.apply("1", t), Some(dec("0.2")));
    assert_eq!(steps.apply("3", t), Some(dec("0.6")));
    assert_eq!(steps.apply("9", t), Some(dec("1")));
    let map = Transform::Map {
        values: [("enterprise".to_owned(), dec("1"))].into(),
    };
    assert_eq!(map.apply("enterprise", t), Some(dec("1")));
    assert_eq!(map.apply("Enterprise", t), None);
}

/// SCORING.md's worked example v2: account s at t0 with the "accounts" scorecard.
fn account_s(sentiment_at: &str) -> SubjectFacts {
    let ms = |text: &str| at(text).timestamp_millis();
    let own = props(&[
        ("lifecyclestage", "customer"),
        ("usage_score", "80"),
        ("numberofemployees", "250"),
    ]);
    let c1 = props(&[
        ("email", "ada@example.com"),
        ("lifecyclestage", "customer"),
        ("hs_last_sales_activity_date", "2026-11-21T00:00:00Z"),
    ]);
    let c2 = props(&[("email", "bo@example.com")]);
    let d = deal(
        "d",
        &[("amount", "1000"), ("hs_deal_stage_probability", "0.6")],
        Some(&[("amount", "1000"), ("hs_deal_stage_probability", "0.4")]),
    );
    SubjectFacts {
        facts: CustomerFacts {
            contact: own,
            companies: vec![c1, c2],
            deals: vec![d],
            activity: vec![
                ("company/s".into(), ms("2026-09-01T00:00:00Z")),
                ("contact/c2".into(), ms("2026-09-01T00:00:00Z")),
                ("deal/d".into(), ms("2026-10-01T00:00:00Z")),
                ("contact/c1".into(), ms("2026-11-03T00:00:00Z")),
                ("deal/d".into(), ms("2026-11-10T00:00:00Z")),
                ("contact/c1".into(), ms("2026-11-13T00:00:00Z")),
                ("contact/c1".into(), ms("2026-11-18T00:00:00Z")),
                ("contact/c1".into(), ms("2026-11-21T00:00:00Z")),
            ],
            links: Vec::new(),
        },
        sentiment: Some((SentimentValue::Yellow, at(sentiment_at))),
        member_scores: vec![dec("72.0")],
    }
}

#[test]
fn worked_example_v2() {
    let document = parse(spec_document()).expect("valid");
    let facts = account_s("2026-11-13T00:00:00Z");
    let scorecard = document
        .select(Subject::Company, &facts.facts.contact)
        .expect("a company scorecard");
    assert_eq!(scorecard.name, "accounts");
    let report = score_subject(&facts, scorecard, true, t0(), Some(dec("1000")), true);
    let lines: Vec<(String, Option<String>, Option<String>)> = report
        .factors
        .iter()
        .map(|f| {
            (
                f.key.clone(),
                f.value.map(|v| v.to_string()),
                f.contribution.map(|c| c.to_string()),
            )
        })
        .collect();
    let expected = [
        ("engagement_recency", "0.9057", "18.11"),
        ("deal_momentum", "0.7500", "11.25"),
        ("lifecycle_stage", "0.85", "8.50"),
        ("activity_frequency", "0.5796", "8.69"),
        ("deal_value", "0.5", "5.00"),
        ("customer_health", "0.72", "10.80"),
        ("csm_sentiment", "0.5", "2.50"),
        ("product_usage", "0.8", "8.00"),
    ];
    for ((key, value, contribution), (k, v, c)) in lines.iter().zip(expected) {
        assert_eq!(key, k);
        assert_eq!(value.as_deref().map(dec), Some(dec(v)), "{key}'s value");
        assert_eq!(
            contribution.as_deref().map(dec),
            Some(dec(c)),
            "{key}'s points"
        );
    }
    assert_eq!(lines.len(), expected.len());
    assert_eq!(report.score, Some(dec("72.9")));
    assert_eq!(report.band, Some(Band::Healthy));
    assert_eq!(report.coverage, dec("1"));
    assert_eq!(report.scorecard.as_deref(), Some("accounts"));

    // 99 days after it was recorded, the sentiment no longer counts.
    let later = at("2027-02-20T00:00:00Z");
    let report = score_subject(&facts, scorecard, true, later, Some(dec("1000")), true);
    let sentiment = report
        .factors
        .iter()
        .find(|f| f.key == "csm_sentiment")
        .unwrap();
    assert_eq!(sentiment.value, None);
    assert_eq!(sentiment.detail["expired"], json!(true));
    assert_eq!(report.status, ScoreStatus::Scored);

    // 5,000 employees: the enterprise scorecard.
    let mut big = facts.facts.contact.as_ref().clone();
    big.insert("numberofemployees".into(), "5000".into());
    let enterprise = document
        .select(Subject::Company, &big)
        .expect("a scorecard");
    assert_eq!(enterprise.name, "enterprise accounts");
}

proptest::proptest! {
    /// An account's report depends on its facts, not the order they were gathered in: its
    /// contacts, deals, activity stamps (repeated, too) and member scores in any order.
    #[test]
    fn an_account_report_is_the_same_whatever_the_order_of_its_facts(
        seed in proptest::prelude::any::<u64>(),
        extra_scores in proptest::collection::vec(0u32..1001, 0..6),
        days in proptest::collection::vec(0i64..60, 0..20),
    ) {
        let document = parse(spec_document()).expect("valid");
        let mut facts = account_s("2026-11-13T00:00:00Z");
        facts.member_scores.extend(extra_scores.iter().map(|s| rust_decimal::Decimal::new(i64::from(*s), 1)));
        let day = 86_400_000;
        facts.facts.activity.extend(days.iter().enumerate().map(|(i, d)| (format!("contact/x{}", i % 3), 1_790_000_000_000 + d * day)));
        let scorecard = document.select(Subject::Company, &facts.facts.contact).expect("scorecard");
        let report = score_subject(&facts, scorecard, true, t0(), Some(dec("1000")), true);

        let mut shuffled = facts.clone();
        let mut rng = seed;
        let mut next = |len: usize| {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (rng >> 33) as usize % len.max(1)
        };
        let repeated: Vec<_> = shuffled.facts.activity.iter().take(next(4)).cloned().collect();
        shuffled.facts.activity.extend(repeated);
        for list_len in [shuffled.facts.activity.len()] {
            for i in (1..list_len).rev() {
                let j = next(i + 1);
                shuffled.facts.activity.swap(i, j);
            }
        }
        shuffled.member_scores.reverse();
        shuffled.facts.companies.reverse();
        shuffled.facts.deals.reverse();
        let again = score_subject(&shuffled, scorecard, true, t0(), Some(dec("1000")), true);
        proptest::prop_assert_eq!(report, again);
    }
}
