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
//!
//! # Descriptors and POSIX locks
//!
//! Closing *any* descriptor of a file drops every POSIX lock the process holds on that file,
//! SQLite's included ("How To Corrupt An SQLite Database File", 2.2). Another process then
//! believes it is alone, deletes `-wal` and `-shm`, and the database is corrupt. So this
//! module never opens and closes a descriptor per flush:
//! - the WAL is opened once per [`WalSync`] and checked to still be the file SQLite writes
//!   before every flush. SQLite takes no lock on the `-wal` file (its locks are on the database
//!   file and on `-shm`), so closing this descriptor when the handle goes away is safe;
//! - the database file, which SQLite does lock, is opened at most once per process by
//!   [`flush_database_file`] and that descriptor is never closed.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use tokio::sync::Mutex;

use crate::error::StoreError;

/// Flushes a database's WAL for the commits that need it; see the module docs.
#[derive(Debug)]
pub struct WalSync {
    /// The database file; `None` for an in-memory database.
    database: Option<PathBuf>,
    /// The `-wal` file beside the database; `None` for an in-memory database.
    wal: Option<PathBuf>,
    /// Commits counted so far (each has written its frames when counted).
    committed: AtomicU64,
    /// What the last finished flush covered. Held while flushing, so one flush runs at a time
    /// and the commits that wait for it are covered by the next.
    flushed: Mutex<Flushed>,
    /// Whether the directory entry of the WAL file has been flushed (once per process: a WAL
    /// created since the last flush of its directory could vanish with it).
    directory_flushed: AtomicBool,
    /// Flushes performed (for tests and diagnostics).
    flushes: AtomicU64,
    /// Set by a failed flush, for good: Linux reports a lost write-back to a descriptor once, so
    /// a later flush that succeeds proves nothing about the frames before it (PostgreSQL's
    /// "fsyncgate"). Every later flush fails until the process restarts and SQLite recovers.
    failed: AtomicBool,
}

/// The flusher's state, behind [`WalSync::flushed`].
#[derive(Debug, Default)]
struct Flushed {
    /// The count of commits the last finished flush covered.
    covered: u64,
    /// The WAL's descriptor, opened by the first flush and kept (see the module docs).
    file: Option<Arc<File>>,
}

impl WalSync {
    /// The database file (`None` in memory).
    pub fn database_file(&self) -> Option<&Path> {
        self.database.as_deref()
    }

    /// For the database file at `database` (`None`: in memory, nothing to flush).
    pub fn new(database: Option<PathBuf>) -> Self {
        let wal = database.clone().map(|path| {
            let mut name = path.into_os_string();
            name.push("-wal");
            PathBuf::from(name)
        });
        Self {
            database,
            wal,
            committed: AtomicU64::new(0),
            flushed: Mutex::new(Flushed::default()),
            directory_flushed: AtomicBool::new(false),
            flushes: AtomicU64::new(0),
            failed: AtomicBool::new(false),
        }
    }

    /// Opens the WAL's descriptor now, while it surely is the file SQLite writes (call once the
    /// writer has written, e.g. after migrations); a later replacement then fails every flush.
    /// A WAL SQLite has not created yet is left to the first flush.
    pub async fn open(&self) -> Result<(), StoreError> {
        let Some(wal) = self.wal.clone() else {
            return Ok(());
        };
        let mut flushed = self.flushed.lock().await;
        if flushed.file.is_none() {
            let opened = blocking(move || match File::open(wal) {
                Ok(file) => Ok(Some(file)),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(error) => Err(error),
            })
            .await?;
            flushed.file = opened.map(Arc::new);
        }
        Ok(())
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
        self.not_failed()?;
        if flushed.covered >= ticket {
            return Ok(());
        }
        // Every commit counted by now has written its frames: this flush covers them all.
        let covers = self.committed.load(Ordering::SeqCst);
        let file = match &flushed.file {
            Some(file) => file.clone(),
            None => {
                let path = wal.clone();
                let opened = Arc::new(blocking(move || File::open(path)).await?);
                flushed.file = Some(opened.clone());
                opened
            }
        };
        let wal = wal.clone();
        let directory = !self.directory_flushed.load(Ordering::SeqCst);
        if let Err(error) = blocking(move || flush(&file, &wal, directory)).await {
            self.failed.store(true, Ordering::SeqCst);
            return Err(error);
        }
        self.directory_flushed.store(true, Ordering::SeqCst);
        self.flushes.fetch_add(1, Ordering::SeqCst);
        flushed.covered = covers;
        Ok(())
    }

