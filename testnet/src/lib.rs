//! certnet-testnet: create, run and break a local federation of real `certnet` processes.
//!
//! The one harness behind the `certnet-testnet` CLI and the end-to-end tests in `tests/`. It drives
//! the `certnet` binary only — `init`, `keys --json`, `run`, the data directory's documented files
//! and the HTTP API — and never links node internals, so what it breaks and measures is what
//! operators run.
//!
//! - [`locate`]: find the `certnet` binary (an explicit path, `CERTNET_BIN`, or next to the current
//!   executable) and refuse a cargo build older than its sources.
//! - [`ports`]: free 127.0.0.1 ports for the APIs and p2p listeners.
//! - [`roster`]: the one `roster.toml` every node of a testnet shares.
//! - [`client`]: a small typed client for a node's HTTP API.
//! - [`process`]: a `certnet run` process: spawned with its output in a log file, signalled, and
//!   known alive from `/proc`.
//! - [`state`]: `testnet.json`, which lets separate CLI invocations find the nodes.
//! - [`federation`]: [`Federation`]: create, start, publish, kill, stop, restart, partition, heal,
//!   down.
//! - [`wait`]: polling until a condition holds or a deadline passes (never a fixed sleep).
//! - [`error`]: what can go wrong, with the node logs' tails where they explain it.
//! - [`content`]: realistic record bodies (incidents, indicators, advisories, updates, revokes).
//! - [`demo`]: the guided, checked tour of a five-node federation (`certnet-testnet demo`).
//! - [`hostile`]: a hostile federation member — a bare libp2p peer with a roster key — and the
//!   floods, forged heads and memory-exhausting sync answers it sends.
//! - [`bench`]: the benchmark scenarios (`certnet-testnet bench`), their reports, JSON and SVG plots.
//!
//! Everything binds 127.0.0.1; mDNS stays off.

pub mod bench;
pub mod client;
pub mod content;
pub mod demo;
pub mod error;
pub mod federation;
pub mod hostile;
pub mod locate;
pub mod ports;
pub mod process;
pub mod roster;
pub mod state;
pub mod wait;

pub use client::{ApiClient, ApiError, Published, RecordQuery, Status};
pub use error::Error;
pub use federation::{Federation, FederationConfig, Mesh, NodeOutcome, Spawn};
pub use locate::{Binary, CERTNET, CERTNET_TESTNET, LocateError};
pub use wait::{WaitError, wait_until};
