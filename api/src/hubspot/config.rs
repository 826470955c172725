//! Client settings: where HubSpot lives, the token, client-side pacing and retry bounds.

use std::time::Duration;

use crate::secret::Secret;

/// HubSpot's public API base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.hubapi.com";

/// Everything [`super::HubSpotClient::new`] needs. Start from [`ClientConfig::new`], which
/// fills in HubSpot's documented limits, and override fields with struct update syntax.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// API base URL, [`DEFAULT_BASE_URL`] unless pointed at a fake.
    pub base_url: String,
    /// The bearer token sent with every request.
    pub access_token: Secret,
    /// Non-search requests allowed per rolling [`Self::rate_window`] (HubSpot: 100 or 190).
    pub rate_limit: u32,
    /// Length of the general rolling window (HubSpot: 10 s). Also how long to back off after
    /// a `TEN_SECONDLY_ROLLING` 429 that names no interval.
    pub rate_window: Duration,
    /// Search requests allowed per rolling [`Self::search_window`] (HubSpot: 5).
    pub search_rate_limit: u32,
    /// Length of the search rolling window (HubSpot: 1 s). Also how long to back off after a
    /// `SECONDLY` 429 that names no interval.
    pub search_window: Duration,
    /// Retries after 5xx answers, timeouts and connection errors before giving up.
    pub max_retries: u32,
    /// Retries after rate-limit 429s (not `DAILY`) before giving up; a separate budget.
    pub max_rate_limit_retries: u32,
    /// First backoff ceiling; doubles per failed attempt, with full jitter.
    pub backoff_base: Duration,
    /// Largest backoff ceiling.
    pub backoff_max: Duration,
    /// Timeout of one HTTP attempt, connection included.
    pub request_timeout: Duration,
}

impl ClientConfig {
    /// Settings for a Free/Starter private app on the real HubSpot: 100 requests per 10 s,
    /// 5 searches per second, 6 retries with backoff from 250 ms up to 30 s, 30 s timeout.
    pub fn new(access_token: Secret) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            access_token,
            rate_limit: 100,
            rate_window: Duration::from_secs(10),
            search_rate_limit: 5,
            search_window: Duration::from_secs(1),
            max_retries: 6,
            max_rate_limit_retries: 6,
            backoff_base: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_never_prints() {
        let config = ClientConfig::new(Secret::new("pat-na1-secret"));
        let shown = format!("{config:?} {}", config.access_token);
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("***"));
        assert_eq!(config.access_token.expose(), "pat-na1-secret");
    }
}
