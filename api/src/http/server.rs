//! The HTTP server loop: every connection bounded in number and in how long it may idle or
//! dribble its headers, so idle or slow clients cannot use up the process's descriptors.
//!
//! HTTP/1.1 only (HubSpot and load balancers speak it to backends): hyper's header-read timeout
//! then covers both a request's headers and the idle time between keep-alive requests.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// How many connections the server holds and for how long.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections served at once; one more is answered 503 and closed.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers, and how long a keep-alive
    /// connection may sit idle between requests.
    pub header_timeout: Duration,
    /// How long a response may wait for a client that stopped reading before the connection
    /// is dropped (a large answer to a client that never reads would hold its slot forever).
    pub write_stall: Duration,
    /// How long a graceful shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            write_stall: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

impl ConnectionLimits {
    /// These limits with `max_connections` lowered, if needed, to leave room below the
    /// process's descriptor limit for the database, sockets to HubSpot and refusals.
    pub fn within_descriptor_limit(mut self) -> Self {
        if let Some(limit) = open_files_limit() {
            let room = limit.saturating_sub(RESERVED_DESCRIPTORS) as usize;
            if self.max_connections > room {
                tracing::warn!(
                    asked = self.max_connections,
                    allowed = room,
                    open_files_limit = limit,
                    "fewer connections than asked: the descriptor limit is low"
                );
                self.max_connections = room.max(1);
            }
        }
        self
    }
}

/// Descriptors kept free of connections (database files, HubSpot, refusals in flight).
const RESERVED_DESCRIPTORS: u64 = 256;
/// Over-limit connections answered 503 at once; beyond this they are closed unanswered.
const MAX_REFUSALS: usize = 64;
/// The answer to a connection over the limit (the request is not read).
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\n\
content-length: 0\r\nconnection: close\r\n\r\n";

/// Serves `app` on `listener` until `shutdown` resolves, then lets requests in flight finish
/// (at most `limits.shutdown_grace`).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors or a connection reset before it was taken: not fatal.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            refuse(stream, &refusals);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let io = TokioIo::new(StallLimited::new(stream, limits.write_stall));
        let connection = graceful.watch(builder.serve_connection(io, service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still running at the end of the shutdown grace");
    }
    Ok(())
}

/// [`serve`] with the default limits until the task running it is aborted (benchmarks).
pub async fn serve_until_dropped(listener: TcpListener, app: Router) -> std::io::Result<()> {
    let limits = ConnectionLimits::default().within_descriptor_limit();
    serve(listener, app, limits, std::future::pending()).await
}

/// A connection whose writes fail once they have waited `limit` for the client to read.
struct StallLimited {
    stream: TcpStream,
    limit: Duration,
    /// Armed when a write could not proceed; disarmed by any progress.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl StallLimited {
    fn new(stream: TcpStream, limit: Duration) -> Self {
        Self {
            stream,
            limit,
            stalled: None,
        }
    }

    /// After a write returned `Pending`: `Pending` until the limit, then an error.
    fn stall<T>(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<T>> {
        let limit = self.limit;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match stalled.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn progressed<T>(
        &mut self,
        outcome: Poll<std::io::Result<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<T>> {
        match outcome {
            Poll::Pending => self.stall(cx),
            ready => {
                self.stalled = None;
                ready
            }
        }
    }
}

impl AsyncRead for StallLimited {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for StallLimited {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let outcome = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.progressed(outcome, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let outcome = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.progressed(outcome, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let outcome = Pin::new(&mut this.stream).poll_flush(cx);
        this.progressed(outcome, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Answers a connection over the limit with 503 and closes it, off the accept loop.
fn refuse(mut stream: TcpStream, refusals: &Arc<Semaphore>) {
    let Ok(permit) = refusals.clone().try_acquire_owned() else {
        return; // dropped: closed unanswered
    };
    tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(BUSY)).await;
        let _ = stream.shutdown().await;
        drop(permit);
    });
}

/// The soft limit on open files, from `/proc/self/limits` (Linux); `None` elsewhere.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client that asks for a large answer and never reads it: once the server has waited
    /// `write_stall`, the connection is dropped and its slot serves the next client.
    #[tokio::test]
    async fn a_client_that_stops_reading_loses_its_connection() {
        use tokio::io::AsyncReadExt as _;
        let app = Router::new()
            .route(
                "/big",
                axum::routing::get(|| async { vec![b'x'; 64 << 20] }),
            )
            .route("/small", axum::routing::get(|| async { "ok" }));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let limits = ConnectionLimits {
            max_connections: 1,
            write_stall: Duration::from_millis(300),
            ..ConnectionLimits::default()
        };
        let server = tokio::spawn(serve(listener, app, limits, std::future::pending()));

        let mut stalled = TcpStream::connect(address).await.expect("connect");
        stalled
            .write_all(b"GET /big HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .expect("ask");
        // Never read: the server's writes fill the socket buffers and wait.
        let mut answer = String::new();
        for _ in 0..200 {
            let mut next = TcpStream::connect(address).await.expect("connect");
            next.write_all(b"GET /small HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                .await
                .expect("ask");
            answer.clear();
            let _ = next.read_to_string(&mut answer).await;
            if answer.starts_with("HTTP/1.1 200") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "the slot never came back: {answer}"
        );
        server.abort();
    }

    #[test]
    fn the_descriptor_limit_is_read_and_respected() {
        let limit = open_files_limit().expect("Linux has /proc/self/limits");
        assert!(limit > 0);
        let huge = ConnectionLimits {
            max_connections: usize::MAX,
            ..ConnectionLimits::default()
        }
        .within_descriptor_limit();
        assert!((huge.max_connections as u64) < limit);
    }
}
