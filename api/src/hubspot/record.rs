//! CRM records as the engine sees them, decoded from HubSpot's list, read and search bodies.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use healthscore_domain::crm_object::PastValue;

use super::ObjectType;

/// One contact, company or deal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrmRecord {
    /// HubSpot's record id (numeric, as a string).
    pub id: String,
    /// Property values; properties HubSpot reported as `null` are left out.
    pub properties: BTreeMap<String, String>,
    /// `createdAt`.
    pub created_at: DateTime<Utc>,
    /// `updatedAt`.
    pub updated_at: DateTime<Utc>,
    /// Whether the record is archived (deleted in the UI).
    pub archived: bool,
    /// `archivedAt`, when archived and HubSpot said when.
    pub archived_at: Option<DateTime<Utc>>,
    /// Associated record ids per kind, each id once (HubSpot repeats an id per association
    /// label), in HubSpot's order. Kinds other than [`ObjectType`]s are left out.
    pub associations: BTreeMap<ObjectType, Vec<String>>,
    /// Past values of the properties asked for with history, as HubSpot lists them (newest
    /// first); empty when none were asked for. A value without a readable time is left out.
    pub history: BTreeMap<String, Vec<PastValue>>,
}

/// One record on the wire.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireRecord {
    id: String,
    #[serde(default)]
    properties: BTreeMap<String, Value>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    #[serde(default)]
    archived: bool,
    #[serde(default)]
    archived_at: Option<DateTime<Utc>>,
    #[serde(default)]
    associations: BTreeMap<String, WireAssociations>,
    #[serde(default)]
    properties_with_history: BTreeMap<String, Vec<WirePastValue>>,
}

#[derive(Debug, Deserialize)]
struct WirePastValue {
    #[serde(default)]
    value: Value,
    timestamp: Value,
}

impl WirePastValue {
    /// The value (null as empty: cleared) at its time; `None` when the time is unreadable.
    fn decode(&self) -> Option<PastValue> {
        let at = match &self.timestamp {
            Value::String(text) => DateTime::parse_from_rfc3339(text)
                .map(|t| t.timestamp_millis())
                .ok()
                .or_else(|| text.parse().ok())?,
            Value::Number(number) => number.as_i64()?,
            _ => return None,
        };
        Some(PastValue {
            at,
            value: scalar(&self.value).unwrap_or_default(),
        })
    }
}

#[derive(Debug, Deserialize)]
struct WireAssociations {
    #[serde(default)]
    results: Vec<WireAssociation>,
}

#[derive(Debug, Deserialize)]
struct WireAssociation {
    id: Value,
}

/// `paging.next.after` of list and search bodies.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WirePaging {
    #[serde(default)]
    next: Option<WireNext>,
}

#[derive(Debug, Deserialize)]
struct WireNext {
    after: Value,
}

impl WirePaging {
    /// The next cursor, if there is a next page.
    pub(crate) fn after(&self) -> Option<String> {
        self.next.as_ref().and_then(|next| scalar(&next.after))
    }
}

impl From<WireRecord> for CrmRecord {
    fn from(wire: WireRecord) -> Self {
        let properties = wire
            .properties
            .into_iter()
            .filter_map(|(name, value)| scalar(&value).map(|value| (name, value)))
            .collect();
        let associations = wire
            .associations
            .into_iter()
            .filter_map(|(key, linked)| {
                let kind = ObjectType::parse(&key)?;
                let mut seen = HashSet::new();
                let ids: Vec<String> = linked
                    .results
                    .iter()
                    .filter_map(|link| scalar(&link.id))
                    .filter(|id| seen.insert(id.clone()))
                    .collect();
                Some((kind, ids))
            })
            .collect();
        let history = wire
            .properties_with_history
            .iter()
            .map(|(name, values)| {
                let values = values.iter().filter_map(WirePastValue::decode).collect();
                (name.clone(), values)
            })
            .collect();
        Self {
            history,
            id: wire.id,
            properties,
            created_at: wire.created_at,
            updated_at: wire.updated_at,
            archived: wire.archived,
            archived_at: wire.archived_at,
            associations,
        }
    }
}

/// A string or number as a string; `None` for `null` and structured values.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn drops_null_properties_and_repeated_association_ids() {
        let wire: WireRecord = serde_json::from_value(json!({
            "id": "51",
            "properties": {"email": "a@example.com", "company": null, "hs_object_id": 51},
            "createdAt": "2024-01-02T03:04:05.678Z",
            "updatedAt": "2024-02-02T03:04:05Z",
            "archived": false,
            "associations": {
                "companies": {"results": [
                    {"id": "7", "type": "contact_to_company"},
                    {"id": "7", "type": "contact_to_company_unlabeled"},
                    {"id": "3", "type": "contact_to_company_unlabeled"}
                ]},
                "p123_widgets": {"results": [{"id": "9", "type": "x"}]}
            }
        }))
        .expect("valid record");
        let record = CrmRecord::from(wire);
        assert!(record.history.is_empty());
        assert_eq!(record.properties.len(), 2);
        assert_eq!(record.properties["hs_object_id"], "51");
        assert_eq!(
            record.associations,
            BTreeMap::from([(ObjectType::Company, vec!["7".to_owned(), "3".to_owned()])])
        );
    }

    #[test]
    fn reads_past_values_newest_first_and_skips_unreadable_times() {
        let wire: WireRecord = serde_json::from_value(json!({
            "id": "51",
            "properties": {"lifecyclestage": "customer"},
            "propertiesWithHistory": {"lifecyclestage": [
                {"value": "customer", "timestamp": "2026-03-01T00:00:00Z", "sourceType": "CRM_UI"},
                {"value": "lead", "timestamp": "2025-01-01T00:00:00.000Z"},
                {"value": "x", "timestamp": "soon"},
                {"value": null, "timestamp": 1000}
            ]},
            "createdAt": "2025-01-01T00:00:00Z",
            "updatedAt": "2026-03-01T00:00:00Z"
        }))
        .expect("valid record");
        let record = CrmRecord::from(wire);
        let past = |at, value: &str| PastValue {
            at,
            value: value.to_owned(),
        };
        assert_eq!(
            record.history["lifecyclestage"],
            vec![
                past(1_772_323_200_000, "customer"),
                past(1_735_689_600_000, "lead"),
                past(1000, "")
            ]
        );
    }
}
