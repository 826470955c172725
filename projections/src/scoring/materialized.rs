//! The `customer_scores` and `company_scores` tables: current scores kept for listing,
//! filtering and summaries, one table per subject type with the same shape.

use healthscore_domain::ids::PortalId;
use healthscore_domain::scoring::Subject;
use serde::Serialize;
use sqlx::Row;

use crate::db::Db;
use crate::error::StoreError;
use crate::read_models::write::insert_rows;
use crate::{on_reader, on_writer};

/// Where one subject type's scores live.
#[derive(Debug, Clone, Copy)]
struct Table {
    name: &'static str,
    id: &'static str,
    /// The contact's email, or the company's domain.
    handle: &'static str,
    object_type: &'static str,
}

fn table(subject: Subject) -> Table {
    match subject {
        Subject::Contact => Table {
            name: "customer_scores",
            id: "customer_id",
            handle: "email",
            object_type: "contact",
        },
        Subject::Company => Table {
            name: "company_scores",
            id: "company_id",
            handle: "domain",
            object_type: "company",
        },
    }
}

/// One subject's current score as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoreRow {
    /// The contact's (or company's) id.
    pub subject_id: u64,
    /// The contact's email, or the company's domain.
    pub email: String,
    /// Display name.
    pub name: String,
    /// `scored` or `insufficient_data`.
    pub status: String,
    /// Score times ten.
    pub score_tenths: Option<i64>,
    /// Band.
    pub band: Option<String>,
    /// Coverage, as text.
    pub coverage: String,
    /// Configuration version used.
    pub config_version: u32,
    /// When scored, epoch ms.
    pub scored_at: i64,
    /// The factor that costs the most points, when one applies.
    pub weakest_factor: Option<String>,
    /// The contact's own last sales activity as HubSpot sent it (listings only).
    pub last_activity: Option<String>,
    /// The subject's `hubspot_owner_id` (listings only).
    pub owner_id: Option<String>,
    /// The scorecard that scored it.
    pub scorecard: String,
}

/// Ids per `DELETE ... IN (...)` (well under SQLite's bound-parameter limit).
const DELETE_CHUNK: usize = 500;

/// Replaces the rows of `rows`' customers and deletes the rows of `gone` (no longer customers),
/// in one transaction.
pub async fn store(
    db: &Db,
    portal: PortalId,
    subject: Subject,
    rows: &[ScoreRow],
    gone: &[u64],
) -> Result<(), StoreError> {
    let portal_id = portal.0 as i64;
    let t = table(subject);
    let delete_sql = format!("DELETE FROM {} WHERE portal_id = ", t.name);
    let id_in = format!(" AND {} IN (", t.id);
    let insert_sql = format!(
        "INSERT INTO {} (portal_id, {}, {}, name, status, score_tenths, band, coverage, \
         config_version, scored_at, weakest_factor, scorecard) ",
        t.name, t.id, t.handle
    );
    let upsert_sql = format!(
        " ON CONFLICT (portal_id, {}) DO UPDATE SET {handle} = excluded.{handle}, \
         name = excluded.name, status = excluded.status, score_tenths = excluded.score_tenths, \
         band = excluded.band, coverage = excluded.coverage, \
         config_version = excluded.config_version, scored_at = excluded.scored_at, \
         weakest_factor = excluded.weakest_factor, scorecard = excluded.scorecard",
        t.id,
        handle = t.handle
    );
    // One order for every writer: two instances upserting the same rows never deadlock.
    let mut ordered: Vec<&ScoreRow> = rows.iter().collect();
    ordered.sort_unstable_by_key(|row| row.subject_id);
    let mut gone = gone.to_vec();
    gone.sort_unstable();
    let mut deleted = 0;
    // Scores are derived from the log: their commits need not wait for the disk.
    on_writer!(db, pool => {
        let mut tx = pool.begin().await?;
        // A full rescore lists every non-customer as gone: one statement per chunk, not per id.
        for chunk in gone.chunks(DELETE_CHUNK) {
            let mut delete = sqlx::QueryBuilder::new(delete_sql.as_str());
            delete.push_bind(portal_id).push(id_in.as_str());
            let mut ids = delete.separated(", ");
            for id in chunk {
                ids.push_bind(*id as i64);
            }
            delete.push(")");
            deleted += delete.build().execute(&mut *tx).await?.rows_affected();
        }
        let conn = &mut *tx;
        insert_rows!(
            conn,
            insert_sql.as_str(),
            ordered,
            upsert_sql.as_str(),
            |row, item| {
                row.push_bind(portal_id)
                    .push_bind(item.subject_id as i64)
                    .push_bind(item.email.as_str())
                    .push_bind(item.name.as_str())
                    .push_bind(item.status.as_str())
                    .push_bind(item.score_tenths)
                    .push_bind(item.band.as_deref())
                    .push_bind(item.coverage.as_str())
                    .push_bind(i64::from(item.config_version))
                    .push_bind(item.scored_at)
                    .push_bind(item.weakest_factor.as_deref())
                    .push_bind(item.scorecard.as_str());
            }
        );
        tx.commit().await?;
    });
    if deleted > 0 {
        // A customer that is gone may have been erased: leave no copy of its email behind.
        db.scrub_wal().await?;
    }
    Ok(())
}

