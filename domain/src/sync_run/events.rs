//! Facts recorded about a sync run.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::state::{HistoryScope, SyncMode, SyncTotals};
use crate::ids::ObjectType;

/// What happened in a sync run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SyncRunEvent {
    /// The run began.
    SyncStarted {
        /// Full listing or incremental search.
        mode: SyncMode,
        /// For an incremental run, the watermark (epoch ms) it searches from.
        since_ms: Option<i64>,
        /// Which records it reads with their property history (none in runs recorded before
        /// history existed).
        #[serde(default)]
        history: HistoryScope,
        /// When it began.
        started_at: DateTime<Utc>,
    },
    /// One page of one object type was fetched and its objects recorded.
    SyncPageRecorded {
        /// The object type paged.
        object_type: ObjectType,
        /// The cursor to resume this type from; `None` when this was its last page.
        cursor_after: Option<String>,
        /// Objects on the page.
        objects: u64,
        /// Events the page's objects recorded.
        events_recorded: u64,
        /// HubSpot requests the page took.
        requests: u64,
        /// When the page was recorded.
        recorded_at: DateTime<Utc>,
    },
    /// The run finished; `watermark_ms` is where the next incremental run starts.
    SyncCompleted {
        /// The watermark (epoch ms) for the next incremental run.
        watermark_ms: i64,
        /// Totals over the whole run.
        totals: SyncTotals,
        /// When it finished.
        completed_at: DateTime<Utc>,
    },
    /// The run stopped on an error; it can be resumed.
    SyncFailed {
        /// What went wrong, for a person.
        reason: String,
        /// When it stopped.
        failed_at: DateTime<Utc>,
    },
    /// A failed run continued from each object type's last recorded cursor.
    SyncResumed {
        /// When it continued.
        resumed_at: DateTime<Utc>,
    },
    /// The run reads these properties beyond the engine's own, and lists these types whole.
    SyncPropertiesPlanned {
        /// Extra property names per object type (those the scoring configuration names).
        properties: BTreeMap<ObjectType, Vec<String>>,
        /// Types listed whole in an incremental run: a property new to the sync is named.
        full_types: Vec<ObjectType>,
        /// When planned.
        planned_at: DateTime<Utc>,
    },
}

impl SyncRunEvent {
    /// When the fact was recorded.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Self::SyncStarted { started_at: at, .. }
            | Self::SyncPageRecorded {
                recorded_at: at, ..
            }
            | Self::SyncCompleted {
                completed_at: at, ..
            }
            | Self::SyncFailed { failed_at: at, .. }
            | Self::SyncResumed { resumed_at: at }
            | Self::SyncPropertiesPlanned { planned_at: at, .. } => *at,
        }
    }
}

impl DomainEvent for SyncRunEvent {
    fn event_type(&self) -> String {
        match self {
            Self::SyncStarted { .. } => "SyncStarted",
            Self::SyncPageRecorded { .. } => "SyncPageRecorded",
            Self::SyncCompleted { .. } => "SyncCompleted",
            Self::SyncFailed { .. } => "SyncFailed",
            Self::SyncResumed { .. } => "SyncResumed",
            Self::SyncPropertiesPlanned { .. } => "SyncPropertiesPlanned",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}
