//! Sync runs as cqrs-es aggregates on our log: one stream per run, `{portal}/sync_run/{run id}`,
//! with time-ordered (UUIDv7) run ids so the newest run of a portal sorts last.

use std::collections::HashMap;

use cqrs_es::{AggregateError, CqrsFramework, EventStore as _};
use healthscore_domain::ids::PortalId;
use healthscore_domain::sync_run::{SyncRun, SyncRunCommand, SyncRunError, SyncStatus};
use healthscore_projections::EventStore;

type Store = healthscore_projections::AggregateStore<SyncRun>;

/// Runs looked at when searching for the last completed one.
const RECENT_RUNS: i64 = 200;

/// Sync runs of every portal.
pub struct SyncRuns {
    cqrs: CqrsFramework<SyncRun, Store>,
    store: Store,
    log: EventStore,
}

impl std::fmt::Debug for SyncRuns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SyncRuns")
    }
}

/// Why a run command was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The aggregate refused it.
    #[error(transparent)]
    Refused(#[from] SyncRunError),
    /// The store failed or another writer raced.
    #[error("recording the sync run failed")]
    Store(#[source] crate::BoxError),
}

fn prefix(portal: PortalId) -> String {
    format!("{portal}/sync_run/")
}

/// The stream of run `run_id` of `portal`.
pub fn stream_id(portal: PortalId, run_id: &str) -> String {
    format!("{}{run_id}", prefix(portal))
}

/// A new, time-ordered run id.
pub fn new_run_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

impl SyncRuns {
    /// Runs stored in `log`.
    pub fn new(log: &EventStore) -> Self {
        let (cqrs, aggregate_store) = healthscore_projections::aggregates(log);
        Self {
            cqrs,
            store: aggregate_store,
            log: log.clone(),
        }
    }

    /// The log runs are recorded in.
    pub fn log(&self) -> &EventStore {
        &self.log
    }

    /// Records `command` on a run.
    pub async fn execute(
        &self,
        portal: PortalId,
        run_id: &str,
        command: SyncRunCommand,
    ) -> Result<(), RunError> {
        let metadata = HashMap::from([("source".to_string(), "sync".to_string())]);
        match self
            .cqrs
            .execute_with_metadata(&stream_id(portal, run_id), command, metadata)
            .await
        {
            Ok(()) => Ok(()),
            Err(AggregateError::UserError(error)) => Err(RunError::Refused(error)),
            Err(other) => Err(RunError::Store(other.into())),
        }
    }

    /// A run as recorded so far (not started when unknown).
    pub async fn load(&self, portal: PortalId, run_id: &str) -> Result<SyncRun, RunError> {
        self.store
            .load_aggregate(&stream_id(portal, run_id))
            .await
            .map(|context| context.aggregate)
            .map_err(|e| RunError::Store(e.into()))
    }

    /// The newest run of `portal`, with its id.
    pub async fn latest(&self, portal: PortalId) -> Result<Option<(String, SyncRun)>, RunError> {
        let ids = self.run_ids(portal, 1).await?;
        match ids.into_iter().next() {
            Some(id) => Ok(Some((id.clone(), self.load(portal, &id).await?))),
            None => Ok(None),
        }
    }

    /// The watermark the newest completed run left, if any run completed.
    pub async fn watermark(&self, portal: PortalId) -> Result<Option<i64>, RunError> {
        Ok(self
            .last_completed(portal)
            .await?
            .and_then(|view| view.watermark_ms))
    }

    /// The newest completed run of `portal` among the recent ones.
    pub async fn last_completed(
        &self,
        portal: PortalId,
    ) -> Result<Option<healthscore_domain::sync_run::SyncRunView>, RunError> {
        for id in self.run_ids(portal, RECENT_RUNS).await? {
            let run = self.load(portal, &id).await?;
            if let Some(view) = run.view().filter(|v| v.status == SyncStatus::Completed) {
                return Ok(Some(view.clone()));
            }
        }
        Ok(None)
    }

    /// The newest `limit` runs of `portal`, newest first, with their ids.
    pub async fn recent(
        &self,
        portal: PortalId,
        limit: i64,
    ) -> Result<Vec<(String, SyncRun)>, RunError> {
        let mut runs = Vec::new();
        for id in self.run_ids(portal, limit).await? {
            let run = self.load(portal, &id).await?;
            runs.push((id, run));
        }
        Ok(runs)
    }

    async fn run_ids(&self, portal: PortalId, limit: i64) -> Result<Vec<String>, RunError> {
        let prefix = prefix(portal);
        let streams = self
            .log
            .stream_ids_with_prefix(&prefix, limit)
            .await
            .map_err(|e| RunError::Store(e.into()))?;
        Ok(streams
            .into_iter()
            .filter_map(|s| s.strip_prefix(&prefix).map(str::to_string))
            .collect())
    }
}
