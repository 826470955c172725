//! Reading the log: one stream, several streams, or everything after a global position.

use healthscore_domain::crm_object::CrmObjectEvent;
use healthscore_domain::ids::CRM_OBJECT_STREAM;
use sqlx::{QueryBuilder, Row, Sqlite};

use super::{EventStore, NewEvent, RecordedEvent};
use crate::db::Db;
use crate::error::StoreError;
use crate::on_reader;

// Lookups of many streams or keys at once take one array on PostgreSQL and probe the index
// once per element (`unnest` with a LATERAL subquery that sorts or limits, which the planner
// cannot flatten into a join). An `IN (...)` list there is planned from the table's statistics,
// and on a log that grew since the last ANALYZE it became a scan of the whole table: a
// two-instance run spent 10-60 ms per group on it, growing with the log. SQLite always probes
// the index for `IN (...)`.
const COLUMNS: &str = "position, stream_id, stream_type, sequence, event_type, event_version, \
                       payload, metadata, occurred_at, recorded_at";

/// `head`, the bound `items` separated by commas, then `tail`: an `IN (...)` list for SQLite.
fn sqlite_in_list<'q, T>(
    head: impl Into<String>,
    items: impl IntoIterator<Item = T>,
    tail: &str,
) -> QueryBuilder<'q, Sqlite>
where
    T: 'q + sqlx::Encode<'q, Sqlite> + sqlx::Type<Sqlite>,
{
    let mut query = QueryBuilder::new(head);
    let mut list = query.separated(", ");
    for item in items {
        list.push_bind(item);
    }
    query.push(tail);
    query
}

/// Builds a [`RecordedEvent`] from a row of [`COLUMNS`] on either backend.
fn decode<R>(row: &R) -> Result<RecordedEvent, StoreError>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(RecordedEvent {
        position: row.try_get("position")?,
        recorded_at: row.try_get("recorded_at")?,
        event: NewEvent {
            stream_id: row.try_get("stream_id")?,
            stream_type: row.try_get("stream_type")?,
            sequence: row.try_get("sequence")?,
            event_type: row.try_get("event_type")?,
            event_version: row.try_get("event_version")?,
            payload: row.try_get("payload")?,
            metadata: row.try_get("metadata")?,
            occurred_at: row.try_get("occurred_at")?,
        },
    })
}

