//! What the sync worker asks a sync run to record.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::state::{HistoryScope, SyncMode};
use crate::ids::ObjectType;

/// A request to record the progress of one sync run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncRunCommand {
    /// Begin the run.
    StartSync {
        /// Full listing or incremental search.
        mode: SyncMode,
        /// When the run began.
        started_at: DateTime<Utc>,
        /// For an incremental run, the watermark (epoch ms) it searches from.
        since_ms: Option<i64>,
        /// Which records it reads with their property history.
        history: HistoryScope,
    },
    /// One page of one object type was fetched and its objects recorded.
    RecordPage {
        /// The object type paged.
        object_type: ObjectType,
        /// The cursor to resume this type from; `None` when this was its last page.
        cursor_after: Option<String>,
        /// Objects on the page.
        objects: u64,
        /// Events the page's objects recorded.
        events_recorded: u64,
        /// HubSpot requests the page took (retries and per-object reads included).
        requests: u64,
        /// When the page was recorded.
        at: DateTime<Utc>,
    },
    /// Every object type is done.
    CompleteSync {
        /// When the run finished.
        at: DateTime<Utc>,
        /// The watermark (epoch ms) the next incremental run starts from.
        watermark_ms: i64,
    },
    /// The run stopped on an error.
    FailSync {
        /// What went wrong, for a person.
        reason: String,
        /// When it stopped.
        at: DateTime<Utc>,
    },
    /// Which properties beyond the engine's own the run reads (those the scoring
    /// configuration names), and the types it lists whole because one of them is new.
    PlanProperties {
        /// Extra property names per object type.
        properties: BTreeMap<ObjectType, Vec<String>>,
        /// Types listed whole (not searched by modified date) in an incremental run.
        full_types: Vec<ObjectType>,
        /// When planned.
        at: DateTime<Utc>,
    },
    /// Continue a failed run from each object type's last recorded cursor.
    ResumeSync {
        /// When it continued.
        at: DateTime<Utc>,
    },
}
