//! Sync runs: one aggregate per full or incremental sync of a portal, recording each page fetched
//! per object type so a failed run can resume where it stopped, and what `GET /sync/runs/{id}`
//! reports.

mod aggregate;
mod commands;
mod error;
mod events;
mod state;
#[cfg(test)]
mod tests;

pub use aggregate::{SYNC_RUN_STREAM, SyncRun};
pub use commands::SyncRunCommand;
pub use error::SyncRunError;
pub use events::SyncRunEvent;
pub use state::{
    HistoryScope, ObjectProgress, ResumePoint, SyncMode, SyncRunView, SyncStatus, SyncTotals,
};
