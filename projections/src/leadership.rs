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
        let Some(pool) = &self.pool else {
            return true;
        };
        if self
            .last_asked
            .is_some_and(|asked| asked.elapsed() < self.interval)
        {
            return self.held;
        }
        self.last_asked = Some(Instant::now());
        if self.held {
            let alive = match self.connection.as_mut() {
                Some(connection) => connection.ping().await.is_ok(),
                None => false,
            };
            if alive {
                return true;
            }
            // The session is gone and its lock with it: ask again below on a new one.
            tracing::warn!(
                key = self.key,
                "lost the connection holding a follower's lock"
            );
            self.held = false;
            self.connection = None;
        }
        if self.connection.is_none() {
            match pool.acquire().await {
                // Detached: held for as long as the lock, it is not the pool's to share.
                Ok(connection) => self.connection = Some(connection.detach()),
                Err(_) => return false,
            }
        }
        let Some(connection) = self.connection.as_mut() else {
            return false;
        };
        match sqlx::query_as::<_, (bool,)>("SELECT pg_try_advisory_lock($1)")
            .bind(self.key)
            .fetch_one(&mut *connection)
            .await
        {
            Ok((held,)) => self.held = held,
            Err(_) => {
                self.held = false;
                self.connection = None;
            }
        }
        self.held
    }
}
