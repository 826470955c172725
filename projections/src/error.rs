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
        /// The stream whose expected sequence was taken (on SQLite, which cannot say, the
        /// first stream of the insert that failed).
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

    /// True when the database is out of reach or out of room (unreachable, restarting, full,
    /// failing its I/O, read-only) rather than the request being wrong: the same request may
    /// succeed later without any change, so HTTP answers 503 and HubSpot retries.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Flush(_) | Self::ReadOnly => true,
            Self::Database(error) => sqlx_unavailable(error),
            _ => false,
        }
    }
}

/// True when `error` or one of its causes is a [`StoreError`] or sqlx error saying the database
/// is unreachable, full or failing (see [`StoreError::is_unavailable`]).
pub fn unavailable_in_chain(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        let unavailable = error
            .downcast_ref::<StoreError>()
            .is_some_and(StoreError::is_unavailable)
            || error
                .downcast_ref::<sqlx::Error>()
                .is_some_and(sqlx_unavailable);
        if unavailable {
            return true;
        }
        next = error.source();
    }
    false
}

/// [`StoreError::is_unavailable`] for a bare sqlx error.
pub fn sqlx_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            if db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .is_some()
            {
                // Connection exceptions (08), insufficient resources such as a full disk (53),
                // operator intervention such as a shutdown or restart (57), system errors such
                // as an I/O failure (58), a read-only transaction (25006), and a database that
                // does not allow connections now (55000).
                ["08", "53", "57", "58"]
                    .iter()
                    .any(|class| code.starts_with(class))
                    || code == "25006"
                    || code == "55000"
            } else {
                // SQLite's primary result codes (the low byte): SQLITE_BUSY 5, SQLITE_LOCKED 6,
                // SQLITE_NOMEM 7, SQLITE_READONLY 8, SQLITE_IOERR 10, SQLITE_FULL 13,
                // SQLITE_CANTOPEN 14.
                code.parse::<i64>()
                    .is_ok_and(|code| [5, 6, 7, 8, 10, 13, 14].contains(&(code & 0xff)))
            }
        }
        _ => false,
    }
}

/// The stream and sequence a PostgreSQL unique violation names in its detail
/// (`Key (stream_id, sequence)=(62515/contact/7, 3) already exists.`). SQLite names none:
/// there the caller reports the first event of the failed insert.
fn taken_sequence(error: &dyn sqlx::error::DatabaseError) -> Option<StoreError> {
    let detail = error
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()?
        .detail()?;
    let values = detail.strip_prefix("Key (stream_id, sequence)=(")?;
    let (values, _) = values.rsplit_once(") already exists")?;
    let (stream_id, sequence) = values.rsplit_once(", ")?;
    Some(StoreError::Conflict {
        stream_id: stream_id.to_string(),
        sequence: sequence.parse().ok()?,
    })
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
                taken_sequence(db.as_ref()).unwrap_or_else(conflict)
            }
        }
        _ => StoreError::Database(error),
    }
}
