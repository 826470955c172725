//! Each portal's scoring configuration: a cqrs-es aggregate on our event log, one stream per
//! portal (`{portal}/scoring_config`). Version 1 is the defaults and needs no event.
//!
//! Every score request needs its portal's configuration, so the aggregate is cached per portal
//! with the stream's last sequence: a load costs one index probe for that sequence, and the
//! stream is replayed only when it has grown (an update here or on another instance).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use cqrs_es::{AggregateError, CqrsFramework, EventStore as _};
use healthscore_domain::ids::PortalId;
use healthscore_domain::scoring::ConfigDocument;
use healthscore_domain::scoring_config::{
    PortalScoringConfig, ScoringConfigCommand, ScoringConfigError,
};
use healthscore_projections::EventStore;

type Store = healthscore_projections::AggregateStore<PortalScoringConfig>;

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
    #[error("recording the configuration failed")]
    Store(#[source] crate::BoxError),
}

/// The configuration could not be read from the log.
#[derive(Debug, thiserror::Error)]
#[error("loading the scoring configuration failed")]
pub struct LoadError(#[source] crate::BoxError);

impl From<LoadError> for UpdateError {
    fn from(error: LoadError) -> Self {
        Self::Store(error.into())
    }
}

/// Loads and updates portal configurations.
pub struct Configs {
    cqrs: CqrsFramework<PortalScoringConfig, Store>,
    store: Store,
    events: EventStore,
    /// Each portal's configuration as of its stream's last sequence.
    cache: Mutex<HashMap<PortalId, (i64, Arc<PortalScoringConfig>)>>,
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
        let (cqrs, aggregate_store) = healthscore_projections::aggregates(store);
        Self {
            cqrs,
            store: aggregate_store,
            events: store.clone(),
            cache: Mutex::default(),
        }
    }

    /// Every version of `portal`'s configuration (cached; see the module docs).
    pub async fn load(&self, portal: PortalId) -> Result<Arc<PortalScoringConfig>, LoadError> {
        let stream = stream_id(portal);
        let sequence = self
            .events
            .stream_version(&stream)
            .await
            .map_err(|e| LoadError(e.into()))?;
        if let Some((cached, config)) = self.cached().get(&portal)
            && *cached == sequence
        {
            return Ok(Arc::clone(config));
        }
        let context = self
            .store
            .load_aggregate(&stream)
            .await
            .map_err(|e| LoadError(e.into()))?;
        let loaded = Arc::new(context.aggregate);
        // A version that landed after the sequence was read may be in `loaded`: then the next
        // load sees a newer sequence and replays again. Never the other way round.
        self.cached()
            .insert(portal, (sequence, Arc::clone(&loaded)));
        Ok(loaded)
    }

    fn cached(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<PortalId, (i64, Arc<PortalScoringConfig>)>> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Accepts a new version; returns its number.
    pub async fn update(
        &self,
        portal: PortalId,
        config: ConfigDocument,
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
            Err(other) => return Err(UpdateError::Store(other.into())),
        }
        let loaded = self.load(portal).await?;
        Ok(loaded.current_version())
    }
}
