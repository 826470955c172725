//! `healthscore serve` bounds its connections: idle and slow clients are closed after the
//! header timeout, and connections over the cap are answered 503 at once instead of eating
//! descriptors, so `/healthz` answers again as soon as the idle ones are gone.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_healthscore");
const MAX_CONNECTIONS: usize = 4;
/// Far longer than the header timeouts the servers get: a bound, not a measurement.
const PATIENCE: Duration = Duration::from_secs(30);

struct Server {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `serve` with a cap of `MAX_CONNECTIONS` and a header timeout of `header_timeout`.
fn start(header_timeout: &str) -> Server {
    let dir = tempfile::tempdir().expect("dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let address = format!("127.0.0.1:{port}");
    let child = Command::new(BINARY)
        .arg("serve")
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("HUBSPOT_ACCESS_TOKEN")
        .env("HEALTHSCORE_BIND", &address)
        .env("HEALTHSCORE_MAX_CONNECTIONS", MAX_CONNECTIONS.to_string())
        .env("HEALTHSCORE_HEADER_TIMEOUT", header_timeout)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let server = Server {
        child,
        address,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while healthz(&server.address).is_none() {
        assert!(Instant::now() < deadline, "serve never answered");
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

fn connect(address: &str) -> TcpStream {
    let stream = TcpStream::connect(address).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    stream
}

/// Everything the server sends until it closes the connection; `None` if it never closes it
/// (within `PATIENCE`).
fn read_to_close(stream: &mut TcpStream) -> Option<String> {
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => Some(String::from_utf8_lossy(&answer).into_owned()),
        Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => Some(String::new()),
        Err(_) => None,
    }
}

/// The status line of `GET /healthz` on a new connection; `None` if it got no answer.
fn healthz(address: &str) -> Option<String> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(PATIENCE)).ok()?;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .ok()?;
    read_to_close(&mut stream)?
        .lines()
        .next()
        .map(str::to_owned)
}

#[test]
fn idle_connections_are_closed_and_the_cap_answers_503() {
    // Long enough that no idle connection is closed before the one over the cap is taken.
    let server = start("5s");
    let mut idle: Vec<TcpStream> = (0..MAX_CONNECTIONS)
        .map(|_| connect(&server.address))
        .collect();
    // The server accepts in arrival order: this one is over the cap.
    let mut over = connect(&server.address);
    let refused = read_to_close(&mut over).expect("refused and closed");
    assert!(
        refused.starts_with("HTTP/1.1 503"),
        "over the cap: {refused:?}"
    );
    assert!(refused.contains("retry-after: 1"));

    for stream in &mut idle {
        let said = read_to_close(stream).expect("the server closes an idle connection");
        assert!(
            !said.contains("200 OK"),
            "an idle connection got an answer: {said}"
        );
    }
    assert_eq!(
        healthz(&server.address).as_deref(),
        Some("HTTP/1.1 200 OK"),
        "served again once the idle connections are gone"
    );
}

#[test]
fn headers_sent_a_byte_at_a_time_do_not_hold_a_connection() {
    let server = start("1s");
    let mut slow = connect(&server.address);
    slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        .expect("start");
    // One header byte every 100 ms: 600 bytes would take a minute; the server gives up first.
    let mut closed = false;
    for _ in 0..600 {
        if slow.write_all(b"a").is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        slow.set_nonblocking(true).expect("nonblocking");
        let mut byte = [0_u8; 64];
        let read = slow.read(&mut byte);
        slow.set_nonblocking(false).expect("blocking");
        if matches!(read, Ok(0)) || matches!(read, Ok(n) if n > 0) {
            closed = true;
            break;
        }
    }
    assert!(closed, "the slow client was never cut off");
    assert_eq!(healthz(&server.address).as_deref(), Some("HTTP/1.1 200 OK"));
}
