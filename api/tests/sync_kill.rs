//! A full sync killed with SIGKILL mid-run, then run again, completes the data with no event
//! recorded twice: the same events as one uninterrupted sync. Drives the real `healthscore`
//! binary against the fake HubSpot, on SQLite and (with `TEST_DATABASE_URL`) PostgreSQL.

use std::process::{Command, Stdio};
use std::time::Duration;

use healthscore_fixtures::fake_hubspot::{FakeConfig, FakeHubSpot, Faults, RunningFake};
use healthscore_projections::{Db, on_reader};

mod common;

use common::{BINARY, TestDatabase};

fn sync_command(fake: &RunningFake, database_url: &str) -> Command {
    let mut command = Command::new(BINARY);
    command
        .args(["sync", "full"])
        .env("DATABASE_URL", database_url)
        .env("HUBSPOT_ACCESS_TOKEN", fake.token())
        .env("HUBSPOT_API_BASE", fake.base_url())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

async fn count(db: &Db, sql: &str) -> i64 {
    on_reader!(db, pool => {
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(pool).await.expect("count");
        n
    })
}

/// (events per type on CRM-object streams, as sorted lines) of a database.
async fn crm_event_counts(db: &Db) -> Vec<(String, i64)> {
    on_reader!(db, pool => {
        sqlx::query_as(
            "SELECT event_type, COUNT(*) FROM events WHERE stream_type = 'crm_object' \
             GROUP BY event_type ORDER BY event_type",
        )
        .fetch_all(pool)
        .await
        .expect("counts")
    })
}

async fn a_killed_sync_completes_on_rerun(url: String, clean_url: String) {
    let fake = FakeHubSpot::start(FakeConfig {
        contacts: 1_500,
        companies: 300,
        deals: 600,
        faults: Faults {
            latency: Duration::from_millis(60),
            ..Faults::default()
        },
        ..FakeConfig::default()
    })
    .await
    .expect("fake");
    let db = Db::connect_and_migrate(&url).await.expect("db");

    let mut first = sync_command(&fake, &url).spawn().expect("spawn");
    let pages = "SELECT COUNT(*) FROM events WHERE event_type = 'SyncPageRecorded'";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while count(&db, pages).await < 4 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sync never got going"
        );
        assert!(
            first.try_wait().expect("wait").is_none(),
            "the sync ended before the kill"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.kill().expect("SIGKILL");
    let _ = first.wait();
    let done = "SELECT COUNT(*) FROM events WHERE event_type = 'SyncCompleted'";
    assert_eq!(count(&db, done).await, 0, "killed before completing");

    let rerun = sync_command(&fake, &url).output().expect("rerun");
    let stdout = String::from_utf8_lossy(&rerun.stdout);
    assert!(
        rerun.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&rerun.stderr)
    );
    assert!(
        stdout.contains("(resumed)"),
        "the rerun resumed the killed run: {stdout}"
    );

    let created = "SELECT COUNT(*) FROM events WHERE event_type = 'ObjectCreated'";
    let streams = "SELECT COUNT(DISTINCT stream_id) FROM events WHERE event_type = 'ObjectCreated'";
    assert_eq!(count(&db, created).await, 2_400, "every object, once");
    assert_eq!(count(&db, streams).await, 2_400);

    let clean = Db::connect_and_migrate(&clean_url).await.expect("clean db");
    let once = sync_command(&fake, &clean_url)
        .output()
        .expect("clean sync");
    assert!(once.status.success());
    assert_eq!(
        crm_event_counts(&db).await,
        crm_event_counts(&clean).await,
        "interrupted + resumed records exactly what one uninterrupted sync records"
    );
    db.close().await;
    clean.close().await;
    fake.shutdown().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_killed_sync_completes_on_rerun() {
    let dir = tempfile::tempdir().expect("dir");
    let url = |name: &str| format!("sqlite://{}", dir.path().join(name).display());
    a_killed_sync_completes_on_rerun(url("killed.db"), url("clean.db")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_killed_sync_completes_on_rerun() {
    let (Some(killed), Some(clean)) = (
        TestDatabase::create("hs_kill").await,
        TestDatabase::create("hs_kill").await,
    ) else {
        return;
    };
    a_killed_sync_completes_on_rerun(killed.url.clone(), clean.url.clone()).await;
    // Dropped like every other test database, so runs leave none behind.
    killed.drop_it().await;
    clean.drop_it().await;
}
