//! Reading HubSpot's string-typed properties: dates, deal status, probability and amount.

use super::model::Properties;
use super::numbers::parse_decimal;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rust_decimal::Decimal;

/// The default pipeline's stage probabilities, used when `hs_deal_stage_probability` is missing.
const DEFAULT_STAGE_PROBABILITIES: [(&str, Decimal); 7] = [
    (
        "appointmentscheduled",
        Decimal::from_parts(2, 0, 0, false, 1),
    ),
    ("qualifiedtobuy", Decimal::from_parts(4, 0, 0, false, 1)),
    (
        "presentationscheduled",
        Decimal::from_parts(6, 0, 0, false, 1),
    ),
    (
        "decisionmakerboughtin",
        Decimal::from_parts(8, 0, 0, false, 1),
    ),
    ("contractsent", Decimal::from_parts(9, 0, 0, false, 1)),
    ("closedwon", Decimal::ONE),
    ("closedlost", Decimal::ZERO),
];

/// A deal's status at some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DealStatus {
    /// Closed won.
    Won,
    /// Closed and not won.
    Lost,
    /// Neither.
    Open,
}

/// A property's trimmed value; a missing or blank value (HubSpot clears properties to `""`) is
/// `None`.
pub(crate) fn prop<'a>(props: &'a Properties, name: &str) -> Option<&'a str> {
    props.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// Parses a HubSpot date: ISO-8601 with or without fractional seconds, with `Z`, an offset or
/// none (read as UTC); a plain `YYYY-MM-DD` (midnight UTC); or epoch milliseconds as digits.
pub fn parse_hubspot_date(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    let digits = text.strip_prefix('-').unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_millis);
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return date.and_hms_opt(0, 0, 0).map(|dt| dt.and_utc());
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(dt.with_timezone(&Utc));
    }
    if let Ok(dt) = DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(dt.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|dt| dt.and_utc())
}

/// A boolean flag property: `Some(true)` for `"true"` (any case), `Some(false)` for any other
/// non-blank value, `None` when absent.
fn flag(props: &Properties, name: &str) -> Option<bool> {
    prop(props, name).map(|v| v.eq_ignore_ascii_case("true"))
}

/// Won if `hs_is_closed_won` is `"true"` (or, absent, `dealstage` is `closedwon`); lost if
/// `hs_is_closed` is `"true"` and not won (or, absent, `dealstage` is `closedlost`); else open.
pub fn deal_status(props: &Properties) -> DealStatus {
    let stage = prop(props, "dealstage");
    let won = flag(props, "hs_is_closed_won").unwrap_or(stage == Some("closedwon"));
    let closed = flag(props, "hs_is_closed").unwrap_or(stage == Some("closedlost"));
    if won {
        DealStatus::Won
    } else if closed {
        DealStatus::Lost
    } else {
        DealStatus::Open
    }
}

/// p(d): `hs_deal_stage_probability` when it parses to a decimal in [0, 1]; otherwise the default
/// pipeline's probability for `dealstage`; otherwise unknown (`None`).
pub fn deal_probability(props: &Properties) -> Option<Decimal> {
    let explicit = prop(props, "hs_deal_stage_probability")
        .and_then(parse_decimal)
        .filter(|p| (Decimal::ZERO..=Decimal::ONE).contains(p));
    explicit.or_else(|| {
        let stage = prop(props, "dealstage")?;
        DEFAULT_STAGE_PROBABILITIES
            .iter()
            .find(|(id, _)| *id == stage)
            .map(|(_, p)| *p)
    })
}

/// a(d): `amount` as a decimal >= 0; missing, unparseable or negative counts as 0.
pub fn deal_amount(props: &Properties) -> Decimal {
    prop(props, "amount")
        .and_then(parse_decimal)
        .filter(|a| *a >= Decimal::ZERO)
        .unwrap_or(Decimal::ZERO)
}
