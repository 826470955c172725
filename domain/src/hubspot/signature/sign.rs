//! Signing: the v1, v2 and v3 signatures HubSpot computes, shared by verification and by
//! callers that play HubSpot (tests, load benchmarks, a fake HubSpot).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::digest::{Key, KeyInit};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::uri::decode_v3_uri;

type HmacSha256 = Hmac<Sha256>;

/// Lower-case hex v1 signature: SHA-256 of `secret + body`.
pub fn sign_v1(secret: impl AsRef<[u8]>, body: &[u8]) -> String {
    hex::encode(digest_v1(secret.as_ref(), body))
}

/// Lower-case hex v2 signature: SHA-256 of `secret + method + uri + body`.
pub fn sign_v2(secret: impl AsRef<[u8]>, method: &str, uri: &str, body: &[u8]) -> String {
    hex::encode(digest_v2(secret.as_ref(), method, uri, body))
}

/// Padded base64 v3 signature: HMAC-SHA256 keyed by `secret` over
/// `method + uri + body + timestamp`, with the URI's listed escapes decoded first.
pub fn sign_v3(
    secret: impl AsRef<[u8]>,
    method: &str,
    uri: &str,
    body: &[u8],
    timestamp_ms: i64,
) -> String {
    let uri = decode_v3_uri(uri);
    let mac = mac_v3(
        secret.as_ref(),
        method,
        &uri,
        body,
        &timestamp_ms.to_string(),
    );
    STANDARD.encode(mac)
}

/// The headers HubSpot sends with a CRM webhook POST to `uri` at `timestamp_ms`: the v1
/// signature (with its version header), the v3 signature and its timestamp.
pub fn crm_webhook_headers(
    secret: impl AsRef<[u8]>,
    uri: &str,
    body: &[u8],
    timestamp_ms: i64,
) -> [(&'static str, String); 4] {
    let secret = secret.as_ref();
    [
        ("X-HubSpot-Signature", sign_v1(secret, body)),
        ("X-HubSpot-Signature-Version", "v1".to_string()),
        (
            "X-HubSpot-Signature-v3",
            sign_v3(secret, "POST", uri, body, timestamp_ms),
        ),
        ("X-HubSpot-Request-Timestamp", timestamp_ms.to_string()),
    ]
}

pub(super) fn digest_v1(secret: &[u8], body: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update(secret)
        .chain_update(body)
        .finalize()
        .into()
}

pub(super) fn digest_v2(secret: &[u8], method: &str, uri: &str, body: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update(secret)
        .chain_update(method)
        .chain_update(uri)
        .chain_update(body)
        .finalize()
        .into()
}

pub(super) fn mac_v3(
    secret: &[u8],
    method: &str,
    uri: &str,
    body: &[u8],
    timestamp: &str,
) -> [u8; 32] {
    let mut mac = <HmacSha256 as KeyInit>::new(&hmac_key(secret));
    mac.update(method.as_bytes());
    mac.update(uri.as_bytes());
    mac.update(body);
    mac.update(timestamp.as_bytes());
    mac.finalize().into_bytes().into()
}

/// RFC 2104 key block: keys longer than the block are hashed, shorter ones zero-padded.
/// Building it here keeps HMAC construction infallible.
fn hmac_key(secret: &[u8]) -> Key<HmacSha256> {
    let mut key = Key::<HmacSha256>::default();
    if secret.len() > key.len() {
        let hashed = Sha256::digest(secret);
        key[..hashed.len()].copy_from_slice(&hashed);
    } else {
        key[..secret.len()].copy_from_slice(secret);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::mac_v3;

    #[test]
    fn long_keys_follow_rfc_4231() {
        let key = [0xaa_u8; 131];
        let msg = b"Test Using Larger Than Block-Size Key - Hash Key First";
        let mac = mac_v3(&key, "", "", msg, "");
        assert_eq!(
            hex::encode(mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }
}
