//! Every limit the HTTP API enforces, in one place (documented in SECURITY.md). A client can hold at
//! most [`MAX_CONNECTIONS`] connections, each of which must send its request headers within
//! [`HEADER_TIMEOUT`]; bodies are bounded in size and time; blocking work (store reads, Argon2) runs
//! under one semaphore of [`BLOCKING_PERMITS`]; live streams are capped.

use std::time::Duration;

/// Largest request body accepted; larger ones get 413.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Largest request head (request line and headers) hyper buffers before refusing (431).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Most headers in one request.
pub const MAX_HEADERS: usize = 100;
/// Time a connection has to send a complete request head, also between keep-alive requests:
/// connections that trickle header lines (slowloris) or sit idle are closed after it.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a client has to send a request body once the head arrived.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Time a TLS client has to finish its handshake.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Open connections, all listeners together; further ones are closed at once. Far below the
/// node's file descriptor limit, which its peers and store share.
pub const MAX_CONNECTIONS: usize = 256;
/// Blocking tasks (store scans, exports, Argon2 checks) the API runs at once.
pub const BLOCKING_PERMITS: usize = 8;
/// How long a request waits for a blocking permit before it is answered 503.
pub const BLOCKING_WAIT: Duration = Duration::from_secs(10);
/// Live streams (`GET /v1/records/stream`) open at once; more get 503.
pub const MAX_LIVE_STREAMS: usize = 32;
/// Interval of keep-alive comments on an idle live stream.
pub const LIVE_KEEPALIVE: Duration = Duration::from_secs(15);
/// Failed authentications per client address per [`AUTH_WINDOW`] before it gets 429.
pub const MAX_AUTH_FAILURES: u32 = 10;
/// The window over which failed authentications are counted.
pub const AUTH_WINDOW: Duration = Duration::from_secs(60);
/// Client addresses whose failures are remembered; the oldest are forgotten first.
pub const MAX_TRACKED_CLIENTS: usize = 4096;
/// How long a TAXII `next` token stays valid.
pub const PAGE_TOKEN_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// How long a verified consumer password is remembered (so each poll does not pay Argon2).
pub const PASSWORD_CACHE_TIME: Duration = Duration::from_secs(5 * 60);
/// Verified consumer passwords remembered at once.
pub const PASSWORD_CACHE_ENTRIES: usize = 256;
