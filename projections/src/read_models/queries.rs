//! Reading one object with its properties and associations, as the read API shows it.

use std::collections::BTreeMap;

use healthscore_domain::hubspot::properties;
use healthscore_domain::ids::{ObjectRef, ObjectType};
use healthscore_domain::time::normalize_property_time;
use serde::Serialize;
use sqlx::Row;

use crate::db::Db;
use crate::error::StoreError;
use crate::on_reader;

/// Properties that name an object in lists and associations.
const NAME_PROPERTIES: &str = "'firstname', 'lastname', 'email', 'name', 'dealname'";

/// An object as the API returns it. HubSpot ids are strings in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ObjectView {
    /// HubSpot id.
    pub id: String,
    /// Contact, company or deal.
    #[serde(rename = "type")]
    pub object_type: ObjectType,
    /// A display name (contact: first and last name or email; company: name; deal: dealname).
    pub name: Option<String>,
    /// Current property values (latest `occurredAt` wins); cleared ones are left out. Time
    /// properties read as RFC 3339 (UTC, milliseconds, `Z`) whichever form HubSpot sent.
    pub properties: BTreeMap<String, String>,
    /// When HubSpot created it (RFC 3339), when known.
    pub created_at: Option<String>,
    /// The latest fact recorded about it (RFC 3339).
    pub updated_at: String,
    /// Associated live objects.
    pub associations: Vec<AssociatedObject>,
}

/// One associated object.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AssociatedObject {
    /// Its type.
    #[serde(rename = "type")]
    pub object_type: ObjectType,
    /// Its HubSpot id.
    pub id: String,
    /// Its display name.
    pub name: Option<String>,
}

/// The display name of an object with these properties.
pub fn display_name(
    object_type: ObjectType,
    properties: &BTreeMap<String, String>,
) -> Option<String> {
    let get = |name: &str| properties.get(name).filter(|v| !v.is_empty()).cloned();
    match object_type {
        ObjectType::Contact => {
            let full = [get("firstname"), get("lastname")]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>();
            if full.is_empty() {
                get("email")
            } else {
                Some(full.join(" "))
            }
        }
        ObjectType::Company => get("name"),
        ObjectType::Deal => get("dealname"),
    }
}

/// A live (not deleted, not merged away) object, or None.
pub async fn object(db: &Db, object: ObjectRef) -> Result<Option<ObjectView>, StoreError> {
    let key = (
        object.portal.0 as i64,
        object.object_type.as_str(),
        object.id as i64,
    );
    on_reader!(db, pool => {
        let Some(row) = sqlx::query(
            "SELECT created_at, updated_at FROM crm_objects WHERE portal_id = $1 AND object_type = $2 \
             AND object_id = $3 AND NOT deleted AND merged_into IS NULL",
        )
        .bind(key.0).bind(key.1).bind(key.2)
        .fetch_optional(pool)
        .await?
        else {
            return Ok(None);
        };
        let properties: BTreeMap<String, String> = sqlx::query_as(
            "SELECT name, value FROM object_properties WHERE portal_id = $1 AND object_type = $2 \
             AND object_id = $3 AND value <> ''",
        )
        .bind(key.0).bind(key.1).bind(key.2)
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|(name, value): (String, String)| {
            // The log keeps what arrived (epoch ms from webhooks, ISO from syncs); answers
            // show a time one way.
            let value = if properties::is_time(&name) {
                normalize_property_time(&value)
            } else {
                value
            };
            (name, value)
        })
        .collect();
        let rows = sqlx::query(&format!(
            "SELECT a.to_type, a.to_id, p.name, p.value FROM associations a \
             JOIN crm_objects o ON o.portal_id = a.portal_id AND o.object_type = a.to_type \
               AND o.object_id = a.to_id \
             LEFT JOIN object_properties p ON p.portal_id = a.portal_id AND p.object_type = a.to_type \
               AND p.object_id = a.to_id AND p.name IN ({NAME_PROPERTIES}) \
             WHERE a.portal_id = $1 AND a.from_type = $2 AND a.from_id = $3 AND a.present \
               AND NOT o.deleted AND o.merged_into IS NULL \
             ORDER BY a.to_type, a.to_id"
        ))
        .bind(key.0).bind(key.1).bind(key.2)
        .fetch_all(pool)
        .await?;
        let mut associated: BTreeMap<(String, i64), BTreeMap<String, String>> = BTreeMap::new();
        for row in &rows {
            let names = associated
                .entry((row.try_get("to_type")?, row.try_get("to_id")?))
                .or_default();
            if let (Some(name), Some(value)) = (
                row.try_get::<Option<String>, _>("name")?,
                row.try_get::<Option<String>, _>("value")?,
            ) {
                names.insert(name, value);
            }
        }
        let associations = associated
            .into_iter()
            .filter_map(|((kind, id), names)| {
                let object_type = ObjectType::from_prefix(&kind)?;
                Some(AssociatedObject {
                    object_type,
                    id: id.to_string(),
                    name: display_name(object_type, &names),
                })
            })
            .collect();
        let created_at: Option<i64> = row.try_get("created_at")?;
        let updated_at: i64 = row.try_get("updated_at")?;
        Ok(Some(ObjectView {
            id: object.id.to_string(),
            object_type: object.object_type,
            name: display_name(object.object_type, &properties),
            properties,
            created_at: created_at.map(healthscore_domain::time::rfc3339_ms),
            updated_at: healthscore_domain::time::rfc3339_ms(updated_at),
            associations,
        }))
    })
}

/// A customer (a live contact with an email), or None.
pub async fn customer(db: &Db, contact: ObjectRef) -> Result<Option<ObjectView>, StoreError> {
    let view = object(db, contact).await?;
    Ok(view.filter(|v| v.object_type == ObjectType::Contact && v.properties.contains_key("email")))
}
