//! The writer task: takes every queued job, decides them in order on in-memory aggregates and
//! commits them in one transaction.
//!
//! Deciding and committing overlap: while group N commits (inserts, then waits for the disk),
//! group N+1 is decided on top of the state N leaves behind, and its append starts as soon as
//! N's is durable. If N does not commit as decided (another process raced it), N+1 is decided
//! again from the log before it is appended, so nothing is ever appended on a state that did
//! not happen.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use cqrs_es::{Aggregate, DomainEvent};
use healthscore_domain::crm_object::{CrmObject, CrmObjectEvent};
use healthscore_domain::ids::CRM_OBJECT_STREAM;
use quick_cache::sync::Cache;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

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

#[derive(Clone)]
pub(super) struct Writer {
    store: EventStore,
    cache: Arc<Cache<String, Loaded>>,
}

/// One job's share of a group: its events' range in the batch and its outcome so far.
struct Share {
    job: Job,
    outcome: Result<Recorded, RecordError>,
}

/// What a decided group leaves behind once committed: the aggregates it loaded or changed and
/// the keys it recorded. The next group is decided on it while this one commits.
#[derive(Default)]
struct After {
    aggregates: HashMap<String, Loaded>,
    keys: HashSet<Vec<u8>>,
}

/// A group being appended, and whether it committed exactly as decided.
struct InFlight {
    after: Arc<After>,
    as_decided: JoinHandle<bool>,
}

impl Writer {
    pub(super) fn new(store: EventStore) -> Self {
        Self {
            store,
            cache: Arc::new(Cache::new(CACHE_CAPACITY)),
        }
    }

    pub(super) async fn run(self, mut queue: mpsc::Receiver<Job>) {
        let mut jobs = Vec::with_capacity(MAX_JOBS_PER_COMMIT);
        let mut in_flight: Option<InFlight> = None;
        while queue.recv_many(&mut jobs, MAX_JOBS_PER_COMMIT).await > 0 {
            let mut shares: Vec<Share> = std::mem::take(&mut jobs)
                .into_iter()
                .map(|job| Share {
                    job,
                    outcome: Ok(Recorded::default()),
                })
                .collect();
            let on_top = in_flight.as_ref().map(|f| Arc::clone(&f.after));
            let mut decided = self.decide(&mut shares, on_top.as_deref()).await;
            // Appends go one after the other: positions commit in order.
            if let Some(previous) = in_flight.take() {
                let as_decided = previous.as_decided.await.unwrap_or(false);
                if !as_decided || decided.is_err() {
                    self.forget(&shares);
                    decided = self.decide(&mut shares, None).await;
                }
            }
            match decided {
                Ok((batch, after)) => {
                    let after = Arc::new(after);
                    in_flight = Some(InFlight {
                        after: Arc::clone(&after),
                        as_decided: tokio::spawn(self.clone().commit(shares, batch, after)),
                    });
                }
                Err(error) => reply(shares, &Err(error)),
            }
        }
        if let Some(last) = in_flight {
            let _ = last.as_decided.await;
        }
    }

    /// Appends a decided group and answers its jobs; a group another process raced is decided
    /// again from the log and retried. True when the first append committed (the state the
    /// next group was decided on is the real one).
    async fn commit(
        self,
        mut shares: Vec<Share>,
        mut batch: AppendBatch,
        mut after: Arc<After>,
    ) -> bool {
        let mut attempt = 1;
        let result = loop {
            match self.store.append(&batch).await {
                Ok(last_position) => {
                    for (stream_id, loaded) in &after.aggregates {
                        self.cache.insert(stream_id.clone(), loaded.clone());
                    }
                    break Ok(last_position);
                }
                Err(error) if error.is_retryable() && attempt < MAX_ATTEMPTS => {
                    attempt += 1;
                    tracing::debug!(%error, attempt, "another writer raced us; reloading");
                    self.forget(&shares);
                    match self.decide(&mut shares, None).await {
                        Ok((next_batch, next_after)) => {
                            batch = next_batch;
                            after = Arc::new(next_after);
                        }
                        Err(error) => break Err(error),
                    }
                }
                Err(error) => break Err(error),
            }
        };
        let as_decided = attempt == 1 && result.is_ok();
        reply(shares, &result);
        as_decided
    }

