//! Verdicts on canned answers, and the backoff bounds.

use reqwest::header::HeaderValue;

use super::*;
use crate::hubspot::ClientConfig;
use crate::secret::Secret;

fn policy() -> RetryPolicy {
    RetryPolicy::from(&ClientConfig {
        rate_window: Duration::from_millis(700),
        search_window: Duration::from_millis(300),
        backoff_base: Duration::from_millis(100),
        backoff_max: Duration::from_secs(1),
        ..ClientConfig::new(Secret::new("t"))
    })
}

fn judge(status: u16, headers: &[(&'static str, &'static str)], body: &str) -> Attempt {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.insert(*name, HeaderValue::from_static(value));
    }
    let status = StatusCode::from_u16(status).expect("valid status");
    classify(
        status,
        &map,
        body.as_bytes().to_vec(),
        Lane::General,
        &policy(),
    )
}

const TEN_SECONDLY: &str = r#"{"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","policyName":"TEN_SECONDLY_ROLLING"}"#;

#[test]
fn a_daily_429_is_final() {
    let body = r#"{"status":"error","message":"You have reached your daily limit.","errorType":"RATE_LIMIT","policyName":"DAILY"}"#;
    let attempt = judge(429, &[], body);
    assert!(matches!(
        attempt,
        Attempt::Fatal(HubSpotError::DailyLimitReached)
    ));
}

#[test]
fn a_ten_secondly_429_waits_out_the_reported_interval_or_the_configured_window() {
    let headers = [(INTERVAL_HEADER, "10000")];
    let reported = judge(429, &headers, TEN_SECONDLY);
    assert!(matches!(reported, Attempt::Throttled(d) if d == Duration::from_secs(10)));
    let unreported = judge(429, &[], TEN_SECONDLY);
    assert!(matches!(unreported, Attempt::Throttled(d) if d == Duration::from_millis(700)));
}

#[test]
fn a_secondly_429_waits_out_the_search_window() {
    let body = r#"{"status":"error","message":"You have reached your secondly limit.","errorType":"RATE_LIMIT","policyName":"SECONDLY"}"#;
    let attempt = judge(429, &[], body);
    assert!(matches!(attempt, Attempt::Throttled(d) if d == Duration::from_millis(300)));
}

#[test]
fn gateway_errors_are_retried_honouring_retry_after() {
    let attempt = judge(503, &[("retry-after", "1")], "<html>503</html>");
    assert!(matches!(
        attempt,
        Attempt::Failed { failure: Failure::Status(503), retry_after: Some(d) } if d == Duration::from_secs(1)
    ));
    let attempt = judge(502, &[], "<html>502</html>");
    assert!(matches!(
        attempt,
        Attempt::Failed {
            failure: Failure::Status(502),
            retry_after: None
        }
    ));
}

#[test]
fn other_client_errors_carry_hubspots_message() {
    let body = r#"{"status":"error","message":"Property 'x' does not exist","category":"VALIDATION_ERROR"}"#;
    match judge(400, &[], body) {
        Attempt::Fatal(HubSpotError::Api { status, message }) => {
            assert_eq!(
                (status, message.as_str()),
                (400, "Property 'x' does not exist")
            );
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    assert!(matches!(
        judge(401, &[], "{}"),
        Attempt::Fatal(HubSpotError::Unauthorized)
    ));
    match judge(501, &[], "not implemented") {
        Attempt::Fatal(HubSpotError::Api { message, .. }) => assert_eq!(message, "not implemented"),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[test]
fn backoff_stays_under_a_doubling_ceiling_capped_at_the_maximum() {
    let policy = policy();
    for failures in 1..=12 {
        let ceiling =
            (Duration::from_millis(100) * 2_u32.pow(failures - 1)).min(Duration::from_secs(1));
        for _ in 0..50 {
            assert!(policy.backoff(failures) <= ceiling);
        }
    }
}
