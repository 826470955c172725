//! HubSpot webhook signature verification (v1, v2 and v3) and signing helpers.
//!
//! Pure code: the caller extracts the headers and passes the current time in.
//! Signatures are computed over the raw body bytes, never re-serialised JSON.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use subtle::{Choice, ConstantTimeEq};

mod sign;
mod uri;

pub use sign::{crm_webhook_headers, sign_v1, sign_v2, sign_v3};

use sign::{digest_v1, digest_v2, mac_v3};
use uri::decode_v3_uri;

/// Header carrying the v1 or v2 signature (lower-case; header names are case-insensitive).
pub const HEADER_SIGNATURE: &str = "x-hubspot-signature";
/// Header selecting `v1` or `v2` for [`HEADER_SIGNATURE`]; absent means `v1`.
pub const HEADER_SIGNATURE_VERSION: &str = "x-hubspot-signature-version";
/// Header carrying the v3 signature.
pub const HEADER_SIGNATURE_V3: &str = "x-hubspot-signature-v3";
/// Header carrying the v3 request timestamp in epoch milliseconds.
pub const HEADER_REQUEST_TIMESTAMP: &str = "x-hubspot-request-timestamp";

/// Largest accepted distance, either way, between a v3 timestamp and `now`.
pub const MAX_TIMESTAMP_SKEW_MS: u64 = 300_000;

/// The parts of an incoming request that HubSpot signs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignedRequest<'a> {
    /// HTTP method as sent, e.g. `POST`.
    pub method: &'a str,
    /// Full public URL HubSpot called: scheme, host, path and query.
    pub uri: &'a str,
    /// Raw request body bytes.
    pub body: &'a [u8],
    /// Value of `X-HubSpot-Signature-v3`.
    pub signature_v3: Option<&'a str>,
    /// Value of `X-HubSpot-Request-Timestamp`.
    pub timestamp: Option<&'a str>,
    /// Value of `X-HubSpot-Signature` (v1 or v2).
    pub signature: Option<&'a str>,
    /// Value of `X-HubSpot-Signature-Version`.
    pub signature_version: Option<&'a str>,
}

impl<'a> SignedRequest<'a> {
    /// Builds a request, reading headers through `header`, which is called with the
    /// lower-case header names above and must look them up case-insensitively.
    pub fn from_headers(
        method: &'a str,
        uri: &'a str,
        body: &'a [u8],
        header: impl Fn(&'static str) -> Option<&'a str>,
    ) -> Self {
        Self {
            method,
            uri,
            body,
            signature_v3: header(HEADER_SIGNATURE_V3),
            timestamp: header(HEADER_REQUEST_TIMESTAMP),
            signature: header(HEADER_SIGNATURE),
            signature_version: header(HEADER_SIGNATURE_VERSION),
        }
    }
}

/// The signature scheme that authenticated a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureVersion {
    /// SHA-256 of secret and body.
    V1,
    /// SHA-256 of secret, method, URI and body.
    V2,
    /// Timestamped HMAC-SHA256.
    V3,
}

/// Why a request was not authenticated. Messages never include secrets or signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No signature header, or a v3 signature without its timestamp.
    #[error("HubSpot signature headers are missing")]
    Missing,
    /// The signature does not match any configured secret, or is not well formed.
    #[error("HubSpot signature is invalid")]
    Invalid,
    /// The v3 timestamp is more than five minutes away from now.
    #[error("HubSpot request timestamp is outside the accepted window")]
    StaleTimestamp,
    /// The v3 timestamp is not an integer number of milliseconds.
    #[error("HubSpot request timestamp is malformed")]
    MalformedTimestamp,
}

/// Verifies `req` against any of `secrets` (several during a rotation) at `now_ms`.
///
/// v3 is preferred whenever its header is present. HubSpot sends v1 and v3 together, so a
/// present but failing v3 is final: falling back to v1 would let a replayed request with a
/// stale v3 through. Without a v3 header, `X-HubSpot-Signature-Version` picks v1 or v2.
/// Callers that need replay protection can insist on [`SignatureVersion::V3`].
/// Empty secrets never match.
///
/// # Errors
///
/// [`SignatureError::Missing`] without any signature header (or a v3 without its timestamp),
/// [`SignatureError::MalformedTimestamp`] / [`SignatureError::StaleTimestamp`] for a bad v3
/// timestamp, and [`SignatureError::Invalid`] when no secret produces the given signature.
pub fn verify(
    req: &SignedRequest<'_>,
    secrets: &[impl AsRef<[u8]>],
    now_ms: i64,
) -> Result<SignatureVersion, SignatureError> {
    if let Some(signature) = req.signature_v3 {
        return verify_v3(req, signature, secrets, now_ms).map(|()| SignatureVersion::V3);
    }
    let signature = req.signature.ok_or(SignatureError::Missing)?;
    let version = match req.signature_version.map(str::trim) {
        None => SignatureVersion::V1,
        Some(v) if v.eq_ignore_ascii_case("v1") => SignatureVersion::V1,
        Some(v) if v.eq_ignore_ascii_case("v2") => SignatureVersion::V2,
        Some(_) => return Err(SignatureError::Invalid),
    };
    let mut given = [0u8; 32];
    hex::decode_to_slice(signature.trim(), &mut given).map_err(|_| SignatureError::Invalid)?;
    let matched = any_secret(secrets, |secret| {
        let expected = match version {
            SignatureVersion::V2 => digest_v2(secret, req.method, req.uri, req.body),
            _ => digest_v1(secret, req.body),
        };
        expected.ct_eq(&given)
    });
    if matched {
        Ok(version)
    } else {
        Err(SignatureError::Invalid)
    }
}

fn verify_v3(
    req: &SignedRequest<'_>,
    signature: &str,
    secrets: &[impl AsRef<[u8]>],
    now_ms: i64,
) -> Result<(), SignatureError> {
    let timestamp = req.timestamp.ok_or(SignatureError::Missing)?;
    let stamp_ms: i64 = timestamp
        .parse()
        .map_err(|_| SignatureError::MalformedTimestamp)?;
    if now_ms.abs_diff(stamp_ms) > MAX_TIMESTAMP_SKEW_MS {
        return Err(SignatureError::StaleTimestamp);
    }
    let given = STANDARD
        .decode(signature.trim())
        .map_err(|_| SignatureError::Invalid)?;
    let uri = decode_v3_uri(req.uri);
    let matched = any_secret(secrets, |secret| {
        mac_v3(secret, req.method, &uri, req.body, timestamp)
            .as_slice()
            .ct_eq(&given)
    });
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Invalid)
    }
}

/// Tries every non-empty secret without stopping early, so timing does not reveal which matched.
fn any_secret(secrets: &[impl AsRef<[u8]>], check: impl Fn(&[u8]) -> Choice) -> bool {
    let mut matched = Choice::from(0);
    for secret in secrets.iter().map(AsRef::as_ref) {
        if !secret.is_empty() {
            matched |= check(secret);
        }
    }
    matched.into()
}

#[cfg(test)]
mod tests;
