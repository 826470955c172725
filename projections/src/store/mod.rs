//! The append-only event log with a global order, on either backend.
//!
//! Writers append batches that may span many streams in one transaction; readers follow the
//! global `position`. Commit order equals position order (SQLite: one writer connection;
//! PostgreSQL: a transaction-scoped advisory lock around the insert), so a reader that has seen
//! position N never later finds a committed event below N.

mod append;
pub use append::{AppendLock, Committed, EVENTS_CHANNEL};
mod cqrs;
mod read;
pub use read::CrmPage;

pub use cqrs::{AggregateStore, EventRepository, aggregates};

use std::sync::Arc;

use tokio::sync::watch;

use crate::db::Db;
use crate::error::StoreError;

/// An event about to be appended.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// The stream (one per aggregate instance), e.g. `62515/contact/123`.
    pub stream_id: String,
    /// The aggregate type owning the stream, e.g. `crm_object`.
    pub stream_type: String,
    /// The stream's next sequence (1-based); taken already means a concurrent writer won.
    pub sequence: i64,
    /// Stable event type name.
    pub event_type: String,
    /// Version of the event's payload schema.
    pub event_version: String,
    /// The event's payload as JSON text: rendered once when the event is made, written as is
    /// (rendering inside the append would put it on the one writer's critical path).
    pub payload: String,
    /// Non-business facts about the event (source, delivery ids...) as JSON text.
    pub metadata: String,
    /// When it happened in the source system, epoch milliseconds.
    pub occurred_at: i64,
}

/// An event read back from the log.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    /// Global position, assigned by the database at commit.
    pub position: i64,
    /// The appended event.
    pub event: NewEvent,
    /// When it was committed, epoch milliseconds.
    pub recorded_at: i64,
}

/// One unit of work: events of any streams plus idempotency keys, committed together or not at all.
#[derive(Debug, Clone, Default)]
pub struct AppendBatch {
    /// Events in the order they get positions.
    pub events: Vec<NewEvent>,
    /// Keys of the messages these events record; a key seen before fails the whole batch.
    pub dedup_keys: Vec<Vec<u8>>,
    /// Streams whose stored personal data is erased in place in the same transaction
    /// (a privacy deletion): every property value in their events is blanked.
    pub erase_streams: Vec<String>,
}

impl AppendBatch {
    /// Adds `later`'s events, keys and erasures after this batch's.
    pub fn extend(&mut self, later: AppendBatch) {
        self.events.extend(later.events);
        self.dedup_keys.extend(later.dedup_keys);
        self.erase_streams.extend(later.erase_streams);
    }
}

/// The event log.
#[derive(Debug, Clone)]
pub struct EventStore {
    db: Db,
    appended: watch::Sender<i64>,
    /// Why the last append failed, until one succeeds (a lost race does not count): readiness
    /// answers 503 meanwhile, unless a probe finds the database writable again.
    failed_write: Arc<std::sync::Mutex<Option<String>>>,
}

impl EventStore {
    /// An event store over `db`. Appends through it wake [`EventStore::subscribe`]rs in this process.
    pub fn new(db: Db) -> Self {
        let (appended, _) = watch::channel(0);
        Self {
            db,
            appended,
            failed_write: Arc::default(),
        }
    }

    /// Fails when appends cannot be made durable now: the last one failed and a probe write
    /// fails too, or the database cannot take writes (see [`Db::check_writable`]).
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        let failed = self.failed_write().clone();
        if failed.is_some() {
            self.db.probe_write().await?;
            self.note_write(&Ok(()));
        }
        self.db.check_writable().await
    }

    /// Remembers how an append ended, for [`EventStore::check_writable`].
    pub(crate) fn note_write<T>(&self, outcome: &Result<T, StoreError>) {
        match outcome {
            Ok(_) => {
                let mut failed = self.failed_write();
                if failed.is_some() {
                    *failed = None;
                }
            }
            Err(error) if error.is_retryable() => {}
            Err(error) => *self.failed_write() = Some(error.to_string()),
        }
    }

    fn failed_write(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.failed_write
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The database behind the log.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// A receiver that changes to the last appended position after each local commit.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.appended.subscribe()
    }
}

/// The current wall-clock time in epoch milliseconds (the store stamps `recorded_at`).
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
