//! Appending batches: one transaction, many streams, optimistic concurrency, idempotency keys.

use healthscore_domain::crm_object::redact_payload;
use sqlx::postgres::PgQueryResult;
use sqlx::sqlite::SqliteQueryResult;
use sqlx::{Postgres, QueryBuilder, Sqlite};

use super::{AppendBatch, EventStore, NewEvent, now_ms};
use crate::db::Db;
use crate::error::{StoreError, classify_insert};

/// Rows per multi-row INSERT: a fixed size keeps the prepared statement cached (a new row count
/// means a new statement to prepare), and 10 binds a row stays under both backends' limits.
const ROWS_PER_INSERT: usize = 256;
/// Serialises appenders across every PostgreSQL session so positions commit in order.
const APPEND_LOCK_KEY: i64 = 0x6865_616c_7468; // "health"

/// The NOTIFY channel other instances LISTEN on to learn of new events.
pub const EVENTS_CHANNEL: &str = "healthscore_events";

/// Builds the multi-row INSERTs of a batch's keys and events, before the transaction opens
/// (binding thousands of values is work the one writer need not wait for). Evaluates to the
/// key inserts and the event inserts, each with the rows it carries. Expanded per backend:
/// sqlx's query builder is concrete per database.
///
/// On SQLite a taken key or stream sequence is detected by counting the rows inserted, not by
/// a constraint error: `INSERT OR IGNORE` skips such a row, and the caller rolls the whole
/// transaction back. (A statement that may abort half-way makes SQLite keep a statement
/// journal, a copy of every page the statement touches; skipping instead saves that copy,
/// about a tenth of the writer's work.) PostgreSQL has no such cost, and `ON CONFLICT` would
/// add one (an index probe before each row), so there a taken key or sequence is the unique
/// violation it raises.
macro_rules! prepare_inserts {
    ($batch:expr, $recorded_at:expr, $insert:literal) => {{
        let mut keys = Vec::new();
        for chunk in $batch.dedup_keys.chunks(ROWS_PER_INSERT) {
            let mut insert =
                QueryBuilder::new(concat!($insert, " inbox (dedup_key, recorded_at) "));
            insert.push_values(chunk, |mut row, key| {
                row.push_bind(key.as_slice()).push_bind($recorded_at);
            });
            keys.push((insert, chunk.len()));
        }
        let mut events = Vec::new();
        for chunk in $batch.events.chunks(ROWS_PER_INSERT) {
            let mut insert = QueryBuilder::new(concat!(
                $insert,
                " events (stream_id, stream_type, sequence, event_type, event_version, \
                 payload, metadata, occurred_at, recorded_at) "
            ));
            insert.push_values(chunk, |mut row, event| {
                row.push_bind(event.stream_id.as_str())
                    .push_bind(event.stream_type.as_str())
                    .push_bind(event.sequence)
                    .push_bind(event.event_type.as_str())
                    .push_bind(event.event_version.as_str())
                    .push_bind(event.payload.as_str())
                    .push_bind(event.metadata.as_str())
                    .push_bind(event.occurred_at)
                    .push_bind($recorded_at);
            });
            events.push((insert, chunk));
        }
        (keys, events)
    }};
}

