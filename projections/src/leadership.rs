//! Which of several instances on one PostgreSQL database runs a follower that only one needs
//! to run (the read-model projector): the one holding a session advisory lock on a connection
//! of its own. The others ask again at most once per interval, so when the holder stops (or
//! its connection drops, which lets the lock go) another takes over within about that long.
//!
//! The lock only saves work: what the follower writes stays guarded by its own checks (the
//! projector's checkpoint and transaction lock), so two holders for a moment, as when a
//! holder's connection died unseen, write nothing twice.

use std::time::Duration;

use sqlx::postgres::PgConnection;
use sqlx::{Connection, PgPool};
use tokio::time::Instant;

use crate::db::Db;

/// A follower's claim to run on this instance.
pub struct Leadership {
    /// `None` on SQLite (one instance per file: always held).
    pool: Option<PgPool>,
    key: i64,
    /// The connection whose session holds (or asks for) the lock.
    connection: Option<PgConnection>,
    held: bool,
    /// When the lock was last asked for, or the held connection last checked.
    last_asked: Option<Instant>,
    interval: Duration,
}

impl Leadership {
    /// A claim to the lock `key` on `db`, asked for (or checked) at most once per `interval`.
    pub fn new(db: &Db, key: i64, interval: Duration) -> Self {
        Self {
            pool: match db {
                Db::Postgres(pool) => Some(pool.clone()),
                Db::Sqlite { .. } => None,
            },
            key,
            connection: None,
            held: false,
            last_asked: None,
            interval,
        }
    }

    /// True while this instance holds the lock (on SQLite, always). Asks for it when not held,
    /// and checks a held one's connection, each at most once per interval.
    pub async fn hold(&mut self) -> bool {
        let Some(pool) = self.pool.clone() else {
            return true;
        };
        if self
            .last_asked
            .is_some_and(|asked| asked.elapsed() < self.interval)
        {
            return self.held;
        }
        self.last_asked = Some(Instant::now());
        self.held = match self.ask(&pool).await {
            Ok(held) => held,
            Err(_) => {
                self.connection = None;
                false
            }
        };
        self.held
    }

    /// Checks the held lock's connection; when none is held (or its session is gone, and the
    /// lock with it), asks for the lock on this instance's connection, opened if need be.
    async fn ask(&mut self, pool: &PgPool) -> Result<bool, sqlx::Error> {
        if self.held {
            if let Some(connection) = self.connection.as_mut()
                && connection.ping().await.is_ok()
            {
                return Ok(true);
            }
            tracing::warn!(
                key = self.key,
                "lost the connection holding a follower's lock"
            );
            self.held = false;
            self.connection = None;
        }
        let connection = match &mut self.connection {
            Some(connection) => connection,
            // Detached: held for as long as the lock, it is not the pool's to share.
            None => self.connection.insert(pool.acquire().await?.detach()),
        };
        let (held,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1)")
            .bind(self.key)
            .fetch_one(connection)
            .await?;
        Ok(held)
    }
}
