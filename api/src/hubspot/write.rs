//! Writing to HubSpot (write-back): property groups and properties, and `batch/update` of at
//! most 100 records per request. Every call is paced by the portal's general window, the one
//! the sync's reads use, so a sync and a write-back together stay under the portal's limit.

use reqwest::Method;
use serde_json::{Value, json};

use super::HubSpotError;
use super::client::{Call, HubSpotClient, Lane};
use healthscore_domain::ids::ObjectType;

/// Records per `batch/update` (HubSpot's maximum).
pub const BATCH_UPDATE_MAX: usize = 100;

fn post(what: &'static str, segments: &[&str], body: Value) -> Call {
    Call {
        method: Method::POST,
        lane: Lane::General,
        body: Some(body),
        ..Call::get(what, segments)
    }
}

/// Whether a create was refused because the name exists (HubSpot's 409): it is present.
fn exists(result: Result<Value, HubSpotError>) -> Result<bool, HubSpotError> {
    match result {
        Ok(_) => Ok(true),
        Err(HubSpotError::Api { status: 409, .. }) => Ok(false),
        Err(other) => Err(other),
    }
}

impl HubSpotClient {
    /// Creates a property group; `false` when it existed.
    pub async fn create_property_group(
        &self,
        kind: ObjectType,
        name: &str,
        label: &str,
    ) -> Result<bool, HubSpotError> {
        let call = post(
            "create property group",
            &["crm", "v3", "properties", kind.plural(), "groups"],
            json!({"name": name, "label": label}),
        );
        exists(self.execute(&call).await)
    }

    /// Creates a property (`definition` in HubSpot's shape); `false` when it existed.
    pub async fn create_property(
        &self,
        kind: ObjectType,
        definition: Value,
    ) -> Result<bool, HubSpotError> {
        let call = post(
            "create property",
            &["crm", "v3", "properties", kind.plural()],
            definition,
        );
        exists(self.execute(&call).await)
    }

    /// Updates up to [`BATCH_UPDATE_MAX`] records' properties in one request.
    pub async fn batch_update(
        &self,
        kind: ObjectType,
        inputs: &[(u64, serde_json::Map<String, Value>)],
    ) -> Result<(), HubSpotError> {
        let inputs: Vec<Value> = inputs
            .iter()
            .map(|(id, properties)| json!({"id": id.to_string(), "properties": properties}))
            .collect();
        let call = post(
            "batch update",
            &["crm", "v3", "objects", kind.plural(), "batch", "update"],
            json!({"inputs": inputs}),
        );
        let _: Value = self.execute(&call).await?;
        Ok(())
    }
}
