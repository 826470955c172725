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
use tokio::io::AsyncWriteExt as _;
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
    /// How long a graceful shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
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
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
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
