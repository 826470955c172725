//! The anchor for write benchmarks: raw SQLite (WAL, `synchronous=FULL`, one connection, no
//! engine) inserting the very rows the engine left in its database (the log, the inbox, the read
//! models and the materialized scores), in the same schema with the same indexes, one
//! transaction per delivery and again 32 deliveries per transaction (the engine's largest
//! commit group). What it leaves out, and the engine pays for: HTTP, signature checks,
//! parsing, deciding on aggregates, the read models' upserts of rows written more than once
//! (only each row's final state is inserted), and scoring.

use std::str::FromStr;
use std::time::Instant;

use healthscore_projections::Db;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Column, ConnectOptions, Connection, QueryBuilder, Row, Sqlite, SqliteConnection};

/// The tables the engine writes for webhook events.
const TABLES: [&str; 6] = [
    "events",
    "inbox",
    "crm_objects",
    "object_properties",
    "associations",
    "customer_scores",
];

/// One stored value, as SQLite types it.
#[derive(Debug, Clone)]
enum Cell {
    Integer(Option<i64>),
    Real(Option<f64>),
    Text(Option<String>),
    Blob(Option<Vec<u8>>),
}

/// A table's column names and its rows.
struct Table {
    name: &'static str,
    columns: Vec<String>,
    rows: Vec<Vec<Cell>>,
}

/// What the anchor measured.
pub(super) struct AnchorRun {
    pub rows: usize,
    pub per_delivery_seconds: f64,
    pub grouped_seconds: f64,
}

/// Copies the engine's rows out of `engine` (SQLite) and times raw inserts of them into a fresh
/// database with the same schema, split over `deliveries` transactions.
pub(super) async fn run(engine: &Db, deliveries: usize) -> anyhow::Result<AnchorRun> {
    let Db::Sqlite { reader, .. } = engine else {
        anyhow::bail!("the raw-SQLite anchor reads a SQLite engine database");
    };
    let mut tables = Vec::new();
    for name in TABLES {
        tables.push(read_table(reader, name).await?);
    }
    let rows = tables.iter().map(|t| t.rows.len()).sum();
    let per_delivery_seconds = timed_inserts(&tables, deliveries, 1).await?;
    let grouped_seconds = timed_inserts(&tables, deliveries, 32).await?;
    Ok(AnchorRun {
        rows,
        per_delivery_seconds,
        grouped_seconds,
    })
}

async fn read_table(pool: &sqlx::SqlitePool, name: &'static str) -> anyhow::Result<Table> {
    let rows = sqlx::query(&format!("SELECT * FROM {name}"))
        .fetch_all(pool)
        .await?;
    let columns: Vec<String> = rows.first().map_or_else(Vec::new, |row| {
        row.columns().iter().map(|c| c.name().to_string()).collect()
    });
    let mut cells = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut values = Vec::with_capacity(columns.len());
        for index in 0..columns.len() {
            let value = if let Ok(v) = row.try_get::<Option<i64>, _>(index) {
                Cell::Integer(v)
            } else if let Ok(v) = row.try_get::<Option<f64>, _>(index) {
                Cell::Real(v)
            } else if let Ok(v) = row.try_get::<Option<String>, _>(index) {
                Cell::Text(v)
            } else {
                Cell::Blob(row.try_get::<Option<Vec<u8>>, _>(index)?)
            };
            values.push(value);
        }
        cells.push(values);
    }
    Ok(Table {
        name,
        columns,
        rows: cells,
    })
}

/// Inserts every table's rows into a fresh database, `group` deliveries' share per
/// transaction; returns the seconds the inserts and commits took.
async fn timed_inserts(tables: &[Table], deliveries: usize, group: usize) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("anchor.db").display());
    // The engine's schema and indexes, then a plain connection to write them.
    Db::connect_and_migrate(&url).await?.close().await;
    let mut conn = SqliteConnectOptions::from_str(&url)?
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .connect()
        .await?;
    let transactions = deliveries.div_ceil(group).max(1);
    let started = Instant::now();
    for transaction in 0..transactions {
        let mut tx = conn.begin().await?;
        for table in tables {
            let (from, to) = (
                table.rows.len() * transaction / transactions,
                table.rows.len() * (transaction + 1) / transactions,
            );
            insert_rows(&mut tx, table, &table.rows[from..to]).await?;
        }
        tx.commit().await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    conn.close().await?;
    Ok(seconds)
}

async fn insert_rows(
    conn: &mut SqliteConnection,
    table: &Table,
    rows: &[Vec<Cell>],
) -> anyhow::Result<()> {
    // Multi-row statements of at most 256 rows, as the engine writes them.
    for chunk in rows.chunks(256) {
        let mut insert: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "INSERT INTO {} ({}) ",
            table.name,
            table.columns.join(", ")
        ));
        insert.push_values(chunk, |mut row, cells| {
            for cell in cells {
                match cell.clone() {
                    Cell::Integer(v) => row.push_bind(v),
                    Cell::Real(v) => row.push_bind(v),
                    Cell::Text(v) => row.push_bind(v),
                    Cell::Blob(v) => row.push_bind(v),
                };
            }
        });
        insert.build().execute(&mut *conn).await?;
    }
    Ok(())
}
