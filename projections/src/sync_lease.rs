//! Sync leases: at most one sync per portal runs at a time, whichever process or instance
//! starts it. A lease expires unless renewed, so a crashed holder never blocks syncing for long;
//! on the same host a holder whose process is gone is taken over at once.

use healthscore_domain::ids::PortalId;
use sqlx::Row;

use crate::db::Db;
use crate::error::StoreError;
use crate::store::now_ms;
use crate::{on_reader, on_writer};

/// Who holds a lease: `host/pid/nonce`, unique per process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder(String);

impl Holder {
    /// This process.
    pub fn this_process() -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "unknown".to_string());
        Self(format!(
            "{host}/{}/{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ))
    }

    /// True when the holder ran on this host in a process that no longer exists (Linux only;
    /// elsewhere a lease is only taken over once it expires).
    fn is_dead_local_process(&self) -> bool {
        let mut parts = self.0.split('/');
        let (Some(host), Some(pid)) = (parts.next(), parts.next()) else {
            return false;
        };
        let ours = Self::this_process();
        let our_host = ours.0.split('/').next().unwrap_or_default();
        host == our_host
            && pid != std::process::id().to_string()
            && std::path::Path::new("/proc/self").exists()
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
    }
}

/// The current lease of a portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Its holder.
    pub holder: String,
    /// The run it covers.
    pub run_id: String,
    /// Expiry, epoch ms.
    pub expires_at: i64,
}

/// The lease of `portal`, if any row exists (expired or not).
pub async fn current(db: &Db, portal: PortalId) -> Result<Option<Lease>, StoreError> {
    on_reader!(db, pool => {
        let row = sqlx::query("SELECT holder, run_id, expires_at FROM sync_leases WHERE portal_id = $1")
            .bind(portal.0 as i64)
            .fetch_optional(pool)
            .await?;
        Ok(row.map(|r| Lease { holder: r.get(0), run_id: r.get(1), expires_at: r.get(2) }))
    })
}

/// Takes (or renews) the lease of `portal` for `run_id` until `ttl_ms` from now. Returns the
/// lease that blocks it when another live holder has it.
pub async fn acquire(
    db: &Db,
    portal: PortalId,
    holder: &Holder,
    run_id: &str,
    ttl_ms: i64,
) -> Result<Result<(), Lease>, StoreError> {
    let now = now_ms();
    if let Some(lease) = current(db, portal).await? {
        let ours = lease.holder == holder.0;
        let free = lease.expires_at < now || Holder(lease.holder.clone()).is_dead_local_process();
        if !ours && !free {
            return Ok(Err(lease));
        }
        // Conditional on the holder we saw, so two processes cannot both take it over.
        let taken = on_writer!(db, pool => sqlx::query(
            "UPDATE sync_leases SET holder = $1, run_id = $2, expires_at = $3 \
             WHERE portal_id = $4 AND holder = $5",
        )
        .bind(&holder.0)
        .bind(run_id)
        .bind(now + ttl_ms)
        .bind(portal.0 as i64)
        .bind(&lease.holder)
        .execute(pool)
        .await?
        .rows_affected());
        return match taken {
            1 => Ok(Ok(())),
            _ => Ok(Err(current(db, portal).await?.unwrap_or(lease))),
        };
    }
    let inserted = on_writer!(db, pool => sqlx::query(
        "INSERT INTO sync_leases (portal_id, holder, run_id, expires_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (portal_id) DO NOTHING",
    )
    .bind(portal.0 as i64)
    .bind(&holder.0)
    .bind(run_id)
    .bind(now + ttl_ms)
    .execute(pool)
    .await?
    .rows_affected());
    if inserted == 1 {
        Ok(Ok(()))
    } else {
        Box::pin(acquire(db, portal, holder, run_id, ttl_ms)).await
    }
}

/// Gives the lease up (only if `holder` still has it).
pub async fn release(db: &Db, portal: PortalId, holder: &Holder) -> Result<(), StoreError> {
    on_writer!(db, pool => sqlx::query("DELETE FROM sync_leases WHERE portal_id = $1 AND holder = $2")
        .bind(portal.0 as i64)
        .bind(&holder.0)
        .execute(pool)
        .await?
        .rows_affected());
    Ok(())
}
