//! A portal's HubSpot properties as the log has them: every full sync and each
//! `POST /properties/refresh` records what HubSpot's properties API lists (a first discovery
//! and then only differences become events). Configurations are checked against it.

use std::collections::HashMap;

use cqrs_es::{CqrsFramework, EventStore as _};
use healthscore_domain::ids::{ObjectType, PortalId};
use healthscore_domain::property_catalog::{
    PropertyCatalog, PropertyCatalogCommand, PropertyDefinition,
};
use healthscore_projections::EventStore;

use crate::hubspot::{HubSpotClient, HubSpotError};

type Store = healthscore_projections::AggregateStore<PropertyCatalog>;

/// The property catalogs of every portal.
pub struct PropertyCatalogs {
    cqrs: CqrsFramework<PropertyCatalog, Store>,
    store: Store,
}

impl std::fmt::Debug for PropertyCatalogs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PropertyCatalogs")
    }
}

/// The stream of `portal`'s properties.
fn stream_id(portal: PortalId) -> String {
    format!("{portal}/properties")
}

/// Object types in the order they are discovered.
const TYPES: [ObjectType; 3] = [ObjectType::Contact, ObjectType::Company, ObjectType::Deal];

impl PropertyCatalogs {
    /// Catalogs stored in `log`.
    pub fn new(log: &EventStore) -> Self {
        let (cqrs, aggregate_store) = healthscore_projections::aggregates(log);
        Self {
            cqrs,
            store: aggregate_store,
        }
    }

    /// Records that HubSpot lists `properties` for `portal`'s `object_type` now.
    pub async fn record(
        &self,
        portal: PortalId,
        object_type: ObjectType,
        properties: Vec<PropertyDefinition>,
        source: &str,
    ) -> Result<(), crate::BoxError> {
        let metadata = HashMap::from([("source".to_owned(), source.to_owned())]);
        let command = PropertyCatalogCommand::Discover {
            object_type,
            properties,
            at: chrono::Utc::now(),
        };
        self.cqrs
            .execute_with_metadata(&stream_id(portal), command, metadata)
            .await
            .map_err(Into::into)
    }

    /// Reads every object type's properties through `client` and records them; how many
    /// each type has.
    pub async fn discover(
        &self,
        client: &HubSpotClient,
        portal: PortalId,
        source: &str,
    ) -> Result<Vec<(ObjectType, usize)>, DiscoveryError> {
        let mut counts = Vec::new();
        for kind in TYPES {
            let properties = client.properties(kind).await?;
            counts.push((kind, properties.len()));
            self.record(portal, kind, properties, source)
                .await
                .map_err(DiscoveryError::Record)?;
        }
        Ok(counts)
    }

    /// `portal`'s properties as recorded (nothing discovered before the first discovery).
    pub async fn catalog(&self, portal: PortalId) -> Result<PropertyCatalog, crate::BoxError> {
        self.store
            .load_aggregate(&stream_id(portal))
            .await
            .map(|context| context.aggregate)
            .map_err(Into::into)
    }
}

/// Why a discovery stopped (what was recorded before stays).
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// HubSpot refused or failed.
    #[error(transparent)]
    HubSpot(#[from] HubSpotError),
    /// The log could not record it.
    #[error("cannot record the properties: {0}")]
    Record(crate::BoxError),
}
