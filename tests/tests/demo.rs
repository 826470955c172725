//! `healthscore demo`: its portal looks like a real book of business, and it shows the same
//! thing every time it runs.

use healthscore_api::commands::demo::{DemoArgs, demo};
use serde_json::Value;

fn share(summary: &Value, band: &str) -> f64 {
    let count = summary["bands"][band].as_f64().unwrap_or_default();
    count / summary["customers"].as_f64().unwrap_or(1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_shows_a_real_looking_band_mix_the_same_every_time() {
    let dir = tempfile::tempdir().expect("temp dir");
    let args = DemoArgs {
        database_url: format!("sqlite://{}", dir.path().join("demo.db").display()),
        bind: "127.0.0.1:0".parse().expect("address"),
        contacts: 2_000,
        exit: true,
        still: true,
    };
    let first = demo(args.clone()).await.expect("the demo runs");
    let summary = &first.summary;
    let (healthy, at_risk, critical) = (
        share(summary, "healthy"),
        share(summary, "at_risk"),
        share(summary, "critical"),
    );
    assert!(
        (0.40..=0.60).contains(&healthy),
        "healthy {healthy:.3}: {summary}"
    );
    assert!(
        (0.20..=0.35).contains(&at_risk),
        "at risk {at_risk:.3}: {summary}"
    );
    assert!(
        (0.10..=0.25).contains(&critical),
        "critical {critical:.3}: {summary}"
    );
    let insufficient = summary["insufficient_data"].as_u64().unwrap_or_default();
    assert!(
        (1..=60).contains(&insufficient),
        "a few too new to score: {summary}"
    );

    let second = demo(args).await.expect("the demo runs again");
    assert_eq!(
        second.synced_events, first.synced_events,
        "a second run starts afresh and records the same"
    );
    assert_eq!(second.summary["bands"], first.summary["bands"]);
    assert_eq!(second.summary["customers"], first.summary["customers"]);
}
