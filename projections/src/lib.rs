//! healthscore's storage layer: the event log on SQLite or PostgreSQL, the projectors that follow
//! it and the read models they keep.

pub mod alerts;
pub mod api_keys;
pub mod connection_tokens;
pub mod db;
pub mod error;
pub mod leadership;
pub mod projector;
pub mod read_models;
pub mod recorder;
pub mod scoring;
pub mod store;
pub mod sync_lease;
pub mod wal_sync;
pub mod writeback;

pub use db::{Backend, Db};
pub use error::StoreError;
pub use store::{
    AggregateStore, AppendBatch, AppendLock, EventRepository, EventStore, NewEvent, RecordedEvent,
    aggregates,
};
