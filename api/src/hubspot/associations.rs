//! Associations of many records at once (v4 batch read): what the search API leaves out.

use std::collections::BTreeMap;

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::HubSpotError;
use super::client::{Call, HubSpotClient, Lane};
use healthscore_domain::ids::ObjectType;

/// Ids per batch request (HubSpot accepts up to 1,000).
pub const ASSOCIATION_BATCH_SIZE: usize = 1_000;

#[derive(Debug, Deserialize)]
struct WireBatch {
    #[serde(default)]
    results: Vec<WireLinks>,
}

#[derive(Debug, Deserialize)]
struct WireLinks {
    from: WireFrom,
    #[serde(default)]
    to: Vec<WireTo>,
}

#[derive(Debug, Deserialize)]
struct WireFrom {
    id: Value,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireTo {
    to_object_id: Value,
}

fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

impl HubSpotClient {
    /// The `to` records each of `ids` (of `from`) is associated with; an id with none is absent.
    /// At most [`ASSOCIATION_BATCH_SIZE`] ids per call.
    pub async fn associations_of(
        &self,
        from: ObjectType,
        to: ObjectType,
        ids: &[String],
    ) -> Result<BTreeMap<String, Vec<String>>, HubSpotError> {
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let inputs: Vec<Value> = ids.iter().map(|id| json!({ "id": id })).collect();
        let call = Call {
            method: Method::POST,
            lane: Lane::General,
            body: Some(json!({ "inputs": inputs })),
            ..Call::get(
                "read associations",
                &[
                    "crm",
                    "v4",
                    "associations",
                    from.plural(),
                    to.plural(),
                    "batch",
                    "read",
                ],
            )
        };
        let batch: WireBatch = self.execute(&call).await?;
        let mut linked: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for links in batch.results {
            let Some(from_id) = id_text(&links.from.id) else {
                continue;
            };
            let targets = linked.entry(from_id).or_default();
            for target in links.to.iter().filter_map(|t| id_text(&t.to_object_id)) {
                if !targets.contains(&target) {
                    targets.push(target);
                }
            }
        }
        Ok(linked)
    }
}
