//! The read models (contacts, customers, companies, deals, associations, activity, property
//! history) and the queries the API reads them with.

pub mod changes;
pub mod queries;
pub(crate) mod write;
