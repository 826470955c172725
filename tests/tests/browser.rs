//! The dashboard end to end in headless Chromium (Debian's `chromium` and `chromium-driver`):
//! the demo serves it; the overview's band counts match `GET /scores/summary`, a customer's
//! factors match its score report, a weight change's preview matches `POST /scoring/preview`
//! and saving it makes a new version. Screenshots go to `docs/screenshots/`.
//!
//! Without `chromedriver` on the PATH the test is skipped, unless `CI=true`: then it fails.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use healthscore_api::commands::demo::{DemoArgs, DemoReady, demo_serving};
use serde_json::{Value, json};

/// A `chromedriver` on a free port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn start_driver() -> Option<Driver> {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    Some(Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    })
}

async fn browser(driver: &Driver) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"]}),
    );
    for _ in 0..100 {
        // chromedriver speaks plain HTTP on localhost: no TLS stack needed.
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let connected = ClientBuilder::new(connector)
            .capabilities(capabilities.clone())
            .connect(&driver.url)
            .await;
        if let Ok(client) = connected {
            return client;
        }
        // chromedriver is still starting.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not accept a session at {}", driver.url);
}

async fn api(ready: &DemoReady, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}{path}", ready.base))
        .bearer_auth(&ready.key)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json")
}

/// The text of the first element matching `css`, once there is one (at most 60 s; a page's
/// requests are computed from the log by a debug build on a busy machine).
async fn text(client: &Client, css: &str) -> String {
    match client
        .wait()
        .at_most(Duration::from_secs(60))
        .for_element(Locator::Css(css))
        .await
    {
        // A page drawn again between finding and reading: read the new one.
        Ok(element) => match element.text().await {
            Ok(text) => text,
            Err(_) => Box::pin(text(client, css)).await,
        },
        Err(error) => {
            let page = client
                .execute("return document.querySelector('main').innerText;", vec![])
                .await
                .unwrap_or_default();
            let url = client
                .current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default();
            panic!("{css}: {error}; the page at {url} shows: {page}");
        }
    }
}

