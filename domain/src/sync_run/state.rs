//! A sync run's state as `GET /sync/runs/{id}` reports it, and how events build it.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::events::SyncRunEvent;
use crate::ids::ObjectType;

/// How a run finds objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// Lists every object of each type.
    Full,
    /// Searches objects modified since a watermark.
    Incremental,
    /// Lists every object of each type with its property history (a backfill for a portal
    /// synced without history).
    History,
}

impl SyncMode {
    /// The mode as JSON and the CLI name it: `full`, `incremental` or `history`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Incremental => "incremental",
            Self::History => "history",
        }
    }
}

/// Which records a run reads with their property history.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "records", rename_all = "snake_case")]
pub enum HistoryScope {
    /// None: every value is stamped at its record's last modification.
    #[default]
    None,
    /// Every record (a portal's first full sync, and history runs).
    All,
    /// Records modified at or after `since_ms` (later full syncs).
    ModifiedSince {
        /// Epoch ms.
        since_ms: i64,
    },
}

/// Where a started run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncStatus {
    /// Pages are being recorded.
    Running,
    /// Every object type is done.
    Completed,
    /// Stopped on an error; can be resumed.
    Failed,
}

impl SyncStatus {
    /// The status as JSON shows it: `running`, `completed` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for SyncStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where to continue one object type's paging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResumePoint {
    /// No page of this type was recorded yet: start from the first page.
    Beginning,
    /// Continue with the page after this cursor.
    After(String),
    /// The type's last page was recorded: skip it.
    Done,
}

/// Counters summed over pages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SyncTotals {
    /// Pages recorded.
    pub pages: u64,
    /// Objects on those pages.
    pub objects: u64,
    /// Events those objects recorded.
    pub events_recorded: u64,
    /// HubSpot requests made.
    pub requests: u64,
}

impl SyncTotals {
    fn add_page(&mut self, objects: u64, events_recorded: u64, requests: u64) {
        self.pages = self.pages.saturating_add(1);
        self.objects = self.objects.saturating_add(objects);
        self.events_recorded = self.events_recorded.saturating_add(events_recorded);
        self.requests = self.requests.saturating_add(requests);
    }
}

/// One object type's progress in a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ObjectProgress {
    /// The cursor to resume from; `None` once done.
    pub cursor: Option<String>,
    /// True once the type's last page was recorded.
    pub done: bool,
    /// This type's counters.
    #[serde(flatten)]
    pub totals: SyncTotals,
}

/// A started sync run, as `GET /sync/runs/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SyncRunView {
    /// Running, completed or failed.
    pub status: SyncStatus,
    /// Full or incremental.
    pub mode: SyncMode,
    /// The watermark (epoch ms) an incremental run searches from.
    pub since_ms: Option<i64>,
    /// Which records it reads with their property history.
    pub history: HistoryScope,
    /// When the run began.
    #[serde(serialize_with = "crate::time::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub started_at: DateTime<Utc>,
    /// When anything was last recorded.
    #[serde(serialize_with = "crate::time::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
    /// When it completed or (last) failed; `None` while running.
    #[serde(serialize_with = "crate::time::serialize_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<DateTime<Utc>>,
    /// The watermark (epoch ms) for the next incremental run, once completed.
    pub watermark_ms: Option<i64>,
    /// Why it failed, while failed.
    pub failure_reason: Option<String>,
    /// How many times it was resumed after a failure.
    pub resumes: u32,
    /// Progress per object type, for the types with a recorded page.
    pub progress: BTreeMap<ObjectType, ObjectProgress>,
    /// Counters over all types.
    pub totals: SyncTotals,
    /// Properties read beyond the engine's own (those the scoring configuration names).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra_properties: BTreeMap<ObjectType, Vec<String>>,
    /// Types an incremental run lists whole, because a property new to the sync is named.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub full_types: Vec<ObjectType>,
}

impl SyncRunView {
    /// A run that has just started.
    pub(super) fn started(
        mode: SyncMode,
        since_ms: Option<i64>,
        history: HistoryScope,
        started_at: DateTime<Utc>,
    ) -> Self {
        SyncRunView {
            status: SyncStatus::Running,
            mode,
            since_ms,
            history,
            started_at,
            updated_at: started_at,
            finished_at: None,
            watermark_ms: None,
            failure_reason: None,
            resumes: 0,
            progress: BTreeMap::new(),
            totals: SyncTotals::default(),
            extra_properties: BTreeMap::new(),
            full_types: Vec::new(),
        }
    }

    /// Where to continue paging `object_type`.
    pub fn resume_point(&self, object_type: ObjectType) -> ResumePoint {
        match self.progress.get(&object_type).map(|p| &p.cursor) {
            None => ResumePoint::Beginning,
            Some(None) => ResumePoint::Done,
            Some(Some(cursor)) => ResumePoint::After(cursor.clone()),
        }
    }

    /// Applies an event recorded after the start.
    pub(super) fn apply(&mut self, event: SyncRunEvent) {
        self.updated_at = event.at();
        match event {
            // Only the first start counts; the aggregate refuses another.
            SyncRunEvent::SyncStarted { .. } => {}
            SyncRunEvent::SyncPropertiesPlanned {
                properties,
                full_types,
                ..
            } => {
                self.extra_properties = properties;
                self.full_types = full_types;
            }
            SyncRunEvent::SyncPageRecorded {
                object_type,
                cursor_after,
                objects,
                events_recorded,
                requests,
                ..
            } => {
                let progress = self.progress.entry(object_type).or_default();
                progress.done = cursor_after.is_none();
                progress.cursor = cursor_after;
                progress.totals.add_page(objects, events_recorded, requests);
                self.totals.add_page(objects, events_recorded, requests);
            }
            SyncRunEvent::SyncCompleted {
                watermark_ms,
                completed_at,
                ..
            } => {
                self.status = SyncStatus::Completed;
                self.watermark_ms = Some(watermark_ms);
                self.finished_at = Some(completed_at);
            }
            SyncRunEvent::SyncFailed { reason, failed_at } => {
                self.status = SyncStatus::Failed;
                self.failure_reason = Some(reason);
                self.finished_at = Some(failed_at);
            }
            SyncRunEvent::SyncResumed { .. } => {
                self.status = SyncStatus::Running;
                self.failure_reason = None;
                self.finished_at = None;
                self.resumes = self.resumes.saturating_add(1);
            }
        }
    }
}
