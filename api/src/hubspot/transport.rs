//! The request loop: pace, send, judge the answer, and retry within the configured budgets.

use reqwest::Url;
use serde::de::DeserializeOwned;
use tokio::time::{Instant, sleep};

use super::HubSpotError;
use super::client::{Call, HubSpotClient};
use super::retry::{Attempt, Failure, classify};
use crate::secret::Secret;

impl HubSpotClient {
    /// Runs `call` to completion and decodes its JSON body.
    pub(crate) async fn execute<T: DeserializeOwned>(
        &self,
        call: &Call,
    ) -> Result<T, HubSpotError> {
        let body = self.execute_raw(call).await?;
        serde_json::from_slice(&body).map_err(|source| HubSpotError::Decode {
            what: call.what,
            source,
        })
    }

    /// Runs `call`, retrying 429s (not `DAILY`), 5xx answers and transport errors.
    async fn execute_raw(&self, call: &Call) -> Result<Vec<u8>, HubSpotError> {
        let url = self.url(&call.segments)?;
        let limiter = self.limiter(call.lane);
        let policy = &self.inner.policy;
        let (mut failures, mut throttles) = (0_u32, 0_u32);
        let mut token = self.token().await?;
        let mut refreshed = false;
        loop {
            let attempt = {
                let _slot = limiter.acquire().await;
                self.attempt(call, url.clone(), &token).await
            };
            match attempt {
                Attempt::Done(body) => return Ok(body),
                // An OAuth token can expire early or be replaced: refresh once and try again.
                Attempt::Fatal(HubSpotError::Unauthorized) if !refreshed => {
                    match self.refreshed(token.clone()).await {
                        Some(new) => {
                            token = new?;
                            refreshed = true;
                            continue;
                        }
                        None => return Err(HubSpotError::Unauthorized),
                    }
                }
                Attempt::Fatal(error) => return Err(error),
                Attempt::Throttled(wait) => {
                    if throttles >= policy.max_rate_limit_retries {
                        return Err(HubSpotError::RateLimited { retries: throttles });
                    }
                    throttles += 1;
                    tracing::warn!(
                        endpoint = call.what,
                        retry = throttles,
                        wait_ms = wait.as_millis(),
                        "HubSpot rate limit hit; pausing requests"
                    );
                    // The next acquire waits out the pause, as does every other task's.
                    limiter.pause_until(Instant::now() + wait);
                }
                Attempt::Failed {
                    failure,
                    retry_after,
                } => {
                    if failures >= policy.max_retries {
                        return Err(give_up(failure, failures));
                    }
                    failures += 1;
                    let delay = retry_after.unwrap_or_else(|| policy.backoff(failures));
                    tracing::warn!(
                        endpoint = call.what,
                        retry = failures,
                        delay_ms = delay.as_millis(),
                        failure = %describe(&failure),
                        "HubSpot request failed; retrying"
                    );
                    sleep(delay).await;
                }
            }
            self.inner.counters.retry();
            metrics::counter!("healthscore_hubspot_retries_total", "endpoint" => call.what)
                .increment(1);
        }
    }

    /// Sends one attempt and reads the whole answer.
    async fn attempt(&self, call: &Call, url: Url, token: &Secret) -> Attempt {
        let counters = &self.inner.counters;
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), url)
            .bearer_auth(token.expose());
        if !call.query.is_empty() {
            request = request.query(&call.query);
        }
        if let Some(body) = &call.body {
            request = request.json(body);
        }
        counters.request();
        metrics::counter!("healthscore_hubspot_requests_total", "endpoint" => call.what)
            .increment(1);
        tracing::debug!(endpoint = call.what, method = %call.method, "HubSpot request");
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => return transport(error),
        };
        let status = response.status();
        let headers = response.headers().clone();
        let body = match response.bytes().await {
            Ok(body) => body.to_vec(),
            Err(error) => return transport(error),
        };
        if status.as_u16() == 429 {
            counters.rate_limited();
            let policy = policy_name(&body);
            metrics::counter!("healthscore_hubspot_rate_limited_total", "policy" => policy)
                .increment(1);
        } else if status.is_server_error() {
            counters.server_error();
        }
        classify(status, &headers, body, call.lane, &self.inner.policy)
    }
}

/// Transport errors are retried, except a request that could not even be built.
fn transport(error: reqwest::Error) -> Attempt {
    if error.is_builder() {
        return Attempt::Fatal(HubSpotError::Transport {
            retries: 0,
            source: error,
        });
    }
    Attempt::Failed {
        failure: Failure::Transport(error),
        retry_after: None,
    }
}

fn give_up(failure: Failure, retries: u32) -> HubSpotError {
    match failure {
        Failure::Status(status) => HubSpotError::ServerError { status, retries },
        Failure::Transport(source) => HubSpotError::Transport { retries, source },
    }
}

fn describe(failure: &Failure) -> String {
    match failure {
        Failure::Status(status) => format!("status {status}"),
        Failure::Transport(error) => error.to_string(),
    }
}

/// The `policyName` of a 429 body (`ten_secondly_rolling`, `secondly`, `daily`), for metrics.
fn policy_name(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("policyName")?.as_str().map(str::to_ascii_lowercase))
        .unwrap_or_else(|| "unknown".to_string())
}
