//! Recording commands for many CRM objects as ONE atomic, durable append.
//!
//! A webhook delivery (or a sync page) becomes messages; each message is the commands one
//! HubSpot event implies plus its idempotency key. The recorder drops messages whose key was
//! recorded before, runs every command through its object's aggregate, and appends all resulting
//! events, keys and privacy erasures in one transaction. A lost race (another writer took a
//! stream sequence or a key) invalidates the cached aggregates and retries the whole unit.

use std::collections::{HashMap, HashSet};

use healthscore_domain::crm_object::{CrmObject, CrmObjectCommand, CrmObjectError, CrmObjectEvent};
use healthscore_domain::ids::CRM_OBJECT_STREAM;
use quick_cache::sync::Cache;
use serde_json::Value;

use crate::error::StoreError;
use crate::store::{AppendBatch, EventStore, NewEvent};
use cqrs_es::{Aggregate, DomainEvent};

/// Attempts before a contended unit of work gives up.
const MAX_ATTEMPTS: usize = 16;
/// Aggregates kept in memory (each a few KB): the hot working set of a portal.
const CACHE_CAPACITY: usize = 200_000;

/// What one source message asks to record.
#[derive(Debug, Clone, Default)]
pub struct Message {
    /// Idempotency key: a message whose key was recorded before is skipped whole.
    pub dedup_key: Option<Vec<u8>>,
    /// Commands for CRM objects, each with the metadata its events carry.
    pub commands: Vec<(CrmObjectCommand, Value)>,
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

/// Why recording failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A command does not fit its aggregate.
    #[error(transparent)]
    Domain(#[from] CrmObjectError),
    /// The store failed, or the unit stayed contended after every retry.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A loaded aggregate and the sequence of its last event.
type Loaded = (CrmObject, i64);

/// Runs CRM-object commands and appends their events.
pub struct Recorder {
    store: EventStore,
    cache: Cache<String, Loaded>,
}

impl Recorder {
    /// A recorder appending to `store`.
    pub fn new(store: EventStore) -> Self {
        Self {
            store,
            cache: Cache::new(CACHE_CAPACITY),
        }
    }

    /// The event store written to.
    pub fn store(&self) -> &EventStore {
        &self.store
    }

    /// Records `messages` atomically; see the module docs.
    pub async fn record(&self, messages: &[Message]) -> Result<Recorded, RecordError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_record(messages).await {
                Err(RecordError::Store(error))
                    if error.is_retryable() && attempt < MAX_ATTEMPTS =>
                {
                    self.forget(messages);
                    tracing::debug!(%error, attempt, "lost an append race; retrying");
                }
                other => return other,
            }
        }
    }

    /// Loads the current state of `object`'s aggregate (from the cache or the log).
    pub async fn load(&self, stream_id: &str) -> Result<CrmObject, StoreError> {
        let mut loaded = self.load_many(&[stream_id.to_string()]).await?;
        Ok(loaded
            .remove(stream_id)
            .map(|(aggregate, _)| aggregate)
            .unwrap_or_default())
    }

    async fn try_record(&self, messages: &[Message]) -> Result<Recorded, RecordError> {
        let fresh = self.unseen(messages).await?;
        let streams: Vec<String> = fresh
            .iter()
            .flat_map(|m| m.commands.iter().map(|(c, _)| c.object().stream_id()))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut working = self.load_many(&streams).await?;
        let mut batch = AppendBatch::default();
        for message in &fresh {
            batch.dedup_keys.extend(message.dedup_key.clone());
            batch.events.extend(message.raw_events.iter().cloned());
            for (command, metadata) in &message.commands {
                let stream_id = command.object().stream_id();
                let (aggregate, sequence) = working.entry(stream_id.clone()).or_default();
                for event in aggregate.decide(command.clone())? {
                    *sequence += 1;
                    if matches!(event, CrmObjectEvent::PersonalDataErased { .. }) {
                        batch.erase_streams.push(stream_id.clone());
                    }
                    batch
                        .events
                        .push(to_new_event(&stream_id, *sequence, &event, metadata)?);
                    aggregate.apply(event);
                }
            }
        }
        let events = batch.events.len();
        let last_position = self.store.append(&batch).await?;
        for (stream_id, loaded) in working {
            self.cache.insert(stream_id, loaded);
        }
        Ok(Recorded {
            duplicates: messages.len() - fresh.len(),
            events,
            last_position,
        })
    }

    /// The messages whose keys were not recorded before (and not repeated within `messages`).
    async fn unseen<'m>(&self, messages: &'m [Message]) -> Result<Vec<&'m Message>, StoreError> {
        let keys: Vec<Vec<u8>> = messages
            .iter()
            .filter_map(|m| m.dedup_key.clone())
            .collect();
        let mut seen: HashSet<Vec<u8>> = self.store.seen_keys(&keys).await?.into_iter().collect();
        Ok(messages
            .iter()
            .filter(|m| {
                m.dedup_key
                    .as_ref()
                    .is_none_or(|key| seen.insert(key.clone()))
            })
            .collect())
    }

    /// Aggregates for `streams`: cached ones as they are, the rest folded from the log.
    async fn load_many(&self, streams: &[String]) -> Result<HashMap<String, Loaded>, StoreError> {
        let mut loaded = HashMap::with_capacity(streams.len());
        let mut missing = Vec::new();
        for stream_id in streams {
            match self.cache.get(stream_id) {
                Some(hit) => {
                    loaded.insert(stream_id.clone(), hit);
                }
                None => missing.push(stream_id.clone()),
            }
        }
        for recorded in self.store.read_streams(&missing).await? {
            let event: CrmObjectEvent = serde_json::from_value(recorded.event.payload)?;
            let (aggregate, sequence) = loaded.entry(recorded.event.stream_id).or_default();
            aggregate.apply(event);
            *sequence = recorded.event.sequence;
        }
        Ok(loaded)
    }

    /// Drops the cached aggregates `messages` touch, so a retry reloads them from the log.
    fn forget(&self, messages: &[Message]) {
        for message in messages {
            for (command, _) in &message.commands {
                self.cache.remove(&command.object().stream_id());
            }
        }
    }
}

fn to_new_event(
    stream_id: &str,
    sequence: i64,
    event: &CrmObjectEvent,
    metadata: &Value,
) -> Result<NewEvent, StoreError> {
    Ok(NewEvent {
        stream_id: stream_id.to_string(),
        stream_type: CRM_OBJECT_STREAM.to_string(),
        sequence,
        event_type: event.event_type(),
        event_version: event.event_version(),
        payload: serde_json::to_value(event)?,
        metadata: metadata.clone(),
        occurred_at: event.occurred_at(),
    })
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("cached", &self.cache.len())
            .finish()
    }
}
