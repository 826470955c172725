//! The real `healthscore` binary killed with SIGKILL between deciding an alert and delivering
//! it (the receiver is down), restarted with the receiver back: the alert arrives once, signed,
//! and a `projections rebuild` plus another restart decides and sends nothing again. On SQLite
//! and (with `TEST_DATABASE_URL`) PostgreSQL.

mod common;

use common::{PUBLIC_URL, SECRET, Server, TestDatabase, free_port, rebuild, until};

use healthscore_domain::hubspot::crm_webhook_headers;
use healthscore_domain::ids::PortalId;
use healthscore_fixtures::alert_receiver::AlertReceiver;
use healthscore_projections::{Db, api_keys, on_reader};
use serde_json::{Value, json};

const PORTAL: u64 = 7373;

async fn serve(database_url: &str) -> Server {
    Server::start_with(
        database_url,
        free_port(),
        &[("HEALTHSCORE_ALERT_RETRY_BASE", "100ms")],
    )
    .await
}

async fn count(db: &Db, event_type: &str) -> i64 {
    on_reader!(db, pool => {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM events WHERE event_type = $1")
            .bind(event_type)
            .fetch_one(pool)
            .await
            .expect("count");
        n
    })
}

fn change(id: u64, occurred: i64, name: &str, value: &str) -> Value {
    json!({
        "eventId": id, "subscriptionId": 1, "portalId": PORTAL, "appId": 1,
        "occurredAt": occurred, "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0, "objectId": 1, "propertyName": name, "propertyValue": value,
    })
}

async fn deliver(server: &Server, events: Value) {
    let body = events.to_string();
    let url = format!("{PUBLIC_URL}/webhooks/hubspot");
    let mut request = reqwest::Client::new()
        .post(format!("{}/webhooks/hubspot", server.base))
        .header("content-type", "application/json");
    let now = chrono::Utc::now().timestamp_millis();
    for (name, value) in crm_webhook_headers(SECRET, &url, body.as_bytes(), now) {
        request = request.header(name, value);
    }
    let response = request.body(body).send().await.expect("deliver");
    assert_eq!(response.status(), 200);
}

async fn band(server: &Server, key: &str) -> Value {
    let score: Value = reqwest::Client::new()
        .get(format!("{}/customers/1/score", server.base))
        .bearer_auth(key)
        .send()
        .await
        .expect("score")
        .json()
        .await
        .expect("json");
    score["band"].clone()
}

async fn an_alert_survives_a_kill_between_decision_and_delivery(url: String) {
    let db = Db::connect_and_migrate(&url).await.expect("db");
    let key = api_keys::create(&db, PortalId(PORTAL), "kill test")
        .await
        .expect("key")
        .key;
    let receiver = AlertReceiver::start().await.expect("receiver");
    receiver.set_up(false);
    let client = reqwest::Client::new();

    let first = serve(&url).await;
    let created: Value = client
        .post(format!("{}/alerts/destinations", first.base))
        .bearer_auth(&key)
        .json(&json!({"kind": "webhook", "url": receiver.url("hook")}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    receiver.set_secret(created["secret"].as_str().expect("secret"));
    let rules = client
        .put(format!("{}/alerts/rules", first.base))
        .bearer_auth(&key)
        .json(&json!({"rules": [{"on": "band_worsened", "destination": created["id"]}]}))
        .send()
        .await
        .expect("rules");
    assert_eq!(rules.status(), 200);

    let now = chrono::Utc::now();
    let ms = |d: chrono::Duration| (now + d).timestamp_millis();
    let day = chrono::Duration::days(1);
    let mut created_event = change(1, ms(-day * 2), "email", "k@example.com");
    created_event["subscriptionType"] = json!("contact.creation");
    if let Some(fields) = created_event.as_object_mut() {
        fields.remove("propertyName");
        fields.remove("propertyValue");
    }
    deliver(
        &first,
        json!([
            created_event,
            change(2, ms(-day * 2), "email", "k@example.com"),
            change(3, ms(-day), "lifecyclestage", "evangelist"),
            change(
                4,
                ms(-chrono::Duration::hours(1)),
                "hs_last_sales_activity_date",
                &(now - chrono::Duration::hours(1)).to_rfc3339()
            ),
        ]),
    )
    .await;
    // Recorded by the refresher (an API read alone computes the band on the fly).
    until("healthy recorded", || async {
        band(&first, &key).await == "healthy" && count(&db, "CustomerBandChanged").await == 1
    })
    .await;
    deliver(
        &first,
        json!([
            change(
                5,
                ms(chrono::Duration::zero()),
                "lifecyclestage",
                "subscriber"
            ),
            change(
                6,
                ms(chrono::Duration::zero()),
                "hs_last_sales_activity_date",
                &(now - day * 200).to_rfc3339()
            ),
        ]),
    )
    .await;
    until("critical", || async {
        band(&first, &key).await == "critical"
    })
    .await;
    until("decided and attempted", || async {
        count(&db, "AlertRaised").await == 1 && count(&db, "DeliveryFailed").await >= 1
    })
    .await;
    drop(first); // SIGKILL
    assert_eq!(count(&db, "DeliverySucceeded").await, 0);

    receiver.set_up(true);
    let second = serve(&url).await;
    until("delivered after the restart", || async {
        count(&db, "DeliverySucceeded").await == 1
    })
    .await;
    let accepted = receiver.accepted();
    assert_eq!(accepted.len(), 1, "{accepted:#?}");
    assert!(accepted[0].signature_valid);
    assert_eq!(accepted[0].body["type"], "health.band_worsened");
    assert_eq!(accepted[0].body["to"]["band"], "critical");
    let id = accepted[0].id.clone();
    assert!(receiver.received().iter().all(|r| r.id == id));
    drop(second);

    // A rebuild empties the alerts table; the next server folds it again and decides nothing.
    rebuild(&url);
    let third = serve(&url).await;
    let head = "SELECT MAX(position) FROM events";
    until("the alerter caught up again", || async {
        on_reader!(&db, pool => {
            let (head,): (Option<i64>,) = sqlx::query_as(head).fetch_one(pool).await.expect("head");
            let (at,): (Option<i64>,) = sqlx::query_as(
                "SELECT MAX(position) FROM projector_checkpoints WHERE projector = 'alerter'",
            )
            .fetch_one(pool)
            .await
            .expect("checkpoint");
            at.is_some() && at >= head
        })
    })
    .await;
    let listed: Value = client
        .get(format!("{}/alerts", third.base))
        .bearer_auth(&key)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(listed["alerts"].as_array().map(Vec::len), Some(1));
    assert_eq!(listed["alerts"][0]["state"], "delivered");
    assert_eq!(count(&db, "AlertRaised").await, 1, "decided once");
    assert_eq!(receiver.accepted().len(), 1, "sent once");
    drop(third);
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_an_alert_survives_a_kill_between_decision_and_delivery() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("alerts.db").display());
    an_alert_survives_a_kill_between_decision_and_delivery(url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_alert_survives_a_kill_between_decision_and_delivery() {
    let Some(database) = TestDatabase::create("hs_kill").await else {
        return;
    };
    an_alert_survives_a_kill_between_decision_and_delivery(database.url.clone()).await;
    database.drop_it().await;
}
