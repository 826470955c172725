//! Query strings parsed like axum's `Query`, but refused as problem details naming the field
//! that is wrong (axum's own rejection is plain text).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::problem::ApiError;

/// `?a=1&b=x` deserialized into `T`; a bad value answers 400 naming its field.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        // PostgreSQL text cannot hold NUL, and no name, id or time here has one: refuse it
        // before it reaches a query (where it would be a server error, not the client's).
        if let Some((field, _)) = form_urlencoded::parse(query.as_bytes())
            .find(|(key, value)| key.contains('\0') || value.contains('\0'))
        {
            return Err(ApiError::bad_field(
                &field,
                format!("{field} must not contain a NUL character"),
                "must not contain a NUL character",
            ));
        }
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(Self)
            .map_err(|error| {
                let field = error.path().to_string();
                let message = error.inner().to_string();
                if field == "." {
                    ApiError::bad_request(format!("the query string is not valid: {message}"))
                } else {
                    ApiError::bad_field(&field, format!("{field}: {message}"), &message)
                }
            })
    }
}

/// A page size: `default` when not asked, else 1 to `max` (400 naming `limit` otherwise).
pub fn limit<T>(asked: Option<T>, default: T, max: T) -> Result<T, ApiError>
where
    T: Copy + PartialOrd + From<u8> + std::fmt::Display,
{
    let limit = asked.unwrap_or(default);
    if limit < T::from(1) || limit > max {
        return Err(ApiError::bad_field(
            "limit",
            format!("limit must be between 1 and {max}, not {limit}"),
            &format!("must be between 1 and {max}"),
        ));
    }
    Ok(limit)
}

/// `#[serde(default, deserialize_with = "query::time")]` for an `Option<DateTime<Utc>>`
/// parameter: any RFC 3339 time. A space where the offset's `+` belongs is a `+` the client
/// did not encode, and the error says so.
pub fn time<'de, D>(deserializer: D) -> Result<Option<chrono::DateTime<chrono::Utc>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::Deserialize as _;
    let Some(text) = Option::<String>::deserialize(deserializer)? else {
        return Ok(None);
    };
    chrono::DateTime::parse_from_rfc3339(&text)
        .map(|t| Some(t.with_timezone(&chrono::Utc)))
        .map_err(|_| {
            let hint = if text.contains(' ') {
                " (a + in a query string must be sent as %2B, or use Z)"
            } else {
                ""
            };
            serde::de::Error::custom(format!(
                "not an RFC 3339 time, e.g. 2026-11-23T00:00:00Z{hint}"
            ))
        })
}

#[cfg(test)]
mod tests {
    use axum::http::Request;
    use chrono::{DateTime, Utc};
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct AsOf {
        #[serde(default, deserialize_with = "time")]
        as_of: Option<DateTime<Utc>>,
        limit: Option<u16>,
    }

    async fn parse(query: &str) -> Result<AsOf, ApiError> {
        let request = Request::get(format!("/x?{query}"))
            .body(())
            .expect("request");
        let (mut parts, ()) = request.into_parts();
        ApiQuery::<AsOf>::from_request_parts(&mut parts, &())
            .await
            .map(|ApiQuery(q)| q)
    }

    #[tokio::test]
    async fn an_unencoded_plus_gets_a_hint_and_bad_fields_are_named() {
        let plus = parse("as_of=2026-11-23T00:00:00+01:00").await.unwrap_err();
        assert!(plus.detail().starts_with("as_of: "), "{}", plus.detail());
        assert!(plus.detail().contains("%2B"), "{}", plus.detail());
        let encoded = parse("as_of=2026-11-23T00:00:00%2B01:00")
            .await
            .expect("parses");
        assert_eq!(
            encoded.as_of.map(|t| t.to_rfc3339()),
            Some("2026-11-22T23:00:00+00:00".to_owned())
        );
        let plain = parse("as_of=yesterday").await.unwrap_err();
        assert!(!plain.detail().contains("%2B"));
        let limit = parse("limit=-1").await.unwrap_err();
        assert!(limit.detail().starts_with("limit: "), "{}", limit.detail());
        let nothing = parse("").await.expect("nothing asked");
        assert!(nothing.as_of.is_none() && nothing.limit.is_none());
    }
}
