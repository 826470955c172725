//! The `alerts` table: each alert's delivery state as the alerter folded it from its stream,
//! for listings and for finding the attempts that are due. Derived from the log, and written
//! idempotently (a row only moves forward by its stream sequence), so several instances may
//! fold the same events.

use sqlx::Row;

use crate::db::Db;
use crate::error::StoreError;
use crate::store::now_ms;
use crate::{on_reader, on_writer};

/// The alerter's checkpoint row in `projector_checkpoints`.
pub const ALERTER: &str = "alerter";

/// One alert's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRow {
    /// The public id (`webhook-id`).
    pub alert_id: String,
    /// Its portal.
    pub portal_id: i64,
    /// Its stream.
    pub stream_id: String,
    /// The rule that fired.
    pub rule_id: String,
    /// Where it goes.
    pub destination_id: String,
    /// `health.band_worsened`...
    pub alert_type: String,
    /// `contact` or `company`.
    pub subject_type: String,
    /// The subject's HubSpot id.
    pub subject_id: i64,
    /// `pending`, `sending`, `delivered`, `failed`.
    pub state: String,
    /// Attempts claimed.
    pub attempts: i64,
    /// When the next attempt is due (epoch ms), if one will be made.
    pub next_attempt_at: Option<i64>,
    /// The last failure's HTTP status.
    pub last_status: Option<i64>,
    /// The last failure's reason.
    pub last_error: Option<String>,
    /// When the change happened (epoch ms).
    pub changed_at: i64,
    /// When the alert was decided (epoch ms).
    pub raised_at: i64,
    /// When it was delivered (epoch ms).
    pub delivered_at: Option<i64>,
    /// The stream's last folded sequence.
    pub sequence: i64,
}

const COLUMNS: &str = "alert_id, portal_id, stream_id, rule_id, destination_id, alert_type, \
    subject_type, subject_id, state, attempts, next_attempt_at, last_status, last_error, \
    changed_at, raised_at, delivered_at, sequence";

fn decode<R>(row: &R) -> Result<AlertRow, StoreError>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(AlertRow {
        alert_id: row.try_get("alert_id")?,
        portal_id: row.try_get("portal_id")?,
        stream_id: row.try_get("stream_id")?,
        rule_id: row.try_get("rule_id")?,
        destination_id: row.try_get("destination_id")?,
        alert_type: row.try_get("alert_type")?,
        subject_type: row.try_get("subject_type")?,
        subject_id: row.try_get("subject_id")?,
        state: row.try_get("state")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_status: row.try_get("last_status")?,
        last_error: row.try_get("last_error")?,
        changed_at: row.try_get("changed_at")?,
        raised_at: row.try_get("raised_at")?,
        delivered_at: row.try_get("delivered_at")?,
        sequence: row.try_get("sequence")?,
    })
}

/// Writes `rows`, each only over an older fold of its stream.
pub async fn upsert(db: &Db, rows: &[AlertRow]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO alerts ({COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
         ON CONFLICT (alert_id) DO UPDATE SET state = excluded.state, \
         attempts = excluded.attempts, next_attempt_at = excluded.next_attempt_at, \
         last_status = excluded.last_status, last_error = excluded.last_error, \
         delivered_at = excluded.delivered_at, sequence = excluded.sequence \
         WHERE alerts.sequence < excluded.sequence"
    );
    on_writer!(db, pool => {
        let mut tx = pool.begin().await?;
        for row in rows {
            sqlx::query(&sql)
                .bind(&row.alert_id)
                .bind(row.portal_id)
                .bind(&row.stream_id)
                .bind(&row.rule_id)
                .bind(&row.destination_id)
                .bind(&row.alert_type)
                .bind(&row.subject_type)
                .bind(row.subject_id)
                .bind(&row.state)
                .bind(row.attempts)
                .bind(row.next_attempt_at)
                .bind(row.last_status)
                .bind(&row.last_error)
                .bind(row.changed_at)
                .bind(row.raised_at)
                .bind(row.delivered_at)
                .bind(row.sequence)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    })
}

/// The streams of up to `limit` alerts with an attempt due at `now` (epoch ms), oldest due first.
pub async fn due(db: &Db, now: i64, limit: i64) -> Result<Vec<String>, StoreError> {
    on_reader!(db, pool => {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT stream_id FROM alerts WHERE next_attempt_at IS NOT NULL \
             AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(pool)
        .await?;
        Ok(rows.into_iter().map(|(s,)| s).collect())
    })
}

/// When the next attempt of any alert is due, if any is.
pub async fn next_due(db: &Db) -> Result<Option<i64>, StoreError> {
    on_reader!(db, pool => {
        let (next,): (Option<i64>,) =
            sqlx::query_as("SELECT MIN(next_attempt_at) FROM alerts")
                .fetch_one(pool)
                .await?;
        Ok(next)
    })
}

/// A page of `portal`'s alerts, newest first, optionally in one state, before a cursor
/// `(raised_at, alert_id)`.
pub async fn page(
    db: &Db,
    portal: i64,
    state: Option<&str>,
    before: Option<(i64, &str)>,
    limit: i64,
) -> Result<Vec<AlertRow>, StoreError> {
    // Alert ids are ASCII letters, digits and '_': every one sorts below '~'.
    let (before_at, before_id) = before.unwrap_or((i64::MAX, "~"));
    let sql = format!(
        "SELECT {COLUMNS} FROM alerts WHERE portal_id = $1 AND ($2 = '' OR state = $2) \
         AND (raised_at < $3 OR (raised_at = $3 AND alert_id < $4)) \
         ORDER BY raised_at DESC, alert_id DESC LIMIT $5"
    );
    on_reader!(db, pool => {
        let rows = sqlx::query(&sql)
            .bind(portal)
            .bind(state.unwrap_or(""))
            .bind(before_at)
            .bind(before_id)
            .bind(limit)
            .fetch_all(pool)
            .await?;
        rows.iter().map(decode).collect()
    })
}

/// One of `portal`'s alerts by id.
pub async fn by_id(db: &Db, portal: i64, alert_id: &str) -> Result<Option<AlertRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM alerts WHERE portal_id = $1 AND alert_id = $2");
    on_reader!(db, pool => {
        let row = sqlx::query(&sql).bind(portal).bind(alert_id).fetch_optional(pool).await?;
        row.as_ref().map(decode).transpose()
    })
}

/// The position through which the alerter has decided and folded.
pub async fn checkpoint(db: &Db) -> Result<i64, StoreError> {
    crate::projector::checkpoint_of(db, ALERTER).await
}

/// Moves the alerter's checkpoint to `position` (never back).
pub async fn set_checkpoint(db: &Db, position: i64) -> Result<(), StoreError> {
    on_writer!(db, pool => {
        sqlx::query(
            "INSERT INTO projector_checkpoints (projector, position, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (projector) DO UPDATE SET position = excluded.position, \
             updated_at = excluded.updated_at WHERE projector_checkpoints.position < excluded.position",
        )
        .bind(ALERTER)
        .bind(position)
        .bind(now_ms())
        .execute(pool)
        .await?;
        Ok(())
    })
}

/// Empties the table and resets the checkpoint (a rebuild folds every alert again; the
/// decisions themselves are in the log and are not made twice).
pub async fn reset(db: &Db) -> Result<(), StoreError> {
    on_writer!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query("DELETE FROM alerts").execute(&mut *tx).await?;
        sqlx::query("DELETE FROM projector_checkpoints WHERE projector = $1")
            .bind(ALERTER)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    })
}
