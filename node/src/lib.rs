//! certnet-node: one CERT's node in the federation, and the `certnet` CLI (in `main.rs` and `cli/`).
//!
//! - [`datadir`]: everything the node keeps on disk outside the store, and the only module that
//!   opens those files: keys, API token, `config.toml`, `roster.toml`, init, load, mode checks.
//! - [`membership`]: the roster as a model (members, names, lookups by author key and PeerId) and
//!   the running node's replaceable roster; no file I/O.
//! - [`node`]: the event loop that owns the node's state, and the [`node::NodeHandle`] to it.
//! - [`runtime`]: running the loop and the API as owned tasks, with an ordered stop.
//! - [`net`]: libp2p networking (gossip, sync, peers, metrics), driven by the event loop.
//! - [`store`]: the sled store (the only module that imports sled).
//! - [`ingest`]: the one path records from others take into the store (verify, roster, append).
//! - [`services`]: what the API and tasks share (store, roster, author key, metrics): publishing
//!   this node's records, making checkpoints.
//! - [`sealed`]: this node's encryption keys: sealing its records to named members, opening those
//!   addressed to it, and following the log to open what arrives.
//! - [`export`]: streaming the store's log as an export file; [`import`]: feeding an audited export
//!   file into a store.
//! - [`metrics`]: the Prometheus registry and the node's metrics.
//! - [`stix`]: the deterministic STIX 2.1 mapping of records (JSON values, used by the API and its
//!   TAXII 2.1 endpoint).
//! - [`misp`]: reading MISP events (JSON values) and mapping them to records, for `certnet misp
//!   import` (publishing them is `services`).
//! - [`api`]: the HTTP API (the only module that knows HTTP and JSON) and its client.
//!
//! Invariants: only `api` knows HTTP (JSON documents of other formats are read by `stix` and `misp`); only the event loop owns node state and the Swarm; this crate reads no environment variables (the binary does) and installs no logger.

pub mod api;
pub mod datadir;
pub mod export;
pub mod import;
pub mod ingest;
pub mod membership;
pub mod metrics;
pub mod misp;
pub mod net;
pub mod node;
pub mod runtime;
pub mod sealed;
pub mod services;
pub mod stix;
pub mod store;
