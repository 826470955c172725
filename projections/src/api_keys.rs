//! Per-portal API keys. A key is 32 random bytes shown once; only its SHA-256 is stored, so a
//! database leak reveals no usable key. Lookups go by hash, so no key comparison is done in code.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use healthscore_domain::ids::PortalId;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::db::Db;
use crate::error::StoreError;
use crate::store::now_ms;
use crate::{on_reader, on_writer};

/// The prefix every key starts with (so leaked keys are recognisable by secret scanners).
pub const KEY_PREFIX: &str = "hsk_";

/// What a key may do.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum KeyScope {
    /// Read and configure one portal's data.
    Portal,
    /// Manage every portal's connections and keys; reads no portal's data.
    Operator,
}

impl KeyScope {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Portal => "portal",
            Self::Operator => "operator",
        }
    }

    fn parse(text: &str) -> Self {
        if text == "operator" {
            Self::Operator
        } else {
            Self::Portal
        }
    }
}

/// Who a key is: its id, its portal (0 for operator keys) and its scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyIdentity {
    /// The key's public id.
    pub id: String,
    /// The portal it reads (operator keys: 0, none).
    pub portal: PortalId,
    /// What it may do.
    pub scope: KeyScope,
    /// The name it was created with (the author of what it records, e.g. a sentiment).
    pub name: String,
}

/// A key as listed: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiKeyInfo {
    /// Public identifier (for `keys revoke`).
    pub id: String,
    /// The portal the key can see.
    pub portal: PortalId,
    /// A label.
    pub name: String,
    /// Portal or operator.
    pub scope: KeyScope,
    /// Creation time, epoch ms.
    pub created_at: i64,
    /// Revocation time, epoch ms.
    pub revoked_at: Option<i64>,
}

/// A freshly created key: the only time the secret exists outside the caller's hands.
#[derive(Debug)]
pub struct CreatedKey {
    /// What is stored.
    pub info: ApiKeyInfo,
    /// The bearer token to hand to the user.
    pub key: String,
}

fn hash(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// Creates a key for `portal`.
pub async fn create(db: &Db, portal: PortalId, name: &str) -> Result<CreatedKey, StoreError> {
    create_scoped(db, portal, name, KeyScope::Portal).await
}

/// Creates an operator key (it manages connections and keys, and reads no portal's data).
pub async fn create_operator(db: &Db, name: &str) -> Result<CreatedKey, StoreError> {
    create_scoped(db, PortalId(0), name, KeyScope::Operator).await
}

async fn create_scoped(
    db: &Db,
    portal: PortalId,
    name: &str,
    scope: KeyScope,
) -> Result<CreatedKey, StoreError> {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let key = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(secret));
    let mut id_bytes = [0u8; 6];
    rand::rng().fill_bytes(&mut id_bytes);
    let info = ApiKeyInfo {
        id: hex_string(&id_bytes),
        portal,
        name: name.to_string(),
        scope,
        created_at: now_ms(),
        revoked_at: None,
    };
    on_writer!(db, pool => {
        sqlx::query(
            "INSERT INTO api_keys (id, portal_id, name, key_hash, created_at, scope) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(info.id.as_str())
        .bind(portal.0 as i64)
        .bind(info.name.as_str())
        .bind(hash(&key))
        .bind(info.created_at)
        .bind(scope.as_str())
        .execute(pool)
        .await
        .map(|_| ())
    })?;
    db.sync_commits().await?;
    Ok(CreatedKey { info, key })
}

/// Every key, newest first.
pub async fn list(db: &Db) -> Result<Vec<ApiKeyInfo>, StoreError> {
    on_reader!(db, pool => {
        let rows = sqlx::query(
            "SELECT id, portal_id, name, scope, created_at, revoked_at FROM api_keys ORDER BY created_at DESC",
        )
        .fetch_all(pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ApiKeyInfo {
                    id: row.try_get("id")?,
                    portal: PortalId(row.try_get::<i64, _>("portal_id")? as u64),
                    name: row.try_get("name")?,
                    scope: KeyScope::parse(row.try_get("scope")?),
                    created_at: row.try_get("created_at")?,
                    revoked_at: row.try_get("revoked_at")?,
                })
            })
            .collect()
    })
}

/// Revokes key `id`; false when no live key has that id.
pub async fn revoke(db: &Db, id: &str) -> Result<bool, StoreError> {
    let done = on_writer!(db, pool => {
        sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now_ms())
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
    });
    db.sync_commits().await?;
    Ok(done == 1)
}

/// Who a live key is, or None.
pub async fn authenticate(db: &Db, key: &str) -> Result<Option<KeyIdentity>, StoreError> {
    if !key.starts_with(KEY_PREFIX) {
        return Ok(None);
    }
    on_reader!(db, pool => {
        let row: Option<(String, i64, String, String)> = sqlx::query_as(
            "SELECT id, portal_id, scope, name FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
        )
        .bind(hash(key))
        .fetch_optional(pool)
        .await?;
        Ok(row.map(|(id, portal, scope, name)| KeyIdentity {
            id,
            portal: PortalId(portal as u64),
            scope: KeyScope::parse(&scope),
            name,
        }))
    })
}

/// Whether `portal` has a portal key (live or revoked): a first connection hands one out.
pub async fn portal_has_keys(db: &Db, portal: PortalId) -> Result<bool, StoreError> {
    Ok(portal_since(db, portal).await?.is_some())
}

/// When the portal's first API key was made (revoked ones included): since when the portal
/// has used healthscore, and so its default configuration. None for a portal without keys.
pub async fn portal_since(db: &Db, portal: PortalId) -> Result<Option<i64>, StoreError> {
    on_reader!(db, pool => {
        let row: (Option<i64>,) =
            sqlx::query_as("SELECT MIN(created_at) FROM api_keys WHERE portal_id = $1 AND scope = 'portal'")
                .bind(portal.0 as i64)
                .fetch_one(pool)
                .await?;
        Ok(row.0)
    })
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
