//! Making SQLite commits durable outside the writer's turn, one disk flush for many commits.
//!
//! The SQLite writer commits with `synchronous=NORMAL`: a commit writes its WAL frames and
//! returns without waiting for the disk, so the next transaction can start at once. A commit
//! that must survive a power cut (every append to the event log, API keys) then calls
//! [`WalSync::sync`], which flushes the WAL file with `fdatasync`. Flushing the file makes every
//! frame written before it durable, whoever wrote it; SQLite's recovery replays the WAL up to
//! its last complete commit, so after the flush the commit and everything before it survive,
//! exactly as with `synchronous=FULL`. The difference is who waits: the flush runs on a
//! blocking thread while the writer goes on with the next transaction, and commits that finish
//! while a flush is running share the next one (group commit for the disk).
//!
//! Derived tables (read models, scores) just commit: after a power cut they may lose their
//! last commits, and with them the projector checkpoint written in the same transaction, so
//! the events are applied again. Checkpoints still flush the WAL before copying it and the
//! database file after (SQLite does that at `NORMAL`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::Mutex;

use crate::error::StoreError;

/// Flushes a database's WAL for the commits that need it; see the module docs.
#[derive(Debug)]
pub struct WalSync {
    /// The `-wal` file beside the database; `None` for an in-memory database.
    wal: Option<PathBuf>,
    /// Commits counted so far (each has written its frames when counted).
    committed: AtomicU64,
    /// The count of commits the last finished flush covered. Held while flushing, so one
    /// flush runs at a time and the commits that wait for it are covered by the next.
    flushed: Mutex<u64>,
    /// Whether the directory entry of the WAL file has been flushed (once per process: a WAL
    /// created since the last flush of its directory could vanish with it).
    directory_flushed: AtomicBool,
    /// Flushes performed (for tests and diagnostics).
    flushes: AtomicU64,
}

impl WalSync {
    /// For the database file at `database` (`None`: in memory, nothing to flush).
    pub fn new(database: Option<PathBuf>) -> Self {
        let wal = database.map(|path| {
            let mut name = path.into_os_string();
            name.push("-wal");
            PathBuf::from(name)
        });
        Self {
            wal,
            committed: AtomicU64::new(0),
            flushed: Mutex::new(0),
            directory_flushed: AtomicBool::new(false),
            flushes: AtomicU64::new(0),
        }
    }

    /// Counts a commit that has returned (its frames are written) and gives its ticket.
    pub fn committed(&self) -> u64 {
        self.committed.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Returns once the commit with `ticket` is on disk: at once if a flush that started after
    /// it has finished, else after the next flush.
    pub async fn sync(&self, ticket: u64) -> Result<(), StoreError> {
        let Some(wal) = &self.wal else {
            return Ok(());
        };
        let mut flushed = self.flushed.lock().await;
        if *flushed >= ticket {
            return Ok(());
        }
        // Every commit counted by now has written its frames: this flush covers them all.
        let covers = self.committed.load(Ordering::SeqCst);
        let wal = wal.clone();
        let directory = !self.directory_flushed.load(Ordering::SeqCst);
        on_blocking_thread(move || flush(&wal, directory)).await?;
        self.directory_flushed.store(true, Ordering::SeqCst);
        self.flushes.fetch_add(1, Ordering::SeqCst);
        *flushed = covers;
        Ok(())
    }

    /// How many flushes ran.
    pub fn flushes(&self) -> u64 {
        self.flushes.load(Ordering::SeqCst)
    }
}

/// `fdatasync` of the file at `path`, on a blocking thread.
pub(crate) async fn flush_file(path: PathBuf) -> Result<(), StoreError> {
    on_blocking_thread(move || std::fs::File::open(path)?.sync_data()).await
}

/// Runs a file operation where it may block, as a [`StoreError::Flush`] if it fails.
async fn on_blocking_thread(
    io: impl FnOnce() -> std::io::Result<()> + Send + 'static,
) -> Result<(), StoreError> {
    tokio::task::spawn_blocking(io)
        .await
        .map_err(|e| StoreError::Flush(std::io::Error::other(e)))?
        .map_err(StoreError::Flush)
}

/// `fdatasync` of the WAL file, and of its directory the first time.
fn flush(wal: &std::path::Path, directory: bool) -> std::io::Result<()> {
    std::fs::File::open(wal)?.sync_data()?;
    if directory {
        let parent = match wal.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => std::path::Path::new("."),
        };
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn commits_finished_before_a_flush_share_it() {
        let dir = tempfile::tempdir().expect("dir");
        let database = dir.path().join("t.db");
        std::fs::write(dir.path().join("t.db-wal"), b"frames").expect("wal");
        let sync = WalSync::new(Some(database));

        let first = sync.committed();
        let second = sync.committed();
        sync.sync(first).await.expect("flush");
        assert_eq!(sync.flushes(), 1);
        sync.sync(second).await.expect("covered");
        assert_eq!(sync.flushes(), 1, "the first flush covered both commits");

        let third = sync.committed();
        sync.sync(third).await.expect("flush");
        assert_eq!(sync.flushes(), 2, "a later commit needs a flush of its own");
    }

    #[tokio::test]
    async fn a_missing_wal_is_an_error_not_a_silent_success() {
        let dir = tempfile::tempdir().expect("dir");
        let sync = WalSync::new(Some(dir.path().join("absent.db")));
        let ticket = sync.committed();
        assert!(matches!(sync.sync(ticket).await, Err(StoreError::Flush(_))));
    }

    #[tokio::test]
    async fn an_in_memory_database_has_nothing_to_flush() {
        let sync = WalSync::new(None);
        let ticket = sync.committed();
        sync.sync(ticket).await.expect("nothing to do");
        assert_eq!(sync.flushes(), 0);
    }
}
