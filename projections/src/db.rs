//! The database handle: SQLite (embedded default) or PostgreSQL, chosen once from the URL scheme.
//!
//! Most SQL is written once and runs on both backends; [`on_reader!`] and [`on_writer!`] expand a
//! block once per backend so the generic sqlx calls inside it are compiled for each pool type.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

use crate::error::StoreError;
use crate::wal_sync::{WalSync, flush_database_file};
use std::sync::Arc;

/// Which database engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite, one writer connection and several readers.
    Sqlite,
    /// PostgreSQL, shared by any number of instances.
    Postgres,
}

/// A connected database with its migrations applied.
#[derive(Debug, Clone)]
pub enum Db {
    /// SQLite in WAL mode: one writer (so commit order is append order) and a reader pool.
    Sqlite {
        /// The single writer connection.
        writer: SqlitePool,
        /// Concurrent readers (WAL lets them run beside the writer).
        reader: SqlitePool,
        /// Flushes the WAL for the commits that must survive a power cut.
        wal: Arc<WalSync>,
        /// Copies the WAL into the database file off the writer's path.
        checkpointer: Arc<Checkpointer>,
    },
    /// PostgreSQL: one pool for reads and writes.
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the pool used for reads.
#[macro_export]
macro_rules! on_reader {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite { reader: $pool, .. } => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` with `$pool` bound to the pool used for writes.
#[macro_export]
macro_rules! on_writer {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite { writer: $pool, .. } => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

impl Db {
    /// Connects to `url` (`sqlite://path` or `postgres://...`), creating a missing SQLite file.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Self::connect_sqlite(url).await
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Self::connect_postgres(url).await
        } else {
            Err(StoreError::UnsupportedUrl)
        }
    }

    /// Connects and applies every pending migration.
    pub async fn connect_and_migrate(url: &str) -> Result<Self, StoreError> {
        let db = Self::connect(url).await?;
        db.migrate().await?;
        Ok(db)
    }

    async fn connect_sqlite(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL: a commit does not wait for the disk; appends to the log (and API keys)
            // flush the WAL after their commit, off the writer's turn (see `wal_sync`).
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // Zero freed pages so erased personal data does not linger in the file.
            .pragma("secure_delete", "ON")
            // A 64 MiB page cache and memory-mapped reads keep the log's indexes off the disk
            // path; statement journals of multi-row inserts stay in memory.
            .pragma("cache_size", "-65536")
            .pragma("mmap_size", "268435456")
            .pragma("temp_store", "MEMORY")
            // The background checkpointer keeps the WAL short; the writer checkpoints by itself
            // (stalling a commit for tens of ms) only if the WAL outgrows 256 MiB anyway.
            .pragma("wal_autocheckpoint", "65536");
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let wal = Arc::new(WalSync::new(
            (!in_memory).then(|| options.get_filename().to_path_buf()),
        ));
        // A local file's connection cannot go stale: no ping (a round trip to the connection's
        // thread) before each use. The writer is retired only when its transaction state is
        // lost (see `no_transaction_left_open`); other connections stay open meanwhile, so its
        // WAL stays the file `WalSync` flushes.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .before_acquire(|conn, _| Box::pin(no_transaction_left_open(conn)))
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await?;
        let checkpointer = Arc::new(Checkpointer::spawn(options.clone(), writer.clone()));
        let reader = SqlitePoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self::Sqlite {
            writer,
            reader,
            wal,
            checkpointer,
        })
    }

    async fn connect_postgres(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            // Below HubSpot's 5 s wait: an unreachable database is a 503 it retries, not a timeout.
            .acquire_timeout(Duration::from_secs(3))
            .before_acquire(|conn, _| Box::pin(no_transaction_left_open(conn)))
            .connect_with(options)
            .await?;
        Ok(Self::Postgres(pool))
    }

    /// Applies the embedded migrations of this backend.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Self::Sqlite { writer, wal, .. } => {
                SQLITE_MIGRATIONS.run(writer).await?;
                // The writer has used the database: its WAL exists and is the one to flush.
                wal.open().await?;
            }
            Self::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// The SQLite database file; `None` on PostgreSQL or in memory.
    pub fn sqlite_file(&self) -> Option<&Path> {
        match self {
            Self::Sqlite { wal, .. } => wal.database_file(),
            Self::Postgres(_) => None,
        }
    }

    /// The engine behind this handle.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite { .. } => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }

    /// Answers when the database can run a query (for readiness probes).
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_reader!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Fails when the database cannot take durable writes now: on SQLite the WAL this process
    /// flushes was deleted under it (another process believed it was alone), on PostgreSQL the
    /// server is a read-only standby. Cheap: reads only.
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        match self {
            Self::Sqlite { wal, .. } => {
                self.ping().await?;
                wal.check().await
            }
            Self::Postgres(pool) => {
                let (standby,): (bool,) = sqlx::query_as("SELECT pg_is_in_recovery()")
                    .fetch_one(pool)
                    .await?;
                if standby {
                    return Err(StoreError::ReadOnly);
                }
                Ok(())
            }
        }
    }

    /// Commits one real write (the `write_probe` row with [`PROBE_ROOM_BYTES`] in it) and makes
    /// it durable, as an append would: fails when the database cannot be written or has no
    /// room for a delivery's worth of rows. Waits for the writer's turn on SQLite.
    pub async fn probe_write(&self) -> Result<(), StoreError> {
        const PROBE: &str = "INSERT INTO write_probe (id, probed_at, room) VALUES (1, $1, $2) \
                             ON CONFLICT (id) DO UPDATE \
                             SET probed_at = excluded.probed_at, room = excluded.room";
        let now = chrono::Utc::now().timestamp_millis();
        let room = vec![0_u8; PROBE_ROOM_BYTES];
        on_writer!(self, pool => {
            // A transaction sqlx tracks: rolled back if this future is dropped midway.
            let mut tx = pool.begin().await?;
            sqlx::query(PROBE).bind(now).bind(&room).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        self.sync_commits().await
    }

    /// After erasing personal data: on SQLite, copies the WAL into the database file and truncates
    /// it, so no earlier page image holding the erased values survives (with `secure_delete` the
    /// freed bytes in the main file are zeroed too). PostgreSQL recycles its WAL on its own.
    pub async fn scrub_wal(&self) -> Result<(), StoreError> {
        if let Self::Sqlite { writer, .. } = self {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(writer)
                .await?;
        }
        Ok(())
    }

    /// Makes the writer's commits so far survive a power cut (SQLite flushes its WAL, see
    /// [`WalSync`]; a PostgreSQL commit is durable when it returns). Call after the commit.
    pub async fn sync_commits(&self) -> Result<(), StoreError> {
        match self {
            Self::Sqlite { wal, .. } => wal.sync(wal.committed()).await,
            Self::Postgres(_) => Ok(()),
        }
    }

    /// Closes every connection, letting SQLite checkpoint its WAL.
    pub async fn close(&self) {
        match self {
            Self::Sqlite {
                writer,
                reader,
                checkpointer,
                ..
            } => {
                checkpointer.0.abort();
                reader.close().await;
                writer.close().await;
            }
            Self::Postgres(pool) => pool.close().await,
        }
    }
}

/// Keeps a pooled connection only if sqlx counts no transaction open on it. An idle connection
/// with one is out of step with its database: after a COMMIT that failed (say, a full disk) and
/// that SQLite rolled back by itself, sqlx's ROLLBACK fails and its count stays at one, so the
/// next `begin` would open a SAVEPOINT, and a later rollback to it would leave a transaction
/// open for good, every commit after it answered but never written. Such a connection is
/// closed (SQLite rolls back whatever it holds) and the pool opens a fresh one.
async fn no_transaction_left_open<C: sqlx::Connection>(conn: &mut C) -> Result<bool, sqlx::Error> {
    let clean = !conn.is_in_transaction();
    if !clean {
        tracing::warn!("a pooled connection kept a transaction open; replacing it");
    }
    Ok(clean)
}

/// What a readiness probe writes beyond its row: about ten 100-event deliveries' rows, so a
/// database with room for the probe has room for the appends behind it.
const PROBE_ROOM_BYTES: usize = 1 << 20;

/// How often the background checkpointer copies committed WAL frames into the database file.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(250);
/// WAL frames (4 KiB each) beyond which the checkpointer rewinds the WAL (see [`restart`]).
const RESTART_FRAMES: i64 = 16_384;

/// A task that runs `PRAGMA wal_checkpoint(PASSIVE)` on its own connection every
/// [`CHECKPOINT_INTERVAL`]. PASSIVE never waits for the writer or readers, so commits stop
/// paying for checkpoints (a 64 MiB one stalled a webhook commit by about 70 ms).
///
/// Under steady writes that alone never lets the WAL start over: SQLite rewinds it only once
/// every frame is copied, and new frames keep arriving while a checkpoint runs. So when the WAL
/// holds more than [`RESTART_FRAMES`] after a background pass, the checkpointer flushes the
/// database file and then takes the writer briefly to copy the frames written since
/// ([`restart`]). Left to SQLite, the writer would stall for the copy and the flush of the whole
/// WAL when it reached its automatic checkpoint size (about 50 ms every 64 MiB under webhook
/// load). Stops when the last handle to the database is dropped or closed.
#[derive(Debug)]
pub struct Checkpointer(tokio::task::JoinHandle<()>);

impl Checkpointer {
    fn spawn(options: SqliteConnectOptions, writer: SqlitePool) -> Self {
        Self(tokio::spawn(async move {
            use sqlx::Connection as _;
            let database = options.get_filename().to_path_buf();
            let mut ticks = tokio::time::interval(CHECKPOINT_INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // The first tick is immediate: connect only after the writer has set the file up.
            ticks.tick().await;
            let mut conn = None;
            loop {
                ticks.tick().await;
                if conn.is_none() {
                    conn = sqlx::SqliteConnection::connect_with(&options).await.ok();
                }
                let Some(open) = conn.as_mut() else { continue };
                match checkpoint(open).await {
                    Ok(frames) if frames > RESTART_FRAMES => {
                        match restart(&database, &writer).await {
                            Ok(()) => tracing::debug!(frames, "WAL rewound (fully checkpointed)"),
                            Err(error) => tracing::warn!(%error, "rewinding the WAL failed"),
                        }
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::debug!(%error, "background checkpoint failed; reconnecting");
                        conn = None;
                    }
                }
            }
        }))
    }
}

/// Lets the WAL start over after a background pass: flushes the database pages that pass
/// copied (SQLite flushes the file only after a checkpoint that copied every frame, which
/// would otherwise happen while the writer waits), then copies the frames written since on
/// the writer. The next commit rewinds the WAL unless a reader still reads from it (PASSIVE
/// never waits for readers; the next round tries again).
async fn restart(database: &Path, writer: &SqlitePool) -> Result<(), StoreError> {
    // Through the process's one kept descriptor: closing a descriptor of the database file
    // would drop SQLite's locks on it (see `wal_sync`).
    flush_database_file(database.to_path_buf()).await?;
    let mut writer = writer.acquire().await?;
    checkpoint(&mut writer).await?;
    Ok(())
}

/// A PASSIVE checkpoint on `conn` (it never waits for the writer or readers); returns the
/// frames in the WAL.
async fn checkpoint(conn: &mut sqlx::SqliteConnection) -> Result<i64, sqlx::Error> {
    let (_busy, frames, _copied): (i64, i64, i64) =
        sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(conn)
            .await?;
    Ok(frames)
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}
