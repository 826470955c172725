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
}
