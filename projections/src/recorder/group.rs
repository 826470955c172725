//! The writer task: decides queued jobs on in-memory aggregates and commits them in groups.
//!
//! Deciding and appending overlap, and a group is closed as late as possible. While one group
//! is appended, the jobs that arrive are decided, on another task, on top of the state that
//! group leaves, and gather in the pending group; the moment the append is committed,
//! everything pending is appended as the next group, while the previous group's callers wait
//! for the disk (see `wal_sync`). So the groups grow with the load (each append's fixed cost is
//! shared by more jobs) instead of being cut whenever a decision starts. If a group does not
//! commit as decided (another process raced it, or it held a key recorded before), whatever was
//! decided on top of it is decided again from the log before it is appended, so nothing is ever
//! appended on a state that did not happen.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use cqrs_es::{Aggregate, DomainEvent};
use healthscore_domain::crm_object::{CrmObject, CrmObjectEvent};
use healthscore_domain::ids::CRM_OBJECT_STREAM;
use quick_cache::sync::Cache;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{Job, Message, RecordError, Recorded};
use crate::error::StoreError;
use crate::store::{AppendBatch, EventStore, NewEvent, now_ms};

/// Jobs committed together at most (bounds one append's size and its jobs' latency).
const MAX_JOBS_PER_COMMIT: usize = 32;
/// Attempts before a group gives up: the first is optimistic, the rest decide under the append
/// lock and lose a race only to a writer that does not take it (there is none).
const MAX_ATTEMPTS: usize = 3;
/// Aggregates kept in memory (each a few KB): a portal's hot working set.
const CACHE_CAPACITY: usize = 200_000;
/// How long after losing a race to another process this writer decides every group under the
/// append lock: another instance writes the same streams, and optimistic appends would keep
/// losing (each loss costs the append and a second decision).
const CONTENDED_FOR_MS: i64 = 30_000;
/// Events of the log's tail read at most per catch-up of the cache: a few groups of the other
/// instances' (beyond it, the stale aggregates are found by their heads and reloaded whole).
const TAIL_LIMIT: i64 = 5_000;

/// A loaded aggregate and the sequence of its last event, shared by the cache and the groups
/// that read it (copied only when a job changes it).
type Loaded = Arc<(CrmObject, i64)>;

#[derive(Clone)]
pub(super) struct Writer {
    store: EventStore,
    cache: Arc<Cache<String, Loaded>>,
    /// When this writer last lost a stream race (epoch ms; 0: never).
    last_conflict_ms: Arc<AtomicI64>,
    /// The log position up to which the cache has been brought up to date with other
    /// processes' appends (see [`Writer::catch_up_cache`]). Trusted only under the append
    /// lock, where a stale aggregate still loses on its sequence (see [`Care`]).
    caught_up: Arc<AtomicI64>,
}

/// One job and its outcome so far.
struct Share {
    job: Job,
    outcome: Result<Recorded, RecordError>,
}

/// What a decided group leaves behind once committed: the aggregates it loaded or changed and
/// the keys it recorded. Later jobs are decided on it while it waits or commits.
#[derive(Default, Clone)]
struct After {
    aggregates: HashMap<String, Loaded>,
    keys: HashSet<Vec<u8>>,
}

/// Decided jobs: their events, keys and erasures, and the state they leave.
struct Group {
    shares: Vec<Share>,
    batch: AppendBatch,
    after: Arc<After>,
    /// Decided on a state that did not happen and not decided again: its commit must decide
    /// it under the append lock (its batch and `after` are not to be trusted meanwhile).
    undecided: bool,
}

impl Group {
    /// Jobs left for their commit to decide under the append lock.
    fn undecided(shares: Vec<Share>) -> Self {
        Self {
            shares,
            batch: AppendBatch::default(),
            after: Arc::default(),
            undecided: true,
        }
    }

    /// Adds jobs decided on top of this group.
    fn absorb(&mut self, later: Group) {
        self.undecided |= later.undecided;
        self.shares.extend(later.shares);
        self.batch.extend(later.batch);
        let after = Arc::make_mut(&mut self.after);
        let later = Arc::unwrap_or_clone(later.after);
        after.aggregates.extend(later.aggregates);
        after.keys.extend(later.keys);
    }
}

