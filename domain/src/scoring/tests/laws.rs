//! Property tests: what must hold for every input.

use super::{deal, props};
use crate::scoring::{
    Combined, CustomerFacts, Factor, ScoreStatus, ScoringConfig, Weights, combine, score_customer,
    score_customer_without_detail,
};
use chrono::DateTime;
use proptest::prelude::*;
use rust_decimal::Decimal;

/// Five integer weights adding up to 100 (differences of sorted cut points).
fn weights() -> impl Strategy<Value = Weights> {
    prop::collection::vec(0u32..=100, 4).prop_map(|mut cuts| {
        cuts.sort_unstable();
        let bounds: Vec<u32> = std::iter::once(0).chain(cuts).chain([100]).collect();
        let mut w = Weights::ZERO;
        for (factor, pair) in Factor::ALL.into_iter().zip(bounds.windows(2)) {
            *w.get_mut(factor) = Decimal::from(pair[1] - pair[0]);
        }
        w
    })
}

/// A value in [0, 1] with up to 6 decimals.
fn unit() -> impl Strategy<Value = Decimal> {
    (0i64..=1_000_000).prop_map(|n| Decimal::new(n, 6))
}

/// One value (or N/A) per factor, in specification order.
fn values() -> impl Strategy<Value = Vec<(Factor, Option<Decimal>)>> {
    prop::collection::vec(prop::option::weighted(0.8, unit()), 5)
        .prop_map(|vs| Factor::ALL.into_iter().zip(vs).collect())
}

fn config(weights: Weights, min_coverage: Decimal) -> ScoringConfig {
    ScoringConfig {
        weights,
        min_coverage,
        ..ScoringConfig::default()
    }
}

fn same_outcome(a: &Combined, b: &Combined) -> bool {
    (a.status, a.score, a.band, a.coverage) == (b.status, b.score, b.band, b.coverage)
}

