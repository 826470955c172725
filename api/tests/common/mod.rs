//! What the tests that drive the real `healthscore` binary share: starting `serve` on a port,
//! signed webhook deliveries, waiting with a deadline, and a PostgreSQL database of their own.

#![allow(dead_code)] // Each test binary uses its own part.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use healthscore_domain::hubspot::crm_webhook_headers;
use healthscore_projections::Db;

pub const BINARY: &str = env!("CARGO_BIN_EXE_healthscore");
pub const SECRET: &str = "binary-test-client-secret";
pub const PUBLIC_URL: &str = "https://scores.example.com";
pub const VAULT_KEY: &str = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=";

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A `serve` process; killed with SIGKILL when dropped.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub base: String,
}

impl Server {
    /// Starts `serve` on `port` against `database_url` and waits until it answers `/healthz`.
    pub async fn start(database_url: &str, port: u16) -> Self {
        Self::start_with(database_url, port, &[]).await
    }

    /// [`Server::start`] with more environment variables.
    pub async fn start_with(database_url: &str, port: u16, env: &[(&str, &str)]) -> Self {
        Self::start_under(&[], database_url, port, env).await
    }

    /// [`Server::start_with`] run by `launcher` (a program and its leading arguments, to which
    /// the binary and `serve` are appended), e.g. a shell that sets resource limits first.
    pub async fn start_under(
        launcher: &[&str],
        database_url: &str,
        port: u16,
        env: &[(&str, &str)],
    ) -> Self {
        let mut command = match launcher.split_first() {
            Some((program, arguments)) => {
                let mut command = Command::new(program);
                command.args(arguments).arg(BINARY);
                command
            }
            None => Command::new(BINARY),
        };
        let mut child = command
            .arg("serve")
            .envs(env.iter().copied())
            .env("DATABASE_URL", database_url)
            .env("HEALTHSCORE_BIND", format!("127.0.0.1:{port}"))
            .env("HUBSPOT_CLIENT_SECRET", SECRET)
            .env("HEALTHSCORE_PUBLIC_URL", PUBLIC_URL)
            .env("HEALTHSCORE_SECRET_KEY", VAULT_KEY)
            .env("HEALTHSCORE_KEY_RATE_LIMIT", "0")
            .env_remove("HUBSPOT_ACCESS_TOKEN")
            .env_remove("HEALTHSCORE_METRICS_TOKEN")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(if std::env::var("KILL_TEST_LOG").is_ok() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .expect("spawn serve");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while reqwest::get(format!("{base}/healthz")).await.is_err() {
            assert!(child.try_wait().expect("wait").is_none(), "serve exited");
            assert!(
                tokio::time::Instant::now() < deadline,
                "serve never answered"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { child, port, base }
    }

    /// SIGKILL, and waits for the process to be gone.
    pub fn kill(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reap");
    }

    /// SIGTERM, and waits for a clean exit.
    pub async fn stop(mut self) {
        let signalled = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(signalled.success());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "serve stops cleanly: {status}");
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "serve never stopped"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A value of the server's Prometheus metrics (unlabelled series only).
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let text = reqwest::get(format!("{}/metrics", self.base))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .filter_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .find_map(|value| value.trim().parse().ok())
    }

    /// Waits until the projector and the score refresher have caught up with the log.
    pub async fn caught_up(&self) {
        until("the projector and the refresher caught up", || async {
            self.metric("healthscore_projector_lag_events").await == Some(0.0)
                && self.metric("healthscore_scores_lag_events").await == Some(0.0)
        })
        .await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `healthscore projections rebuild` on `database_url`, asserting it succeeds.
pub fn rebuild(database_url: &str) {
    let output = Command::new(BINARY)
        .args(["projections", "rebuild"])
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("rebuild");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// POSTs `body` to `base`'s webhook endpoint, signed as HubSpot signs CRM webhooks; the status,
/// or None when the server did not answer.
pub async fn deliver(client: &reqwest::Client, base: &str, body: &str) -> Option<u16> {
    let now = chrono::Utc::now().timestamp_millis();
    let url = format!("{PUBLIC_URL}/webhooks/hubspot");
    let mut request = client
        .post(format!("{base}/webhooks/hubspot"))
        .header("content-type", "application/json");
    for (name, value) in crm_webhook_headers(SECRET, &url, body.as_bytes(), now) {
        request = request.header(name, value);
    }
    let response = request.body(body.to_string()).send().await.ok()?;
    let status = response.status().as_u16();
    // The answer counts only once it has been read whole.
    response.bytes().await.ok()?;
    Some(status)
}

/// Polls `done` until it holds; fails the test after a minute.
pub async fn until<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A PostgreSQL database of its own under `TEST_DATABASE_URL`, dropped by [`TestDatabase::drop_it`].
/// None when the variable is unset (outside CI, where it must be set).
pub struct TestDatabase {
    admin: Db,
    name: String,
    pub url: String,
}

impl TestDatabase {
    pub async fn create(prefix: &str) -> Option<Self> {
        let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but TEST_DATABASE_URL is unset"
            );
            return None;
        };
        let admin = Db::connect(&admin_url).await.expect("admin");
        let Db::Postgres(pool) = &admin else {
            panic!("TEST_DATABASE_URL must be postgres://");
        };
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(pool)
            .await
            .expect("create database");
        let base = admin_url.split('?').next().unwrap_or(&admin_url);
        let root = &base[..base.rfind('/').expect("a database path")];
        let url = format!("{root}/{name}");
        Some(Self { admin, name, url })
    }

    /// Cuts the database off (its sessions terminated, new ones refused) or lets it back in:
    /// to a server using it, the database has become unreachable, then reachable again.
    pub async fn reachable(&self, reachable: bool) {
        let Db::Postgres(pool) = &self.admin else {
            unreachable!("created on PostgreSQL")
        };
        sqlx::query(&format!(
            "ALTER DATABASE {} ALLOW_CONNECTIONS {reachable}",
            self.name
        ))
        .execute(pool)
        .await
        .expect("alter database");
        if !reachable {
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
            )
            .bind(&self.name)
            .execute(pool)
            .await
            .expect("terminate sessions");
        }
    }

    pub async fn drop_it(self) {
        if let Db::Postgres(pool) = &self.admin {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(pool)
            .await;
        }
        self.admin.close().await;
    }
}
