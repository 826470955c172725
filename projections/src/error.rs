//! The storage error type, shared by the event store, projectors and queries.

/// What can go wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `DATABASE_URL` names neither `sqlite:` nor `postgres:`.
    #[error("DATABASE_URL must start with sqlite: or postgres:")]
    UnsupportedUrl,
    /// Another writer appended to one of the streams first.
    #[error(
        "stream {stream_id} was changed concurrently (expected sequence {sequence} to be free)"
    )]
    Conflict {
        /// The stream whose expected sequence was taken.
        stream_id: String,
        /// The sequence this append tried to use.
        sequence: i64,
    },
    /// A message with the same idempotency key was already recorded.
    #[error("a message with this idempotency key was already recorded")]
    Duplicate,
    /// A stored payload is not the JSON we wrote.
    #[error("stored JSON is malformed: {0}")]
    Json(#[from] serde_json::Error),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// The database's write-ahead log could not be flushed to disk.
    #[error("flushing the database to disk failed: {0}")]
    Flush(std::io::Error),
    /// The database takes no writes (a PostgreSQL standby).
    #[error("the database is read-only")]
    ReadOnly,
    /// A migration failed.
    #[error(transparent)]
    Migration(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// True when retrying the whole unit of work may succeed (a lost optimistic race).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Conflict { .. } | Self::Duplicate)
    }
}

/// Classifies a unique violation from either backend by the constraint's table.
pub(crate) fn classify_insert(
    error: sqlx::Error,
    conflict: impl FnOnce() -> StoreError,
) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            let message = db.message();
            // SQLite names the columns ("inbox.dedup_key"), Postgres the constraint ("inbox_pkey").
            if message.contains("inbox") || db.constraint().is_some_and(|c| c.starts_with("inbox"))
            {
                StoreError::Duplicate
            } else {
                conflict()
            }
        }
        _ => StoreError::Database(error),
    }
}
