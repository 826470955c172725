//! The factors that read one property or one count: engagement_recency, lifecycle_stage,
//! activity_frequency and deal_value (with the portal median it needs). deal_momentum has its own
//! module.

use super::config::ScoringConfig;
use super::model::{CustomerFacts, DealFacts};
use super::numbers::{days_between, decimal_to_json, round, to_f64, unit_from_f64};
use super::properties::{DealStatus, deal_amount, deal_status, parse_hubspot_date, prop};
use super::scorecards::{CustomFactor, Of};
use crate::sentiment::SentimentValue;
use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// Whether a factor also builds its report detail (bulk rescoring needs only the values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Detail {
    /// Build the detail.
    Explain,
    /// Leave it null.
    Skip,
}

impl Detail {
    /// `build()` when explaining, else null.
    pub(crate) fn of(self, build: impl FnOnce() -> Value) -> Value {
        match self {
            Self::Explain => build(),
            Self::Skip => Value::Null,
        }
    }
}

/// One factor's value (`None` = N/A) and the inputs that produced it, for the report.
pub(crate) struct FactorOutcome {
    pub(crate) value: Option<Decimal>,
    pub(crate) detail: Value,
}

/// A UTC instant as RFC 3339 text for report details.
pub(crate) fn instant_json(at: DateTime<Utc>) -> Value {
    Value::String(at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// 2^(-days / half_life), days = max(0, t - L) and L the latest `hs_last_sales_activity_date` of
/// the contact and its companies; N/A without such a date.
pub(crate) fn engagement_recency(
    facts: &CustomerFacts,
    config: &ScoringConfig,
    t: DateTime<Utc>,
    detail: Detail,
) -> FactorOutcome {
    let half_life = config.engagement_recency.half_life_days;
    let last = std::iter::once(&facts.contact)
        .chain(&facts.companies)
        .filter_map(|props| prop(props, "hs_last_sales_activity_date"))
        .filter_map(parse_hubspot_date)
        .max();
    let Some(last) = last else {
        return FactorOutcome {
            value: None,
            detail: detail.of(
                || json!({ "last_activity_at": null, "half_life_days": decimal_to_json(half_life) }),
            ),
        };
    };
    let days = days_between(last, t).max(0.0);
    let value = unit_from_f64((-days / to_f64(half_life)).exp2());
    FactorOutcome {
        value: Some(value),
        detail: detail.of(|| {
            json!({
                "last_activity_at": instant_json(last),
                "days": days_json(days),
                "half_life_days": decimal_to_json(half_life),
            })
        }),
    }
}

/// A day count for a report detail, to 4 decimals.
fn days_json(days: f64) -> Value {
    Decimal::try_from(days).map_or(Value::Null, |d| decimal_to_json(round(d, 4)))
}

/// lifecycle_values[`lifecyclestage`]; N/A when missing or not configured.
pub(crate) fn lifecycle_stage(
    facts: &CustomerFacts,
    config: &ScoringConfig,
    detail: Detail,
) -> FactorOutcome {
    let stage = prop(&facts.contact, "lifecyclestage");
    let value = stage.and_then(|s| config.lifecycle_stage.values.get(s).copied());
    FactorOutcome {
        value,
        detail: detail.of(|| json!({ "stage": stage })),
    }
}

/// 1 - 2^(-n / half_saturation), n = distinct (object, occurred_at) pairs with
/// `t - window_days < occurred_at <= t`. Never N/A.
pub(crate) fn activity_frequency(
    facts: &CustomerFacts,
    config: &ScoringConfig,
    t: DateTime<Utc>,
    detail: Detail,
) -> FactorOutcome {
    let settings = &config.activity_frequency;
    let start = config.activity_window_start(t).timestamp_millis();
    let end = t.timestamp_millis();
    let distinct: BTreeSet<(&str, i64)> = facts
        .activity
        .iter()
        .filter(|(_, at)| start < *at && *at <= end)
        .map(|(object, at)| (object.as_str(), *at))
        .collect();
    let n = distinct.len();
    let value = unit_from_f64(1.0 - (-(n as f64) / to_f64(settings.half_saturation)).exp2());
    FactorOutcome {
        value: Some(value),
        detail: detail.of(|| {
            json!({
                "events": n,
                "window_days": decimal_to_json(settings.window_days),
                "half_saturation": decimal_to_json(settings.half_saturation),
            })
        }),
    }
}

/// V(c): the sum of a(d) over the deals that are not lost at `t`.
pub fn deal_value_total(deals: &[DealFacts]) -> Decimal {
    deals
        .iter()
        .filter(|d| deal_status(&d.now) != DealStatus::Lost)
        .fold(Decimal::ZERO, |sum, d| {
            sum.saturating_add(deal_amount(&d.now))
        })
}

/// R: the median of the values > 0 (mean of the two middle ones for an even count); `None`
/// when there is none.
pub fn portal_median(values: impl IntoIterator<Item = Decimal>) -> Option<Decimal> {
    let mut positive: Vec<Decimal> = values.into_iter().filter(|v| *v > Decimal::ZERO).collect();
    let count = positive.len();
    if count == 0 {
        return None;
    }
    // A selection, not a sort: O(n) for a portal-wide median.
    let mid = count / 2;
    let (below, high, _) = positive.select_nth_unstable(mid);
    let high = *high;
    if count % 2 == 1 {
        return Some(high);
    }
    // Every value below the selected one is at most it: the lower middle is their maximum.
    let low = below.iter().max().copied()?;
    Some(low.saturating_add(high) / Decimal::TWO)
}

/// V / (V + R); N/A when D(c) is empty or there is no portal median.
pub(crate) fn deal_value(
    facts: &CustomerFacts,
    median: Option<Decimal>,
    detail: Detail,
) -> FactorOutcome {
    let total = deal_value_total(&facts.deals);
    let median = median.filter(|r| *r > Decimal::ZERO);
    let value = match (facts.deals.is_empty(), median) {
        (false, Some(r)) => Some(total / total.saturating_add(r)),
        _ => None,
    };
    FactorOutcome {
        value,
        detail: detail.of(|| {
            let deals: Vec<Value> = facts
                .deals
                .iter()
                .map(|d| {
                    json!({
                        "id": d.id,
                        "amount": decimal_to_json(deal_amount(&d.now)),
                        "status": deal_status(&d.now),
                    })
                })
                .collect();
            json!({
                "deals": deals,
                "value_total": decimal_to_json(total),
                "portal_median": median.map(decimal_to_json),
            })
        }),
    }
}

/// customer_health: the mean of score / 100 over an account's scored customers; N/A without one.
pub(crate) fn customer_health(scores: &[Decimal], detail: Detail) -> FactorOutcome {
    let value = (!scores.is_empty()).then(|| {
        let sum = scores
            .iter()
            .fold(Decimal::ZERO, |acc, s| acc.saturating_add(*s));
        sum / Decimal::from(scores.len()) / Decimal::ONE_HUNDRED
    });
    FactorOutcome {
        value,
        detail: detail.of(|| {
            json!({
                "customers_scored": scores.len(),
                "mean_score": value.map(|v| decimal_to_json(round(v * Decimal::ONE_HUNDRED, 2))),
            })
        }),
    }
}

/// csm_sentiment: the configured value of the latest sentiment, N/A when there is none or it
/// is more than `expires_days` old at `t`.
pub(crate) fn csm_sentiment(
    sentiment: Option<(SentimentValue, DateTime<Utc>)>,
    config: &ScoringConfig,
    t: DateTime<Utc>,
    detail: Detail,
) -> FactorOutcome {
    let settings = &config.csm_sentiment;
    let Some((sentiment, recorded_at)) = sentiment else {
        return FactorOutcome {
            value: None,
            detail: detail.of(|| json!({ "sentiment": null })),
        };
    };
    let days = days_between(recorded_at, t).max(0.0);
    let expired = days > to_f64(settings.expires_days);
    FactorOutcome {
        value: (!expired).then(|| settings.values.of(sentiment)),
        detail: detail.of(|| {
            json!({
                "sentiment": sentiment,
                "recorded_at": instant_json(recorded_at),
                "days": days_json(days),
                "expires_days": decimal_to_json(settings.expires_days),
                "expired": expired,
            })
        }),
    }
}

/// A custom factor: its transform of the property on the subject, or on each related object
/// combined by its aggregate; N/A when no object has a value that transforms.
pub(crate) fn custom_factor(
    factor: &CustomFactor,
    facts: &CustomerFacts,
    t: DateTime<Utc>,
    detail: Detail,
) -> FactorOutcome {
    let read: Vec<&str> = match factor.of {
        Of::Subject => vec![prop(&facts.contact, &factor.property).unwrap_or_default()],
        Of::Companies | Of::Contacts => facts
            .companies
            .iter()
            .map(|props| prop(props, &factor.property).unwrap_or_default())
            .collect(),
    };
    let values: Vec<Decimal> = read
        .iter()
        .filter_map(|raw| factor.transform.apply(raw, t))
        .collect();
    let value = factor.aggregate.combine(&values);
    FactorOutcome {
        value,
        detail: detail.of(|| {
            let mut detail = json!({
                "property": factor.property,
                "of": factor.of.as_str(),
            });
            match factor.of {
                Of::Subject => detail["raw"] = json!(read.first().filter(|r| !r.is_empty())),
                Of::Companies | Of::Contacts => {
                    detail["aggregate"] = json!(factor.aggregate.as_str());
                    detail["objects"] = json!(read.len());
                    detail["values"] = json!(values.len());
                }
            }
            detail
        }),
    }
}
