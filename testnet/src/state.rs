//! `testnet.json` under the testnet directory: what separate CLI invocations need to find the nodes
//! (names, data dirs, ports, identities, pids) and the block lists a partition set.
//!
//! Written atomically (temporary file + rename) after every change. One CLI invocation at a time
//! per directory: there is no lock.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::process::ProcessId;

/// File name of the state file in the testnet directory.
pub const STATE_FILE: &str = "testnet.json";

/// Version of the state file's format.
pub const FORMAT: u32 = 1;

/// Everything known about a testnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FederationState {
    /// Format version, [`FORMAT`].
    pub format: u32,
    /// The network id every node uses.
    pub network: String,
    /// The `certnet` binary the nodes run.
    pub certnet_bin: PathBuf,
    /// RUST_LOG given to the nodes (unset: the node's default).
    pub rust_log: Option<String>,
    /// The nodes, in order (`CERT-01` first).
    pub nodes: Vec<NodeState>,
    /// Blocks in force: `by` refuses `peer` (both node names).
    pub blocked: Vec<Block>,
}

/// One node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeState {
    /// Member name, e.g. `CERT-01`.
    pub name: String,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Its log file (stdout and stderr of every run, appended).
    pub log: PathBuf,
    /// Its API address.
    pub api: SocketAddr,
    /// Its p2p listen multiaddrs.
    pub listen: Vec<String>,
    /// Its PeerId.
    pub peer_id: String,
    /// Its author key.
    pub author_key: String,
    /// Its newest encryption key (`x25519:…`).
    #[serde(default)]
    pub encryption_key: String,
    /// Whether the shared roster lists it (false: an outsider, known only to itself).
    pub on_roster: bool,
    /// Its process while it runs.
    pub process: Option<ProcessId>,
}

/// Node `by` blocks node `peer`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Block {
    /// The node that refuses.
    pub by: String,
    /// The node refused.
    pub peer: String,
}

/// Why the state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// No state file: no testnet here.
    #[error("no testnet in {} ({} is missing): start one with `certnet-testnet up N --dir {}`", .dir.display(), STATE_FILE, .dir.display())]
    Missing {
        /// The testnet directory.
        dir: PathBuf,
    },
    /// Reading or writing failed.
    #[error("cannot {action} {}", .path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The file is not a state file of this format.
    #[error("{} is not a certnet-testnet state file of format {FORMAT}", .path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
}

impl FederationState {
    /// The state file of the testnet in `dir`.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(STATE_FILE)
    }

    /// Reads the state of the testnet in `dir`.
    pub fn load(dir: &Path) -> Result<Self, StateError> {
        let path = Self::path(dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(StateError::Missing {
                    dir: dir.to_owned(),
                });
            }
            Err(source) => {
                return Err(StateError::Io {
                    action: "read",
                    path,
                    source,
                });
            }
        };
        let state: Self = serde_json::from_str(&text).map_err(|source| StateError::Invalid {
            path: path.clone(),
            source,
        })?;
        if state.format != FORMAT {
            return Err(StateError::Invalid {
                path,
                source: serde::de::Error::custom(format!("format {}", state.format)),
            });
        }
        Ok(state)
    }

    /// Writes the state into `dir`, atomically.
    pub fn save(&self, dir: &Path) -> Result<(), StateError> {
        let path = Self::path(dir);
        let text = serde_json::to_string_pretty(self).map_err(|source| StateError::Invalid {
            path: path.clone(),
            source,
        })?;
        write_atomic(&path, text.as_bytes()).map_err(|source| StateError::Io {
            action: "write",
            path,
            source,
        })
    }
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn round_trip_and_missing_file() {
        let tmp = tempfile::tempdir().unwrap();
        let err = FederationState::load(tmp.path()).unwrap_err();
        assert!(matches!(err, StateError::Missing { .. }), "{err}");
        assert!(
            err.to_string().contains("certnet-testnet up N --dir"),
            "{err}"
        );

        let state = FederationState {
            format: FORMAT,
            network: "testnet-1".into(),
            certnet_bin: "/bin/certnet".into(),
            rust_log: Some("debug".into()),
            nodes: vec![NodeState {
                name: "CERT-01".into(),
                data_dir: "/d".into(),
                log: "/l".into(),
                api: "127.0.0.1:1".parse().unwrap(),
                listen: vec!["/ip4/127.0.0.1/tcp/2".into()],
                peer_id: "p".into(),
                author_key: "k".into(),
                encryption_key: "e".into(),
                on_roster: true,
                process: Some(ProcessId {
                    pid: 7,
                    start_time: 8,
                }),
            }],
            blocked: vec![Block {
                by: "CERT-01".into(),
                peer: "CERT-02".into(),
            }],
        };
        state.save(tmp.path()).unwrap();
        assert_eq!(FederationState::load(tmp.path()).unwrap(), state);

        std::fs::write(FederationState::path(tmp.path()), "{}").unwrap();
        let err = FederationState::load(tmp.path()).unwrap_err();
        assert!(matches!(err, StateError::Invalid { .. }), "{err}");
    }
}
