//! Decimal plumbing shared by the module: JSON numbers in and out, `f64` exponentials back to
//! decimals, rounding and day arithmetic.

use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Serialize, Serializer};
use serde_json::{Number, Value};
use std::collections::BTreeMap;
use std::str::FromStr;

const MS_PER_DAY: i64 = 86_400_000;

/// Parses decimal text, plain (`33.3`) or scientific (`1e-7`, `2.5E+3`).
pub(crate) fn parse_decimal(text: &str) -> Option<Decimal> {
    let text = text.trim();
    Decimal::from_str(text)
        .or_else(|_| Decimal::from_scientific(text))
        .ok()
}

/// Decimal text read without rounding: `None` when it has more digits than a decimal holds
/// (28 after the point, 96 bits in all), where [`parse_decimal`] would round.
pub(crate) fn parse_exact_decimal(text: &str) -> Option<Decimal> {
    let text = text.trim();
    let Some((mantissa, exponent)) = text.split_once(['e', 'E']) else {
        return Decimal::from_str_exact(text).ok();
    };
    // `from_scientific` rounds a long mantissa: apply the exponent to the exact one instead.
    let mantissa = Decimal::from_str_exact(mantissa).ok()?;
    let exponent: i64 = exponent.parse().ok()?;
    let scale = i64::from(mantissa.scale()) - exponent;
    if scale >= 0 {
        // Only the scale moves: exact, or refused past 28 places.
        let mut exact = mantissa;
        exact.set_scale(u32::try_from(scale).ok()?).ok()?;
        return Some(exact);
    }
    let factor = 10_i128.checked_pow(u32::try_from(-scale).ok()?)?;
    Decimal::try_from_i128_with_scale(mantissa.mantissa().checked_mul(factor)?, 0).ok()
}

/// The exact decimal a JSON number was written as (an `f64` prints as its shortest round-trip
/// text, so `33.3` gives 33.3, not the binary approximation).
pub(crate) fn decimal_from_number(number: &Number) -> Option<Decimal> {
    parse_decimal(&number.to_string())
}

/// A JSON number for a decimal: an integer when the decimal has no fractional digits (`25`), a
/// float otherwise (`33.3`, `72.0`), so the scale a value was written or rounded with shows.
pub(crate) fn decimal_to_json(value: Decimal) -> Value {
    if value.scale() == 0
        && let Some(int) = value.to_i64()
    {
        return Value::from(int);
    }
    value
        .to_f64()
        .and_then(Number::from_f64)
        .map_or_else(|| Value::String(value.to_string()), Value::Number)
}

/// `serialize_with` for a decimal written as a JSON number.
pub(crate) fn serialize_decimal<S: Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    decimal_to_json(*value).serialize(s)
}

/// A measured decimal (a score, a mean, a delta) as a JSON float, as the API writes them.
pub fn float_json(value: Decimal) -> Value {
    value
        .to_f64()
        .and_then(Number::from_f64)
        .map_or_else(|| Value::String(value.to_string()), Value::Number)
}

/// `serialize_with` for a measured decimal (score, coverage, value, contribution) written as a
/// JSON float (`72.0`, `1.0`) whatever its scale.
pub fn serialize_float<S: Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    match value.to_f64() {
        Some(float) => s.serialize_f64(float),
        None => Serialize::serialize(value, s),
    }
}

/// `serialize_with` for an optional measured decimal: a JSON float or null.
pub fn serialize_opt_float<S: Serializer>(
    value: &Option<Decimal>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => serialize_float(v, s),
        None => s.serialize_none(),
    }
}

/// `serialize_with` for a map of decimals written as JSON numbers.
pub(crate) fn serialize_decimal_map<S: Serializer>(
    map: &BTreeMap<String, Decimal>,
    s: S,
) -> Result<S::Ok, S::Error> {
    let numbers: BTreeMap<&String, Value> =
        map.iter().map(|(k, v)| (k, decimal_to_json(*v))).collect();
    s.collect_map(numbers)
}

/// A value computed in `f64` (an exponential) as a decimal clamped to [0, 1]; NaN gives 0.
pub(crate) fn unit_from_f64(value: f64) -> Decimal {
    Decimal::from_f64(value.clamp(0.0, 1.0)).unwrap_or(Decimal::ZERO)
}

/// A decimal as `f64`, for exponent arithmetic.
pub(crate) fn to_f64(value: Decimal) -> f64 {
    value.to_f64().unwrap_or(f64::NAN)
}

/// Rounds to `dp` decimals, half away from zero.
pub(crate) fn round(value: Decimal, dp: u32) -> Decimal {
    value.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
}

/// A day count as whole milliseconds (rounded half away from zero), saturating at `i64::MAX`.
fn days_to_ms(days: Decimal) -> i64 {
    days.checked_mul(Decimal::from(MS_PER_DAY))
        .map(|ms| round(ms, 0))
        .and_then(|ms| ms.to_i64())
        .unwrap_or(i64::MAX)
}

/// `t - days`, saturating at the earliest representable instant. Days may be fractional.
pub(crate) fn days_before(t: DateTime<Utc>, days: Decimal) -> DateTime<Utc> {
    TimeDelta::try_milliseconds(days_to_ms(days))
        .and_then(|delta| t.checked_sub_signed(delta))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Days from `earlier` to `later` (negative when `later` is earlier), with millisecond precision.
pub(crate) fn days_between(earlier: DateTime<Utc>, later: DateTime<Utc>) -> f64 {
    (later - earlier).num_milliseconds() as f64 / MS_PER_DAY as f64
}

/// `#[serde(with)]` for a map of decimals stored exactly, each as a string.
pub(crate) mod exact_decimal_map {
    use std::collections::BTreeMap;

    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Exact(#[serde(with = "rust_decimal::serde::str")] Decimal);

    pub(crate) fn serialize<S: Serializer>(
        map: &BTreeMap<String, Decimal>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_map(map.iter().map(|(k, v)| (k, Exact(*v))))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, Decimal>, D::Error> {
        let map = BTreeMap::<String, Exact>::deserialize(d)?;
        Ok(map.into_iter().map(|(k, Exact(v))| (k, v)).collect())
    }
}

/// `#[serde(with)]` for `[upper, value]` pairs of decimals stored exactly, as strings.
pub(crate) mod exact_decimal_pairs {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Pair(
        #[serde(with = "rust_decimal::serde::str")] Decimal,
        #[serde(with = "rust_decimal::serde::str")] Decimal,
    );

    pub(crate) fn serialize<S: Serializer>(
        pairs: &[(Decimal, Decimal)],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(pairs.iter().map(|(a, b)| Pair(*a, *b)))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<(Decimal, Decimal)>, D::Error> {
        let pairs = Vec::<Pair>::deserialize(d)?;
        Ok(pairs.into_iter().map(|Pair(a, b)| (a, b)).collect())
    }
}