proptest! {
    #[test]
    fn every_score_lies_between_0_and_100(w in weights(), vs in values()) {
        let combined = combine(&vs, &config(w, Decimal::new(1, 2)));
        if let Some(score) = combined.score {
            prop_assert!((Decimal::ZERO..=Decimal::ONE_HUNDRED).contains(&score), "{score}");
        }
        prop_assert!(combined.coverage <= Decimal::ONE);
    }

    #[test]
    fn raising_one_factor_value_never_lowers_the_score(
        w in weights(), vs in values(), which in 0usize..5, raised in unit(),
    ) {
        let config = config(w, Decimal::new(5, 1));
        let mut higher = vs.clone();
        let current = higher[which].1;
        if let Some(v) = current {
            higher[which].1 = Some(v.max(raised));
        }
        let (before, after) = (combine(&vs, &config), combine(&higher, &config));
        prop_assert_eq!(before.status, after.status);
        prop_assert!(after.score >= before.score, "{:?} -> {:?}", before.score, after.score);
    }

    #[test]
    fn scaling_every_weight_by_the_same_factor_leaves_the_score_unchanged(
        w in weights(), vs in values(), tenths in 1i64..=100,
    ) {
        let k = Decimal::new(tenths, 1);
        let mut scaled = w;
        for f in Factor::ALL {
            *scaled.get_mut(f) = w.get(f) * k;
        }
        let tiny = Decimal::new(1, 6);
        let (plain, rescaled) = (combine(&vs, &config(w, tiny)), combine(&vs, &config(scaled, tiny)));
        prop_assert_eq!(plain.status, rescaled.status);
        prop_assert_eq!(plain.score, rescaled.score);
        prop_assert_eq!(plain.band, rescaled.band);
        prop_assert_eq!(rescaled.coverage, plain.coverage * k);
    }

    #[test]
    fn weight_on_a_not_applicable_factor_changes_nothing(
        w in weights(), vs in values(), which in 0usize..5, other in 0usize..5, moved in 0u32..=100,
    ) {
        let mut vs = vs;
        vs[which].1 = None;
        let base = config(w, Decimal::new(5, 1));
        let before = combine(&vs, &base);

        let mut reweighted = base.clone();
        *reweighted.weights.get_mut(Factor::ALL[which]) = Decimal::from(moved);
        prop_assert!(same_outcome(&before, &combine(&vs, &reweighted)));

        // Moving weight between two N/A factors keeps the sum at 100: still a valid config.
        prop_assume!(which != other);
        vs[other].1 = None;
        let before = combine(&vs, &base);
        let mut shifted = base.clone();
        let (from, onto) = (Factor::ALL[other], Factor::ALL[which]);
        let amount = Decimal::from(moved).min(w.get(from));
        *shifted.weights.get_mut(from) -= amount;
        *shifted.weights.get_mut(onto) += amount;
        let body = serde_json::to_value(&shifted).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(ScoringConfig::from_json(&body).is_ok());
        prop_assert!(same_outcome(&before, &combine(&vs, &shifted)));
    }

    #[test]
    fn contributions_add_up_to_the_score(w in weights(), vs in values()) {
        let combined = combine(&vs, &config(w, Decimal::new(5, 1)));
        if let Some(score) = combined.score {
            let total: Decimal = combined.contributions.iter().filter_map(|(_, c)| *c).sum();
            prop_assert!((total - score).abs() <= Decimal::new(5, 2), "{total} vs {score}");
        }
    }

    #[test]
    fn a_valid_config_survives_a_json_round_trip(
        w in weights(), tenth in 0u32..10, cov in 1i64..=100, half_life in 1i64..10_000,
    ) {
        let mut weights = w;
        // Move a tenth of a point between two factors so weights carry decimals.
        let shift = Decimal::new(i64::from(tenth), 1).min(weights.deal_value);
        weights.deal_value -= shift;
        weights.engagement_recency += shift;
        let mut config = config(weights, Decimal::new(cov, 2));
        config.engagement_recency.half_life_days = Decimal::new(half_life, 2);
        let body = serde_json::to_value(&config).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(ScoringConfig::from_json(&body), Ok(config));
    }

    #[test]
    fn activity_arrival_order_and_duplicates_do_not_change_the_report(
        events in prop::collection::vec((0u8..3, 0i64..(40 * 86_400_000)), 0..30),
        seed in any::<u64>(),
    ) {
        let t = DateTime::from_timestamp_millis(40 * 86_400_000).unwrap_or_default();
        let as_facts = |activity: Vec<(String, i64)>| CustomerFacts {
            contact: props(&[("lifecyclestage", "lead")]),
            activity,
            ..CustomerFacts::default()
        };
        let listed: Vec<(String, i64)> = events.iter().map(|(o, at)| (format!("o{o}"), *at)).collect();
        let mut shuffled: Vec<(String, i64)> = listed.iter().chain(&listed).cloned().collect();
        let len = shuffled.len().max(1);
        shuffled.rotate_left((seed as usize) % len);
        shuffled.reverse();
        let config = ScoringConfig::default();
        let a = score_customer(&as_facts(listed), &config, t, None);
        let b = score_customer(&as_facts(shuffled), &config, t, None);
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(a.status, ScoreStatus::InsufficientData);
    }

    #[test]
    fn leaving_the_detail_out_changes_nothing_else(
        w in weights(),
        stage in prop::sample::select(vec!["lead", "customer", "evangelist", "other"]),
        last_activity_days in prop::option::of(0i64..400),
        deals in prop::collection::vec(
            (0u32..200_000, prop::sample::select(vec!["appointmentscheduled", "contractsent", "closedwon", "closedlost"]), prop::option::of(unit()), 0i64..400),
            0..6,
        ),
        median in prop::option::of(1u32..500_000),
    ) {
        let t = DateTime::from_timestamp_millis(400 * 86_400_000).unwrap_or_default();
        let day = |d: i64| {
            DateTime::from_timestamp_millis(d * 86_400_000)
                .unwrap_or_default()
                .to_rfc3339()
        };
        let last = last_activity_days.map(day).unwrap_or_default();
        let facts = CustomerFacts {
            contact: props(&[("lifecyclestage", stage), ("hs_last_sales_activity_date", &last)]),
            deals: deals
                .iter()
                .enumerate()
                .map(|(i, (amount, stage, p, closed))| {
                    let (amount, p, closed) = (amount.to_string(), p.map(|p| p.to_string()).unwrap_or_default(), day(*closed));
                    let now = [("amount", amount.as_str()), ("dealstage", *stage), ("hs_deal_stage_probability", p.as_str()), ("closedate", closed.as_str())];
                    deal(&i.to_string(), &now, Some(&now[..2]))
                })
                .collect(),
            activity: vec![("contact:1".to_owned(), 399 * 86_400_000)],
            ..CustomerFacts::default()
        };
        let config = config(w, Decimal::new(1, 2));
        let median = median.map(Decimal::from);
        let full = score_customer(&facts, &config, t, median);
        let mut lean = score_customer_without_detail(&facts, &config, t, median);
        prop_assert!(lean.factors.iter().all(|f| f.detail.is_null()));
        for (lean, full) in lean.factors.iter_mut().zip(&full.factors) {
            lean.detail = full.detail.clone();
        }
        prop_assert_eq!(lean, full);
    }
}
