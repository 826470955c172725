//! A portal's HubSpot properties as discovered from the properties API (SCORING.md, "Custom
//! factors"), as an aggregate with one stream per portal. Each discovery hands it every
//! property of one object type; a first discovery and every difference become an event, so
//! the log tells which properties the portal had when.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::ids::ObjectType;

/// The `stream_type` of property-catalog streams (`{portal}/properties`).
pub const PROPERTY_CATALOG_STREAM: &str = "property_catalog";

/// One option of an enumeration property.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PropertyOption {
    /// What HubSpot shows.
    pub label: String,
    /// What records hold.
    pub value: String,
}

/// A HubSpot property definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PropertyDefinition {
    /// The internal name records and configurations use.
    #[schema(example = "usage_score")]
    pub name: String,
    /// What HubSpot shows.
    #[schema(example = "Usage score")]
    pub label: String,
    /// The value type: `string`, `number`, `date`, `datetime`, `enumeration`, `bool`.
    #[schema(example = "number")]
    #[serde(rename = "type")]
    pub value_type: String,
    /// The form control: `text`, `number`, `select`, `date`...
    #[schema(example = "number")]
    pub field_type: String,
    /// The property group it shows in.
    pub group_name: String,
    /// An enumeration's options; empty otherwise.
    pub options: Vec<PropertyOption>,
    /// Hidden from HubSpot's forms.
    pub hidden: bool,
    /// Computed by HubSpot (read-only).
    pub calculated: bool,
    /// One of HubSpot's own properties rather than the portal's.
    pub hubspot_defined: bool,
}

/// What a discovery tells the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub enum PropertyCatalogCommand {
    /// Every property HubSpot lists for `object_type` now.
    Discover {
        /// The object type listed.
        object_type: ObjectType,
        /// Its properties.
        properties: Vec<PropertyDefinition>,
        /// When they were read.
        at: DateTime<Utc>,
    },
}

/// What changed in a portal's properties.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PropertyCatalogEvent {
    /// A discovery of `object_type` found these differences (everything, the first time).
    PropertiesDiscovered {
        /// The object type listed.
        object_type: ObjectType,
        /// Properties new or changed since the last discovery.
        defined: Vec<PropertyDefinition>,
        /// Names HubSpot no longer lists.
        removed: Vec<String>,
        /// When they were read.
        at: DateTime<Utc>,
    },
}

impl DomainEvent for PropertyCatalogEvent {
    fn event_type(&self) -> String {
        "PropertiesDiscovered".to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

/// The catalog never refuses a discovery.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the property catalog refused the command")]
pub struct PropertyCatalogError;

/// One object type's properties, as last discovered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveredProperties {
    /// By name.
    pub properties: BTreeMap<String, PropertyDefinition>,
    /// When a discovery last found a difference (the first discovery included).
    pub changed_at: Option<DateTime<Utc>>,
}

/// A portal's properties per object type, rebuilt from its stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PropertyCatalog {
    types: BTreeMap<ObjectType, DiscoveredProperties>,
}

impl PropertyCatalog {
    /// `object_type`'s properties, once a discovery of it ran.
    #[must_use]
    pub fn of(&self, object_type: ObjectType) -> Option<&DiscoveredProperties> {
        self.types.get(&object_type)
    }

    /// False when discovery ran for `object_type` and found no property `name`: before any
    /// discovery, every name may exist.
    #[must_use]
    pub fn may_have(&self, object_type: ObjectType, name: &str) -> bool {
        self.of(object_type)
            .is_none_or(|found| found.properties.contains_key(name))
    }

    /// The events a command records.
    #[must_use]
    pub fn decide(&self, command: PropertyCatalogCommand) -> Vec<PropertyCatalogEvent> {
        let PropertyCatalogCommand::Discover {
            object_type,
            properties,
            at,
        } = command;
        let listed: BTreeMap<String, PropertyDefinition> = properties
            .into_iter()
            .map(|p| (p.name.clone(), p))
            .collect();
        let known = self.of(object_type);
        let before = known.map(|k| &k.properties);
        let defined: Vec<PropertyDefinition> = listed
            .values()
            .filter(|p| before.and_then(|b| b.get(&p.name)) != Some(*p))
            .cloned()
            .collect();
        let removed: Vec<String> = before
            .into_iter()
            .flat_map(|b| b.keys())
            .filter(|name| !listed.contains_key(*name))
            .cloned()
            .collect();
        if known.is_some() && defined.is_empty() && removed.is_empty() {
            return Vec::new();
        }
        vec![PropertyCatalogEvent::PropertiesDiscovered {
            object_type,
            defined,
            removed,
            at,
        }]
    }

    /// Applies one recorded event.
    pub fn apply_event(&mut self, event: PropertyCatalogEvent) {
        let PropertyCatalogEvent::PropertiesDiscovered {
            object_type,
            defined,
            removed,
            at,
        } = event;
        let found = self.types.entry(object_type).or_default();
        for name in removed {
            found.properties.remove(&name);
        }
        for property in defined {
            found.properties.insert(property.name.clone(), property);
        }
        found.changed_at = Some(at);
    }
}

impl Aggregate for PropertyCatalog {
    const TYPE: &'static str = PROPERTY_CATALOG_STREAM;
    type Command = PropertyCatalogCommand;
    type Event = PropertyCatalogEvent;
    type Error = PropertyCatalogError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command) {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        self.apply_event(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn property(name: &str, label: &str) -> PropertyDefinition {
        PropertyDefinition {
            name: name.to_owned(),
            label: label.to_owned(),
            value_type: "number".to_owned(),
            field_type: "number".to_owned(),
            group_name: "companyinformation".to_owned(),
            options: Vec::new(),
            hidden: false,
            calculated: false,
            hubspot_defined: false,
        }
    }

    fn discover(catalog: &mut PropertyCatalog, properties: Vec<PropertyDefinition>) -> usize {
        let command = PropertyCatalogCommand::Discover {
            object_type: ObjectType::Company,
            properties,
            at: DateTime::<Utc>::UNIX_EPOCH,
        };
        let events = catalog.decide(command);
        let count = events.len();
        events.into_iter().for_each(|e| catalog.apply_event(e));
        count
    }

    #[test]
    fn a_first_discovery_is_recorded_even_when_empty_and_then_only_differences() {
        let mut catalog = PropertyCatalog::default();
        assert!(catalog.may_have(ObjectType::Company, "anything"));
        assert_eq!(discover(&mut catalog, Vec::new()), 1);
        assert!(!catalog.may_have(ObjectType::Company, "usage_score"));
        assert!(
            catalog.may_have(ObjectType::Contact, "usage_score"),
            "contacts not discovered yet"
        );
        let listed = vec![property("usage_score", "Usage"), property("nps", "NPS")];
        assert_eq!(discover(&mut catalog, listed.clone()), 1);
        assert_eq!(discover(&mut catalog, listed), 0, "nothing changed");
        assert_eq!(
            discover(&mut catalog, vec![property("usage_score", "Usage score")]),
            1
        );
        let found = catalog.of(ObjectType::Company).expect("discovered");
        assert_eq!(found.properties.len(), 1, "nps removed");
        assert_eq!(found.properties["usage_score"].label, "Usage score");
    }
}