impl EventStore {
    /// The events of one stream with a sequence above `after_sequence`, in sequence order.
    pub async fn read_stream(
        &self,
        stream_id: &str,
        after_sequence: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM events WHERE stream_id = $1 AND sequence > $2 ORDER BY sequence"
        );
        on_reader!(self.db(), pool => {
            let rows = sqlx::query(&sql).bind(stream_id).bind(after_sequence).fetch_all(pool).await?;
            rows.iter().map(decode).collect()
        })
    }

    /// The events of several streams, grouped by stream in sequence order (one round trip).
    pub async fn read_streams(
        &self,
        stream_ids: &[String],
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if stream_ids.is_empty() {
            return Ok(Vec::new());
        }
        match self.db() {
            Db::Sqlite { reader, .. } => {
                let rows = sqlite_in_list(
                    format!("SELECT {COLUMNS} FROM events WHERE stream_id IN ("),
                    stream_ids.iter().map(String::as_str),
                    ") ORDER BY stream_id, sequence",
                )
                .build()
                .fetch_all(reader)
                .await?;
                rows.iter().map(decode).collect()
            }
            Db::Postgres(pool) => {
                let sql = format!(
                    "SELECT e.* FROM unnest($1::text[]) AS s(id) CROSS JOIN LATERAL \
                     (SELECT {COLUMNS} FROM events WHERE stream_id = s.id ORDER BY sequence) e \
                     ORDER BY e.stream_id, e.sequence"
                );
                let rows = sqlx::query(&sql).bind(stream_ids).fetch_all(pool).await?;
                rows.iter().map(decode).collect()
            }
        }
    }

    /// Up to `limit` events with a position above `after` whose stream id starts with
    /// `prefix`, in position order (one portal's feed: every stream id starts `{portal}/`).
    pub async fn read_prefix_after(
        &self,
        prefix: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        // Every id with the prefix sorts in [prefix, prefix + U+10FFFF).
        let end = format!("{prefix}\u{10FFFF}");
        let sql = format!(
            "SELECT {COLUMNS} FROM events WHERE position > $1 AND stream_id >= $2 \
             AND stream_id < $3 ORDER BY position LIMIT $4"
        );
        on_reader!(self.db(), pool => {
            let rows = sqlx::query(&sql)
                .bind(after)
                .bind(prefix)
                .bind(&end)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            rows.iter().map(decode).collect()
        })
    }

    /// When each of `stream_ids` was created, by its earliest recorded `ObjectCreated`;
    /// streams without one are left out (one round trip).
    pub async fn creation_times(
        &self,
        stream_ids: &[String],
    ) -> Result<std::collections::HashMap<String, i64>, StoreError> {
        if stream_ids.is_empty() {
            return Ok(std::collections::HashMap::new());
        }
        let rows: Vec<(String, i64)> =
            match self.db() {
                Db::Sqlite { reader, .. } => {
                    sqlite_in_list(
                        "SELECT stream_id, MIN(occurred_at) AS created FROM events \
                     WHERE event_type = 'ObjectCreated' AND stream_id IN (",
                        stream_ids.iter().map(String::as_str),
                        ") GROUP BY stream_id",
                    )
                    .build_query_as()
                    .fetch_all(reader)
                    .await?
                }
                Db::Postgres(pool) => sqlx::query_as(
                    "SELECT s.id, c.created FROM unnest($1::text[]) AS s(id) CROSS JOIN LATERAL \
                     (SELECT MIN(occurred_at) AS created FROM events \
                      WHERE stream_id = s.id AND event_type = 'ObjectCreated') c \
                     WHERE c.created IS NOT NULL",
                )
                .bind(stream_ids)
                .fetch_all(pool)
                .await?,
            };
        Ok(rows.into_iter().collect())
    }

    /// Up to `limit` events with a position above `after`, in position order.
    pub async fn read_all(&self, after: i64, limit: i64) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2");
        on_reader!(self.db(), pool => {
            let rows = sqlx::query(&sql).bind(after).bind(limit).fetch_all(pool).await?;
            rows.iter().map(decode).collect()
        })
    }

    /// The CRM-object events among the next `limit` events after `after`, parsed straight from
    /// their payload text (no metadata, no intermediate JSON value): what the projectors read.
    pub async fn read_crm_page(&self, after: i64, limit: i64) -> Result<CrmPage, StoreError> {
        on_reader!(self.db(), pool => {
            let rows = sqlx::query(
                "SELECT position, stream_type, payload FROM events WHERE position > $1 \
                 ORDER BY position LIMIT $2",
            )
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            let mut page = CrmPage { events: Vec::with_capacity(rows.len()), last: None, read: rows.len() };
            for row in &rows {
                let position: i64 = row.try_get(0)?;
                page.last = Some(position);
                if row.try_get::<&str, _>(1)? == CRM_OBJECT_STREAM {
                    page.events.push((position, serde_json::from_str(row.try_get::<&str, _>(2)?)?));
                }
            }
            Ok(page)
        })
    }

    /// The CRM-object events with `after < position <= upto`, at most `limit`, parsed as
    /// [`EventStore::read_crm_page`] does.
    pub async fn read_crm_between(
        &self,
        after: i64,
        upto: i64,
        limit: i64,
    ) -> Result<Vec<(i64, CrmObjectEvent)>, StoreError> {
        on_reader!(self.db(), pool => {
            let rows = sqlx::query(
                "SELECT position, payload FROM events WHERE position > $1 AND position <= $2 \
                 AND stream_type = $3 ORDER BY position LIMIT $4",
            )
            .bind(after)
            .bind(upto)
            .bind(CRM_OBJECT_STREAM)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| Ok((row.try_get(0)?, serde_json::from_str(row.try_get::<&str, _>(1)?)?)))
                .collect()
        })
    }

    /// Up to `limit` CRM-object events after `after`, in position order, as (position, stream,
    /// sequence, payload text): the columns a writer needs to bring its aggregates up to date.
    pub async fn read_crm_tail(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String, i64, String)>, StoreError> {
        on_reader!(self.db(), pool => {
            Ok(sqlx::query_as(
                "SELECT position, stream_id, sequence, payload FROM events \
                 WHERE position > $1 AND stream_type = $2 ORDER BY position LIMIT $3",
            )
            .bind(after)
            .bind(CRM_OBJECT_STREAM)
            .bind(limit)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Up to `limit` events of the given stream types with `after < position <= upto`, in
    /// position order (a follower interested in a few types skips the CRM traffic unread).
    pub async fn read_types_between(
        &self,
        stream_types: &[&str],
        after: i64,
        upto: i64,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut sql = format!(
            "SELECT {COLUMNS} FROM events WHERE position > $1 AND position <= $2 AND stream_type IN ("
        );
        for i in 0..stream_types.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", i + 4));
        }
        sql.push_str(") ORDER BY position LIMIT $3");
        on_reader!(self.db(), pool => {
            let mut query = sqlx::query(&sql).bind(after).bind(upto).bind(limit);
            for stream_type in stream_types {
                query = query.bind(*stream_type);
            }
            let rows = query.fetch_all(pool).await?;
            rows.iter().map(decode).collect()
        })
    }

    /// The events of one stream type, in position order (for cqrs-es replays).
    pub async fn read_type(&self, stream_type: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM events WHERE stream_type = $1 ORDER BY position");
        on_reader!(self.db(), pool => {
            let rows = sqlx::query(&sql).bind(stream_type).fetch_all(pool).await?;
            rows.iter().map(decode).collect()
        })
    }

    /// The ids of the streams whose id starts with `prefix`, newest (greatest) first; served by
    /// the (stream_id, sequence) index.
    pub async fn stream_ids_with_prefix(
        &self,
        prefix: &str,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        // Every id with the prefix sorts in [prefix, prefix + U+10FFFF).
        let end = format!("{prefix}\u{10FFFF}");
        on_reader!(self.db(), pool => {
            let ids: Vec<(String,)> = sqlx::query_as(
                "SELECT DISTINCT stream_id FROM events WHERE stream_id >= $1 AND stream_id < $2 \
                 ORDER BY stream_id DESC LIMIT $3",
            )
            .bind(prefix)
            .bind(&end)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            Ok(ids.into_iter().map(|(id,)| id).collect())
        })
    }

    /// The last sequence of one stream (0 when it has no event); one probe of the
    /// (stream_id, sequence) index.
    pub async fn stream_version(&self, stream_id: &str) -> Result<i64, StoreError> {
        on_reader!(self.db(), pool => {
            let (last,): (Option<i64>,) =
                sqlx::query_as("SELECT MAX(sequence) FROM events WHERE stream_id = $1")
                    .bind(stream_id)
                    .fetch_one(pool)
                    .await?;
            Ok(last.unwrap_or(0))
        })
    }

    /// The highest committed position (0 for an empty log).
    pub async fn head(&self) -> Result<i64, StoreError> {
        on_reader!(self.db(), pool => {
            let (last,): (Option<i64>,) =
                sqlx::query_as("SELECT MAX(position) FROM events").fetch_one(pool).await?;
            Ok(last.unwrap_or(0))
        })
    }

    /// The last sequence of each of `stream_ids` that has events (one round trip per 500).
    pub async fn stream_heads(
        &self,
        stream_ids: &[String],
    ) -> Result<std::collections::HashMap<String, i64>, StoreError> {
        let mut heads = std::collections::HashMap::with_capacity(stream_ids.len());
        match self.db() {
            Db::Sqlite { reader, .. } => {
                for chunk in stream_ids.chunks(500) {
                    let rows: Vec<(String, i64)> = sqlite_in_list(
                        "SELECT stream_id, MAX(sequence) FROM events WHERE stream_id IN (",
                        chunk.iter().map(String::as_str),
                        ") GROUP BY stream_id",
                    )
                    .build_query_as()
                    .fetch_all(reader)
                    .await?;
                    heads.extend(rows);
                }
            }
            Db::Postgres(pool) => {
                let rows: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT s.id, h.sequence FROM unnest($1::text[]) AS s(id) CROSS JOIN LATERAL \
                     (SELECT sequence FROM events WHERE stream_id = s.id \
                      ORDER BY sequence DESC LIMIT 1) h",
                )
                .bind(stream_ids)
                .fetch_all(pool)
                .await?;
                heads.extend(rows);
            }
        }
        Ok(heads)
    }

    /// Which of `keys` were recorded before (so a caller can drop repeats before appending).
    pub async fn seen_keys(&self, keys: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(Vec<u8>,)> = match self.db() {
            Db::Sqlite { reader, .. } => {
                sqlite_in_list(
                    "SELECT dedup_key FROM inbox WHERE dedup_key IN (",
                    keys.iter().map(Vec::as_slice),
                    ")",
                )
                .build_query_as()
                .fetch_all(reader)
                .await?
            }
            Db::Postgres(pool) => {
                sqlx::query_as(
                    "SELECT i.dedup_key FROM unnest($1::bytea[]) AS k(key) CROSS JOIN LATERAL \
                     (SELECT dedup_key FROM inbox WHERE dedup_key = k.key LIMIT 1) i",
                )
                .bind(keys)
                .fetch_all(pool)
                .await?
            }
        };
        Ok(rows.into_iter().map(|(key,)| key).collect())
    }
}

/// A page of the log as the projectors read it.
#[derive(Debug, Default)]
pub struct CrmPage {
    /// The page's CRM-object events with their positions, in position order.
    pub events: Vec<(i64, CrmObjectEvent)>,
    /// The page's last position, whatever its stream type (None for an empty page).
    pub last: Option<i64>,
    /// How many events of any type the page covered.
    pub read: usize,
}
