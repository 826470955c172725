//! A canonical text of the read models: every row of every read-model table as one line,
//! sorted. Two databases hold the same read models exactly when their dumps are equal (a live
//! database and a rebuild of its log, two projector instances, a database before and after a
//! crash).

use sqlx::Row;

use crate::db::Db;
use crate::error::StoreError;
use crate::on_reader;

/// Each read-model table and its columns, booleans cast so both backends print them alike.
const TABLES: [(&str, &[&str]); 3] = [
    (
        "crm_objects",
        &[
            "portal_id",
            "object_type",
            "object_id",
            "CAST(deleted AS INTEGER)",
            "existence_at",
            "merged_into",
            "CAST(erased AS INTEGER)",
            "created_at",
            "updated_at",
        ],
    ),
    (
        "object_properties",
        &[
            "portal_id",
            "object_type",
            "object_id",
            "name",
            "value",
            "occurred_at",
            "position",
        ],
    ),
    (
        "associations",
        &[
            "portal_id",
            "from_type",
            "from_id",
            "to_type",
            "to_id",
            "CAST(present AS INTEGER)",
            "occurred_at",
        ],
    ),
];

/// Every read-model row as `table: value|value|...` (NULL printed as `NULL`), sorted.
pub async fn dump(db: &Db) -> Result<Vec<String>, StoreError> {
    let mut lines = Vec::new();
    for (table, columns) in TABLES {
        let text: Vec<String> = columns
            .iter()
            .map(|column| format!("CAST({column} AS TEXT)"))
            .collect();
        let sql = format!("SELECT {} FROM {table}", text.join(", "));
        let rows: Vec<String> = on_reader!(db, pool => {
            let rows = sqlx::query(&sql).fetch_all(pool).await?;
            rows.iter()
                .map(|row| {
                    (0..columns.len())
                        .map(|i| row.try_get::<Option<String>, _>(i))
                        .map(|value| value.map(|v| v.unwrap_or_else(|| "NULL".to_owned())))
                        .collect::<Result<Vec<_>, _>>()
                        .map(|values| format!("{table}: {}", values.join("|")))
                })
                .collect::<Result<Vec<_>, _>>()?
        });
        lines.extend(rows);
    }
    lines.sort();
    Ok(lines)
}
