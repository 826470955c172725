//! The event log as a cqrs-es [`PersistedEventRepository`], so aggregates run through cqrs-es
//! while every event lands in our globally ordered `events` table.
//!
//! Aggregates are rebuilt from their streams (no snapshots). The event's `occurred_at` comes from
//! the metadata key [`OCCURRED_AT`] (epoch ms) when the command issuer sets it, else commit time.

use cqrs_es::persist::{
    PersistedEventRepository, PersistedEventStore, PersistenceError, ReplayStream, SerializedEvent,
    SerializedSnapshot,
};
use cqrs_es::{Aggregate, CqrsFramework};
use serde_json::Value;

use super::{AppendBatch, EventStore, NewEvent, RecordedEvent, now_ms};
use crate::error::StoreError;

/// Metadata key carrying when an event happened in the source system (epoch ms, as a string).
pub const OCCURRED_AT: &str = "occurred_at";

/// cqrs-es's view of the event log.
#[derive(Debug, Clone)]
pub struct EventRepository {
    store: EventStore,
}

impl EventRepository {
    /// A repository appending to and reading from `store`.
    pub fn new(store: EventStore) -> Self {
        Self { store }
    }
}

/// The store cqrs-es loads and saves aggregate `A` through: our log.
pub type AggregateStore<A> = PersistedEventStore<EventRepository, A>;

/// For aggregate `A` over `log`: the command handler (no queries, no services) and the store
/// that loads its instances.
pub fn aggregates<A: Aggregate<Services = ()>>(
    log: &EventStore,
) -> (CqrsFramework<A, AggregateStore<A>>, AggregateStore<A>) {
    let repository = EventRepository::new(log.clone());
    let cqrs = CqrsFramework::new(
        PersistedEventStore::new_event_store(repository.clone()),
        vec![],
        (),
    );
    (cqrs, PersistedEventStore::new_event_store(repository))
}

/// Converts a cqrs-es event into a row to append.
pub fn from_serialized(event: &SerializedEvent) -> NewEvent {
    let occurred_at = event
        .metadata
        .get(OCCURRED_AT)
        .and_then(Value::as_str)
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(now_ms);
    NewEvent {
        stream_id: event.aggregate_id.clone(),
        stream_type: event.aggregate_type.clone(),
        sequence: i64::try_from(event.sequence).unwrap_or(i64::MAX),
        event_type: event.event_type.clone(),
        event_version: event.event_version.clone(),
        payload: event.payload.to_string(),
        metadata: event.metadata.to_string(),
        occurred_at,
    }
}

/// Converts a stored row into the shape cqrs-es deserializes aggregates from.
pub fn to_serialized(recorded: RecordedEvent) -> Result<SerializedEvent, StoreError> {
    let event = recorded.event;
    Ok(SerializedEvent::new(
        event.stream_id,
        usize::try_from(event.sequence).unwrap_or_default(),
        event.stream_type,
        event.event_type,
        event.event_version,
        serde_json::from_str(&event.payload)?,
        serde_json::from_str(&event.metadata)?,
    ))
}

impl From<StoreError> for PersistenceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict { .. } | StoreError::Duplicate => Self::OptimisticLockError,
            StoreError::Database(e) => Self::ConnectionError(Box::new(e)),
            other => Self::UnknownError(Box::new(other)),
        }
    }
}

impl PersistedEventRepository for EventRepository {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.get_last_events::<A>(aggregate_id, 0).await
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        let after = i64::try_from(last_sequence).unwrap_or(i64::MAX);
        let events = self.store.read_stream(aggregate_id, after).await?;
        let events: Result<Vec<_>, StoreError> = events.into_iter().map(to_serialized).collect();
        Ok(events?)
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        _aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        Ok(None)
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        if snapshot_update.is_some() {
            return Err(PersistenceError::UnknownError(
                "this repository is event-sourced only: build the store with new_event_store"
                    .into(),
            ));
        }
        let batch = AppendBatch {
            events: events.iter().map(from_serialized).collect(),
            ..AppendBatch::default()
        };
        self.store.append(&batch).await?;
        Ok(())
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        let events = self.store.read_stream(aggregate_id, 0).await?;
        Ok(replay(events).await)
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        let events = self.store.read_type(A::TYPE).await?;
        Ok(replay(events).await)
    }
}

/// Feeds already-read events into a cqrs-es replay stream.
async fn replay(events: Vec<RecordedEvent>) -> ReplayStream {
    let (mut feed, stream) = ReplayStream::new(events.len().max(1));
    for event in events {
        // The receiver is alive (we hold it), and capacity covers every event.
        let event = to_serialized(event).map_err(PersistenceError::from);
        if feed.push(event).await.is_err() {
            break;
        }
    }
    stream
}
