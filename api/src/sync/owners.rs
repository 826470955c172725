//! A portal's owners as the log has them: each sync records the list HubSpot answers (only
//! differences become events), and listings name each record's owner from it.

use std::collections::HashMap;

use cqrs_es::{CqrsFramework, EventStore as _};
use healthscore_domain::ids::PortalId;
use healthscore_domain::owners::{Owner, OwnerDirectory, OwnersCommand};
use healthscore_projections::EventStore;

type Store = healthscore_projections::AggregateStore<OwnerDirectory>;

/// The owner directories of every portal.
pub struct Owners {
    cqrs: CqrsFramework<OwnerDirectory, Store>,
    store: Store,
}

impl std::fmt::Debug for Owners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Owners")
    }
}

/// The stream of `portal`'s owners.
fn stream_id(portal: PortalId) -> String {
    format!("{portal}/owners")
}

impl Owners {
    /// Directories stored in `log`.
    pub fn new(log: &EventStore) -> Self {
        let (cqrs, aggregate_store) = healthscore_projections::aggregates(log);
        Self {
            cqrs,
            store: aggregate_store,
        }
    }

    /// Records that HubSpot lists `owners` for `portal` now.
    pub async fn record(
        &self,
        portal: PortalId,
        owners: Vec<Owner>,
    ) -> Result<(), crate::BoxError> {
        let metadata = HashMap::from([("source".to_owned(), "sync".to_owned())]);
        let command = OwnersCommand::SyncOwners {
            owners,
            at: chrono::Utc::now(),
        };
        self.cqrs
            .execute_with_metadata(&stream_id(portal), command, metadata)
            .await
            .map_err(Into::into)
    }

    /// `portal`'s owners as recorded (empty before the first sync that read them).
    pub async fn directory(&self, portal: PortalId) -> Result<OwnerDirectory, crate::BoxError> {
        self.store
            .load_aggregate(&stream_id(portal))
            .await
            .map(|context| context.aggregate)
            .map_err(Into::into)
    }
}
