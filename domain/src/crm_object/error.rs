//! Why a CRM object refuses a command.

use crate::ids::ObjectRef;

/// A command the object cannot record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrmObjectError {
    /// The command names another object than the stream's.
    #[error("command for {command:?} sent to the stream of {stream:?}")]
    WrongObject {
        /// The stream's object.
        stream: ObjectRef,
        /// The command's object.
        command: ObjectRef,
    },
}
