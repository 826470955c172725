//! Each connected portal's sealed HubSpot tokens (sealing is the caller's: this module never
//! sees a token in clear), and the single-use OAuth install states.

use healthscore_domain::ids::PortalId;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::db::Db;
use crate::error::StoreError;
use crate::store::now_ms;
use crate::{on_reader, on_writer};

/// A portal's tokens as stored: sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedTokens {
    /// The access token, sealed.
    pub access_token: String,
    /// The refresh token, sealed (OAuth only).
    pub refresh_token: Option<String>,
    /// When the access token expires, epoch ms (OAuth only).
    pub expires_at: Option<i64>,
}

/// Stores (or replaces) `portal`'s tokens, durably.
pub async fn store(db: &Db, portal: PortalId, tokens: &SealedTokens) -> Result<(), StoreError> {
    on_writer!(db, pool => {
        sqlx::query(
            "INSERT INTO connection_tokens (portal_id, access_token, refresh_token, expires_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (portal_id) DO UPDATE SET \
             access_token = excluded.access_token, refresh_token = excluded.refresh_token, \
             expires_at = excluded.expires_at, updated_at = excluded.updated_at",
        )
        .bind(portal.0 as i64)
        .bind(tokens.access_token.as_str())
        .bind(tokens.refresh_token.as_deref())
        .bind(tokens.expires_at)
        .bind(now_ms())
        .execute(pool)
        .await?;
    });
    db.sync_commits().await
}

/// `portal`'s tokens, if it has any.
pub async fn load(db: &Db, portal: PortalId) -> Result<Option<SealedTokens>, StoreError> {
    on_reader!(db, pool => {
        let row = sqlx::query(
            "SELECT access_token, refresh_token, expires_at FROM connection_tokens WHERE portal_id = $1",
        )
        .bind(portal.0 as i64)
        .fetch_optional(pool)
        .await?;
        row.map(|row| decode(&row)).transpose()
    })
}

/// Every portal's tokens (for re-sealing with a new key).
pub async fn all(db: &Db) -> Result<Vec<(PortalId, SealedTokens)>, StoreError> {
    on_reader!(db, pool => {
        let rows = sqlx::query(
            "SELECT portal_id, access_token, refresh_token, expires_at FROM connection_tokens ORDER BY portal_id",
        )
        .fetch_all(pool)
        .await?;
        rows.iter()
            .map(|row| Ok((PortalId(row.try_get::<i64, _>("portal_id")? as u64), decode(row)?)))
            .collect()
    })
}

/// Forgets `portal`'s tokens (a disconnect); true when it had some.
pub async fn delete(db: &Db, portal: PortalId) -> Result<bool, StoreError> {
    let deleted = on_writer!(db, pool => {
        sqlx::query("DELETE FROM connection_tokens WHERE portal_id = $1")
            .bind(portal.0 as i64)
            .execute(pool)
            .await?
            .rows_affected()
    });
    db.sync_commits().await?;
    Ok(deleted > 0)
}

fn decode<R: Row>(row: &R) -> Result<SealedTokens, StoreError>
where
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(SealedTokens {
        access_token: row.try_get("access_token")?,
        refresh_token: row.try_get("refresh_token")?,
        expires_at: row.try_get("expires_at")?,
    })
}

fn state_hash(state: &str) -> Vec<u8> {
    Sha256::digest(state.as_bytes()).to_vec()
}

/// Remembers an OAuth `state` until `expires_at` (epoch ms); expired ones are swept.
pub async fn put_state(db: &Db, state: &str, expires_at: i64) -> Result<(), StoreError> {
    on_writer!(db, pool => {
        sqlx::query("DELETE FROM oauth_states WHERE expires_at < $1")
            .bind(now_ms())
            .execute(pool)
            .await?;
        sqlx::query("INSERT INTO oauth_states (state_hash, expires_at) VALUES ($1, $2)")
            .bind(state_hash(state))
            .bind(expires_at)
            .execute(pool)
            .await?;
    });
    db.sync_commits().await
}

/// Spends `state`: true once, for a state given out and not expired; false ever after.
pub async fn take_state(db: &Db, state: &str) -> Result<bool, StoreError> {
    let taken = on_writer!(db, pool => {
        sqlx::query("DELETE FROM oauth_states WHERE state_hash = $1 AND expires_at >= $2")
            .bind(state_hash(state))
            .bind(now_ms())
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(taken == 1)
}
