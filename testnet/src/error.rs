//! What can go wrong driving a testnet. Errors about a node that its log explains (it exited, it
//! never became ready, a condition timed out) carry the tails of the node logs.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::client::ApiError;
use crate::locate::LocateError;
use crate::ports::PortError;
use crate::state::StateError;
use crate::wait::WaitError;

/// Why a testnet operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The `certnet` binary is missing or stale.
    #[error(transparent)]
    Locate(#[from] LocateError),
    /// No free ports.
    #[error(transparent)]
    Ports(#[from] PortError),
    /// The state file could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// The request makes no sense (zero nodes, a bad network id, ...).
    #[error("{0}")]
    Invalid(String),
    /// A file or directory operation failed.
    #[error("cannot {action} {}", .path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A `certnet` command failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// How it exited.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// A `certnet` command printed something the harness cannot use.
    #[error("`{command}` printed something unexpected: {detail}")]
    Output {
        /// The command line.
        command: String,
        /// What was wrong.
        detail: String,
    },
    /// The roster could not be encoded.
    #[error("cannot encode the roster")]
    Roster(#[from] toml::ser::Error),
    /// An API call to a node failed.
    #[error("node {node}")]
    Api {
        /// The node's name.
        node: String,
        /// What failed.
        source: ApiError,
    },
    /// A node answered, but as another node.
    #[error(
        "the API at {addr} answers as peer {found}, not as node {node} ({expected}): another process holds the port"
    )]
    WrongNode {
        /// The node expected.
        node: String,
        /// Its API address.
        addr: std::net::SocketAddr,
        /// The PeerId expected.
        expected: String,
        /// The PeerId found.
        found: String,
    },
    /// A node's process could not be started.
    #[error("cannot start node {node} ({})", .bin.display())]
    Spawn {
        /// The node's name.
        node: String,
        /// The binary.
        bin: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A node exited while it was expected to run.
    #[error("node {node} exited ({status}); last lines of {}:\n{tail}", .log.display())]
    Exited {
        /// The node's name.
        node: String,
        /// How it exited, if known.
        status: String,
        /// Its log file.
        log: PathBuf,
        /// The end of its log.
        tail: String,
    },
    /// A node's API did not answer in time.
    #[error("node {node} is not ready after {waited:?} ({detail}); last lines of {}:\n{tail}", .log.display())]
    NotReady {
        /// The node's name.
        node: String,
        /// How long it was given.
        waited: Duration,
        /// The last thing that was wrong.
        detail: String,
        /// Its log file.
        log: PathBuf,
        /// The end of its log.
        tail: String,
    },
    /// A condition did not hold in time.
    #[error("{wait}\n{logs}")]
    Timeout {
        /// What was awaited and for how long.
        wait: WaitError,
        /// The tails of every node's log.
        logs: String,
    },
    /// No node has this name or number.
    #[error(
        "no node `{given}` in this testnet: use a name ({names}) or a number from 1 to {count}"
    )]
    UnknownNode {
        /// What was given.
        given: String,
        /// The nodes' names.
        names: String,
        /// How many nodes there are.
        count: usize,
    },
    /// The node is not running.
    #[error("node {node} is not running (start it with `certnet-testnet restart {node}`)")]
    NotRunning {
        /// The node's name.
        node: String,
    },
    /// No node of the testnet runs.
    #[error("no node of this testnet is running")]
    NoneRunning,
    /// The node is running already.
    #[error("node {node} is already running (pid {pid})")]
    AlreadyRunning {
        /// The node's name.
        node: String,
        /// Its pid.
        pid: u32,
    },
    /// A signal could not be sent.
    #[error("cannot signal node {node} (pid {pid})")]
    Signal {
        /// The node's name.
        node: String,
        /// Its pid.
        pid: u32,
        /// The error.
        source: io::Error,
    },
    /// A node did not exit after a signal.
    #[error("node {node} (pid {pid}) did not exit within {waited:?} after {signal}")]
    StopTimeout {
        /// The node's name.
        node: String,
        /// Its pid.
        pid: u32,
        /// The signal sent.
        signal: &'static str,
        /// How long it was given.
        waited: Duration,
    },
    /// Processes survived `down`.
    #[error("processes still running after stopping the testnet: {}", .left.iter().map(|(n, p)| format!("{n} (pid {p})")).collect::<Vec<_>>().join(", "))]
    Orphans {
        /// Node name and pid of each survivor.
        left: Vec<(String, u32)>,
    },
    /// A partition that does not split the testnet.
    #[error("bad partition: {0}")]
    Partition(String),
    /// The directory holds a testnet already.
    #[error("{} already holds a testnet: stop and remove it with `certnet-testnet down --dir {} --purge`, or pick another --dir", .dir.display(), .dir.display())]
    Exists {
        /// The testnet directory.
        dir: PathBuf,
    },
    /// The node has no networking, which the operation needs.
    #[error("the node has no networking yet (GET /v1/peers answers 404), so it cannot {action}")]
    NoNetworking {
        /// What was asked.
        action: &'static str,
    },
}

/// `err` and its sources, joined by `: ` (what `{:#}` prints for an `anyhow::Error`).
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

impl Error {
    /// Whether the error is the caller's mistake or setup (a bad name, partition or request, no
    /// testnet, no `certnet` binary), not a failure of the testnet.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Self::Locate(_)
                | Self::Invalid(_)
                | Self::UnknownNode { .. }
                | Self::Partition(_)
                | Self::Exists { .. }
                | Self::State(StateError::Missing { .. })
        )
    }
}
