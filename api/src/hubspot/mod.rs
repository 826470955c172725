//! A client for the HubSpot CRM API endpoints healthscore reads: account details, object
//! listings, searches by modified date, single-record reads and deal pipelines.
//!
//! Every request is paced client-side with rolling windows matching HubSpot's limits (one for
//! general endpoints, a separate one for search), so a normal sync never sees a 429. What still
//! goes wrong is retried within bounded budgets: 5xx answers, timeouts and connection errors with
//! exponential backoff and full jitter (or `Retry-After`), rate-limit 429s by pausing for the
//! limit's window. A `DAILY` 429, a 401 and other 4xx answers fail at once with a typed
//! [`HubSpotError`]. The access token is never printed or logged.

mod associations;
mod client;
mod config;
mod error;
mod history;
mod limiter;
mod meta;
mod oauth;
mod objects;
mod record;
mod retry;
mod search;
mod stats;
mod transport;
pub mod write;

#[cfg(test)]
mod tests;

pub use associations::ASSOCIATION_BATCH_SIZE;
pub use client::{HubSpotClient, TokenSource};
pub use config::{ClientConfig, DEFAULT_BASE_URL};
pub use error::HubSpotError;
use healthscore_domain::ids::ObjectType;
pub use history::HISTORY_PAGE_SIZE;
pub use meta::{DealPipeline, DealStage};
pub use oauth::{Grant, OAuthApp, OAuthEndpoints, TokenInfo};
pub use objects::{LIST_PAGE_SIZE, Listing, ObjectPage};
pub use record::CrmRecord;
pub use search::{SEARCH_MAX_AFTER, SEARCH_PAGE_SIZE, SEARCH_RESULT_CAP, SearchPage};
pub use stats::ClientStats;
