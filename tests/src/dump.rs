//! The read models as text, to compare two databases' read models.

use healthscore_projections::Db;

/// Each read-model row as one line, sorted ([`healthscore_projections::read_models::dump`]).
pub async fn read_models(db: &Db) -> Vec<String> {
    healthscore_projections::read_models::dump::dump(db)
        .await
        .expect("dump the read models")
}
