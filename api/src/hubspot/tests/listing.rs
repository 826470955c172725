//! Full sync against the fake: paging, properties, associations, archived records, reads.

use std::collections::{BTreeSet, HashSet};

use super::*;

const CONTACT_PROPERTIES: [&str; 3] = ["email", "lifecyclestage", "hs_lead_status"];

#[tokio::test]
async fn pages_through_every_live_contact_once_with_deduplicated_associations() {
    let (fake, client) = start(fake_config()).await;
    let portal = fake.portal();
    let linked = [ObjectType::Company, ObjectType::Deal];
    let records = list_all(&client, ObjectType::Contact, &[], &linked, false).await;

    let listed: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
    assert_eq!(listed, ids(&portal, ObjectType::Contact, false));
    assert!(
        client.stats().requests >= 3,
        "230 contacts take several pages"
    );
    let mut links = 0;
    for record in &records {
        let object = &portal.contacts[&record.id.parse::<u64>().unwrap()];
        for kind in linked {
            let got = record.associations.get(&kind).cloned().unwrap_or_default();
            let unique: HashSet<&String> = got.iter().collect();
            assert_eq!(
                unique.len(),
                got.len(),
                "{} ids repeated on {}",
                kind.plural(),
                record.id
            );
            let got: BTreeSet<String> = got.into_iter().collect();
            assert_eq!(
                got,
                live_links(&portal, object, kind),
                "contact {}",
                record.id
            );
            links += got.len();
        }
    }
    assert!(links > 0, "the generated portal has associations");
}

#[tokio::test]
async fn requested_properties_come_back_and_nulls_are_dropped() {
    let (fake, client) = start(fake_config()).await;
    let portal = fake.portal();
    let records = list_all(
        &client,
        ObjectType::Contact,
        &CONTACT_PROPERTIES,
        &[],
        false,
    )
    .await;
    let always = ["createdate", "hs_object_id", "lastmodifieddate"];
    for record in &records {
        let object = &portal.contacts[&record.id.parse::<u64>().unwrap()];
        for name in CONTACT_PROPERTIES {
            assert_eq!(
                record.properties.get(name).map(String::as_str),
                object.property(name)
            );
        }
        assert!(
            record
                .properties
                .keys()
                .all(|name| CONTACT_PROPERTIES.contains(&name.as_str())
                    || always.contains(&name.as_str())),
            "unexpected properties on {}: {:?}",
            record.id,
            record.properties.keys()
        );
        assert!(!record.archived);
    }
    assert!(records.iter().any(|r| r.properties.contains_key("email")));
}

#[tokio::test]
async fn the_archived_listing_holds_exactly_the_archived_records() {
    let (fake, client) = start(fake_config()).await;
    let victim = ids(&fake.portal(), ObjectType::Deal, false)[3].clone();
    fake.archive(ObjectType::Deal, &victim).unwrap();
    let portal = fake.portal();

    let archived = list_all(&client, ObjectType::Deal, &["dealname"], &[], true).await;
    let archived_ids: Vec<String> = archived.iter().map(|r| r.id.clone()).collect();
    assert_eq!(archived_ids, ids(&portal, ObjectType::Deal, true));
    assert!(archived_ids.contains(&victim));
    assert!(archived.iter().all(|r| r.archived));

    let live = list_all(&client, ObjectType::Deal, &["dealname"], &[], false).await;
    assert!(live.iter().all(|r| r.id != victim && !r.archived));
}

#[tokio::test]
async fn reads_one_record_with_its_associations_and_misses_unknown_ids() {
    let (fake, client) = start(fake_config()).await;
    let portal = fake.portal();
    let object = portal
        .deals
        .values()
        .find(|d| !d.is_archived() && !live_links(&portal, d, ObjectType::Company).is_empty())
        .unwrap();
    let id = object.id.to_string();

    let record = client
        .get_object(
            ObjectType::Deal,
            &id,
            &["dealname", "amount"],
            &[ObjectType::Company],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.id, id);
    assert_eq!(
        record.properties.get("dealname").map(String::as_str),
        object.property("dealname")
    );
    let companies: BTreeSet<String> = record.associations[&ObjectType::Company]
        .iter()
        .cloned()
        .collect();
    assert_eq!(companies, live_links(&portal, object, ObjectType::Company));

    let missing = client
        .get_object(ObjectType::Deal, "42", &[], &[])
        .await
        .unwrap();
    assert_eq!(missing, None);
    let odd = client
        .get_object(ObjectType::Deal, "../contacts", &[], &[])
        .await
        .unwrap();
    assert_eq!(odd, None);
}

#[tokio::test]
async fn reads_the_portal_id_and_the_deal_pipeline() {
    let (fake, client) = start(fake_config()).await;
    assert_eq!(
        client.account_portal_id().await.unwrap(),
        fake.portal().portal_id
    );

    let pipelines = client.deal_pipelines().await.unwrap();
    let stages = &pipelines[0].stages;
    assert_eq!(pipelines[0].id, "default");
    assert!(stages.len() >= 3);
    assert!(stages.iter().any(|s| s.is_closed) && stages.iter().any(|s| !s.is_closed));
    assert!(
        stages
            .iter()
            .all(|s| s.probability.is_some_and(|p| (0.0..=1.0).contains(&p)))
    );
    assert!(
        stages
            .windows(2)
            .all(|w| w[0].display_order <= w[1].display_order)
    );
}
