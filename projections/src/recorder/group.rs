//! The writer task: takes every queued job, decides them in order on in-memory aggregates and
//! commits them in one transaction.

use std::collections::{HashMap, HashSet};

use cqrs_es::{Aggregate, DomainEvent};
use healthscore_domain::crm_object::{CrmObject, CrmObjectEvent};
use healthscore_domain::ids::CRM_OBJECT_STREAM;
use quick_cache::sync::Cache;
use serde_json::Value;
use tokio::sync::mpsc;

use super::{Job, Message, RecordError, Recorded};
use crate::error::StoreError;
use crate::store::{AppendBatch, EventStore, NewEvent};

/// Jobs committed together at most (bounds the statement's bind count and the latency).
const MAX_JOBS_PER_COMMIT: usize = 32;
/// Attempts before a group contended by another process gives up.
const MAX_ATTEMPTS: usize = 8;
/// Aggregates kept in memory (each a few KB): a portal's hot working set.
const CACHE_CAPACITY: usize = 200_000;

/// A loaded aggregate and the sequence of its last event.
type Loaded = (CrmObject, i64);

pub(super) struct Writer {
    store: EventStore,
    cache: Cache<String, Loaded>,
}

/// One job's share of a group: its events' range in the batch and its outcome so far.
struct Share {
    job: Job,
    outcome: Result<Recorded, RecordError>,
}

impl Writer {
    pub(super) fn new(store: EventStore) -> Self {
        Self {
            store,
            cache: Cache::new(CACHE_CAPACITY),
        }
    }

    pub(super) async fn run(self, mut queue: mpsc::Receiver<Job>) {
        let mut jobs = Vec::with_capacity(MAX_JOBS_PER_COMMIT);
        while queue.recv_many(&mut jobs, MAX_JOBS_PER_COMMIT).await > 0 {
            self.commit_group(std::mem::take(&mut jobs)).await;
        }
    }

    async fn commit_group(&self, jobs: Vec<Job>) {
        let mut shares: Vec<Share> = jobs
            .into_iter()
            .map(|job| Share {
                job,
                outcome: Ok(Recorded::default()),
            })
            .collect();
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            match self.try_commit(&mut shares).await {
                Err(error) if error.is_retryable() && attempt < MAX_ATTEMPTS => {
                    tracing::debug!(%error, attempt, "another writer raced us; reloading");
                    self.forget(&shares);
                }
                other => break other,
            }
        };
        for share in shares {
            let outcome = match &result {
                Ok(last_position) => share.outcome.map(|r| Recorded {
                    last_position: *last_position,
                    ..r
                }),
                Err(error) => Err(RecordError::Store(error.to_string())),
            };
            // A caller that gave up (client disconnected) no longer listens; its data is committed.
            let _ = share.job.reply.send(outcome);
        }
    }

    /// Decides every job on a working copy and appends the lot; on success the working copy
    /// becomes the cache. A job whose commands do not fit is answered with its error and left out.
    async fn try_commit(&self, shares: &mut [Share]) -> Result<i64, StoreError> {
        let all: Vec<&Message> = shares.iter().flat_map(|s| &s.job.messages).collect();
        let mut seen = self.seen(&all).await?;
        let streams: HashSet<String> = all
            .iter()
            .flat_map(|m| m.commands.iter().map(|(c, _)| c.object().stream_id()))
            .collect();
        let mut working = self.load(streams).await?;
        let mut batch = AppendBatch::default();
        for share in shares.iter_mut() {
            let mut job_working = HashMap::new();
            share.outcome = decide_job(&share.job.messages, &mut seen, &working, &mut job_working)
                .map(|(job_batch, recorded)| {
                    batch.events.extend(job_batch.events);
                    batch.dedup_keys.extend(job_batch.dedup_keys);
                    batch.erase_streams.extend(job_batch.erase_streams);
                    recorded
                });
            if share.outcome.is_ok() {
                working.extend(job_working);
            }
        }
        let last_position = self.store.append(&batch).await?;
        for (stream_id, loaded) in working {
            self.cache.insert(stream_id, loaded);
        }
        Ok(last_position)
    }

    /// The keys recorded before, as a set the deciding marks new keys in.
    async fn seen(&self, messages: &[&Message]) -> Result<HashSet<Vec<u8>>, StoreError> {
        let keys: Vec<Vec<u8>> = messages
            .iter()
            .filter_map(|m| m.dedup_key.clone())
            .collect();
        Ok(self.store.seen_keys(&keys).await?.into_iter().collect())
    }

    /// Aggregates for `streams`: cached ones as they are, the rest folded from the log.
    async fn load(&self, streams: HashSet<String>) -> Result<HashMap<String, Loaded>, StoreError> {
        let mut loaded = HashMap::with_capacity(streams.len());
        let mut missing = Vec::new();
        for stream_id in streams {
            match self.cache.get(&stream_id) {
                Some(hit) => {
                    loaded.insert(stream_id, hit);
                }
                None => missing.push(stream_id),
            }
        }
        for chunk in missing.chunks(500) {
            for recorded in self.store.read_streams(chunk).await? {
                let event: CrmObjectEvent = serde_json::from_value(recorded.event.payload)?;
                let (aggregate, sequence) = loaded.entry(recorded.event.stream_id).or_default();
                aggregate.apply(event);
                *sequence = recorded.event.sequence;
            }
        }
        Ok(loaded)
    }

    /// Drops the cached aggregates the group touches, so a retry reloads them from the log.
    fn forget(&self, shares: &[Share]) {
        let commands = shares
            .iter()
            .flat_map(|s| &s.job.messages)
            .flat_map(|m| &m.commands);
        for (command, _) in commands {
            self.cache.remove(&command.object().stream_id());
        }
    }
}

/// Decides one job against the group's state so far. New keys are marked in `seen`; changed
/// aggregates go to `changed` (merged into the group's state only if the whole job fits).
fn decide_job(
    messages: &[Message],
    seen: &mut HashSet<Vec<u8>>,
    base: &HashMap<String, Loaded>,
    changed: &mut HashMap<String, Loaded>,
) -> Result<(AppendBatch, Recorded), RecordError> {
    let mut batch = AppendBatch::default();
    let mut recorded = Recorded::default();
    let mut new_keys = Vec::new();
    for message in messages {
        if let Some(key) = &message.dedup_key {
            if seen.contains(key) || new_keys.contains(key) {
                recorded.duplicates += 1;
                continue;
            }
            new_keys.push(key.clone());
        }
        batch.events.extend(message.raw_events.iter().cloned());
        for (command, metadata) in &message.commands {
            let stream_id = command.object().stream_id();
            let (aggregate, sequence) = changed
                .entry(stream_id.clone())
                .or_insert_with(|| base.get(&stream_id).cloned().unwrap_or_default());
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
    recorded.events = batch.events.len();
    seen.extend(new_keys.iter().cloned());
    batch.dedup_keys = new_keys;
    Ok((batch, recorded))
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
