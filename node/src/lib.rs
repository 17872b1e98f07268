//! certnet-node: one CERT's node in the federation, and the `certnet` CLI.
//!
//! - [`datadir`]: the data directory and its files; the default location.
//! - [`keys`]: author and node key files (Ed25519 PKCS#8 PEM, mode 0600), the node's PeerId.
//! - [`token`]: the API bearer token file.
//! - [`config`]: `config.toml`, validated into [`config::NodeConfig`].
//! - [`roster`]: `roster.toml`, the federation's members, with lookups by author key and PeerId.
//! - [`init`]: writing a new node into a data directory.

pub mod config;
pub mod datadir;
mod fsutil;
pub mod init;
pub mod keys;
pub mod roster;
pub mod token;
pub mod tomlfile;
