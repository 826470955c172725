//! Full sync: cursor-paged listing of one object type, and reading one record with its
//! associations.
//!
//! Search returns no associations, so incremental sync reads each changed record once more with
//! [`HubSpotClient::get_object`] to learn its current associations. That costs one general
//! request per changed record, which the ten-secondly pacing absorbs for normal change rates;
//! a full re-list with associations is the fallback for mass changes.

use serde::Deserialize;

use super::client::{Call, HubSpotClient};
use super::record::{WirePaging, WireRecord};
use super::{CrmRecord, HubSpotError, ObjectKind};

/// Records per list page: HubSpot's maximum.
pub const LIST_PAGE_SIZE: u32 = 100;

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectPage {
    /// The records, in HubSpot's (id) order.
    pub results: Vec<CrmRecord>,
    /// The cursor for the next page; `None` on the last page.
    pub next_after: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WirePage {
    #[serde(default)]
    results: Vec<WireRecord>,
    #[serde(default)]
    paging: WirePaging,
}

impl HubSpotClient {
    /// Lists one page (up to [`LIST_PAGE_SIZE`]) of `kind` records after the cursor `after`
    /// (`None` for the first page), with the named properties (HubSpot's default handful when
    /// empty) and association ids. `archived` lists only archived records instead of only live
    /// ones. Association lists are not paged further: HubSpot inlines up to a few hundred ids.
    pub async fn list_objects(
        &self,
        kind: ObjectKind,
        after: Option<&str>,
        properties: &[&str],
        associations: &[ObjectKind],
        archived: bool,
    ) -> Result<ObjectPage, HubSpotError> {
        let mut call = Call::get("list objects", &["crm", "v3", "objects", kind.as_str()])
            .query("limit", LIST_PAGE_SIZE.to_string())
            .query("archived", archived.to_string());
        if let Some(after) = after {
            call = call.query("after", after);
        }
        let call = call
            .list("properties", properties.iter().copied())
            .list("associations", associations.iter().map(|k| k.as_str()));
        let page: WirePage = self.execute(&call).await?;
        Ok(ObjectPage {
            results: page.results.into_iter().map(CrmRecord::from).collect(),
            next_after: page.paging.after(),
        })
    }

    /// Reads one live record with the named properties and association ids; `None` when no
    /// live record has that id (404, or an empty id).
    pub async fn get_object(
        &self,
        kind: ObjectKind,
        id: &str,
        properties: &[&str],
        associations: &[ObjectKind],
    ) -> Result<Option<CrmRecord>, HubSpotError> {
        if id.is_empty() {
            return Ok(None);
        }
        let call = Call::get("read object", &["crm", "v3", "objects", kind.as_str(), id])
            .list("properties", properties.iter().copied())
            .list("associations", associations.iter().map(|k| k.as_str()));
        match self.execute::<WireRecord>(&call).await {
            Ok(record) => Ok(Some(record.into())),
            Err(HubSpotError::Api { status: 404, .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }
}
