//! Property history: HubSpot serves each property's past values on list and read requests
//! that name them in `propertiesWithHistory`, at most [`HISTORY_PAGE_SIZE`] records per
//! request. A 400 that names a lower limit is obeyed for the rest of the client's life.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::client::{Call, HubSpotClient, Lane};
use super::record::WireRecord;
use super::{CrmRecord, HubSpotError};
use healthscore_domain::ids::ObjectType;

/// Records per request when history is asked for: HubSpot's reported cap.
pub const HISTORY_PAGE_SIZE: u32 = 50;

/// The page size history requests use, lowered when HubSpot names a lower limit.
#[derive(Debug)]
pub(crate) struct HistoryLimit(AtomicU32);

impl Default for HistoryLimit {
    fn default() -> Self {
        Self(AtomicU32::new(HISTORY_PAGE_SIZE))
    }
}

impl HistoryLimit {
    pub(crate) fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    /// Lowers the limit to the one a 400 message names, if it names one below `asked`.
    /// Returns true when it did (so the request is worth repeating).
    fn learn(&self, asked: u32, message: &str) -> bool {
        if !message.to_ascii_lowercase().contains("limit") {
            return false;
        }
        let named = message
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|digits| digits.parse::<u32>().ok())
            .filter(|n| (1..asked).contains(n))
            .min();
        match named {
            Some(limit) => {
                self.0.fetch_min(limit, Ordering::Relaxed);
                tracing::info!(
                    limit,
                    "HubSpot named a lower page limit for history requests"
                );
                true
            }
            None => false,
        }
    }
}

#[derive(Debug, Deserialize)]
struct WireBatch {
    #[serde(default)]
    results: Vec<WireRecord>,
}

impl HubSpotClient {
    /// Runs `request` with the page size to use: the history limit when `with_history`, else
    /// `u32::MAX` (the caller caps it). A 400 naming a lower limit is learned and retried.
    pub(crate) async fn with_history_limit<T, F, Fut>(
        &self,
        with_history: bool,
        request: F,
    ) -> Result<T, HubSpotError>
    where
        F: Fn(u32) -> Fut,
        Fut: Future<Output = Result<T, HubSpotError>>,
    {
        if !with_history {
            return request(u32::MAX).await;
        }
        loop {
            let limit = self.inner.history_limit.get();
            match request(limit).await {
                Err(HubSpotError::Api {
                    status: 400,
                    message,
                }) if self.inner.history_limit.learn(limit, &message) => continue,
                outcome => return outcome,
            }
        }
    }

    /// The page size history requests use now.
    pub fn history_page_size(&self) -> u32 {
        self.inner.history_limit.get()
    }

    /// Reads live `kind` records by id with `properties` and the past values of `history`, in
    /// requests of at most the history page size. Ids HubSpot does not know are left out.
    pub async fn read_with_history(
        &self,
        kind: ObjectType,
        ids: &[String],
        properties: &[&str],
        history: &[&str],
    ) -> Result<Vec<CrmRecord>, HubSpotError> {
        let mut records = Vec::with_capacity(ids.len());
        let mut rest = ids;
        while !rest.is_empty() {
            let read = self
                .with_history_limit(true, |limit| {
                    let batch = &rest[..rest.len().min(limit as usize)];
                    let call = batch_read(kind, batch, properties, history);
                    async move {
                        let answer: WireBatch = self.execute(&call).await?;
                        Ok((batch.len(), answer.results))
                    }
                })
                .await?;
            let (taken, results) = read;
            records.extend(results.into_iter().map(CrmRecord::from));
            rest = &rest[taken..];
        }
        Ok(records)
    }
}

/// `POST /crm/v3/objects/{type}/batch/read` for `ids`.
fn batch_read(kind: ObjectType, ids: &[String], properties: &[&str], history: &[&str]) -> Call {
    let inputs: Vec<Value> = ids.iter().map(|id| json!({ "id": id })).collect();
    Call {
        method: Method::POST,
        lane: Lane::General,
        body: Some(json!({
            "inputs": inputs,
            "properties": properties,
            "propertiesWithHistory": history,
        })),
        ..Call::get(
            "read objects with history",
            &["crm", "v3", "objects", kind.plural(), "batch", "read"],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lower_limit_named_in_a_400_is_learned() {
        let limit = HistoryLimit::default();
        assert!(!limit.learn(50, "Property foo does not exist"));
        assert!(!limit.learn(50, "limit must be at most 100"));
        assert_eq!(limit.get(), 50);
        assert!(limit.learn(
            50,
            "limit 50 is too high when requesting property history; the maximum is 25"
        ));
        assert_eq!(limit.get(), 25);
    }
}
