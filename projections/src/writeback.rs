//! The `writeback_values` table: what write-back last wrote per record.

use std::collections::HashMap;

use crate::db::Db;
use crate::error::StoreError;
use crate::{on_reader, on_writer};

/// The values written to one record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Written {
    /// `healthscore_score` (empty with insufficient data).
    pub score: String,
    /// `healthscore_band`.
    pub band: String,
    /// `healthscore_trend_30d` (empty when either end is unscored).
    pub trend_30d: String,
    /// `healthscore_top_risk`.
    pub top_risk: String,
}

/// Every record's last written values for one portal and object type.
pub async fn load(
    db: &Db,
    portal: i64,
    object_type: &str,
) -> Result<HashMap<u64, Written>, StoreError> {
    on_reader!(db, pool => {
        let rows: Vec<(i64, String, String, String, String)> = sqlx::query_as(
            "SELECT object_id, score, band, trend_30d, top_risk FROM writeback_values \
             WHERE portal_id = $1 AND object_type = $2",
        )
        .bind(portal)
        .bind(object_type)
        .fetch_all(pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, score, band, trend_30d, top_risk)| {
                (id as u64, Written { score, band, trend_30d, top_risk })
            })
            .collect())
    })
}

/// Records that `rows` were written at `at` (epoch ms).
pub async fn store(
    db: &Db,
    portal: i64,
    object_type: &str,
    rows: &[(u64, Written)],
    at: i64,
) -> Result<(), StoreError> {
    on_writer!(db, pool => {
        let mut tx = pool.begin().await?;
        for (id, w) in rows {
            sqlx::query(
                "INSERT INTO writeback_values (portal_id, object_type, object_id, score, band, \
                 trend_30d, top_risk, written_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (portal_id, object_type, object_id) DO UPDATE SET \
                 score = excluded.score, band = excluded.band, trend_30d = excluded.trend_30d, \
                 top_risk = excluded.top_risk, written_at = excluded.written_at",
            )
            .bind(portal)
            .bind(object_type)
            .bind(*id as i64)
            .bind(&w.score)
            .bind(&w.band)
            .bind(&w.trend_30d)
            .bind(&w.top_risk)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    })
}