/// Runs prepared inserts and a batch's erasures inside an open transaction and evaluates to
/// the last position. `$inserted_last` maps an insert's result to the position of its last row
/// where the backend reports it (SQLite's last rowid saves a query on the writer's path).
macro_rules! insert_batch {
    ($conn:expr, $prepared:expr, $batch:expr, $inserted_last:expr) => {{
        let conn = $conn;
        let (keys, events) = $prepared;
        let mut last: Option<i64> = None;
        for (mut insert, rows) in keys {
            let inserted = insert
                .build()
                .execute(&mut *conn)
                .await
                .map_err(|e| classify_insert(e, || StoreError::Duplicate))?;
            if inserted.rows_affected() < rows as u64 {
                return Err(StoreError::Duplicate);
            }
        }
        for (mut insert, chunk) in events {
            let inserted = insert
                .build()
                .execute(&mut *conn)
                .await
                .map_err(|e| classify_insert(e, || first_conflict(chunk)))?;
            if inserted.rows_affected() < chunk.len() as u64 {
                return Err(first_conflict(chunk));
            }
            last = $inserted_last(&inserted);
        }
        for stream_id in &$batch.erase_streams {
            let rows: Vec<(i64, String, String)> = sqlx::query_as(
                "SELECT position, event_type, payload FROM events WHERE stream_id = $1",
            )
            .bind(stream_id.as_str())
            .fetch_all(&mut *conn)
            .await?;
            for (position, event_type, payload) in rows {
                let mut payload: serde_json::Value = serde_json::from_str(&payload)?;
                redact_payload(&event_type, &mut payload);
                sqlx::query("UPDATE events SET payload = $1 WHERE position = $2")
                    .bind(payload.to_string())
                    .bind(position)
                    .execute(&mut *conn)
                    .await?;
            }
        }
        match last {
            Some(last) => last,
            None => {
                let (last,): (Option<i64>,) = sqlx::query_as("SELECT MAX(position) FROM events")
                    .fetch_one(&mut *conn)
                    .await?;
                last.unwrap_or(0)
            }
        }
    }};
}

/// An append that is committed (readers may see it) but maybe not yet on disk.
#[must_use = "an append is acknowledged only once it is durable"]
#[derive(Debug)]
pub struct Committed<'a> {
    store: &'a EventStore,
    last: i64,
    /// The SQLite commit's ticket for the WAL flush; none on PostgreSQL (durable at commit).
    ticket: Option<u64>,
    /// False for an empty batch, which proves nothing about the database.
    wrote: bool,
}

impl Committed<'_> {
    /// Waits until the append survives a power cut; returns its last position and wakes this
    /// process's followers.
    pub async fn durable(self) -> Result<i64, StoreError> {
        match (self.ticket, &self.store.db) {
            (Some(ticket), Db::Sqlite { wal, .. }) => {
                let flushed = wal.sync(ticket).await;
                self.store.note_write(&flushed);
                flushed?;
            }
            (_, Db::Postgres(_)) if self.wrote => {
                self.store.note_write(&Ok::<_, StoreError>(()));
            }
            // An empty batch wrote nothing: it proves nothing either way.
            _ => {}
        }
        let last = self.last;
        self.store.appended.send_if_modified(|seen| {
            let newer = last > *seen;
            if newer {
                *seen = last;
            }
            newer
        });
        Ok(last)
    }
}

impl EventStore {
    /// Appends `batch` atomically and durably; returns the last position written (or the current
    /// head when the batch is empty).
    ///
    /// Fails with [`StoreError::Conflict`] when a stream's sequence was taken and
    /// [`StoreError::Duplicate`] when a dedup key was seen before; nothing is written then.
    pub async fn append(&self, batch: &AppendBatch) -> Result<i64, StoreError> {
        self.commit(batch).await?.durable().await
    }

