//! certnet-node: one CERT's node in the federation, and the `certnet` CLI.
//!
//! - [`datadir`]: the data directory and its files; the default location.
//! - [`keys`]: author and node key files (Ed25519 PKCS#8 PEM, mode 0600), the node's PeerId.
//! - [`token`]: the API bearer token file.

pub mod datadir;
mod fsutil;
pub mod keys;
pub mod token;
