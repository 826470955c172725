//! Owners: a sync reads HubSpot's owners and every record's `hubspot_owner_id`; `GET /owners`
//! lists them, `GET /customers?owner=` is "my accounts", and customer and company answers name
//! the owner. Each story runs on SQLite and on PostgreSQL.

use std::collections::BTreeSet;

use healthscore_api::hubspot::{ClientConfig, HubSpotClient};
use healthscore_api::secret::Secret;
use healthscore_domain::hubspot::properties::OWNER as OWNER_PROPERTY;
use healthscore_fixtures::fake_hubspot::{FakeConfig, FakeHubSpot, RunningFake};
use healthscore_tests::server::TestServer;
use healthscore_tests::{TestDb, on_both_backends};
use serde_json::{Value, json};

fn client_for(fake: &RunningFake) -> HubSpotClient {
    HubSpotClient::new(ClientConfig {
        base_url: fake.base_url().to_string(),
        ..ClientConfig::new(Secret::new(fake.token()))
    })
    .expect("client")
}

async fn full_sync(server: &TestServer, key: &str) {
    let started = server
        .client
        .post(format!("{}/sync", server.base))
        .bearer_auth(key)
        .json(&json!({"mode": "full"}))
        .send()
        .await
        .expect("send");
    assert_eq!(started.status(), 202);
    let started: Value = started.json().await.expect("json");
    let run = server
        .finished_run(started["status_url"].as_str().expect("url"), key)
        .await;
    assert_eq!(run["status"], "completed", "{run:#}");
    server.projected().await;
    server.scored().await;
}

/// The numeric value of a JSON `id` string.
fn id_of(value: &Value) -> Option<u64> {
    value["id"].as_str()?.parse().ok()
}

async fn json(server: &TestServer, path: &str, key: &str) -> Value {
    let response = server.get(path, key).await;
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.expect("json")
}

async fn a_sync_names_every_records_owner_and_lists_by_owner(t: TestDb) {
    let fake = FakeHubSpot::start(FakeConfig {
        contacts: 450,
        companies: 90,
        deals: 150,
        ..FakeConfig::default()
    })
    .await
    .expect("fake");
    let server = TestServer::start_syncing(t.db.clone(), client_for(&fake)).await;
    let portal = fake.portal();
    let key = server.key(portal.portal_id).await;
    full_sync(&server, &key).await;

    let listed = json(&server, "/owners", &key).await;
    let listed = listed["owners"].as_array().expect("owners").clone();
    assert_eq!(listed.len(), portal.owners.len(), "{listed:#?}");
    for owner in &portal.owners {
        let entry = listed
            .iter()
            .find(|o| id_of(o) == Some(owner.id))
            .expect("listed");
        assert_eq!(
            entry["name"],
            format!("{} {}", owner.first_name, owner.last_name)
        );
        assert_eq!(entry["email"], owner.email.as_str());
        assert_eq!(entry["archived"], owner.archived);
    }
    assert!(
        listed.last().is_some_and(|o| o["archived"] == true),
        "those who left come last"
    );

    // "My accounts": the filter keeps exactly the customers whose owner is the one asked for.
    let everyone = json(&server, "/customers?limit=500", &key).await;
    let everyone = everyone["customers"].as_array().expect("customers").clone();
    let owner = &portal.owners[0];
    let expected: BTreeSet<String> = everyone
        .iter()
        .filter(|c| id_of(&c["owner"]) == Some(owner.id))
        .map(|c| c["id"].as_str().expect("id").to_owned())
        .collect();
    assert!(!expected.is_empty(), "the first owner owns some customers");
    for customer in &everyone {
        let id: u64 = customer["id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("number");
        let named = portal.contacts[&id].property(OWNER_PROPERTY);
        assert_eq!(
            customer["owner"]["id"].as_str(),
            named,
            "customer {id} names the owner HubSpot has"
        );
    }
    let mine = json(
        &server,
        &format!("/customers?owner={}&limit=500", owner.id),
        &key,
    )
    .await;
    let mine: BTreeSet<String> = mine["customers"]
        .as_array()
        .expect("customers")
        .iter()
        .map(|c| {
            assert_eq!(
                c["owner"]["name"],
                format!("{} {}", owner.first_name, owner.last_name)
            );
            c["id"].as_str().expect("id").to_owned()
        })
        .collect();
    assert_eq!(mine, expected);
    let nobody = json(&server, "/customers?owner=1", &key).await;
    assert_eq!(nobody["customers"], json!([]));
    assert_eq!(server.get("/customers?owner=me", &key).await.status(), 400);

    // One customer's and one company's answers name their owner.
    let id = expected.first().expect("one");
    let customer = json(&server, &format!("/customers/{id}"), &key).await;
    assert_eq!(customer["owner"]["email"], owner.email.as_str());
    let company = portal
        .companies
        .values()
        .find(|c| !c.is_archived() && c.property(OWNER_PROPERTY).is_some())
        .expect("an owned company");
    let answer = json(&server, &format!("/companies/{}", company.id), &key).await;
    assert_eq!(
        answer["owner"]["id"].as_str(),
        company.property(OWNER_PROPERTY)
    );

    // A rename in HubSpot reaches the answers with the next sync; another portal sees none.
    let mut owners = portal.owners.clone();
    owners[0].last_name = "Renamed".to_owned();
    fake.set_owners(owners);
    full_sync(&server, &key).await;
    let customer = json(&server, &format!("/customers/{id}"), &key).await;
    assert_eq!(
        customer["owner"]["name"],
        format!("{} Renamed", owner.first_name)
    );
    let other = server.key(portal.portal_id + 1).await;
    assert_eq!(json(&server, "/owners", &other).await["owners"], json!([]));
}

on_both_backends!(a_sync_names_every_records_owner_and_lists_by_owner);
