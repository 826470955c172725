//! Portal metadata: the portal a token belongs to, deal pipeline stages, owners and property
//! definitions.

use healthscore_domain::owners::Owner;
use serde::Deserialize;
use serde_json::Value;

use super::HubSpotError;
use super::client::{Call, HubSpotClient};

/// A deal pipeline with its stages in display order.
#[derive(Debug, Clone, PartialEq)]
pub struct DealPipeline {
    /// Pipeline id (`default` for the built-in one).
    pub id: String,
    /// Display name.
    pub label: String,
    /// Stages sorted by display order.
    pub stages: Vec<DealStage>,
}

/// One deal stage.
#[derive(Debug, Clone, PartialEq)]
pub struct DealStage {
    /// Stage id, the value of a deal's `dealstage` property.
    pub id: String,
    /// Display name.
    pub label: String,
    /// Position in the pipeline.
    pub display_order: i64,
    /// Win probability 0.0..=1.0, when the stage has one.
    pub probability: Option<f64>,
    /// Whether deals in this stage are closed (won or lost).
    pub is_closed: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountDetails {
    portal_id: u64,
}

#[derive(Debug, Deserialize)]
struct WirePipelines {
    #[serde(default)]
    results: Vec<WirePipeline>,
}

#[derive(Debug, Deserialize)]
struct WirePipeline {
    id: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    stages: Vec<WireStage>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireStage {
    id: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    display_order: i64,
    #[serde(default)]
    metadata: serde_json::Map<String, Value>,
}

impl HubSpotClient {
    /// The portal (hub) id the access token belongs to.
    pub async fn account_portal_id(&self) -> Result<u64, HubSpotError> {
        let call = Call::get("account details", &["account-info", "v3", "details"]);
        let details: AccountDetails = self.execute(&call).await?;
        Ok(details.portal_id)
    }

    /// Every deal pipeline with its stages. HubSpot sends stage metadata as strings
    /// (`"0.2"`, `"true"`); numbers and booleans are accepted too.
    pub async fn deal_pipelines(&self) -> Result<Vec<DealPipeline>, HubSpotError> {
        let call = Call::get("deal pipelines", &["crm", "v3", "pipelines", "deals"]);
        let wire: WirePipelines = self.execute(&call).await?;
        Ok(wire.results.into_iter().map(DealPipeline::from).collect())
    }
}

impl From<WirePipeline> for DealPipeline {
    fn from(wire: WirePipeline) -> Self {
        let mut stages: Vec<DealStage> = wire.stages.into_iter().map(DealStage::from).collect();
        stages.sort_by_key(|stage| stage.display_order);
        Self {
            id: wire.id,
            label: wire.label,
            stages,
        }
    }
}

impl From<WireStage> for DealStage {
    fn from(wire: WireStage) -> Self {
        let probability = match wire.metadata.get("probability") {
            Some(Value::String(text)) => text.trim().parse().ok(),
            Some(Value::Number(number)) => number.as_f64(),
            _ => None,
        };
        let is_closed = match wire.metadata.get("isClosed") {
            Some(Value::String(text)) => text.eq_ignore_ascii_case("true"),
            Some(Value::Bool(flag)) => *flag,
            _ => false,
        };
        Self {
            id: wire.id,
            label: wire.label,
            display_order: wire.display_order,
            probability,
            is_closed,
        }
    }
}

#[derive(Debug, Deserialize)]
struct WireOwners {
    #[serde(default)]
    results: Vec<WireOwner>,
    paging: Option<WirePaging>,
}

#[derive(Debug, Deserialize)]
struct WirePaging {
    next: Option<WireNext>,
}

#[derive(Debug, Deserialize)]
struct WireNext {
    after: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireOwner {
    id: String,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    #[serde(default)]
    archived: bool,
}

/// Owners per page (HubSpot's maximum is 500).
const OWNERS_PAGE_SIZE: &str = "100";

impl HubSpotClient {
    /// Every owner of the portal, active ones and those who left (`archived`). Owners whose
    /// id is not a number are skipped: records name owners by numeric id.
    pub async fn owners(&self) -> Result<Vec<Owner>, HubSpotError> {
        let mut owners = Vec::new();
        for archived in ["false", "true"] {
            let mut after: Option<String> = None;
            loop {
                let mut call = Call::get("owners", &["crm", "v3", "owners"])
                    .query("limit", OWNERS_PAGE_SIZE)
                    .query("archived", archived);
                if let Some(after) = &after {
                    call = call.query("after", after.clone());
                }
                let page: WireOwners = self.execute(&call).await?;
                owners.extend(page.results.into_iter().filter_map(|o| {
                    Some(Owner {
                        id: o.id.parse().ok()?,
                        email: o.email,
                        first_name: o.first_name,
                        last_name: o.last_name,
                        archived: o.archived,
                    })
                }));
                match page.paging.and_then(|p| p.next) {
                    Some(next) if Some(&next.after) != after.as_ref() => after = Some(next.after),
                    _ => break,
                }
            }
        }
        Ok(owners)
    }
}

#[derive(Debug, Deserialize)]
struct WireProperties {
    #[serde(default)]
    results: Vec<WireProperty>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireProperty {
    name: String,
    #[serde(default)]
    label: String,
    #[serde(default, rename = "type")]
    value_type: String,
    #[serde(default)]
    field_type: String,
    #[serde(default)]
    group_name: String,
    #[serde(default)]
    options: Vec<WireOption>,
    #[serde(default)]
    hidden: bool,
    #[serde(default)]
    calculated: bool,
    #[serde(default)]
    hubspot_defined: bool,
}

#[derive(Debug, Deserialize)]
struct WireOption {
    #[serde(default)]
    label: String,
    #[serde(default)]
    value: String,
}

impl HubSpotClient {
    /// Every property HubSpot defines for `kind` in this portal (one request, no paging).
    pub async fn properties(
        &self,
        kind: healthscore_domain::ids::ObjectType,
    ) -> Result<Vec<healthscore_domain::property_catalog::PropertyDefinition>, HubSpotError> {
        use healthscore_domain::property_catalog::{PropertyDefinition, PropertyOption};
        let call = Call::get("properties", &["crm", "v3", "properties", kind.plural()]);
        let wire: WireProperties = self.execute(&call).await?;
        Ok(wire
            .results
            .into_iter()
            .map(|p| PropertyDefinition {
                name: p.name,
                label: p.label,
                value_type: p.value_type,
                field_type: p.field_type,
                group_name: p.group_name,
                options: p
                    .options
                    .into_iter()
                    .map(|o| PropertyOption {
                        label: o.label,
                        value: o.value,
                    })
                    .collect(),
                hidden: p.hidden,
                calculated: p.calculated,
                hubspot_defined: p.hubspot_defined,
            })
            .collect())
    }
}
