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
use crate::leadership::Leadership;
use crate::read_models::changes::Changes;
use crate::read_models::write::{insert_rows, write_changes};
use crate::store::{EVENTS_CHANNEL, EventStore, now_ms};

/// The read-model projector's name (its checkpoint row).
pub const READ_MODELS: &str = "read_models";
/// Tables the read-model projector owns (emptied by a rebuild).
const TABLES: [&str; 3] = ["crm_objects", "object_properties", "associations"];
/// Events per transaction.
const BATCH: i64 = 5_000;
/// How often a follower looks at the log when no wake-up arrives.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// A folded page of the log, ready to be written.
#[derive(Debug)]
struct Page {
    /// The checkpoint the page follows: it applies only if the projector is still there.
    after: i64,
    /// The page's last position.
    last: i64,
    /// Events of any type it covers.
    events: usize,
    /// What its CRM-object events change.
    changes: Changes,
}

/// What writing a page did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    /// Applied; the checkpoint is now the page's last position.
    Applied,
    /// The checkpoint had moved (another instance applied these events): nothing written.
    Stale,
    /// Another instance holds the projector right now (PostgreSQL).
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

    /// Applies batches until the log's head (as seen by the last read); returns events applied.
    ///
    /// Reading and folding run one page ahead of writing, on another task: while page N is
    /// written and committed, page N+1 is read, parsed and folded.
    pub async fn catch_up(&self, mut progress: impl FnMut(i64)) -> Result<usize, StoreError> {
        let mut applied = 0;
        'pipeline: loop {
            let after = self.checkpoint().await?;
            let (pages, mut ready) = tokio::sync::mpsc::channel(1);
            let reader = tokio::spawn(read_ahead(self.store.clone(), after, pages));
            let _stop_reader = AbortOnDrop(reader);
            while let Some(page) = ready.recv().await {
                let page = page?;
                match self.write(&page).await? {
                    Written::Applied => {
                        applied += page.events;
                        progress(page.last);
                    }
                    Written::Stale => continue 'pipeline,
                    Written::Busy => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue 'pipeline;
                    }
                }
            }
            return Ok(applied);
        }
    }

    /// Writes `page` and moves the checkpoint in one transaction, if the checkpoint is still
    /// where the page starts.
    async fn write(&self, page: &Page) -> Result<Written, StoreError> {
        macro_rules! write_in {
            ($tx:expr) => {{
                let tx = $tx;
                let (checkpoint,): (i64,) = sqlx::query_as(
                    "SELECT COALESCE(MAX(position), 0) FROM projector_checkpoints WHERE projector = $1",
                )
                .bind(READ_MODELS)
                .fetch_one(&mut **tx)
                .await?;
                if checkpoint != page.after {
                    return Ok(Written::Stale);
                }
                write_changes!(&mut **tx, &page.changes, READ_MODELS, page.last, now_ms());
            }};
        }
        match self.store.db() {
            // Read models are derived from the log: their commits need not wait for the disk.
            Db::Sqlite { writer, .. } => {
                let mut tx = writer.begin().await?;
                write_in!(&mut tx);
                tx.commit().await?;
                if !page.changes.erasures.is_empty() {
                    self.store.db().scrub_wal().await?;
                }
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let (locked,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_xact_lock($1)")
                    .bind(lock_key(READ_MODELS))
                    .fetch_one(&mut *tx)
                    .await?;
                if !locked {
                    return Ok(Written::Busy);
                }
                write_in!(&mut tx);
                tx.commit().await?;
            }
        }
        Ok(Written::Applied)
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
    /// PostgreSQL notifications from other instances, and otherwise every second. Of several
    /// instances on one PostgreSQL database only the one holding the projector's leadership
    /// reads and folds the log (the others would fold every page to find it applied).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut appended = self.store.subscribe();
        let mut listener = match self.store.db() {
            Db::Postgres(pool) => listen(pool).await,
            Db::Sqlite { .. } => None,
        };
        let mut leadership = Leadership::new(
            self.store.db(),
            lock_key(&format!("{READ_MODELS} leader")),
            POLL_INTERVAL,
        );
        loop {
            if leadership.hold().await
                && let Err(error) = self.catch_up(|_| {}).await
            {
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

/// Reads, parses and folds the pages after `after` into `pages` until an empty page (or until
/// the writer stops listening).
async fn read_ahead(
    store: EventStore,
    mut after: i64,
    pages: tokio::sync::mpsc::Sender<Result<Page, StoreError>>,
) {
    loop {
        let page = match store.read_crm_page(after, BATCH).await {
            Ok(page) => page,
            Err(error) => {
                let _ = pages.send(Err(error)).await;
                return;
            }
        };
        let Some(last) = page.last else { return };
        let folded = Page {
            after,
            last,
            events: page.read,
            changes: Changes::fold(&page.events),
        };
        if pages.send(Ok(folded)).await.is_err() {
            return;
        }
        after = last;
    }
}

/// Aborts a task when dropped (the read-ahead of an abandoned pipeline).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
