//! A canonical text dump of every read-model table, to compare two databases' read models.

use healthscore_projections::{Db, on_reader};
use sqlx::Row;

/// Each read-model table's rows (all columns as text), sorted.
pub async fn read_models(db: &Db) -> Vec<String> {
    let tables = [
        (
            "crm_objects",
            "portal_id, object_type, object_id, CAST(deleted AS INTEGER), existence_at, merged_into, CAST(erased AS INTEGER), created_at, updated_at",
        ),
        (
            "object_properties",
            "portal_id, object_type, object_id, name, value, occurred_at, position",
        ),
        (
            "associations",
            "portal_id, from_type, from_id, to_type, to_id, CAST(present AS INTEGER), occurred_at",
        ),
    ];
    let mut lines = Vec::new();
    for (table, columns) in tables {
        let count = columns.split(", ").count();
        let casts: Vec<String> = columns
            .split(", ")
            .map(|c| format!("CAST({c} AS TEXT)"))
            .collect();
        let sql = format!("SELECT {} FROM {table}", casts.join(", "));
        let rows = on_reader!(db, pool => {
            let rows = sqlx::query(&sql).fetch_all(pool).await.expect("dump");
            rows.iter()
                .map(|row| {
                    (0..count)
                        .map(|i| row.try_get::<Option<String>, _>(i).expect("text").unwrap_or_default())
                        .collect::<Vec<_>>()
                        .join("|")
                })
                .collect::<Vec<_>>()
        });
        let mut rows = rows;
        rows.sort();
        lines.extend(rows.into_iter().map(|row| format!("{table}: {row}")));
    }
    lines
}