/// A group being appended, and whether it committed exactly as decided (told as soon as it is
/// committed; its jobs are answered later, once it is on disk).
struct InFlight {
    after: Arc<After>,
    as_decided: oneshot::Receiver<bool>,
}

/// What deciding some jobs gave: the group, or the jobs back with the reason it failed.
type Decided = Result<Group, (Vec<Share>, StoreError)>;

/// Jobs being decided on another task. `stale` is set when a group they were decided on top of
/// did not commit as decided: they are decided again when they come back.
struct Deciding {
    task: JoinHandle<Decided>,
    stale: bool,
}

/// Where deciding looks up the keys recorded before.
#[derive(Debug, Clone, Copy)]
enum Keys {
    /// Only among the groups not yet committed. Almost every delivery is new, so the log is
    /// not read first: a key recorded before makes the append fail (the inbox insert counts
    /// its rows) and the group is decided again with [`Keys::FromLog`]. Saves a read of the
    /// log on every decision.
    Optimistic,
    /// Also in the log.
    FromLog,
}

/// How much of the log a group decided under the append lock reads besides its tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Care {
    /// Nothing, when the tail since the last catch-up was applied whole (the first attempt).
    /// A cached aggregate is then stale only if it was cached before a catch-up that could not
    /// read its tail whole; an append on a stale one takes a sequence the log holds, and a key
    /// recorded before is refused by the inbox, so such a group fails whole, changes nothing,
    /// and is retried with [`Care::CheckTheLog`]. Saves two lookups under the lock.
    TrustTheTail,
    /// The heads of its streams and the keys recorded before (a retry).
    CheckTheLog,
}

/// What woke the writer.
enum Wake {
    /// The group in flight is done; true if it committed as decided.
    Appended(bool),
    /// Jobs came back decided (or not).
    Decided(Decided),
    /// The deciding task panicked (a bug); its callers see the recorder as stopped.
    Lost,
    /// Jobs arrived (0: the queue is closed).
    Received(usize),
}

impl Writer {
    pub(super) fn new(store: EventStore) -> Self {
        Self {
            store,
            cache: Arc::new(Cache::new(CACHE_CAPACITY)),
            last_conflict_ms: Arc::default(),
            caught_up: Arc::default(),
        }
    }

    pub(super) async fn run(self, mut queue: mpsc::Receiver<Job>) {
        let mut received = Vec::with_capacity(MAX_JOBS_PER_COMMIT);
        let mut pending: Option<Group> = None;
        let mut in_flight: Option<InFlight> = None;
        let mut deciding: Option<Deciding> = None;
        let mut open = true;
        loop {
            if in_flight.is_none() {
                in_flight = pending.take().map(|group| self.append(group));
            }
            if !open && in_flight.is_none() && deciding.is_none() {
                break;
            }
            let pending_jobs = pending.as_ref().map_or(0, |g| g.shares.len());
            let room = MAX_JOBS_PER_COMMIT.saturating_sub(pending_jobs);
            let wake = tokio::select! {
                appended = finished(in_flight.as_mut().map(|f| &mut f.as_decided)) => {
                    Wake::Appended(appended.unwrap_or(false))
                }
                decided = finished(deciding.as_mut().map(|d| &mut d.task)) => {
                    decided.map_or(Wake::Lost, Wake::Decided)
                }
                count = queue.recv_many(&mut received, room),
                    if open && deciding.is_none() && room > 0 => Wake::Received(count),
            };
            match wake {
                Wake::Appended(as_decided) => {
                    in_flight = None;
                    if !as_decided {
                        // Whatever was decided on top of that group is decided again.
                        if let Some(deciding) = deciding.as_mut() {
                            deciding.stale = true;
                        }
                        if let Some(group) = pending.take() {
                            pending = self.redecide(group.shares, &[]).await;
                        }
                    }
                }
                Wake::Decided(decided) => {
                    let stale = deciding.take().is_some_and(|d| d.stale);
                    let decided = match decided {
                        Ok(group) if stale => {
                            let layers = layers(pending.as_ref(), in_flight.as_ref());
                            self.redecide(group.shares, &layers).await
                        }
                        Ok(group) => Some(group),
                        Err((shares, error)) => {
                            reply(shares, Err(error));
                            None
                        }
                    };
                    if let Some(later) = decided {
                        match pending.as_mut() {
                            Some(group) => group.absorb(later),
                            None => pending = Some(later),
                        }
                    }
                }
                Wake::Lost => deciding = None,
                Wake::Received(0) => open = false,
                Wake::Received(_) => {
                    let shares = std::mem::take(&mut received)
                        .into_iter()
                        .map(|job| Share {
                            job,
                            outcome: Ok(Recorded::default()),
                        })
                        .collect();
                    let layers = layers(pending.as_ref(), in_flight.as_ref());
                    let writer = self.clone();
                    // Contended, the commit decides under the append lock: deciding now
                    // would only be done again.
                    let contended = self.contended();
                    deciding = Some(Deciding {
                        task: tokio::spawn(async move {
                            if contended {
                                return Ok(Group::undecided(shares));
                            }
                            writer.decide(shares, layers, Keys::Optimistic).await
                        }),
                        stale: false,
                    });
                }
            }
        }
    }