/// The scorecard that last scored one subject, if it is scored.
pub async fn scorecard_of(
    db: &Db,
    portal: PortalId,
    subject: Subject,
    id: u64,
) -> Result<Option<String>, StoreError> {
    let t = table(subject);
    let sql = format!(
        "SELECT scorecard FROM {} WHERE portal_id = $1 AND {} = $2",
        t.name, t.id
    );
    on_reader!(db, pool => {
        let row: Option<(String,)> = sqlx::query_as(&sql)
            .bind(portal.0 as i64)
            .bind(id as i64)
            .fetch_optional(pool)
            .await?;
        Ok(row.map(|(s,)| s))
    })
}

/// Every stored row of a portal.
pub async fn all(db: &Db, portal: PortalId, subject: Subject) -> Result<Vec<ScoreRow>, StoreError> {
    let t = table(subject);
    let sql = format!(
        "SELECT {} AS subject_id, {} AS email, name, status, score_tenths, band, coverage, \
         config_version, scored_at, weakest_factor, scorecard FROM {} WHERE portal_id = $1",
        t.id, t.handle, t.name
    );
    on_reader!(db, pool => {
        let rows = sqlx::query(&sql)
        .bind(portal.0 as i64)
        .fetch_all(pool)
        .await?;
        rows.iter().map(decode).collect()
    })
}

fn decode<R>(row: &R) -> Result<ScoreRow, StoreError>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(ScoreRow {
        subject_id: row.try_get::<i64, _>("subject_id")? as u64,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        status: row.try_get("status")?,
        score_tenths: row.try_get("score_tenths")?,
        band: row.try_get("band")?,
        coverage: row.try_get("coverage")?,
        config_version: u32::try_from(row.try_get::<i64, _>("config_version")?).unwrap_or_default(),
        scored_at: row.try_get("scored_at")?,
        weakest_factor: row.try_get("weakest_factor")?,
        // Only listings select it.
        last_activity: row.try_get("last_activity").unwrap_or(None),
        owner_id: row.try_get("owner_id").unwrap_or(None),
        scorecard: row.try_get("scorecard")?,
    })
}

/// How to list customers.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this band.
    pub band: Option<healthscore_domain::scoring::Band>,
    /// Only this status.
    pub status: Option<healthscore_domain::scoring::ScoreStatus>,
    /// Only subjects this HubSpot owner owns.
    pub owner: Option<u64>,
    /// Only subjects this scorecard scored.
    pub scorecard: Option<String>,
    /// Score at least, in tenths.
    pub min_tenths: Option<i64>,
    /// Score at most, in tenths.
    pub max_tenths: Option<i64>,
    /// Sort order.
    pub sort: Sort,
    /// Page size.
    pub limit: i64,
    /// Resume after this (sort key, id).
    pub after: Option<(SortKey, u64)>,
}

/// Sort orders of the customer list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum Sort {
    /// Highest score first (unscored last).
    #[default]
    ScoreDesc,
    /// Lowest score first (unscored last).
    ScoreAsc,
    /// By name.
    Name,
}

/// The sort key of a row, as a cursor carries it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum SortKey {
    /// Score in tenths (-1 for unscored, which sorts last either way).
    Score(i64),
    /// Name.
    Name(String),
}