    /// Fails when this process holds no lock on the database file (another process would
    /// take itself for the last user and delete the WAL), or when the WAL this handle flushes
    /// is no longer the file at its path: commits could not be made durable.
    pub async fn check(&self) -> Result<(), StoreError> {
        self.not_failed()?;
        if let Some(database) = self.database.clone() {
            blocking(move || holds_locks_on(&database)).await?;
        }
        let (Some(wal), Some(file)) = (&self.wal, self.flushed.lock().await.file.clone()) else {
            return Ok(());
        };
        let wal = wal.clone();
        blocking(move || same_file(&file, &wal)).await
    }

    fn not_failed(&self) -> Result<(), StoreError> {
        if self.failed.load(Ordering::SeqCst) {
            return Err(StoreError::Flush(std::io::Error::other(
                "an earlier flush of the WAL failed; restart to let SQLite recover the database",
            )));
        }
        Ok(())
    }

    /// How many flushes ran.
    pub fn flushes(&self) -> u64 {
        self.flushes.load(Ordering::SeqCst)
    }
}

/// Descriptors of the database files this process has flushed, by device and inode; never
/// closed, so no lock SQLite holds on them is ever dropped (see the module docs).
static DATABASE_FILES: LazyLock<std::sync::Mutex<HashMap<FileId, Arc<File>>>> =
    LazyLock::new(Default::default);

/// A file's device and inode.
type FileId = (u64, u64);

/// `fdatasync` of the database file at `path`, on a blocking thread, through the one
/// descriptor this process keeps open for it.
pub(crate) async fn flush_database_file(path: PathBuf) -> Result<(), StoreError> {
    blocking(move || {
        let file = database_file(&path)?;
        file.sync_data()
    })
    .await
}

/// The process's descriptor for the database file at `path`, opened on first use.
fn database_file(path: &Path) -> std::io::Result<Arc<File>> {
    let metadata = std::fs::metadata(path)?;
    let key = (metadata.dev(), metadata.ino());
    let mut files = DATABASE_FILES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(file) = files.get(&key) {
        return Ok(file.clone());
    }
    let file = Arc::new(File::open(path)?);
    let opened = file.metadata()?;
    files.insert((opened.dev(), opened.ino()), file.clone());
    Ok(file)
}

/// How many POSIX locks process `pid` holds on the file with `inode`, from Linux's
/// `/proc/locks` (for tests and diagnostics: a server on SQLite always holds one on its
/// database file).
pub fn posix_locks(pid: u32, inode: u64) -> std::io::Result<usize> {
    // Read after read, the kernel may skip lines of a list that changes in between (other
    // connections locking and unlocking); one read per attempt, and three attempts before a
    // lock counts as missing, keep a busy process from looking lockless.
    let mut count = 0;
    for _ in 0..3 {
        count = count_locks(&read_proc_locks()?, pid, inode);
        if count > 0 {
            break;
        }
    }
    Ok(count)
}

/// `/proc/locks` in one `read` where it fits (each `read` of it is one consistent walk).
fn read_proc_locks() -> std::io::Result<String> {
    use std::io::Read as _;
    let mut file = File::open("/proc/locks")?;
    let mut buffer = vec![0_u8; 1 << 20];
    let mut filled = 0;
    loop {
        if filled == buffer.len() {
            buffer.resize(buffer.len() * 2, 0);
        }
        let read = file.read(&mut buffer[filled..])?;
        if read == 0 {
            break;
        }
        filled += read;
    }
    buffer.truncate(filled);
    Ok(String::from_utf8_lossy(&buffer).into_owned())
}

fn count_locks(locks: &str, pid: u32, inode: u64) -> usize {
    let (pid, inode) = (pid.to_string(), inode.to_string());
    locks
        .lines()
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.get(1) == Some(&"POSIX")
                && fields.get(4) == Some(&pid.as_str())
                && fields
                    .get(5)
                    .and_then(|id| id.rsplit(':').next())
                    .is_some_and(|ino| ino == inode)
        })
        .count()
}

