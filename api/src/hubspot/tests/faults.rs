//! Failure handling against the fake: 429 bursts, gateway errors, the daily limit, bad tokens.

use super::*;
use crate::hubspot::HubSpotError;
use healthscore_fixtures::fake_hubspot::Faults;

#[tokio::test]
async fn a_burst_of_429s_is_absorbed() {
    let (fake, client) = start(fake_config()).await;
    fake.set_faults(Faults {
        burst_429: 3,
        ..Faults::default()
    });
    let page = client
        .list_objects(
            ObjectType::Company,
            &Listing {
                properties: &["name"],
                ..Listing::default()
            },
        )
        .await
        .unwrap();
    assert!(!page.results.is_empty());
    let stats = client.stats();
    assert_eq!(
        (stats.rate_limited, stats.retries, stats.requests),
        (3, 3, 4)
    );
    assert_eq!(fake.stats().responses_429, 3);
}

#[tokio::test]
async fn a_full_listing_completes_despite_gateway_errors() {
    let faults = Faults {
        error_rate: 0.3,
        ..Faults::default()
    };
    let (fake, client) = start(FakeConfig {
        contacts: 600,
        faults,
        ..fake_config()
    })
    .await;
    let records = list_all(
        &client,
        ObjectType::Contact,
        &["email"],
        &[ObjectType::Company],
        false,
    )
    .await;
    let listed: Vec<String> = records.into_iter().map(|r| r.id).collect();
    assert_eq!(listed, ids(&fake.portal(), ObjectType::Contact, false));
    let stats = client.stats();
    assert!(
        stats.server_errors > 0,
        "the seeded faults hit this listing"
    );
    assert_eq!(stats.server_errors, fake.stats().responses_5xx);
    assert_eq!(stats.retries, stats.server_errors);
}

#[tokio::test]
async fn an_exhausted_daily_limit_fails_at_once() {
    let faults = Faults {
        daily_exhausted: true,
        ..Faults::default()
    };
    let (fake, client) = start(FakeConfig {
        faults,
        ..fake_config()
    })
    .await;
    let error = client.account_portal_id().await.unwrap_err();
    assert!(
        matches!(error, HubSpotError::DailyLimitReached),
        "{error:?}"
    );
    assert_eq!(fake.stats().requests, 1);
    assert_eq!(client.stats().retries, 0);
}

#[tokio::test]
async fn a_wrong_token_is_unauthorized() {
    let fake = FakeHubSpot::start(fake_config()).await.unwrap();
    let client = HubSpotClient::new(ClientConfig {
        access_token: Secret::new("pat-na1-wrong"),
        ..client_config(&fake)
    })
    .unwrap();
    let error = client
        .list_objects(ObjectType::Contact, &Listing::default())
        .await
        .unwrap_err();
    assert!(matches!(error, HubSpotError::Unauthorized), "{error:?}");
    assert_eq!(fake.stats().requests, 1);
    assert!(!format!("{client:?}").contains("wrong"));
}

#[tokio::test]
async fn server_errors_give_up_after_the_retry_budget() {
    let faults = Faults {
        error_rate: 1.0,
        ..Faults::default()
    };
    let (fake, _) = start(FakeConfig {
        faults,
        ..fake_config()
    })
    .await;
    let client = HubSpotClient::new(ClientConfig {
        max_retries: 2,
        ..client_config(&fake)
    })
    .unwrap();
    let error = client.deal_pipelines().await.unwrap_err();
    assert!(
        matches!(error, HubSpotError::ServerError { retries: 2, .. }),
        "{error:?}"
    );
    assert_eq!(fake.stats().requests, 3);
}

#[tokio::test]
async fn an_unreachable_host_is_a_transport_error() {
    let fake = FakeHubSpot::start(fake_config()).await.unwrap();
    let config = ClientConfig {
        max_retries: 1,
        ..client_config(&fake)
    };
    fake.shutdown().await.unwrap();
    let client = HubSpotClient::new(config).unwrap();
    let error = client.account_portal_id().await.unwrap_err();
    assert!(
        matches!(error, HubSpotError::Transport { retries: 1, .. }),
        "{error:?}"
    );
}
