//! A request budget per API key: a token bucket (`governor`) per key, in this process. A key
//! over its budget is answered 429 with `Retry-After`; webhooks and probes are not budgeted.

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::problem::ApiError;

/// Requests per second each key may make, with a burst of twice that.
#[derive(Clone)]
pub struct KeyBudget {
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
    per_second: NonZeroU32,
}

impl std::fmt::Debug for KeyBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyBudget({}/s)", self.per_second)
    }
}

/// A key over its budget.
#[derive(Debug)]
pub struct OverBudget {
    retry_after_seconds: u64,
    per_second: NonZeroU32,
}

impl IntoResponse for OverBudget {
    fn into_response(self) -> Response {
        let detail = format!(
            "this API key is over its budget of {} requests per second; retry in {} s",
            self.per_second, self.retry_after_seconds
        );
        let mut response = ApiError::new(StatusCode::TOO_MANY_REQUESTS, detail).into_response();
        if let Ok(value) = HeaderValue::from_str(&self.retry_after_seconds.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

impl KeyBudget {
    /// `per_second` requests per second per key, bursts up to twice that.
    pub fn per_second(per_second: NonZeroU32) -> Self {
        let burst = per_second.saturating_mul(NonZeroU32::MIN.saturating_add(1));
        let quota = Quota::per_second(per_second).allow_burst(burst);
        Self {
            limiter: Arc::new(RateLimiter::keyed(quota)),
            per_second,
        }
    }

    /// Spends one request of `key`'s budget.
    pub fn spend(&self, key: &str) -> Result<(), OverBudget> {
        self.limiter
            .check_key(&key.to_string())
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                OverBudget {
                    retry_after_seconds: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
                    per_second: self.per_second,
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_over_its_burst_is_told_when_to_come_back_and_others_are_not_touched() {
        let budget = KeyBudget::per_second(NonZeroU32::new(2).expect("nonzero"));
        for _ in 0..4 {
            assert!(budget.spend("hsk_a").is_ok(), "a burst of twice the rate");
        }
        let over = budget.spend("hsk_a").expect_err("over the budget");
        assert_eq!(over.retry_after_seconds, 1);
        assert!(budget.spend("hsk_b").is_ok(), "budgets are per key");
        let response = over.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }
}