    /// Starts appending `group`.
    fn append(&self, group: Group) -> InFlight {
        let (told, as_decided) = oneshot::channel();
        let after = Arc::clone(&group.after);
        tokio::spawn(self.clone().commit(group, told));
        InFlight { after, as_decided }
    }

    /// Decides `shares` again from the log (on top of `layers`), answering them with the
    /// error if the log cannot be read.
    async fn redecide(&self, shares: Vec<Share>, layers: &[Arc<After>]) -> Option<Group> {
        if self.contended() {
            // Its commit decides it under the append lock: reading the log now would be waste.
            return Some(Group::undecided(shares));
        }
        self.forget(&shares);
        match self.decide(shares, layers.to_vec(), Keys::FromLog).await {
            Ok(group) => Some(group),
            Err((shares, error)) => {
                reply(shares, Err(error));
                None
            }
        }
    }

    /// Appends a decided group. A group another process raced, or one holding a key recorded
    /// before, is decided again from the log under the append lock and committed before the
    /// lock is let go, so the retry cannot lose a race (a race never fails a delivery). Once
    /// committed (or failed), tells the writer through `told` whether the first append
    /// committed (the state later jobs were decided on is the real one), so the next group
    /// starts while this one goes to disk; answers its jobs once it is durable.
    async fn commit(self, mut group: Group, told: oneshot::Sender<bool>) {
        metrics::histogram!("healthscore_recorder_group_jobs").record(group.shares.len() as f64);
        let mut exclusive = group.undecided || self.contended();
        let mut committed = if exclusive {
            self.commit_exclusive(&mut group, Care::TrustTheTail).await
        } else {
            self.store.commit(&group.batch).await
        };
        let mut attempt = 1;
        while committed.as_ref().is_err_and(StoreError::is_retryable) && attempt < MAX_ATTEMPTS {
            attempt += 1;
            if let Err(error) = &committed {
                tracing::debug!(%error, attempt, "a sequence or key was taken; deciding again under the append lock");
                if matches!(error, StoreError::Conflict { .. }) {
                    self.last_conflict_ms.store(now_ms(), Ordering::Relaxed);
                }
            }
            metrics::counter!("healthscore_recorder_group_retries").increment(1);
            exclusive = true;
            committed = self.commit_exclusive(&mut group, Care::CheckTheLog).await;
        }
        if committed.is_ok() {
            for (stream_id, loaded) in &group.after.aggregates {
                self.cache.insert(stream_id.clone(), Arc::clone(loaded));
            }
        }
        // The writer may be gone (shutting down); the jobs are still answered.
        let _ = told.send(!exclusive && committed.is_ok());
        let result = match committed {
            Ok(committed) => committed.durable().await,
            Err(error) => Err(error),
        };
        reply(group.shares, result);
    }

