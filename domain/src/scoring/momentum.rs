//! The deal_momentum factor: where the open deals stand (level) and how they moved over the
//! window (velocity), or, with no open deal of known probability, whether one was won lately.

use super::config::ScoringConfig;
use super::factors::{Detail, FactorOutcome, instant_json};
use super::model::DealFacts;
use super::numbers::{days_before, decimal_to_json, round};
use super::properties::{
    DealStatus, deal_amount, deal_probability, deal_status, parse_hubspot_date, prop,
};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};

/// An open deal with a known probability, with what the formula needs.
struct OpenDeal<'a> {
    id: &'a str,
    amount: Decimal,
    p: Decimal,
    p_then: Decimal,
}

/// N/A when D(c) is empty; otherwise (level + velocity) / 2 over the open deals with known p, or
/// 1/0 for a won deal closed within `[t - won_lookback_days, t]` when there is none.
pub(crate) fn deal_momentum(
    deals: &[DealFacts],
    config: &ScoringConfig,
    t: DateTime<Utc>,
    detail: Detail,
) -> FactorOutcome {
    if deals.is_empty() {
        return FactorOutcome {
            value: None,
            detail: detail.of(|| json!({ "deals": [] })),
        };
    }
    let open: Vec<OpenDeal<'_>> = deals
        .iter()
        .filter(|d| deal_status(&d.now) == DealStatus::Open)
        .filter_map(|d| {
            Some(OpenDeal {
                id: &d.id,
                amount: deal_amount(&d.now),
                p: deal_probability(&d.now)?,
                p_then: d
                    .then
                    .as_ref()
                    .and_then(|then| deal_probability(then))
                    .unwrap_or(Decimal::ZERO),
            })
        })
        .collect();
    if open.is_empty() {
        won_lately(deals, config, t, detail)
    } else {
        moving(&open, config, detail)
    }
}

fn moving(open: &[OpenDeal<'_>], config: &ScoringConfig, detail: Detail) -> FactorOutcome {
    let count = Decimal::from(open.len());
    let total_amount = open
        .iter()
        .fold(Decimal::ZERO, |s, d| s.saturating_add(d.amount));
    let level = if total_amount.is_zero() {
        open.iter().fold(Decimal::ZERO, |s, d| s + d.p) / count
    } else {
        let weighted = open.iter().fold(Decimal::ZERO, |s, d| {
            s.saturating_add(d.amount.saturating_mul(d.p))
        });
        (weighted / total_amount).clamp(Decimal::ZERO, Decimal::ONE)
    };
    let delta = open.iter().fold(Decimal::ZERO, |s, d| s + (d.p - d.p_then)) / count;
    let velocity = (Decimal::new(5, 1) + Decimal::TWO * delta).clamp(Decimal::ZERO, Decimal::ONE);
    FactorOutcome {
        value: Some((level + velocity) / Decimal::TWO),
        detail: detail.of(|| {
            let deals: Vec<Value> = open
                .iter()
                .map(|d| {
                    json!({
                        "id": d.id,
                        "amount": decimal_to_json(d.amount),
                        "p": decimal_to_json(d.p),
                        "p_then": decimal_to_json(d.p_then),
                    })
                })
                .collect();
            json!({
                "open_deals": deals,
                "level": decimal_to_json(round(level, 4)),
                "delta": decimal_to_json(round(delta, 4)),
                "velocity": decimal_to_json(round(velocity, 4)),
                "window_days": decimal_to_json(config.deal_momentum.window_days),
            })
        }),
    }
}

fn won_lately(
    deals: &[DealFacts],
    config: &ScoringConfig,
    t: DateTime<Utc>,
    detail: Detail,
) -> FactorOutcome {
    let lookback = config.deal_momentum.won_lookback_days;
    let since = days_before(t, lookback);
    let won: Vec<Value> = deals
        .iter()
        .filter(|d| deal_status(&d.now) == DealStatus::Won)
        .filter_map(|d| {
            let closed = prop(&d.now, "closedate").and_then(parse_hubspot_date)?;
            (since..=t)
                .contains(&closed)
                .then(|| json!({ "id": d.id, "closedate": instant_json(closed) }))
        })
        .collect();
    let value = if won.is_empty() {
        Decimal::ZERO
    } else {
        Decimal::ONE
    };
    FactorOutcome {
        value: Some(value),
        detail: detail.of(|| {
            json!({
                "open_deals": [],
                "won_within_lookback": won,
                "won_lookback_days": decimal_to_json(lookback),
            })
        }),
    }
}
