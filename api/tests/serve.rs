//! `healthscore serve` with no configuration: creates `healthscore.db` in its working directory,
//! answers `/healthz` and `/readyz`, runs without transparent huge pages, and stops cleanly on
//! SIGTERM. The same against PostgreSQL with `DATABASE_URL` (when `TEST_DATABASE_URL` is set).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BINARY: &str = env!("CARGO_BIN_EXE_healthscore");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn wait_ok(url: &str, child: &mut Child) -> reqwest::StatusCode {
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = client.get(url).send().await {
            return response.status();
        }
        assert!(
            child.try_wait().expect("wait").is_none(),
            "serve exited early"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "{url} never answered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `serve` in `dir`, configured by nothing but `DATABASE_URL` (when given) and `extra`.
fn serve(
    dir: &std::path::Path,
    port: u16,
    database_url: Option<&str>,
    extra: &[(&str, &str)],
) -> Command {
    let mut command = Command::new(BINARY);
    command
        .arg("serve")
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("HUBSPOT_ACCESS_TOKEN")
        .env_remove("HEALTHSCORE_SECRET_KEY")
        .env("HEALTHSCORE_BIND", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(url) = database_url {
        command.env("DATABASE_URL", url);
    }
    command.envs(extra.iter().copied());
    command
}

async fn serves_health_and_readiness(dir: &std::path::Path, database_url: Option<&str>) {
    let port = free_port();
    // PostgreSQL instances share the key that seals HubSpot tokens through the environment.
    let key = [(
        "HEALTHSCORE_SECRET_KEY",
        "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=",
    )];
    let extra: &[(&str, &str)] = if database_url.is_some() { &key } else { &[] };
    let mut child = serve(dir, port, database_url, extra)
        .spawn()
        .expect("spawn serve");
    let base = format!("http://127.0.0.1:{port}");
    assert_eq!(wait_ok(&format!("{base}/healthz"), &mut child).await, 200);
    assert_eq!(wait_ok(&format!("{base}/readyz"), &mut child).await, 200);
    // The process opted out of transparent huge pages (`main.rs`); kernels since 5.0 say so.
    #[cfg(target_os = "linux")]
    if let Some(line) = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
        .expect("status")
        .lines()
        .find(|line| line.starts_with("THP_enabled:"))
    {
        assert_eq!(line.split_whitespace().nth(1), Some("0"), "{line}");
    }
    let unauthenticated = reqwest::get(format!("{base}/customers"))
        .await
        .expect("get");
    assert_eq!(unauthenticated.status(), 401);
    if database_url.is_none() {
        assert!(
            dir.join("healthscore.db").exists(),
            "the default database is created"
        );
        assert!(
            dir.join("healthscore.db.key").exists(),
            "and the key that seals HubSpot tokens beside it"
        );
    }
    // SIGTERM: graceful shutdown, exit status 0.
    let pid = child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "serve ignored SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "graceful shutdown exits 0: {status}");
}

#[tokio::test]
async fn sqlite_serve_with_no_configuration() {
    let dir = tempfile::tempdir().expect("dir");
    serves_health_and_readiness(dir.path(), None).await;
}

#[tokio::test]
async fn postgres_serve_with_database_url() {
    let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but TEST_DATABASE_URL is unset"
        );
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    serves_health_and_readiness(dir.path(), Some(&url)).await;
    // Without the key, start fails and says what to set.
    let output = serve(dir.path(), free_port(), Some(&url), &[])
        .stderr(Stdio::piped())
        .output()
        .expect("run serve");
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("set HEALTHSCORE_SECRET_KEY"), "{said}");
}
