//! Shared helpers for the integration tests: a fresh database per test on each backend.
//!
//! Every story runs on SQLite always, and on PostgreSQL when `TEST_DATABASE_URL` points at a
//! server whose user may create databases. With `CI=true` a missing PostgreSQL fails the test
//! instead of skipping it, so CI can never pass without exercising both backends.

use std::future::Future;

pub mod dump;
pub mod server;

use healthscore_projections::Db;

/// A fresh, migrated database and where it lives.
pub struct TestDb {
    /// The connected database.
    pub db: Db,
    /// Its URL, for starting a server or a second instance against the same data.
    pub url: String,
    /// Keeps a SQLite file's directory alive for the test's duration.
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A new SQLite database in a temporary directory.
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("healthscore.db").display());
        let db = Db::connect_and_migrate(&url).await.expect("sqlite opens");
        TestDb {
            db,
            url,
            _dir: Some(dir),
        }
    }

    /// A new PostgreSQL database on `TEST_DATABASE_URL`'s server, or `None` to skip.
    pub async fn postgres() -> Option<TestDb> {
        let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but TEST_DATABASE_URL is unset: the PostgreSQL suite must run in CI"
            );
            eprintln!("TEST_DATABASE_URL unset: skipping the PostgreSQL variant");
            return None;
        };
        // The creating process's id is in the name, so a later run can tell which are left over.
        let name = format!(
            "hs_test_{}_{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        );
        let admin = Db::connect(&admin_url)
            .await
            .expect("TEST_DATABASE_URL must reach a running PostgreSQL");
        let Db::Postgres(pool) = &admin else {
            panic!("TEST_DATABASE_URL must be a postgres:// URL");
        };
        drop_leftovers(pool).await;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(pool)
            .await
            .expect("the test user may create databases");
        admin.close().await;
        let url = replace_database(&admin_url, &name);
        let db = Db::connect_and_migrate(&url).await.expect("postgres opens");
        Some(TestDb {
            db,
            url,
            _dir: None,
        })
    }
}

/// Drops, once per test process, the test databases of test processes that are gone: each test
/// gets a fresh database, and without this every run would leave its databases behind. A
/// database whose name carries no process id is from before ids were added. Only where
/// `/proc` tells which processes live.
async fn drop_leftovers(pool: &sqlx::PgPool) {
    static SWEPT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if SWEPT.swap(true, std::sync::atomic::Ordering::SeqCst)
        || !std::path::Path::new("/proc/self").exists()
    {
        return;
    }
    let names: Vec<(String,)> =
        sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'hs\\_test\\_%'")
            .fetch_all(pool)
            .await
            .unwrap_or_default();
    for (name,) in names {
        let creator = name
            .strip_prefix("hs_test_")
            .and_then(|rest| rest.split_once('_'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok());
        let alive =
            creator.is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            // Another process may sweep the same one at once: a failure here is harmless.
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\""))
                .execute(pool)
                .await;
        }
    }
}

/// `url` with its database name replaced by `name` (query string kept).
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let root = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

/// Runs `story` against a fresh SQLite database.
pub async fn on_sqlite<F, Fut>(story: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    story(TestDb::sqlite().await).await;
}

/// Runs `story` against a fresh PostgreSQL database (skipped outside CI without one).
pub async fn on_postgres<F, Fut>(story: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    if let Some(db) = TestDb::postgres().await {
        story(db).await;
    }
}

/// Declares, for each named `async fn story(TestDb)` in scope, a test on each backend:
/// `sqlite::story` and `postgres::story`.
#[macro_export]
macro_rules! on_both_backends {
    ($($story:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    ::healthscore_tests::on_sqlite(super::$story).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    ::healthscore_tests::on_postgres(super::$story).await;
                }
            )+
        }
    };
}

#[cfg(test)]
mod tests {
    use super::replace_database;

    #[test]
    fn replacing_the_database_keeps_credentials_host_and_query() {
        assert_eq!(
            replace_database("postgres://u:p@localhost:5432/admin?sslmode=disable", "t1"),
            "postgres://u:p@localhost:5432/t1?sslmode=disable"
        );
        assert_eq!(
            replace_database("postgres://localhost", "t2"),
            "postgres://localhost/t2"
        );
    }
}
