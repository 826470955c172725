//! The catch-up projector: follows the log by global position and keeps the read models.
//!
//! Each step reads the checkpoint, applies the next events and moves the checkpoint in ONE
//! transaction, so a crash never loses or double-applies an event. On PostgreSQL the step first
//! takes a transaction-scoped advisory lock named after the projector: of several instances on
//! one database, one applies a given batch and the others find the checkpoint already moved.

use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::watch;

use crate::db::Db;
use crate::error::StoreError;
use crate::read_models::changes::Changes;
use crate::read_models::write::{insert_rows, write_changes};
use crate::store::{EVENTS_CHANNEL, EventStore, now_ms};

/// The read-model projector's name (its checkpoint row).
pub const READ_MODELS: &str = "read_models";
/// Tables the read-model projector owns (emptied by a rebuild).
const TABLES: [&str; 5] = [
    "crm_objects",
    "object_properties",
    "property_history",
    "associations",
    "object_activity",
];
/// Events per transaction.
const BATCH: i64 = 5_000;
/// How often a follower looks at the log when no wake-up arrives.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Applied events up to this position.
    Applied { events: usize, position: i64 },
    /// Nothing new in the log.
    CaughtUp,
    /// Another instance holds the projector right now.
    Busy,
}

/// The read-model projector over one event store.
#[derive(Debug, Clone)]
pub struct Projector {
    store: EventStore,
}

impl Projector {
    /// A projector following `store`.
    pub fn new(store: EventStore) -> Self {
        Self { store }
    }

    /// The position up to which the read models are current.
    pub async fn checkpoint(&self) -> Result<i64, StoreError> {
        checkpoint_of(self.store.db(), READ_MODELS).await
    }

    /// Applies the next batch of events, if any.
    pub async fn step(&self) -> Result<Step, StoreError> {
        macro_rules! step_in {
            ($tx:expr, $db:expr) => {{
                let tx = $tx;
                let (from,): (i64,) = sqlx::query_as(
                    "SELECT COALESCE(MAX(position), 0) FROM projector_checkpoints WHERE projector = $1",
                )
                .bind(READ_MODELS)
                .fetch_one(&mut **tx)
                .await?;
                let events = self.store.read_all(from, BATCH).await?;
                let Some(last) = events.last().map(|e| e.position) else {
                    return Ok(Step::CaughtUp);
                };
                let changes = Changes::fold(&events)?;
                write_changes!(&mut **tx, &changes, READ_MODELS, last, now_ms());
                (Step::Applied { events: events.len(), position: last }, !changes.erasures.is_empty())
            }};
        }
        let step = match self.store.db() {
            Db::Sqlite { writer, .. } => {
                let mut tx = writer.begin().await?;
                let (step, erased) = step_in!(&mut tx, self.store.db());
                tx.commit().await?;
                if erased {
                    self.store.db().scrub_wal().await?;
                }
                step
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let (locked,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_xact_lock($1)")
                    .bind(lock_key(READ_MODELS))
                    .fetch_one(&mut *tx)
                    .await?;
                if !locked {
                    return Ok(Step::Busy);
                }
                let (step, _) = step_in!(&mut tx, self.store.db());
                tx.commit().await?;
                step
            }
        };
        Ok(step)
    }

    /// Applies batches until the log's head (as seen when each step starts); returns events applied.
    pub async fn catch_up(&self, mut progress: impl FnMut(i64)) -> Result<usize, StoreError> {
        let mut applied = 0;
        loop {
            match self.step().await? {
                Step::Applied { events, position } => {
                    applied += events;
                    progress(position);
                }
                Step::CaughtUp => return Ok(applied),
                Step::Busy => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    /// Empties the read models and replays the whole log into them.
    pub async fn rebuild(&self, progress: impl FnMut(i64)) -> Result<usize, StoreError> {
        macro_rules! reset {
            ($tx:expr) => {{
                for table in TABLES {
                    sqlx::query(&format!("DELETE FROM {table}"))
                        .execute(&mut *$tx)
                        .await?;
                }
                sqlx::query("DELETE FROM projector_checkpoints WHERE projector = $1")
                    .bind(READ_MODELS)
                    .execute(&mut *$tx)
                    .await?;
            }};
        }
        match self.store.db() {
            Db::Sqlite { writer, .. } => {
                let mut tx = writer.begin().await?;
                reset!(&mut *tx);
                tx.commit().await?;
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(lock_key(READ_MODELS))
                    .execute(&mut *tx)
                    .await?;
                reset!(&mut *tx);
                tx.commit().await?;
            }
        }
        self.catch_up(progress).await
    }

    /// Follows the log until `shutdown` flips: woken at once by appends in this process, by
    /// PostgreSQL notifications from other instances, and otherwise every second.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut appended = self.store.subscribe();
        let mut listener = match self.store.db() {
            Db::Postgres(pool) => listen(pool).await,
            Db::Sqlite { .. } => None,
        };
        loop {
            if let Err(error) = self.catch_up(|_| {}).await {
                tracing::error!(%error, "read-model projector failed; retrying");
            }
            let notified = async {
                match listener.as_mut() {
                    Some(listener) => listener.recv().await.map(|_| ()).unwrap_or(()),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = appended.changed() => {}
                () = notified => {}
                () = tokio::time::sleep(POLL_INTERVAL) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

async fn listen(pool: &sqlx::PgPool) -> Option<PgListener> {
    let mut listener = PgListener::connect_with(pool).await.ok()?;
    match listener.listen(EVENTS_CHANNEL).await {
        Ok(()) => Some(listener),
        Err(error) => {
            tracing::warn!(%error, "cannot LISTEN; falling back to polling");
            None
        }
    }
}

/// The checkpoint of `projector` (0 before its first step).
pub async fn checkpoint_of(db: &Db, projector: &str) -> Result<i64, StoreError> {
    crate::on_reader!(db, pool => {
        let (position,): (i64,) = sqlx::query_as(
            "SELECT COALESCE(MAX(position), 0) FROM projector_checkpoints WHERE projector = $1",
        )
        .bind(projector)
        .fetch_one(pool)
        .await?;
        Ok(position)
    })
}

/// A stable advisory-lock key for a projector name (FNV-1a).
fn lock_key(name: &str) -> i64 {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    hash as i64
}
