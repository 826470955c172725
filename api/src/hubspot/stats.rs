//! Lock-free counters of what the client sent and what HubSpot answered.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters, shared by every clone of a client.
#[derive(Debug, Default)]
pub(crate) struct ClientCounters {
    requests: AtomicU64,
    rate_limited: AtomicU64,
    retries: AtomicU64,
    server_errors: AtomicU64,
}

/// A snapshot of [`super::HubSpotClient::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// HTTP attempts sent, retries included.
    pub requests: u64,
    /// 429 answers seen, `DAILY` included.
    pub rate_limited: u64,
    /// Attempts repeated after a 429, a 5xx, a timeout or a connection error.
    pub retries: u64,
    /// 5xx answers seen.
    pub server_errors: u64,
}

impl ClientCounters {
    pub(crate) fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn server_error(&self) {
        self.server_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> ClientStats {
        ClientStats {
            requests: self.requests.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            server_errors: self.server_errors.load(Ordering::Relaxed),
        }
    }
}
