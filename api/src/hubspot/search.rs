//! Incremental sync: records modified at or after a watermark, oldest first, via the search
//! endpoint (paced by its own per-second window).
//!
//! Offset paging stops at [`SEARCH_RESULT_CAP`] results. Before the offset would pass
//! [`SEARCH_MAX_AFTER`] ([`SearchPage::must_restart`]), start a new search with `since_ms` set to
//! the last modified time seen and de-duplicate by id. Search returns no associations and no
//! archived records, and may lag a moment behind writes: re-scan with some overlap.

use serde::Deserialize;
use serde_json::json;

use super::client::{Call, HubSpotClient};
use super::record::{WirePaging, WireRecord};
use super::{CrmRecord, HubSpotError};
use healthscore_domain::ids::ObjectType;

/// Results per search page: HubSpot's maximum.
pub const SEARCH_PAGE_SIZE: u32 = 200;
/// How many results one search can page through.
pub const SEARCH_RESULT_CAP: u32 = 10_000;
/// The largest `after` offset a full page can be fetched at.
pub const SEARCH_MAX_AFTER: u32 = SEARCH_RESULT_CAP - SEARCH_PAGE_SIZE;

/// One page of search results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPage {
    /// Matching records, by modified date ascending.
    pub results: Vec<CrmRecord>,
    /// Offset of the next page; `None` on the last page.
    pub next_after: Option<u32>,
    /// How many records match in total.
    pub total: u64,
}

impl SearchPage {
    /// Whether more results exist beyond what this search can page to: restart with a later
    /// `since_ms` instead of asking for `next_after`.
    pub fn must_restart(&self) -> bool {
        self.next_after
            .is_some_and(|after| after > SEARCH_MAX_AFTER)
    }
}

#[derive(Debug, Deserialize)]
struct WireSearch {
    #[serde(default)]
    total: u64,
    #[serde(default)]
    results: Vec<WireRecord>,
    #[serde(default)]
    paging: WirePaging,
}

impl HubSpotClient {
    /// Live `kind` records whose modified date is at or after `since_ms` (epoch ms), sorted by
    /// it ascending, [`SEARCH_PAGE_SIZE`] per page from offset `after`. The modified-date
    /// property is always requested along with `properties`. An offset past
    /// [`SEARCH_MAX_AFTER`] fails with [`HubSpotError::SearchCapExceeded`] without a request.
    pub async fn search_modified_since(
        &self,
        kind: ObjectType,
        since_ms: i64,
        after: u32,
        properties: &[&str],
    ) -> Result<SearchPage, HubSpotError> {
        if after > SEARCH_MAX_AFTER {
            return Err(HubSpotError::SearchCapExceeded { after });
        }
        let modified = kind.modified_property();
        let mut names: Vec<&str> = properties.to_vec();
        if !names.contains(&modified) {
            names.push(modified);
        }
        let body = json!({
            "filterGroups": [{"filters": [
                {"propertyName": modified, "operator": "GTE", "value": since_ms.to_string()}
            ]}],
            "sorts": [{"propertyName": modified, "direction": "ASCENDING"}],
            "properties": names,
            "limit": SEARCH_PAGE_SIZE,
            "after": after.to_string(),
        });
        let call = Call::search(
            "search",
            &["crm", "v3", "objects", kind.plural(), "search"],
            body,
        );
        let page: WireSearch = self.execute(&call).await?;
        Ok(SearchPage {
            results: page.results.into_iter().map(CrmRecord::from).collect(),
            next_after: page.paging.after().and_then(|after| after.parse().ok()),
            total: page.total,
        })
    }
}
