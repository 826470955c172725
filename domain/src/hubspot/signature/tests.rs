//! Signature tests: HUBSPOT.md vectors, tampering, rotation, time window, header selection.

use super::*;

const SECRET: &str = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
const URI: &str = "https://www.example.com/webhook_uri";
const CONTACT_BODY: &[u8] = br#"[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]"#;
const SINGLE_QUOTED: &[u8] = b"{'example_field':'example_value'}";
const DOUBLE_QUOTED: &[u8] = br#"{"example_field":"example_value"}"#;
const V3_TS: i64 = 1_693_657_560_000;
const V3_SIG: &str = "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y=";

fn legacy<'a>(
    method: &'a str,
    body: &'a [u8],
    sig: &'a str,
    version: Option<&'a str>,
) -> SignedRequest<'a> {
    SignedRequest {
        method,
        uri: URI,
        body,
        signature: Some(sig),
        signature_version: version,
        ..SignedRequest::default()
    }
}

fn v3<'a>(uri: &'a str, body: &'a [u8], sig: &'a str, ts: &'a str) -> SignedRequest<'a> {
    SignedRequest {
        method: "POST",
        uri,
        body,
        signature_v3: Some(sig),
        timestamp: Some(ts),
        ..SignedRequest::default()
    }
}

#[test]
fn every_documented_vector_signs_and_verifies() {
    let v1 = [
        (
            CONTACT_BODY,
            "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de",
        ),
        (
            SINGLE_QUOTED,
            "69fc6631a867edd4f9e9e627fc5c1148e3fbdd8b21837b6d2b8901c1fa57f750",
        ),
    ];
    for (body, sig) in v1 {
        assert_eq!(sign_v1(SECRET, body), sig);
        let req = legacy("POST", body, sig, Some("v1"));
        assert_eq!(verify(&req, &[SECRET], 0), Ok(SignatureVersion::V1));
    }
    let v2 = [
        (
            "GET",
            &b""[..],
            "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e",
        ),
        (
            "POST",
            DOUBLE_QUOTED,
            "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900",
        ),
    ];
    for (method, body, sig) in v2 {
        assert_eq!(sign_v2(SECRET, method, URI, body), sig);
        let req = legacy(method, body, sig, Some("v2"));
        assert_eq!(verify(&req, &[SECRET], 0), Ok(SignatureVersion::V2));
    }
    let v3_vectors = [
        (V3_TS, V3_SIG),
        (
            1_700_000_300_000,
            "RnbPH7+UMKVkbV32P8bz450N4M56aPmcru1+D3kSDtw=",
        ),
    ];
    for (ts, sig) in v3_vectors {
        assert_eq!(sign_v3(SECRET, "POST", URI, SINGLE_QUOTED, ts), sig);
        let stamp = ts.to_string();
        let req = v3(URI, SINGLE_QUOTED, sig, &stamp);
        assert_eq!(verify(&req, &[SECRET], ts), Ok(SignatureVersion::V3));
    }
}

#[test]
fn a_flipped_body_byte_is_rejected() {
    let mut body = CONTACT_BODY.to_vec();
    body[10] ^= 1;
    let sig = sign_v1(SECRET, CONTACT_BODY);
    assert_eq!(
        verify(&legacy("POST", &body, &sig, None), &[SECRET], 0),
        Err(SignatureError::Invalid)
    );
    let stamp = V3_TS.to_string();
    let req = v3(URI, b"{'example_field':'example_valuf'}", V3_SIG, &stamp);
    assert_eq!(verify(&req, &[SECRET], V3_TS), Err(SignatureError::Invalid));
}

#[test]
fn a_wrong_or_empty_secret_is_rejected() {
    let stamp = V3_TS.to_string();
    let req = v3(URI, SINGLE_QUOTED, V3_SIG, &stamp);
    assert_eq!(
        verify(&req, &["not-the-secret"], V3_TS),
        Err(SignatureError::Invalid)
    );
    let empty: [&str; 0] = [];
    assert_eq!(verify(&req, &empty, V3_TS), Err(SignatureError::Invalid));
    let sig = sign_v1("", SINGLE_QUOTED);
    let req = legacy("POST", SINGLE_QUOTED, &sig, None);
    assert_eq!(verify(&req, &[""], 0), Err(SignatureError::Invalid));
}

#[test]
fn any_secret_of_a_rotation_list_is_accepted() {
    let secrets = ["old-secret", SECRET];
    let stamp = V3_TS.to_string();
    assert_eq!(
        verify(&v3(URI, SINGLE_QUOTED, V3_SIG, &stamp), &secrets, V3_TS),
        Ok(SignatureVersion::V3)
    );
    let sig = sign_v2(SECRET, "POST", URI, DOUBLE_QUOTED);
    let req = legacy("POST", DOUBLE_QUOTED, &sig, Some("v2"));
    assert_eq!(verify(&req, &secrets, 0), Ok(SignatureVersion::V2));
}