/// One page of customers.
pub async fn list(
    db: &Db,
    portal: PortalId,
    subject: Subject,
    filter: &ListFilter,
) -> Result<Vec<ScoreRow>, StoreError> {
    let t = table(subject);
    let select = format!(
        "SELECT {id} AS subject_id, {handle} AS email, name, status, score_tenths, band, coverage, \
         config_version, scored_at, weakest_factor, scorecard, (SELECT value FROM object_properties p \
           WHERE p.portal_id = s.portal_id AND p.object_type = '{kind}' \
           AND p.object_id = s.{id} AND p.name = 'hs_last_sales_activity_date') AS last_activity, \
         (SELECT value FROM object_properties o \
           WHERE o.portal_id = s.portal_id AND o.object_type = '{kind}' \
           AND o.object_id = s.{id} AND o.name = 'hubspot_owner_id') AS owner_id \
         FROM {table} s WHERE portal_id = ",
        id = t.id,
        handle = t.handle,
        kind = t.object_type,
        table = t.name
    );
    let owned = format!(
        " AND EXISTS (SELECT 1 FROM object_properties o WHERE o.portal_id = s.portal_id \
         AND o.object_type = '{}' AND o.object_id = s.{} \
         AND o.name = 'hubspot_owner_id' AND o.value = ",
        t.object_type, t.id
    );
    let id_column = t.id;
    // Unscored rows sort last in both score orders via the key (-1 for NULL).
    let (key, order) = match filter.sort {
        Sort::ScoreDesc => ("COALESCE(score_tenths, -1)", "DESC"),
        Sort::ScoreAsc => (
            "(CASE WHEN score_tenths IS NULL THEN 10000 ELSE score_tenths END)",
            "ASC",
        ),
        Sort::Name => ("name", "ASC"),
    };
    let cmp = if order == "DESC" { "<" } else { ">" };
    on_reader!(db, pool => {
        let mut query = sqlx::QueryBuilder::new(select.as_str());
        query.push_bind(portal.0 as i64);
        if let Some(band) = &filter.band {
            query.push(" AND band = ").push_bind(band.as_str());
        }
        if let Some(status) = &filter.status {
            query.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(owner) = filter.owner {
            query.push(owned.as_str()).push_bind(owner.to_string()).push(")");
        }
        if let Some(scorecard) = &filter.scorecard {
            query.push(" AND scorecard = ").push_bind(scorecard.clone());
        }
        if let Some(min) = filter.min_tenths {
            query.push(" AND score_tenths >= ").push_bind(min);
        }
        if let Some(max) = filter.max_tenths {
            query.push(" AND score_tenths <= ").push_bind(max);
        }
        match &filter.after {
            Some((SortKey::Score(score), id)) => {
                let score = if filter.sort == Sort::ScoreAsc && *score < 0 { 10_000 } else { *score };
                query.push(format!(" AND ({key} {cmp} ")).push_bind(score);
                query.push(format!(" OR ({key} = ")).push_bind(score);
                query.push(format!(" AND {id_column} {cmp} ")).push_bind(*id as i64).push("))");
            }
            Some((SortKey::Name(name), id)) => {
                query.push(" AND (name > ").push_bind(name.clone());
                query.push(" OR (name = ").push_bind(name.clone());
                query.push(format!(" AND {id_column} > ")).push_bind(*id as i64).push("))");
            }
            None => {}
        }
        query.push(format!(" ORDER BY {key} {order}, {id_column} {order} LIMIT "));
        query.push_bind(filter.limit);
        let rows = query.build().fetch_all(pool).await?;
        rows.iter().map(decode).collect()
    })
}

/// Materialized subjects per portal and band (`insufficient_data` for those without one), for
/// the metrics.
pub async fn band_counts(
    db: &Db,
    subject: Subject,
) -> Result<Vec<(PortalId, String, i64)>, StoreError> {
    let sql = format!(
        "SELECT portal_id, COALESCE(band, status) AS band, COUNT(*) AS customers \
         FROM {} GROUP BY portal_id, COALESCE(band, status)",
        table(subject).name
    );
    on_reader!(db, pool => {
        let rows = sqlx::query(&sql).fetch_all(pool).await?;
        rows.iter()
            .map(|row| {
                let portal: i64 = row.try_get("portal_id")?;
                Ok((PortalId(portal as u64), row.try_get("band")?, row.try_get("customers")?))
            })
            .collect()
    })
}
