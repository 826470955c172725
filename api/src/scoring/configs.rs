//! Each portal's scoring configuration: a cqrs-es aggregate on our event log, one stream per
//! portal (`{portal}/scoring_config`). Version 1 is the defaults and needs no event.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{AggregateError, CqrsFramework, EventStore as _};
use healthscore_domain::ids::PortalId;
use healthscore_domain::scoring_config::{
    PortalScoringConfig, ScoringConfigCommand, ScoringConfigError,
};
use healthscore_projections::{EventRepository, EventStore};
use serde_json::Value;

type Store = PersistedEventStore<EventRepository, PortalScoringConfig>;

/// Why a configuration update was refused.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// Validation or a stale `If-Match`.
    #[error(transparent)]
    Refused(#[from] ScoringConfigError),
    /// Another update landed at the same moment.
    #[error("the configuration changed concurrently; fetch it again")]
    Concurrent,
    /// The store failed.
    #[error("{0}")]
    Store(String),
}

/// Loads and updates portal configurations.
pub struct Configs {
    cqrs: CqrsFramework<PortalScoringConfig, Store>,
    store: Store,
}

impl std::fmt::Debug for Configs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Configs")
    }
}

fn stream_id(portal: PortalId) -> String {
    format!("{portal}/scoring_config")
}

impl Configs {
    /// Configurations kept in `store`.
    pub fn new(store: &EventStore) -> Self {
        let repository = EventRepository::new(store.clone());
        Self {
            cqrs: CqrsFramework::new(
                PersistedEventStore::new_event_store(repository.clone()),
                vec![],
                (),
            ),
            store: PersistedEventStore::new_event_store(repository),
        }
    }

    /// Every version of `portal`'s configuration.
    pub async fn load(&self, portal: PortalId) -> Result<PortalScoringConfig, String> {
        let context = self
            .store
            .load_aggregate(&stream_id(portal))
            .await
            .map_err(|e| e.to_string())?;
        Ok(context.aggregate)
    }

    /// Accepts a new version; returns its number.
    pub async fn update(
        &self,
        portal: PortalId,
        config: Value,
        expected_version: Option<u32>,
        now: DateTime<Utc>,
    ) -> Result<u32, UpdateError> {
        let command = ScoringConfigCommand::UpdateScoringConfig {
            config,
            expected_version,
            updated_at: now,
        };
        let metadata = HashMap::from([("source".to_string(), "api".to_string())]);
        match self
            .cqrs
            .execute_with_metadata(&stream_id(portal), command, metadata)
            .await
        {
            Ok(()) => {}
            Err(AggregateError::UserError(error)) => return Err(UpdateError::Refused(error)),
            Err(AggregateError::AggregateConflict) => return Err(UpdateError::Concurrent),
            Err(other) => return Err(UpdateError::Store(other.to_string())),
        }
        let loaded = self.load(portal).await.map_err(UpdateError::Store)?;
        Ok(loaded.current_version())
    }
}
