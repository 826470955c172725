//! Why a sync run refuses a command.

use super::state::SyncStatus;
use crate::ids::ObjectType;

/// A command that does not fit the run's status; nothing is recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncRunError {
    /// `StartSync` on a run that has started before.
    #[error("sync run has already started and is {status}")]
    AlreadyStarted {
        /// The run's status.
        status: SyncStatus,
    },
    /// A page, completion, failure or resumption before `StartSync`.
    #[error("sync run has not started")]
    NotStarted,
    /// A page, completion or failure of a run that is no longer running.
    #[error("sync run is {status}, not running")]
    NotRunning {
        /// The run's status.
        status: SyncStatus,
    },
    /// `ResumeSync` of a run that has not failed.
    #[error("only a failed sync run can be resumed; this one is {status}")]
    NotFailed {
        /// The run's status.
        status: SyncStatus,
    },
    /// A page of an object type whose last page was already recorded.
    #[error("{} pages are already done in this sync run", .object_type.as_str())]
    ObjectTypeDone {
        /// The object type.
        object_type: ObjectType,
    },
}
