//! Recording commands for many CRM objects as atomic, durable appends.
//!
//! A webhook delivery (or a sync page) becomes messages; each message is the commands one
//! HubSpot event implies plus its idempotency key. Every caller's job goes to ONE writer task
//! per process, which drops messages whose key was recorded before, runs the commands through
//! each object's aggregate (kept in memory, so nothing is re-read per request), and appends the
//! resulting events, keys and privacy erasures. Jobs that queue up while a commit is in flight
//! are committed together (group commit): each job is still all-or-nothing, and its caller is
//! answered only after the commit is durable. A single writer means no optimistic races inside
//! a process; a race with another process (a second instance on PostgreSQL, a CLI sync) is
//! detected by the stream sequences, and the group is reloaded and retried.

mod group;

use healthscore_domain::crm_object::{CrmObjectCommand, CrmObjectError};
use tokio::sync::{mpsc, oneshot};

use crate::error::StoreError;
use crate::store::{EventStore, NewEvent};

/// Jobs waiting for the writer before callers feel back-pressure.
const QUEUE_DEPTH: usize = 256;

/// What one source message asks to record.
#[derive(Debug, Clone, Default)]
pub struct Message {
    /// Idempotency key: a message whose key was recorded before is skipped whole.
    pub dedup_key: Option<Vec<u8>>,
    /// Commands for CRM objects.
    pub commands: Vec<CrmObjectCommand>,
    /// JSON text of the metadata every event of `commands` carries (source, delivery ids...).
    pub metadata: String,
    /// Events recorded as they are (e.g. unhandled webhook types), on streams of their own.
    pub raw_events: Vec<NewEvent>,
}

/// What a [`Recorder::record`] call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Messages skipped as already recorded.
    pub duplicates: usize,
    /// Events appended.
    pub events: usize,
    /// The log's last position after the append.
    pub last_position: i64,
}

/// Why recording failed. Nothing of the job was written.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A command does not fit its aggregate.
    #[error(transparent)]
    Domain(#[from] CrmObjectError),
    /// The store failed (or stayed contended after every retry).
    #[error("recording failed")]
    Store(#[source] std::sync::Arc<StoreError>),
    /// The writer task is gone (the process is shutting down).
    #[error("the recorder has stopped")]
    Stopped,
}

impl From<StoreError> for RecordError {
    fn from(error: StoreError) -> Self {
        Self::Store(std::sync::Arc::new(error))
    }
}

/// One caller's messages and where to send the outcome.
struct Job {
    messages: Vec<Message>,
    reply: oneshot::Sender<Result<Recorded, RecordError>>,
}

/// The handle callers record through; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Recorder {
    jobs: mpsc::Sender<Job>,
    store: EventStore,
}

impl Recorder {
    /// Starts the writer task over `store` (needs a Tokio runtime).
    pub fn start(store: EventStore) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(group::Writer::new(store.clone()).run(queue));
        Self { jobs, store }
    }

    /// The event store written to.
    pub fn store(&self) -> &EventStore {
        &self.store
    }

    /// Records `messages` atomically and durably; see the module docs.
    pub async fn record(&self, messages: Vec<Message>) -> Result<Recorded, RecordError> {
        let (reply, outcome) = oneshot::channel();
        self.jobs
            .send(Job { messages, reply })
            .await
            .map_err(|_| RecordError::Stopped)?;
        outcome.await.map_err(|_| RecordError::Stopped)?
    }
}
