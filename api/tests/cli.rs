//! Every CLI subcommand run once through the real binary, on one SQLite database, against the
//! binary's own fake HubSpot: migrate, keys (create, list, revoke), connect, connections (list,
//! rotate-key, disconnect), sync (full, incremental, history), projections (status, rebuild) and
//! every bench at a small size. (`serve` and `demo` are driven by their own tests.)

mod common;

use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{BINARY, free_port};

const TOKEN: &str = "pat-na1-11111111-2222-4333-8444-555555555555";
const NEW_KEY: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";

struct Cli {
    database_url: String,
    api_base: String,
}

impl Cli {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BINARY);
        command
            .args(args)
            .env("DATABASE_URL", &self.database_url)
            .env("HUBSPOT_API_BASE", &self.api_base)
            .env("RUST_LOG", "warn")
            .env_remove("HUBSPOT_ACCESS_TOKEN")
            .env_remove("HEALTHSCORE_SECRET_KEY")
            .stdin(Stdio::null());
        command
    }

    /// Runs `args`, asserting success; returns stdout.
    fn run(&self, args: &[&str]) -> String {
        self.run_with(args, &[])
    }

    fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let mut command = self.command(args);
        for (name, value) in env {
            command.env(name, value);
        }
        let Output {
            status,
            stdout,
            stderr,
        } = command.output().expect("run the CLI");
        assert!(
            status.success(),
            "`healthscore {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&stderr)
        );
        String::from_utf8_lossy(&stdout).into_owned()
    }
}

/// The binary's fake HubSpot on a free port; killed when dropped.
struct Fake(Child);

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn fake_hubspot() -> (Fake, String) {
    let port = free_port();
    let child = Command::new(BINARY)
        .args(["fake-hubspot", "--contacts", "60", "--companies", "15"])
        .args(["--deals", "30", "--bind", &format!("127.0.0.1:{port}")])
        .args(["--token", TOKEN])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn fake-hubspot");
    let base = format!("http://127.0.0.1:{port}");
    let fake = Fake(child);
    common::until("the fake HubSpot answers", || async {
        reqwest::get(format!("{base}/crm/v3/objects/contacts"))
            .await
            .is_ok()
    })
    .await;
    (fake, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cli_subcommand_runs() {
    let dir = tempfile::tempdir().expect("dir");
    let (_fake, api_base) = fake_hubspot().await;
    let cli = Cli {
        database_url: format!("sqlite://{}", dir.path().join("cli.db").display()),
        api_base,
    };

    cli.run(&["migrate"]);
    let created = cli.run(&["keys", "create", "--portal", "5", "--name", "cli test"]);
    let key = created.lines().last().expect("the key on the last line");
    assert!(key.starts_with("hsk_"), "{created}");
    let listed = cli.run(&["keys", "list"]);
    assert!(listed.contains("cli test"), "{listed}");
    let id = listed
        .lines()
        .find(|line| line.contains("cli test"))
        .and_then(|line| line.split_whitespace().next())
        .expect("the key's id first on its line")
        .to_string();
    cli.run(&["keys", "revoke", &id]);
    assert!(
        cli.run(&["keys", "list"]).contains("revoked"),
        "a revoked key is listed as revoked"
    );

    let connected = cli.run(&["connect", "--token", TOKEN]);
    let connections = cli.run(&["connections", "list"]);
    let portal = connections
        .split(|c: char| !c.is_ascii_digit())
        .find(|digits| digits.len() >= 3)
        .unwrap_or_else(|| panic!("a portal id in `connections list`: {connections}"))
        .to_string();
    assert!(
        connected.contains(&portal),
        "`connect` names the portal: {connected}"
    );
    for mode in ["full", "incremental", "history"] {
        cli.run_with(&["sync", mode], &[("HUBSPOT_ACCESS_TOKEN", TOKEN)]);
    }
    let status = cli.run(&["projections", "status"]);
    assert!(status.contains("read_models"), "{status}");
    cli.run(&["projections", "rebuild"]);

    // The key file beside the SQLite database seals the tokens; rotate to a new key.
    let old_key = std::fs::read_to_string(dir.path().join("cli.db.key"))
        .expect("the key file beside the database")
        .trim()
        .to_string();
    let keys = format!("{NEW_KEY},{old_key}");
    cli.run_with(
        &["connections", "rotate-key"],
        &[("HEALTHSCORE_SECRET_KEY", &keys)],
    );
    // Only the new key opens the tokens now: re-sealing with it alone must open every one.
    cli.run_with(
        &["connections", "rotate-key"],
        &[("HEALTHSCORE_SECRET_KEY", NEW_KEY)],
    );
    cli.run_with(
        &["connections", "disconnect", &portal],
        &[("HEALTHSCORE_SECRET_KEY", NEW_KEY)],
    );
    let after = cli.run_with(
        &["connections", "list"],
        &[("HEALTHSCORE_SECRET_KEY", NEW_KEY)],
    );
    assert!(
        after.contains(&portal) && after.contains("disconnected"),
        "{after}"
    );

    // Every bench, small.
    let small: [&[&str]; 5] = [
        &["bench", "append", "--batches", "5"],
        &[
            "bench",
            "webhooks",
            "--senders",
            "2",
            "--deliveries",
            "3",
            "--objects",
            "50",
        ],
        &[
            "bench",
            "sync",
            "--contacts",
            "30",
            "--companies",
            "10",
            "--deals",
            "20",
            "--rate-limit",
            "1000",
        ],
        &[
            "bench",
            "lag",
            "--events-per-second",
            "500",
            "--probes",
            "3",
        ],
        &[
            "bench",
            "portal",
            "--contacts",
            "200",
            "--companies",
            "40",
            "--deals",
            "200",
            "--requests",
            "50",
            "--seconds-under-load",
            "1",
            "--webhook-load",
            "200",
            "--clients-under-load",
            "2",
        ],
    ];
    for args in small {
        let mut command = cli.command(args);
        command.env_remove("DATABASE_URL");
        let output = tokio::time::timeout(
            Duration::from_secs(300),
            tokio::task::spawn_blocking(move || command.output().expect("run")),
        )
        .await
        .expect("the bench finishes")
        .expect("join");
        assert!(
            output.status.success(),
            "`healthscore {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!output.stdout.is_empty(), "{} prints figures", args[1]);
    }
}