    /// Commits `batch` like [`EventStore::append`] but returns before it is on disk, so the
    /// writer can take the next batch while the disk catches up; answer whoever waits for it
    /// only after [`Committed::durable`].
    pub async fn commit(&self, batch: &AppendBatch) -> Result<Committed<'_>, StoreError> {
        let committed = self.commit_unrecorded(batch).await;
        if committed.is_err() {
            self.note_write(&committed);
        }
        committed
    }

    async fn commit_unrecorded(&self, batch: &AppendBatch) -> Result<Committed<'_>, StoreError> {
        if is_empty(batch) {
            return self.committed_nothing().await;
        }
        let recorded_at = now_ms();
        match &self.db {
            Db::Sqlite { writer, .. } => {
                let prepared = prepare_inserts!(batch, recorded_at, "INSERT OR IGNORE INTO");
                let tx = writer.begin().await?;
                self.finish_sqlite(tx, prepared, batch).await
            }
            Db::Postgres(pool) => {
                let prepared = prepare_inserts!(batch, recorded_at, "INSERT INTO");
                let mut tx = pool.begin().await?;
                take_append_lock(&mut tx).await?;
                self.finish_postgres(tx, prepared, batch).await
            }
        }
    }

    /// Takes the database's append lock: until the returned guard commits or is dropped, no
    /// appender in any process can take a stream sequence or a key. What is read meanwhile
    /// (through other connections) stays true until the commit, so a batch decided on it
    /// cannot lose a race: the retry after a lost race decides under this lock.
    pub async fn lock_appends(&self) -> Result<AppendLock<'_>, StoreError> {
        let tx = match &self.db {
            // IMMEDIATE takes SQLite's write lock now rather than at the first insert.
            Db::Sqlite { writer, .. } => {
                Locked::Sqlite(writer.begin_with("BEGIN IMMEDIATE").await?)
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                take_append_lock(&mut tx).await?;
                Locked::Postgres(tx)
            }
        };
        Ok(AppendLock { store: self, tx })
    }

    async fn committed_nothing(&self) -> Result<Committed<'_>, StoreError> {
        Ok(Committed {
            store: self,
            last: self.head().await?,
            ticket: None,
            wrote: false,
        })
    }

    async fn finish_sqlite<'q>(
        &self,
        mut tx: sqlx::Transaction<'static, Sqlite>,
        prepared: Prepared<'q, Sqlite>,
        batch: &AppendBatch,
    ) -> Result<Committed<'_>, StoreError> {
        let Db::Sqlite { wal, .. } = &self.db else {
            unreachable!("a SQLite transaction comes from a SQLite store")
        };
        let last = insert_batch!(&mut *tx, prepared, batch, |r: &SqliteQueryResult| {
            Some(r.last_insert_rowid())
        });
        tx.commit().await?;
        let ticket = wal.committed();
        if !batch.erase_streams.is_empty() {
            self.db.scrub_wal().await?;
        }
        Ok(Committed {
            store: self,
            last,
            ticket: Some(ticket),
            wrote: true,
        })
    }

    async fn finish_postgres<'q>(
        &self,
        mut tx: sqlx::Transaction<'static, Postgres>,
        prepared: Prepared<'q, Postgres>,
        batch: &AppendBatch,
    ) -> Result<Committed<'_>, StoreError> {
        let last = insert_batch!(&mut *tx, prepared, batch, |_: &PgQueryResult| None);
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(EVENTS_CHANNEL)
            .bind(last.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Committed {
            store: self,
            last,
            ticket: None,
            wrote: true,
        })
    }
}

/// The multi-row inserts of one batch: its keys (with their row counts) and its events.
type Prepared<'q, DB> = (
    Vec<(QueryBuilder<'q, DB>, usize)>,
    Vec<(QueryBuilder<'q, DB>, &'q [NewEvent])>,
);

/// The append lock of [`EventStore::lock_appends`], held until [`AppendLock::commit`].
pub struct AppendLock<'a> {
    store: &'a EventStore,
    tx: Locked,
}

enum Locked {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

impl<'a> AppendLock<'a> {
    /// Commits `batch` (decided while the lock was held) and releases the lock.
    pub async fn commit(self, batch: &AppendBatch) -> Result<Committed<'a>, StoreError> {
        let store = self.store;
        let committed = if is_empty(batch) {
            drop(self.tx);
            store.committed_nothing().await
        } else {
            let recorded_at = now_ms();
            match self.tx {
                Locked::Sqlite(tx) => {
                    let prepared = prepare_inserts!(batch, recorded_at, "INSERT OR IGNORE INTO");
                    store.finish_sqlite(tx, prepared, batch).await
                }
                Locked::Postgres(tx) => {
                    let prepared = prepare_inserts!(batch, recorded_at, "INSERT INTO");
                    store.finish_postgres(tx, prepared, batch).await
                }
            }
        };
        if committed.is_err() {
            store.note_write(&committed);
        }
        committed
    }
}

fn is_empty(batch: &AppendBatch) -> bool {
    batch.events.is_empty() && batch.dedup_keys.is_empty() && batch.erase_streams.is_empty()
}

/// Serialises this transaction's appends with every other PostgreSQL session's, so positions
/// commit in order.
async fn take_append_lock(tx: &mut sqlx::Transaction<'static, Postgres>) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(APPEND_LOCK_KEY)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The conflict to report for a failed chunk: its first event's stream names the race.
fn first_conflict(chunk: &[NewEvent]) -> StoreError {
    chunk
        .first()
        .map_or(StoreError::Duplicate, |event| StoreError::Conflict {
            stream_id: event.stream_id.clone(),
            sequence: event.sequence,
        })
}
