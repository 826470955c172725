//! A webhook flood on the default SQLite database, long past the point where the checkpointer
//! rewinds the WAL, while CLI commands open and close the same file: the server keeps its POSIX
//! locks on the database file (closing any descriptor of it would drop them, and the next CLI
//! process to exit would delete the WAL under the server), every delivery is answered 2xx,
//! every acknowledged event is in the log, and the file passes `integrity_check`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use healthscore_domain::hubspot::crm_webhook_headers;
use serde_json::{Value, json};

const BINARY: &str = env!("CARGO_BIN_EXE_healthscore");
const SECRET: &str = "flood-secret";
const PUBLIC_URL: &str = "https://flood.example.com";
const SENDERS: usize = 10;
const EVENTS_PER_DELIVERY: usize = 100;
/// Rewinds of the WAL the flood must live through (each one follows 64 MiB of WAL).
const REWINDS: usize = 4;
/// Bounds on the flood, in case the rewinds never come: deliveries per sender, and time.
const MAX_DELIVERIES: usize = 1_000;
const MAX_FLOOD: Duration = Duration::from_secs(300);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The `healthscore` command on the test database, quiet but for what the test reads.
fn healthscore(database_url: &str) -> Command {
    let mut command = Command::new(BINARY);
    command
        .env("DATABASE_URL", database_url)
        .env_remove("HUBSPOT_ACCESS_TOKEN")
        .env("RUST_LOG", "warn,healthscore_projections::db=debug")
        .stdin(Stdio::null());
    command
}

/// A delivery of `EVENTS_PER_DELIVERY` events no other delivery shares (ids and keys).
fn delivery(sender: usize, number: usize) -> String {
    let events: Vec<Value> = (0..EVENTS_PER_DELIVERY)
        .map(|n| {
            let serial = ((number * SENDERS + sender) * EVENTS_PER_DELIVERY + n) as u64;
            let at = 1_700_000_000_000 + serial as i64;
            json!({
                "eventId": serial, "subscriptionId": 1, "portalId": 1, "appId": 1,
                "occurredAt": at, "attemptNumber": 0, "changeSource": "CRM",
                "objectId": serial.wrapping_mul(2_654_435_761) % 50_000 + 1,
                "subscriptionType": "contact.propertyChange",
                "propertyName": "hs_last_sales_activity_date", "propertyValue": at.to_string(),
            })
        })
        .collect();
    Value::Array(events).to_string()
}

/// POSTs `body` signed as HubSpot signs CRM webhooks; the status and the events recorded.
async fn deliver(client: &reqwest::Client, base: &str, body: String) -> (u16, u64) {
    let now = chrono::Utc::now().timestamp_millis();
    let url = format!("{PUBLIC_URL}/webhooks/hubspot");
    let mut request = client.post(format!("{base}/webhooks/hubspot"));
    for (name, value) in crm_webhook_headers(SECRET, &url, body.as_bytes(), now) {
        request = request.header(name, value);
    }
    let response = request.body(body).send().await.expect("the server answers");
    let status = response.status().as_u16();
    let receipt: Value = response.json().await.unwrap_or(Value::Null);
    (status, receipt["recorded"].as_u64().unwrap_or(0))
}

/// POSIX locks the process `pid` holds on the file with `inode`.
fn posix_locks(pid: u32, inode: u64) -> usize {
    healthscore_projections::wal_sync::posix_locks(pid, inode).expect("/proc/locks")
}

/// How many times the server's log says it rewound the WAL.
fn rewinds(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .matches("WAL rewound")
        .count()
}

