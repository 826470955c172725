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
use super::{CrmRecord, HubSpotError};
use healthscore_domain::ids::ObjectType;

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

/// What one listing request asks for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Listing<'a> {
    /// The cursor of the page wanted (`None` for the first page).
    pub after: Option<&'a str>,
    /// The properties (HubSpot's default handful when empty).
    pub properties: &'a [&'a str],
    /// The properties to return with their past values (`propertiesWithHistory`); HubSpot
    /// then pages at most [`super::HISTORY_PAGE_SIZE`] records.
    pub history: &'a [&'a str],
    /// The kinds of associated ids to inline.
    pub associations: &'a [ObjectType],
    /// List only archived records instead of only live ones.
    pub archived: bool,
}

impl HubSpotClient {
    /// Lists one page of `kind` records: up to [`LIST_PAGE_SIZE`], or the history page size
    /// when `listing.history` names properties. Association lists are not paged further:
    /// HubSpot inlines up to a few hundred ids.
    pub async fn list_objects(
        &self,
        kind: ObjectType,
        listing: &Listing<'_>,
    ) -> Result<ObjectPage, HubSpotError> {
        let with_history = !listing.history.is_empty();
        self.with_history_limit(with_history, |limit| {
            let mut call = Call::get("list objects", &["crm", "v3", "objects", kind.plural()])
                .query("limit", limit.min(LIST_PAGE_SIZE).to_string())
                .query("archived", listing.archived.to_string());
            if let Some(after) = listing.after {
                call = call.query("after", after);
            }
            let call = call
                .list("properties", listing.properties.iter().copied())
                .list("propertiesWithHistory", listing.history.iter().copied())
                .list(
                    "associations",
                    listing.associations.iter().map(|k| k.as_str()),
                );
            async move {
                let page: WirePage = self.execute(&call).await?;
                Ok(ObjectPage {
                    results: page.results.into_iter().map(CrmRecord::from).collect(),
                    next_after: page.paging.after(),
                })
            }
        })
        .await
    }

    /// Reads one live record with the named properties and association ids; `None` when no
    /// live record has that id (404, or an empty id).
    pub async fn get_object(
        &self,
        kind: ObjectType,
        id: &str,
        properties: &[&str],
        associations: &[ObjectType],
    ) -> Result<Option<CrmRecord>, HubSpotError> {
        if id.is_empty() {
            return Ok(None);
        }
        let call = Call::get("read object", &["crm", "v3", "objects", kind.plural(), id])
            .list("properties", properties.iter().copied())
            .list("associations", associations.iter().map(|k| k.as_str()));
        match self.execute::<WireRecord>(&call).await {
            Ok(record) => Ok(Some(record.into())),
            Err(HubSpotError::Api { status: 404, .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }
}
