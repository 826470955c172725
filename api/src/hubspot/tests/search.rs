//! Incremental sync against the fake: watermark searches, offset paging, the result cap and
//! search pacing.

use std::time::Duration;

use healthscore_fixtures::generate::parse_time_ms;

use super::*;
use crate::hubspot::{HubSpotError, SEARCH_MAX_AFTER, SEARCH_PAGE_SIZE, SearchPage};

#[tokio::test]
async fn a_search_since_a_watermark_returns_the_objects_changed_since() {
    let (fake, client) = start(fake_config()).await;
    let contacts = ids(&fake.portal(), ObjectType::Contact, false);
    let company = ids(&fake.portal(), ObjectType::Company, false)[0].clone();
    let (first, second) = (&contacts[5], &contacts[2]);
    let watermark = fake
        .update_property(
            ObjectType::Contact,
            first,
            "lifecyclestage",
            Some("customer"),
        )
        .unwrap();
    let later = fake
        .update_property(
            ObjectType::Contact,
            second,
            "lifecyclestage",
            Some("evangelist"),
        )
        .unwrap();
    fake.update_property(ObjectType::Company, &company, "industry", Some("RETAIL"))
        .unwrap();

    let page = client
        .search_modified_since(ObjectType::Contact, watermark, 0, &["lifecyclestage"])
        .await
        .unwrap();
    let found: Vec<&str> = page.results.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(found, [first.as_str(), second.as_str()]);
    assert_eq!((page.total, page.next_after), (2, None));
    assert_eq!(page.results[0].properties["lifecyclestage"], "customer");
    let modified = &page.results[1].properties["lastmodifieddate"];
    assert_eq!(parse_time_ms(modified), Some(later));

    let page = client
        .search_modified_since(ObjectType::Contact, later, 0, &[])
        .await
        .unwrap();
    assert_eq!(page.results.len(), 1);
    assert_eq!(page.results[0].id, *second);
}

#[tokio::test]
async fn search_pages_by_offset_in_modified_order() {
    let (fake, client) = start(fake_config()).await;
    let live = ids(&fake.portal(), ObjectType::Contact, false);
    let first = client
        .search_modified_since(ObjectType::Contact, 0, 0, &["email"])
        .await
        .unwrap();
    assert_eq!(first.next_after, Some(SEARCH_PAGE_SIZE));
    assert_eq!(first.total, u64::try_from(live.len()).unwrap());
    let second = client
        .search_modified_since(ObjectType::Contact, 0, SEARCH_PAGE_SIZE, &["email"])
        .await
        .unwrap();
    assert_eq!(second.next_after, None);
    let all: Vec<_> = first.results.iter().chain(&second.results).collect();
    assert_eq!(all.len(), live.len());
    let modified: Vec<i64> = all
        .iter()
        .map(|r| parse_time_ms(&r.properties["lastmodifieddate"]).unwrap())
        .collect();
    assert!(modified.windows(2).all(|w| w[0] <= w[1]));
    let unique: std::collections::HashSet<&str> = all.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(unique.len(), live.len());
}

#[tokio::test]
async fn an_offset_past_the_result_cap_fails_without_a_request() {
    let (_fake, client) = start(fake_config()).await;
    let error = client
        .search_modified_since(ObjectType::Deal, 0, SEARCH_MAX_AFTER + 1, &[])
        .await
        .unwrap_err();
    assert!(matches!(error, HubSpotError::SearchCapExceeded { .. }));
    assert_eq!(client.stats().requests, 0);
    let page = |next_after| SearchPage {
        results: Vec::new(),
        next_after,
        total: 20_000,
    };
    assert!(page(Some(SEARCH_MAX_AFTER + SEARCH_PAGE_SIZE)).must_restart());
    assert!(!page(Some(SEARCH_MAX_AFTER)).must_restart());
}

#[tokio::test]
async fn a_search_burst_paced_at_the_servers_limit_sees_no_429() {
    let (fake, _) = start(FakeConfig {
        search_rate_limit: 5,
        ..fake_config()
    })
    .await;
    let client = HubSpotClient::new(ClientConfig {
        search_rate_limit: 5,
        search_window: Duration::from_secs(1),
        ..client_config(&fake)
    })
    .unwrap();
    let searches: Vec<_> = (0..12)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .search_modified_since(ObjectType::Deal, 0, 0, &["dealstage"])
                    .await
            })
        })
        .collect();
    for search in searches {
        search.await.unwrap().unwrap();
    }
    assert_eq!(fake.stats().responses_429, 0);
    assert_eq!(client.stats().rate_limited, 0);
    assert_eq!(client.stats().requests, 12);
}