async fn wait_ready(client: &reqwest::Client, base: &str, server: &mut Child) {
    for _ in 0..1_200 {
        if let Ok(response) = client.get(format!("{base}/readyz")).send().await
            && response.status() == 200
        {
            return;
        }
        assert!(server.try_wait().expect("wait").is_none(), "serve exited");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("serve never became ready");
}

/// Runs CLI commands on the same file, one after another, until `stop`; after each one the
/// server must still hold its locks. Returns how many ran.
fn cli_on_the_same_file(url: &str, server: u32, inode: u64, stop: &AtomicBool) -> usize {
    let commands: [&[&str]; 3] = [
        &["keys", "create", "--portal", "1", "--name", "flood"],
        &["projections", "status"],
        &["keys", "list"],
    ];
    let mut ran = 0;
    while !stop.load(Ordering::SeqCst) && ran < 300 {
        let args = commands[ran % commands.len()];
        let output = healthscore(url)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .expect("run the CLI");
        assert!(
            output.status.success(),
            "`healthscore {}` failed during the flood: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        ran += 1;
        assert!(
            posix_locks(server, inode) > 0,
            "the server lost its locks on the database file (after `{}`)",
            args.join(" ")
        );
    }
    ran
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_webhook_flood_with_cli_commands_on_the_same_file_loses_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("flood.db");
    let url = format!("sqlite://{}", path.display());
    let log = dir.path().join("serve.log");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = healthscore(&url)
        .arg("serve")
        .env("HEALTHSCORE_BIND", format!("127.0.0.1:{port}"))
        .env("HUBSPOT_CLIENT_SECRET", SECRET)
        .env("HEALTHSCORE_PUBLIC_URL", PUBLIC_URL)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn serve");
    let client = reqwest::Client::new();
    wait_ready(&client, &base, &mut server).await;
    let inode = {
        use std::os::unix::fs::MetadataExt as _;
        std::fs::metadata(&path).expect("the database exists").ino()
    };
    assert!(posix_locks(server.id(), inode) > 0, "serve locks the file");

    // The flood: SENDERS closed-loop senders until the WAL has been rewound REWINDS times.
    let refused = Arc::new(AtomicUsize::new(0));
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let recorded = Arc::new(AtomicUsize::new(0));
    let flooded = Arc::new(AtomicBool::new(false));
    let cli = {
        let (url, stop, pid) = (url.clone(), flooded.clone(), server.id());
        tokio::task::spawn_blocking(move || cli_on_the_same_file(&url, pid, inode, &stop))
    };
    let started = tokio::time::Instant::now();
    let senders: Vec<_> = (0..SENDERS)
        .map(|sender| {
            let (client, base, log) = (client.clone(), base.clone(), log.clone());
            let counters = (refused.clone(), acknowledged.clone(), recorded.clone());
            let flooded = flooded.clone();
            tokio::spawn(async move {
                for number in 0..MAX_DELIVERIES {
                    if flooded.load(Ordering::SeqCst) {
                        break;
                    }
                    let (status, events) = deliver(&client, &base, delivery(sender, number)).await;
                    if (200..300).contains(&status) {
                        counters.1.fetch_add(EVENTS_PER_DELIVERY, Ordering::SeqCst);
                        counters.2.fetch_add(events as usize, Ordering::SeqCst);
                    } else {
                        counters.0.fetch_add(1, Ordering::SeqCst);
                    }
                    if rewinds(&log) >= REWINDS || started.elapsed() > MAX_FLOOD {
                        flooded.store(true, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    for sender in senders {
        sender.await.expect("sender");
    }
    flooded.store(true, Ordering::SeqCst);
    let commands = cli.await.expect("cli");
    let flood_seconds = started.elapsed().as_secs_f64();
    let (acknowledged, recorded) = (
        acknowledged.load(Ordering::SeqCst),
        recorded.load(Ordering::SeqCst),
    );
    println!(
        "flood: {acknowledged} events acknowledged in {flood_seconds:.1} s, {} WAL rewinds, \
         {commands} CLI commands on the same file",
        rewinds(&log)
    );
    assert!(
        rewinds(&log) >= REWINDS,
        "the flood never went past the WAL's rewind threshold"
    );
    assert!(commands > 0, "CLI commands ran during the flood");
    assert_eq!(refused.load(Ordering::SeqCst), 0, "every delivery is 2xx");
    assert!(
        posix_locks(server.id(), inode) > 0,
        "serve still locks the file"
    );

    // After the flood: later deliveries are taken and the server says it is ready.
    let mut recorded_later = 0;
    for number in MAX_DELIVERIES..MAX_DELIVERIES + 5 {
        let (status, events) = deliver(&client, &base, delivery(0, number)).await;
        assert_eq!(status, 200, "a delivery after the flood");
        recorded_later += events as i64;
    }
    let ready = client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);

    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || server.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(status.success(), "serve stops cleanly: {status}");

    let db = healthscore_projections::Db::connect(&url)
        .await
        .expect("open");
    healthscore_projections::on_reader!(&db, pool => {
        let (check,): (String,) = sqlx::query_as("PRAGMA integrity_check")
            .fetch_one(pool)
            .await
            .expect("integrity_check");
        assert_eq!(check, "ok");
        let (keys,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM inbox")
            .fetch_one(pool)
            .await
            .expect("inbox");
        let later = 5 * EVENTS_PER_DELIVERY as i64;
        assert_eq!(keys, acknowledged as i64 + later, "every acknowledged delivery key is kept");
        let (events,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM events WHERE stream_type = 'crm_object'",
        )
        .fetch_one(pool)
        .await
        .expect("events");
        assert_eq!(
            events,
            recorded as i64 + recorded_later,
            "every acknowledged event is in the log, once"
        );
    });
    db.close().await;
}