#[test]
fn timestamps_more_than_five_minutes_away_are_stale() {
    let stamp = V3_TS.to_string();
    let req = v3(URI, SINGLE_QUOTED, V3_SIG, &stamp);
    for now in [V3_TS + 300_000, V3_TS - 300_000, V3_TS] {
        assert_eq!(verify(&req, &[SECRET], now), Ok(SignatureVersion::V3));
    }
    for now in [V3_TS + 300_001, V3_TS - 300_001, i64::MIN, i64::MAX] {
        assert_eq!(
            verify(&req, &[SECRET], now),
            Err(SignatureError::StaleTimestamp)
        );
    }
}

#[test]
fn v3_needs_a_well_formed_timestamp() {
    let mut req = v3(URI, SINGLE_QUOTED, V3_SIG, "");
    req.timestamp = None;
    assert_eq!(verify(&req, &[SECRET], V3_TS), Err(SignatureError::Missing));
    for bad in ["", "abc", "1693657560000.0", "99999999999999999999"] {
        let req = v3(URI, SINGLE_QUOTED, V3_SIG, bad);
        assert_eq!(
            verify(&req, &[SECRET], V3_TS),
            Err(SignatureError::MalformedTimestamp)
        );
    }
}

#[test]
fn v3_decodes_only_the_listed_escapes() {
    let ts = V3_TS;
    let stamp = ts.to_string();
    let sig = sign_v3(SECRET, "POST", "https://x.test/a:b?c=d e", b"[]", ts);
    for encoded in ["https://x.test/a%3Ab%3Fc=d e", "https://x.test/a%3ab?c=d e"] {
        let req = v3(encoded, b"[]", &sig, &stamp);
        assert_eq!(
            verify(&req, &[SECRET], ts),
            Ok(SignatureVersion::V3),
            "{encoded}"
        );
    }
    let req = v3("https://x.test/a:b?c=d%20e", b"[]", &sig, &stamp);
    assert_eq!(verify(&req, &[SECRET], ts), Err(SignatureError::Invalid));
    let with_space = sign_v3(SECRET, "POST", "https://x.test/a%20b", b"[]", ts);
    assert_ne!(
        with_space,
        sign_v3(SECRET, "POST", "https://x.test/a b", b"[]", ts)
    );
}

#[test]
fn the_version_header_selects_v1_or_v2() {
    let v1 = sign_v1(SECRET, DOUBLE_QUOTED);
    let v2 = sign_v2(SECRET, "POST", URI, DOUBLE_QUOTED);
    let check =
        |sig: &str, version| verify(&legacy("POST", DOUBLE_QUOTED, sig, version), &[SECRET], 0);
    assert_eq!(check(&v1, None), Ok(SignatureVersion::V1));
    assert_eq!(check(&v1, Some("V1")), Ok(SignatureVersion::V1));
    assert_eq!(check(&v2, Some("V2")), Ok(SignatureVersion::V2));
    assert_eq!(check(&v2, None), Err(SignatureError::Invalid));
    assert_eq!(check(&v1, Some("v2")), Err(SignatureError::Invalid));
    assert_eq!(check(&v1, Some("v9")), Err(SignatureError::Invalid));
    assert_eq!(check(&v1.to_uppercase(), None), Ok(SignatureVersion::V1));
    assert_eq!(check("zz", None), Err(SignatureError::Invalid));
}

#[test]
fn a_failing_v3_is_not_rescued_by_a_valid_v1() {
    let v1 = sign_v1(SECRET, SINGLE_QUOTED);
    let stale = (V3_TS - 600_000).to_string();
    let mut req = v3(URI, SINGLE_QUOTED, V3_SIG, &stale);
    req.signature = Some(&v1);
    assert_eq!(
        verify(&req, &[SECRET], V3_TS),
        Err(SignatureError::StaleTimestamp)
    );
    req.signature_v3 = None;
    assert_eq!(verify(&req, &[SECRET], V3_TS), Ok(SignatureVersion::V1));
}

#[test]
fn missing_headers_are_reported_as_missing() {
    let req = SignedRequest {
        method: "POST",
        uri: URI,
        body: b"[]",
        ..SignedRequest::default()
    };
    assert_eq!(verify(&req, &[SECRET], 0), Err(SignatureError::Missing));
}

#[test]
fn headers_are_read_through_a_lookup() {
    let stamp = V3_TS.to_string();
    let headers = [
        (HEADER_SIGNATURE_V3, V3_SIG),
        (HEADER_REQUEST_TIMESTAMP, stamp.as_str()),
    ];
    let lookup = |name| headers.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    let req = SignedRequest::from_headers("POST", URI, SINGLE_QUOTED, lookup);
    assert_eq!(req.signature, None);
    assert_eq!(verify(&req, &[SECRET], V3_TS), Ok(SignatureVersion::V3));
}

#[test]
fn error_messages_leak_nothing() {
    for err in [
        SignatureError::Missing,
        SignatureError::Invalid,
        SignatureError::StaleTimestamp,
        SignatureError::MalformedTimestamp,
    ] {
        let text = err.to_string();
        assert!(!text.contains(SECRET) && !text.contains(V3_SIG), "{text}");
    }
}