async fn screenshot(client: &Client, name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    let path = dir.join(name);
    std::fs::write(&path, client.screenshot().await.expect("screenshot")).expect("write");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_what_the_api_says() {
    let Some(driver) = start_driver() else {
        assert!(
            std::env::var("CI").is_err(),
            "CI needs chromedriver (apt-get install chromium chromium-driver)"
        );
        eprintln!("skipped: no chromedriver on the PATH");
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let args = DemoArgs {
        database_url: format!("sqlite://{}", dir.path().join("demo.db").display()),
        bind: format!("127.0.0.1:{}", free_port())
            .parse()
            .expect("address"),
        contacts: 2_000,
        exit: false,
        still: true,
    };
    let (tell, told) = tokio::sync::oneshot::channel();
    let demo = tokio::spawn(demo_serving(args, Some(tell)));
    let ready = told.await.expect("the demo serves");
    let client = browser(&driver).await;

    // Overview: the band counts are the API's.
    client
        .goto(&format!("{}/#key={}", ready.base, ready.key))
        .await
        .expect("open the dashboard");
    let summary = api(&ready, "/scores/summary").await;
    for band in ["healthy", "at_risk", "critical"] {
        let shown = text(&client, &format!("[data-band={band}] .count")).await;
        assert_eq!(shown, summary["bands"][band].to_string(), "{band}");
    }
    text(&client, "#watch-list tbody tr").await;
    let first_paint = client
        .execute(
            "const p = performance.getEntriesByName('first-contentful-paint')[0]; return p ? p.startTime : null;",
            vec![],
        )
        .await
        .expect("paint timing");
    let overview = screenshot(&client, "overview.png").await;
    println!(
        "first contentful paint: {first_paint} ms; {}",
        overview.display()
    );
    assert!(
        client.current_url().await.expect("url").fragment() == Some("/"),
        "the key leaves the URL"
    );

    // A customer: every factor's points are its report's.
    let link = client
        .find(Locator::Css("#watch-list tbody tr a"))
        .await
        .expect("a customer");
    let href = link.attr("href").await.expect("href").expect("a link");
    let id = href.trim_start_matches("#/customer/").to_owned();
    link.click().await.expect("open the customer");
    text(&client, "#factors tbody tr").await;
    let report = api(&ready, &format!("/customers/{id}/score")).await;
    for factor in report["factors"].as_array().expect("factors") {
        let name = factor["factor"].as_str().expect("name");
        let cells = client
            .find_all(Locator::Css(&format!("tr[data-factor={name}] td")))
            .await
            .expect("cells");
        let points = cells[3].text().await.expect("points");
        let expected = factor["contribution"]
            .as_f64()
            .map_or("–".to_owned(), |c| format!("{c:.2}"));
        assert_eq!(points, expected, "{name}");
    }
    let score = text(&client, "#score").await;
    let expected = report["score"].as_f64().map(|s| format!("{s:.1}"));
    assert_eq!(Some(score), expected, "the score shown is the report's");
    let customer = screenshot(&client, "customer.png").await;

    // Scoring: a weight change's preview is the API's, and saving makes version 2.
    client
        .goto(&format!("{}/#/scoring", ready.base))
        .await
        .expect("open scoring");
    let candidate = [
        ("engagement_recency", 40),
        ("deal_momentum", 20),
        ("lifecycle_stage", 10),
        ("activity_frequency", 10),
        ("deal_value", 20),
    ];
    for (factor, weight) in candidate {
        let input = client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Id(&format!("w-{factor}")))
            .await
            .expect("weight input");
        input.clear().await.expect("clear");
        input.send_keys(&weight.to_string()).await.expect("type");
    }
    client
        .find(Locator::Id("preview-button"))
        .await
        .expect("preview")
        .click()
        .await
        .expect("click");
    text(&client, "#preview-bands").await;
    let weights: serde_json::Map<String, Value> = candidate
        .iter()
        .map(|(f, w)| ((*f).to_owned(), json!(w)))
        .collect();
    let config = api(&ready, "/scoring/config").await["config"].clone();
    let mut body = config.clone();
    body["weights"] = Value::Object(weights);
    let preview: Value = reqwest::Client::new()
        .post(format!("{}/scoring/preview", ready.base))
        .bearer_auth(&ready.key)
        .json(&body)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    for band in ["healthy", "at_risk", "critical"] {
        let shown = text(&client, &format!("[data-candidate={band}]")).await;
        assert_eq!(
            shown,
            preview["bands_candidate"][band].to_string(),
            "{band}"
        );
    }
    let scoring = screenshot(&client, "scoring.png").await;
    client
        .find(Locator::Id("save-button"))
        .await
        .expect("save")
        .click()
        .await
        .expect("click");
    let saved = text(&client, "#preview .ok").await;
    assert!(saved.contains("version 2"), "{saved}");
    let now = api(&ready, "/scoring/config").await;
    assert_eq!(now["version"], 2);
    assert_eq!(now["config"]["weights"]["engagement_recency"], 40);
    // "My accounts": the watch list of one owner names only them.
    let owners = api(&ready, "/owners").await;
    let owner = &owners["owners"][1];
    let name = owner["name"].as_str().expect("a name");
    client
        .goto(&format!("{}/#/", ready.base))
        .await
        .expect("back to the overview");
    text(&client, "#watch-list tbody tr").await;
    // The overview may be drawn again between finding the list and choosing: choose on the
    // page as it is then.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while client
        .execute(
            "const s = document.getElementById('owner-filter'); \
             const list = document.getElementById('watch-list'); \
             if (!s || !list) return false; \
             s.value = arguments[0]; list.remove(); s.dispatchEvent(new Event('change')); \
             return true;",
            vec![owner["id"].clone()],
        )
        .await
        .expect("choose an owner")
        != Value::Bool(true)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no owner filter to choose from"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    text(&client, "#watch-list tbody tr").await;
    // Read in one go: the list may be drawn again while it is read.
    let shown = client
        .execute(
            "return [...document.querySelectorAll('#watch-list tbody tr td:nth-child(4)')].map((td) => td.textContent);",
            vec![],
        )
        .await
        .expect("owner cells");
    let shown = shown.as_array().expect("a list");
    assert!(!shown.is_empty());
    for cell in shown {
        assert_eq!(cell, name, "only their customers");
    }

    // Sync: the portal's connection, as the demo made it.
    client
        .goto(&format!("{}/#/sync", ready.base))
        .await
        .expect("open sync");
    let connection = text(&client, "#connection[data-status=connected]").await;
    assert!(
        connection.contains("Connected to HubSpot by private app"),
        "{connection}"
    );
    let sync = screenshot(&client, "sync.png").await;
    println!(
        "screenshots: {}, {}, {}, {}",
        overview.display(),
        customer.display(),
        scoring.display(),
        sync.display()
    );

    client.close().await.expect("close the browser");
    demo.abort();
}