    /// Decides `group`'s jobs again while holding the append lock, and commits them before
    /// letting it go: nothing can be appended between the reads and the inserts. The cache is
    /// first brought up to date with the log's tail; `care` says whether the log is also asked
    /// for the streams' heads and the keys recorded before.
    async fn commit_exclusive(
        &self,
        group: &mut Group,
        care: Care,
    ) -> Result<crate::store::Committed<'_>, StoreError> {
        // Most of what the other processes wrote is read before the lock, while they hold it;
        // under it only what they committed since.
        self.catch_up_cache().await?;
        let lock = self.store.lock_appends().await?;
        let whole_tail = self.catch_up_cache().await?;
        let keys = if whole_tail && care == Care::TrustTheTail {
            Keys::Optimistic
        } else {
            self.forget_stale(&group.shares).await?;
            Keys::FromLog
        };
        let shares = std::mem::take(&mut group.shares);
        match self.decide(shares, Vec::new(), keys).await {
            Ok(again) => *group = again,
            Err((shares, error)) => {
                group.shares = shares;
                return Err(error);
            }
        }
        lock.commit(&group.batch).await
    }

    /// True while another process has lately been appending to the streams this one writes.
    fn contended(&self) -> bool {
        now_ms() - self.last_conflict_ms.load(Ordering::Relaxed) < CONTENDED_FOR_MS
    }

    /// Applies to the cached aggregates the events appended since the last catch-up (the log's
    /// tail: what other processes wrote, and this one's own appends, which are skipped), so
    /// that under contention [`Writer::forget_stale`] finds few stale aggregates and deciding
    /// reloads few streams whole. Reading the tail costs what the others wrote; reloading a
    /// stream costs its whole history, which grows. Safe at any time (it only applies committed
    /// events in sequence); under the append lock it leaves nothing unread. False when the
    /// tail was too long to read whole: the cache may then hold stale aggregates.
    async fn catch_up_cache(&self) -> Result<bool, StoreError> {
        let after = self.caught_up.load(Ordering::Relaxed);
        let tail = self.store.read_crm_tail(after, TAIL_LIMIT).await?;
        let Some(&(last, ..)) = tail.last() else {
            return Ok(true);
        };
        if tail.len() as i64 == TAIL_LIMIT {
            // Far behind (the first catch-up on a long log, or after a long quiet spell): the
            // stale few are cheaper to find by their heads than the history is to fold.
            self.caught_up
                .store(self.store.head().await?, Ordering::Relaxed);
            return Ok(false);
        }
        let mut advanced: HashMap<String, Loaded> = HashMap::new();
        for (_, stream_id, sequence, payload) in tail {
            let loaded = match advanced.entry(stream_id) {
                Entry::Occupied(held) => held.into_mut(),
                Entry::Vacant(free) => match self.cache.get(free.key()) {
                    Some(hit) => free.insert(hit),
                    // A stream that begins in the tail is wholly in it from here on.
                    None if sequence == 1 => free.insert(Loaded::default()),
                    None => continue,
                },
            };
            // An event the cached aggregate holds already (this process's own append), or one
            // after a gap (`forget_stale` then reloads the stream): left alone.
            if sequence != loaded.1 + 1 {
                continue;
            }
            let event: CrmObjectEvent = serde_json::from_str(&payload)?;
            let (aggregate, held) = Arc::make_mut(loaded);
            aggregate.apply(event);
            *held = sequence;
        }
        for (stream_id, loaded) in advanced {
            self.cache.insert(stream_id, loaded);
        }
        self.caught_up.store(last, Ordering::Relaxed);
        Ok(true)
    }

    /// Drops the cached aggregates among `shares`' streams whose last sequence in the log is
    /// not the cached one (another process appended to them).
    async fn forget_stale(&self, shares: &[Share]) -> Result<(), StoreError> {
        let cached: HashMap<String, i64> = shares
            .iter()
            .flat_map(|s| &s.job.messages)
            .flat_map(|m| &m.commands)
            .map(|c| c.object().stream_id())
            .filter_map(|stream| {
                let sequence = self.cache.get(&stream)?.1;
                Some((stream, sequence))
            })
            .collect();
        if cached.is_empty() {
            return Ok(());
        }
        let streams: Vec<String> = cached.keys().cloned().collect();
        let heads = self.store.stream_heads(&streams).await?;
        for (stream, sequence) in cached {
            if heads.get(&stream).copied().unwrap_or(0) != sequence {
                self.cache.remove(&stream);
            }
        }
        Ok(())
    }

    /// Decides every job on the aggregates as `layers` (decided groups not yet committed,
    /// newest first) leave them, else as cached or in the log. A job whose commands do not fit
    /// is answered with its error and left out. `keys` says where recorded keys are looked up.
    async fn decide(
        &self,
        mut shares: Vec<Share>,
        layers: Vec<Arc<After>>,
        keys: Keys,
    ) -> Result<Group, (Vec<Share>, StoreError)> {
        let all: Vec<&Message> = shares.iter().flat_map(|s| &s.job.messages).collect();
        let streams: HashSet<String> = all
            .iter()
            .flat_map(|m| m.commands.iter().map(|c| c.object().stream_id()))
            .collect();
        let read = async {
            let seen = self.seen(&all, &layers, keys).await?;
            let working = self.load(streams, &layers).await?;
            Ok::<_, StoreError>((seen, working))
        };
        let (mut seen, mut working) = match read.await {
            Ok(read) => read,
            Err(error) => return Err((shares, error)),
        };
        let mut batch = AppendBatch::default();
        for share in &mut shares {
            let mut job_working = HashMap::new();
            share.outcome = decide_job(&share.job.messages, &mut seen, &working, &mut job_working)
                .map(|(job_batch, recorded)| {
                    batch.extend(job_batch);
                    recorded
                });
            if share.outcome.is_ok() {
                working.extend(job_working);
            }
        }
        let keys = batch.dedup_keys.iter().cloned().collect();
        Ok(Group {
            shares,
            batch,
            after: Arc::new(After {
                aggregates: working,
                keys,
            }),
            undecided: false,
        })
    }

    /// The keys recorded before (by a group not yet committed, and in the log when `lookup`
    /// says so), as a set the deciding marks new keys in.
    async fn seen(
        &self,
        messages: &[&Message],
        layers: &[Arc<After>],
        lookup: Keys,
    ) -> Result<HashSet<Vec<u8>>, StoreError> {
        let keys: Vec<Vec<u8>> = messages
            .iter()
            .filter_map(|m| m.dedup_key.clone())
            .collect();
        let mut seen: HashSet<Vec<u8>> = match lookup {
            Keys::FromLog => self.store.seen_keys(&keys).await?.into_iter().collect(),
            Keys::Optimistic => HashSet::new(),
        };
        seen.extend(
            keys.into_iter()
                .filter(|k| layers.iter().any(|layer| layer.keys.contains(k))),
        );
        Ok(seen)
    }

    /// Aggregates for `streams`: as the newest group not yet committed leaves them, else
    /// cached, else folded from the log.
    async fn load(
        &self,
        streams: HashSet<String>,
        layers: &[Arc<After>],
    ) -> Result<HashMap<String, Loaded>, StoreError> {
        let mut loaded = HashMap::with_capacity(streams.len());
        let mut missing = Vec::new();
        for stream_id in streams {
            let hit = layers
                .iter()
                .find_map(|layer| layer.aggregates.get(&stream_id).cloned())
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
                let entry = loaded.entry(recorded.event.stream_id).or_default();
                let (aggregate, sequence) = Arc::make_mut(entry);
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

/// Waits for `task` to finish; never, if there is none.
async fn finished<F: Future + Unpin>(task: Option<&mut F>) -> F::Output {
    match task {
        Some(task) => task.await,
        None => std::future::pending().await,
    }
}

/// The decided groups not yet committed, newest first: what later jobs are decided on.
fn layers(pending: Option<&Group>, in_flight: Option<&InFlight>) -> Vec<Arc<After>> {
    pending
        .map(|group| Arc::clone(&group.after))
        .into_iter()
        .chain(in_flight.map(|flight| Arc::clone(&flight.after)))
        .collect()
}

/// Answers every job of a group with its own outcome, or the group's failure.
fn reply(shares: Vec<Share>, result: Result<i64, StoreError>) {
    // Every job of the group sees the one failure, its cause kept.
    let result = result.map_err(std::sync::Arc::new);
    for share in shares {
        let outcome = match &result {
            Ok(last_position) => share.outcome.map(|r| Recorded {
                last_position: *last_position,
                ..r
            }),
            Err(error) => Err(RecordError::Store(std::sync::Arc::clone(error))),
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
            let loaded = changed
                .entry(stream_id.clone())
                .or_insert_with(|| base.get(&stream_id).cloned().unwrap_or_default());
            let (aggregate, sequence) = Arc::make_mut(loaded);
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
