//! The read models (objects, their current properties, associations) and the queries the API
//! reads them with.

pub mod changes;
pub mod dump;
pub mod queries;
pub(crate) mod write;
