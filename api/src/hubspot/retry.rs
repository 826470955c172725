//! What to do with one HTTP answer: succeed, fail for good, wait out a rate limit, or back off
//! and try again. Backoff is exponential with full jitter; `Retry-After` wins when present.

use std::time::Duration;

use rand::Rng;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::Deserialize;

use super::HubSpotError;
use super::client::Lane;
use super::config::ClientConfig;

/// Longest wait a server may ask for through `Retry-After` or the interval header.
const MAX_SERVER_WAIT: Duration = Duration::from_secs(300);
/// The rolling-window length HubSpot reports on ten-secondly 429s.
const INTERVAL_HEADER: &str = "x-hubspot-ratelimit-interval-milliseconds";
/// Longest HubSpot message kept from a non-JSON error body.
const MAX_MESSAGE_CHARS: usize = 300;

/// Retry bounds and fallback waits, copied from [`ClientConfig`].
#[derive(Debug, Clone)]
pub(crate) struct RetryPolicy {
    pub(crate) max_retries: u32,
    pub(crate) max_rate_limit_retries: u32,
    backoff_base: Duration,
    backoff_max: Duration,
    rate_window: Duration,
    search_window: Duration,
}

impl From<&ClientConfig> for RetryPolicy {
    fn from(config: &ClientConfig) -> Self {
        Self {
            max_retries: config.max_retries,
            max_rate_limit_retries: config.max_rate_limit_retries,
            backoff_base: config.backoff_base,
            backoff_max: config.backoff_max,
            rate_window: config.rate_window,
            search_window: config.search_window,
        }
    }
}

impl RetryPolicy {
    /// A random delay between zero and `base * 2^(failures - 1)`, capped at the maximum.
    pub(crate) fn backoff(&self, failures: u32) -> Duration {
        let doubling = 2_u32.saturating_pow(failures.saturating_sub(1));
        let ceiling = self
            .backoff_base
            .saturating_mul(doubling)
            .min(self.backoff_max);
        let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::rng().random_range(0..=ceiling_ms))
    }
}

/// Why an attempt may be worth repeating.
#[derive(Debug)]
pub(crate) enum Failure {
    /// 500, 502, 503 or 504.
    Status(u16),
    /// A timeout, connection or body error.
    Transport(reqwest::Error),
}

/// The verdict on one attempt.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// A 2xx body.
    Done(Vec<u8>),
    /// Not worth repeating.
    Fatal(HubSpotError),
    /// A rate-limit 429: hold every request of the lane back this long, then retry.
    Throttled(Duration),
    /// Back off (`Retry-After` if given, else jittered) and retry.
    Failed {
        failure: Failure,
        retry_after: Option<Duration>,
    },
}

/// HubSpot's error body: `{"status":"error","message":...,"policyName":...}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ErrorBody {
    message: Option<String>,
    policy_name: Option<String>,
}

/// Judges a complete answer.
pub(crate) fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    body: Vec<u8>,
    lane: Lane,
    policy: &RetryPolicy,
) -> Attempt {
    if status.is_success() {
        return Attempt::Done(body);
    }
    let retry_after = seconds_header(headers, RETRY_AFTER.as_str());
    match status.as_u16() {
        401 => Attempt::Fatal(HubSpotError::Unauthorized),
        429 => {
            let error: ErrorBody = serde_json::from_slice(&body).unwrap_or_default();
            let fallback = match error.policy_name.as_deref() {
                Some("DAILY") => return Attempt::Fatal(HubSpotError::DailyLimitReached),
                Some("SECONDLY") => policy.search_window,
                Some("TEN_SECONDLY_ROLLING") => policy.rate_window,
                _ if lane == Lane::Search => policy.search_window,
                _ => policy.rate_window,
            };
            let interval = millis_header(headers, INTERVAL_HEADER).unwrap_or(fallback);
            let wait = interval.max(retry_after.unwrap_or_default());
            Attempt::Throttled(wait.min(MAX_SERVER_WAIT))
        }
        code @ (500 | 502 | 503 | 504) => Attempt::Failed {
            failure: Failure::Status(code),
            retry_after,
        },
        code => Attempt::Fatal(HubSpotError::Api {
            status: code,
            message: message(&body),
        }),
    }
}

/// HubSpot's `message`, or the start of the body as text.
fn message(body: &[u8]) -> String {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody {
            message: Some(message),
            ..
        }) => message,
        _ => String::from_utf8_lossy(body)
            .chars()
            .take(MAX_MESSAGE_CHARS)
            .collect(),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// A whole number of seconds (the HTTP-date form of `Retry-After` is ignored).
fn seconds_header(headers: &HeaderMap, name: &str) -> Option<Duration> {
    let seconds: u64 = header(headers, name)?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds).min(MAX_SERVER_WAIT))
}

fn millis_header(headers: &HeaderMap, name: &str) -> Option<Duration> {
    let millis: u64 = header(headers, name)?.trim().parse().ok()?;
    Some(Duration::from_millis(millis).min(MAX_SERVER_WAIT))
}

#[cfg(test)]
mod tests;
