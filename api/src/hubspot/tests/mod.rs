//! Black-box tests against the fake HubSpot from `healthscore-fixtures`, over real HTTP on
//! `127.0.0.1:0`. Timing is never asserted; pacing itself is unit-tested with paused time.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod faults;
mod listing;
mod search;

use std::collections::BTreeSet;
use std::time::Duration;

use healthscore_fixtures::fake_hubspot::{FakeConfig, FakeHubSpot, RunningFake};
use healthscore_fixtures::generate::{CrmObject, Portal};

use super::{ClientConfig, CrmRecord, HubSpotClient, Listing};
use crate::secret::Secret;
use healthscore_domain::ids::ObjectType;

/// Fixed "now" so generated portals are identical run to run.
const NOW_MS: i64 = 1_750_000_000_000;

/// A small portal with limits far above what a test sends.
fn fake_config() -> FakeConfig {
    FakeConfig {
        seed: 11,
        contacts: 230,
        companies: 40,
        deals: 60,
        now_ms: Some(NOW_MS),
        rate_limit: 10_000,
        search_rate_limit: 10_000,
        ..FakeConfig::default()
    }
}

/// Client settings for `fake`: its limits, short waits.
fn client_config(fake: &RunningFake) -> ClientConfig {
    ClientConfig {
        base_url: fake.base_url().to_owned(),
        rate_limit: 10_000,
        rate_window: Duration::from_millis(50),
        search_rate_limit: 10_000,
        search_window: Duration::from_millis(50),
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(50),
        request_timeout: Duration::from_secs(5),
        ..ClientConfig::new(Secret::new(fake.token()))
    }
}

async fn start(config: FakeConfig) -> (RunningFake, HubSpotClient) {
    let fake = FakeHubSpot::start(config).await.unwrap();
    let client = HubSpotClient::new(client_config(&fake)).unwrap();
    (fake, client)
}

/// Every page of a listing, concatenated.
async fn list_all(
    client: &HubSpotClient,
    kind: ObjectType,
    properties: &[&str],
    associations: &[ObjectType],
    archived: bool,
) -> Vec<CrmRecord> {
    let mut records = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = client
            .list_objects(
                kind,
                &Listing {
                    after: after.as_deref(),
                    properties,
                    associations,
                    archived,
                    ..Listing::default()
                },
            )
            .await
            .unwrap();
        records.extend(page.results);
        match page.next_after {
            Some(next) => after = Some(next),
            None => return records,
        }
    }
}

/// Ids of the `kind` records in `portal` that are (or are not) archived, ascending.
fn ids(portal: &Portal, kind: ObjectType, archived: bool) -> Vec<String> {
    portal
        .objects(kind)
        .values()
        .filter(|object| object.is_archived() == archived)
        .map(|object| object.id.to_string())
        .collect()
}

/// The live records `object` is associated with, of kind `target`.
fn live_links(portal: &Portal, object: &CrmObject, target: ObjectType) -> BTreeSet<String> {
    object
        .associations
        .get(&target)
        .into_iter()
        .flatten()
        .filter(|id| portal.get(target, **id).is_some_and(|o| !o.is_archived()))
        .map(u64::to_string)
        .collect()
}
