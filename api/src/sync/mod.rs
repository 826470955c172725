//! HubSpot sync: full (list everything, then the archived lists) and incremental (search by
//! modified date since the last watermark minus an overlap, then the changed objects'
//! associations). Every page is recorded as snapshots through the CRM-object aggregates, so only
//! differences become events, and then as a page of an event-sourced sync run, so an interrupted
//! run resumes from its last cursor. A lease keeps one sync per portal running at a time.

mod cursor;
mod engine;
pub mod owners;
pub mod progress;
pub mod properties;
pub mod runs;
pub mod snapshot;

use std::sync::Arc;
use std::time::Duration;

use healthscore_domain::ids::PortalId;
use healthscore_domain::sync_run::SyncMode;
use healthscore_projections::recorder::{RecordError, Recorder};
use healthscore_projections::sync_lease::Holder;
use healthscore_projections::{Db, StoreError};

pub use cursor::Cursor;
pub use engine::StartedRun;
pub use progress::{LiveProgress, ProgressReport};

use crate::hubspot::{HubSpotClient, HubSpotError};
use runs::{RunError, SyncRuns};

/// How long a sync lease lasts unless renewed (each page renews it).
const LEASE_TTL: Duration = Duration::from_secs(120);

/// How far before the last watermark an incremental sync searches from: HubSpot's search index
/// can take a moment to show a change.
pub const DEFAULT_OVERLAP: Duration = Duration::from_secs(10 * 60);

/// Why a sync did not complete.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// HubSpot failed (after the client's retries) or refused.
    #[error(transparent)]
    HubSpot(#[from] HubSpotError),
    /// Another process is syncing this portal.
    #[error("another sync is running (run {run_id})")]
    Busy {
        /// The run holding the lease.
        run_id: String,
    },
    /// Recording the objects failed.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// Recording the run failed.
    #[error(transparent)]
    Run(#[from] RunError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The token belongs to another portal than the caller's.
    #[error("the configured HubSpot token belongs to portal {token_portal}, not {asked}")]
    OtherPortal {
        /// The token's portal.
        token_portal: PortalId,
        /// The portal asked for.
        asked: PortalId,
    },
    /// Paging cannot advance (e.g. more than 10,000 records share one modified time).
    #[error("sync cannot advance: {0}")]
    Stalled(String),
}

/// Everything a sync needs; cheap to clone.
#[derive(Debug, Clone)]
pub struct Syncer {
    client: HubSpotClient,
    recorder: Arc<Recorder>,
    runs: Arc<SyncRuns>,
    db: Db,
    holder: Holder,
    overlap: Duration,
    progress: LiveProgress,
    /// The run this syncer is working on: one at a time per process (the lease only tells
    /// processes apart).
    active: Arc<std::sync::Mutex<Option<String>>>,
    /// Held while a run starts, so a second start waits to learn the first one's run id.
    starting: Arc<tokio::sync::Mutex<()>>,
    /// Whether full syncs read property history (see [`Syncer::without_history`]).
    with_history: bool,
    /// Where the portal's owners are recorded.
    owners: Arc<owners::Owners>,
    /// Where the portal's property definitions are recorded.
    properties: Arc<properties::PropertyCatalogs>,
    /// The scoring configurations, for the properties they name.
    configs: Arc<crate::scoring::configs::Configs>,
}

impl Syncer {
    /// A syncer recording through `recorder` into `runs`' log.
    pub fn new(
        client: HubSpotClient,
        recorder: Arc<Recorder>,
        runs: Arc<SyncRuns>,
        db: Db,
    ) -> Self {
        let owners = Arc::new(owners::Owners::new(runs.log()));
        let properties = Arc::new(properties::PropertyCatalogs::new(runs.log()));
        let configs = Arc::new(crate::scoring::configs::Configs::new(runs.log()));
        Self {
            client,
            recorder,
            runs,
            db,
            holder: Holder::this_process(),
            overlap: DEFAULT_OVERLAP,
            progress: LiveProgress::default(),
            active: Arc::default(),
            starting: Arc::default(),
            with_history: true,
            owners,
            properties,
            configs,
        }
    }

    /// A syncer whose full syncs read no property history: every value is stamped at its
    /// record's last modification (cheaper; `sync history` can backfill later).
    pub fn without_history(self) -> Self {
        Self {
            with_history: false,
            ..self
        }
    }

    /// The HubSpot client (for its request counters).
    pub fn client(&self) -> &HubSpotClient {
        &self.client
    }

    /// Progress of the run this syncer is working on.
    pub fn progress(&self) -> &LiveProgress {
        &self.progress
    }

    /// The recorded owners.
    pub fn owners(&self) -> &owners::Owners {
        &self.owners
    }

    /// Where the portal's property definitions are recorded.
    pub fn properties(&self) -> &properties::PropertyCatalogs {
        &self.properties
    }

    /// The recorded runs.
    pub fn runs(&self) -> &SyncRuns {
        &self.runs
    }

    /// Begins (or resumes) a run and carries it to the end.
    pub async fn sync(&self, mode: SyncMode) -> Result<FinishedRun, SyncError> {
        let started = self.begin(mode, None).await?;
        started.run().await?;
        Ok(FinishedRun {
            portal: started.portal,
            run_id: started.run_id.clone(),
            mode: started.mode,
            resumed: started.resumed,
        })
    }
}

/// A run that completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedRun {
    /// The portal synced.
    pub portal: PortalId,
    /// The run's id.
    pub run_id: String,
    /// Full or incremental.
    pub mode: SyncMode,
    /// True when it continued an interrupted or failed run.
    pub resumed: bool,
}
