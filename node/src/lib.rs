//! certnet-node: one CERT's node in the federation, and the `certnet` CLI (in `main.rs` and `cli/`).
//!
//! - [`datadir`]: the data directory and its files; the default location.
//! - [`keys`]: author and node key files (Ed25519 PKCS#8 PEM, mode 0600), the node's PeerId.
//! - [`token`]: the API bearer token file.
//! - [`config`]: `config.toml`, validated into [`config::NodeConfig`].
//! - [`roster`]: `roster.toml`, the federation's members, with lookups by author key and PeerId.
//! - [`init`]: writing a new node into a data directory.
//! - [`load`]: reading and cross-checking everything a node needs to start.
//! - [`node`]: the event loop that owns the node's state, and the [`node::NodeHandle`] to it.
//! - [`runtime`]: running the loop and the API as owned tasks, with an ordered stop.
//! - [`roster_cell`]: the running node's roster, replaceable without a restart.
//! - [`net`]: libp2p networking (gossip, sync, peers, metrics), driven by the event loop.
//! - [`store`]: the sled store (the only module that imports sled).
//! - [`ingest`]: the one path records from others take into the store (verify, roster, append).
//! - [`services`]: what the API and tasks share (store, roster, author key, metrics): publishing
//!   this node's records, making checkpoints.
//! - [`export`]: streaming the store's log as an export file; [`import`]: feeding an audited export
//!   file into a store.
//! - [`metrics`]: the Prometheus registry and the node's metrics.
//! - [`stix`]: the deterministic STIX 2.1 mapping of records (JSON values, used by the API and its
//!   TAXII 2.1 endpoint).
//! - [`api`]: the HTTP API (the only module that knows HTTP and JSON) and its client.
//!
//! Invariants: only `api` knows HTTP/JSON; only the event loop owns node state and the Swarm; this crate reads no environment variables (the binary does) and installs no logger.

pub mod api;
pub mod config;
pub mod datadir;
pub mod export;
mod fsutil;
pub mod import;
pub mod ingest;
pub mod init;
pub mod keys;
pub mod load;
pub mod metrics;
pub mod net;
pub mod node;
pub mod roster;
pub mod roster_cell;
pub mod runtime;
pub mod services;
pub mod stix;
pub mod store;
pub mod token;
pub mod tomlfile;