/// Fails when this process holds no POSIX lock on the database file at `path` (it always
/// does while a connection is open in WAL mode). Where `/proc/locks` cannot be read, passes.
fn holds_locks_on(path: &Path) -> std::io::Result<()> {
    let inode = std::fs::metadata(path)?.ino();
    match posix_locks(std::process::id(), inode) {
        Ok(0) => Err(std::io::Error::other(format!(
            "this process holds no lock on {}: another process may delete its WAL",
            path.display()
        ))),
        Ok(_) | Err(_) => Ok(()),
    }
}

/// Runs a file operation where it may block, as a [`StoreError::Flush`] if it fails.
async fn blocking<T: Send + 'static>(
    io: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(io)
        .await
        .map_err(|e| StoreError::Flush(std::io::Error::other(e)))?
        .map_err(StoreError::Flush)
}

/// `fdatasync` of the WAL through `file`, once it is checked to be the WAL at `path`, and of
/// its directory the first time.
fn flush(file: &File, path: &Path, directory: bool) -> std::io::Result<()> {
    same_file(file, path)?;
    file.sync_data()?;
    // Replaced while flushing: the flush may have missed the file SQLite writes.
    same_file(file, path)?;
    if directory {
        let parent = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        // A directory holds no SQLite lock: opening and closing it is safe.
        File::open(parent)?.sync_all()?;
    }
    Ok(())
}

/// Fails unless `file` is the file at `path` (a deleted and recreated WAL is another file,
/// and flushing the old one would make nothing durable).
fn same_file(file: &File, path: &Path) -> std::io::Result<()> {
    let held = file.metadata()?;
    let current = std::fs::metadata(path)?;
    if (held.dev(), held.ino()) == (current.dev(), current.ino()) {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "{} was deleted and recreated by another process",
            path.display()
        )))
    }
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
    async fn a_wal_deleted_and_recreated_is_an_error_not_a_flush_of_the_old_file() {
        let dir = tempfile::tempdir().expect("dir");
        let wal = dir.path().join("t.db-wal");
        std::fs::write(&wal, b"frames").expect("wal");
        let sync = WalSync::new(Some(dir.path().join("t.db")));
        sync.sync(sync.committed()).await.expect("flush");

        let kept = dir.path().join("kept");
        std::fs::hard_link(&wal, &kept).expect("keep the first file");
        std::fs::remove_file(&wal).expect("delete");
        std::fs::write(&wal, b"another").expect("recreate");
        assert!(matches!(
            sync.sync(sync.committed()).await,
            Err(StoreError::Flush(_))
        ));
        // And for good: with the first file back at its path, the frames before the failed
        // flush are still in doubt.
        std::fs::rename(&kept, &wal).expect("put the first file back");
        assert!(matches!(
            sync.sync(sync.committed()).await,
            Err(StoreError::Flush(_))
        ));
    }

    #[tokio::test]
    async fn flushing_the_database_file_keeps_sqlites_locks() {
        use sqlx::Connection as _;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("locked.db");
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
        // In WAL mode an open connection holds a shared POSIX lock on the database file.
        let mut conn = sqlx::SqliteConnection::connect_with(&options)
            .await
            .expect("open");
        sqlx::query("CREATE TABLE t (x)")
            .execute(&mut conn)
            .await
            .expect("write");
        let inode = std::fs::metadata(&path).expect("stat").ino();
        let before = posix_locks_on(inode);
        assert!(before > 0, "SQLite holds a lock on the database file");

        for _ in 0..3 {
            flush_database_file(path.clone()).await.expect("flush");
        }
        assert_eq!(
            posix_locks_on(inode),
            before,
            "the flush dropped SQLite's locks"
        );
        conn.close().await.expect("close");
    }

    fn posix_locks_on(inode: u64) -> usize {
        posix_locks(std::process::id(), inode).expect("/proc/locks")
    }

    #[tokio::test]
    async fn an_in_memory_database_has_nothing_to_flush() {
        let sync = WalSync::new(None);
        let ticket = sync.committed();
        sync.sync(ticket).await.expect("nothing to do");
        assert_eq!(sync.flushes(), 0);
    }
}
