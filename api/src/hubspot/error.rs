//! The typed errors of the HubSpot client.

/// Why a HubSpot call failed. Retryable conditions surface only once their budget is spent.
#[derive(Debug, thiserror::Error)]
pub enum HubSpotError {
    /// The base URL cannot be parsed or cannot carry a path.
    #[error("invalid HubSpot base URL {url:?}: {reason}")]
    InvalidBaseUrl {
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be built (TLS back end initialisation).
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// 401: the token is wrong, revoked or expired.
    #[error("HubSpot rejected the access token (401)")]
    Unauthorized,
    /// HubSpot refused the connection's refresh token: someone must install the app again.
    #[error("HubSpot refused the refresh token ({0}); connect the portal again")]
    NeedsReauthorisation(String),
    /// The portal is not connected (or was disconnected): there is no token to use.
    #[error("the portal is not connected")]
    NotConnected,
    /// 429 with policy `DAILY`: nothing more until HubSpot's daily reset. Never retried.
    #[error("HubSpot's daily request limit is reached")]
    DailyLimitReached,
    /// Rate-limit 429s kept coming after the rate-limit retry budget was spent.
    #[error("HubSpot kept answering 429 after {retries} retries")]
    RateLimited {
        /// Retries made before giving up.
        retries: u32,
    },
    /// 500, 502, 503 or 504 kept coming after the retry budget was spent.
    #[error("HubSpot kept answering {status} after {retries} retries")]
    ServerError {
        /// The last status seen.
        status: u16,
        /// Retries made before giving up.
        retries: u32,
    },
    /// Timeouts or connection errors kept happening after the retry budget was spent.
    #[error("cannot reach HubSpot after {retries} retries: {source}")]
    Transport {
        /// Retries made before giving up.
        retries: u32,
        /// The last error.
        #[source]
        source: reqwest::Error,
    },
    /// Any other non-success answer, with HubSpot's own message.
    #[error("HubSpot answered {status}: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// HubSpot's `message`, or the start of the body when it is not JSON.
        message: String,
    },
    /// A search offset HubSpot would refuse: restart the window with a later `GTE` instead.
    #[error("search offset {after} pages past HubSpot's 10 000 result cap")]
    SearchCapExceeded {
        /// The offset asked for.
        after: u32,
    },
    /// A success answer whose body is not the documented shape.
    #[error("unexpected {what} response from HubSpot: {source}")]
    Decode {
        /// Which endpoint answered.
        what: &'static str,
        /// The parse failure.
        #[source]
        source: serde_json::Error,
    },
}