    /// Decides every job on the aggregates as `on_top` (the group still committing) leaves
    /// them, else as cached or in the log. A job whose commands do not fit is answered with its
    /// error and left out.
    async fn decide(
        &self,
        shares: &mut [Share],
        on_top: Option<&After>,
    ) -> Result<(AppendBatch, After), StoreError> {
        let all: Vec<&Message> = shares.iter().flat_map(|s| &s.job.messages).collect();
        let mut seen = self.seen(&all, on_top).await?;
        let streams: HashSet<String> = all
            .iter()
            .flat_map(|m| m.commands.iter().map(|c| c.object().stream_id()))
            .collect();
        let mut working = self.load(streams, on_top).await?;
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
        let keys = batch.dedup_keys.iter().cloned().collect();
        Ok((
            batch,
            After {
                aggregates: working,
                keys,
            },
        ))
    }

    /// The keys recorded before (in the log or by the group still committing), as a set the
    /// deciding marks new keys in.
    async fn seen(
        &self,
        messages: &[&Message],
        on_top: Option<&After>,
    ) -> Result<HashSet<Vec<u8>>, StoreError> {
        let keys: Vec<Vec<u8>> = messages
            .iter()
            .filter_map(|m| m.dedup_key.clone())
            .collect();
        let mut seen: HashSet<Vec<u8>> = self.store.seen_keys(&keys).await?.into_iter().collect();
        if let Some(on_top) = on_top {
            seen.extend(keys.into_iter().filter(|k| on_top.keys.contains(k)));
        }
        Ok(seen)
    }

    /// Aggregates for `streams`: as the group still committing leaves them, else cached, else
    /// folded from the log.
    async fn load(
        &self,
        streams: HashSet<String>,
        on_top: Option<&After>,
    ) -> Result<HashMap<String, Loaded>, StoreError> {
        let mut loaded = HashMap::with_capacity(streams.len());
        let mut missing = Vec::new();
        for stream_id in streams {
            let hit = on_top
                .and_then(|after| after.aggregates.get(&stream_id).cloned())
                .or_else(|| self.cache.get(&stream_id));
            match hit {
                Some(hit) => {
                    loaded.insert(stream_id, hit);
                }
                None => missing.push(stream_id),
            }
        }
        for chunk in missing.chunks(500) {
            for recorded in self.store.read_streams(chunk).await? {
                let event: CrmObjectEvent = serde_json::from_str(&recorded.event.payload)?;
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
        for command in commands {
            self.cache.remove(&command.object().stream_id());
        }
    }
}

/// Answers every job of a group with its own outcome, or the group's failure.
fn reply(shares: Vec<Share>, result: &Result<i64, StoreError>) {
    for share in shares {
        let outcome = match result {
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
        for command in &message.commands {
            let stream_id = command.object().stream_id();
            let (aggregate, sequence) = changed
                .entry(stream_id.clone())
                .or_insert_with(|| base.get(&stream_id).cloned().unwrap_or_default());
            for event in aggregate.decide(command.clone())? {
                *sequence += 1;
                if matches!(event, CrmObjectEvent::PersonalDataErased { .. }) {
                    batch.erase_streams.push(stream_id.clone());
                }
                batch.events.push(to_new_event(
                    &stream_id,
                    *sequence,
                    &event,
                    &message.metadata,
                )?);
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
    metadata: &str,
) -> Result<NewEvent, StoreError> {
    Ok(NewEvent {
        stream_id: stream_id.to_string(),
        stream_type: CRM_OBJECT_STREAM.to_string(),
        sequence,
        event_type: event.event_type(),
        event_version: event.event_version(),
        payload: serde_json::to_string(event)?,
        metadata: metadata.to_string(),
        occurred_at: event.occurred_at(),
    })
}
