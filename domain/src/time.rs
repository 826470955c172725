//! The one timestamp format every answer uses: RFC 3339, UTC, milliseconds, `Z`
//! (`2026-11-23T00:00:00.000Z`). Reading accepts any RFC 3339 form.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serializer;

/// `at` as `2026-11-23T00:00:00.000Z`.
pub fn rfc3339(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Epoch milliseconds as `2026-11-23T00:00:00.000Z` (the epoch itself for an impossible time).
pub fn rfc3339_ms(ms: i64) -> String {
    rfc3339(&DateTime::from_timestamp_millis(ms).unwrap_or_default())
}

/// `#[serde(serialize_with = "...")]` for a `DateTime<Utc>` field.
pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&rfc3339(at))
}

/// `#[serde(serialize_with = "...")]` for an `Option<DateTime<Utc>>` field.
pub fn serialize_option<S: Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serializer.serialize_str(&rfc3339(at)),
        None => serializer.serialize_none(),
    }
}

/// A time-typed property's value in the answers' one form, whichever form it arrived in:
/// epoch milliseconds (webhooks), ISO 8601 with an offset (syncs) or a bare date (`2026-11-23`,
/// midnight UTC). Anything else, and the empty (cleared) value, is returned as it is.
#[must_use]
pub fn normalize_property_time(value: &str) -> String {
    let parsed = if let Ok(ms) = value.parse::<i64>() {
        DateTime::from_timestamp_millis(ms)
    } else if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        Some(at.with_timezone(&Utc))
    } else if let Ok(day) = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        day.and_hms_opt(0, 0, 0).map(|at| at.and_utc())
    } else {
        None
    };
    parsed.map_or_else(|| value.to_owned(), |at| rfc3339(&at))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn every_time_has_milliseconds_and_z() {
        let at = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
        assert_eq!(rfc3339(&at), "2026-11-23T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_795_392_000_123), "2026-11-23T00:00:00.123Z");
    }

    #[test]
    fn a_time_property_reads_the_same_from_a_webhook_and_a_sync() {
        let webhook = normalize_property_time("1795392000123");
        let sync = normalize_property_time("2026-11-23T00:00:00.123Z");
        let offset = normalize_property_time("2026-11-23T01:00:00.123+01:00");
        assert_eq!(webhook, "2026-11-23T00:00:00.123Z");
        assert_eq!(sync, webhook);
        assert_eq!(offset, webhook);
        assert_eq!(
            normalize_property_time("2026-11-23"),
            "2026-11-23T00:00:00.000Z"
        );
        for kept in ["", "soon", "99999999999999999999"] {
            assert_eq!(normalize_property_time(kept), kept);
        }
    }
}
