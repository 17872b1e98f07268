//! [`Federation`]: N real `certnet` nodes under one directory, and what can be done to them.
//!
//! Layout of the testnet directory `D`:
//!
//! | path              | what                                                    |
//! |-------------------|---------------------------------------------------------|
//! | `D/testnet.json`  | the [state](crate::state) separate CLI invocations read |
//! | `D/CERT-01/`      | node CERT-01's data directory (`certnet init` made it)  |
//! | `D/logs/CERT-01.log` | stdout and stderr of every run of CERT-01, appended  |
//!
//! Nodes are set up with `certnet init` (unique names `CERT-01`…, one network id, the API and the p2p
//! listeners on pre-allocated 127.0.0.1 ports), identified with `certnet keys --json`, and given one
//! shared roster listing every member with its PeerId and listen addresses. They run as `certnet run`
//! processes; a node is ready when it has written `api.addr` and `GET /v1/status` answers as that
//! node. Partitions are block lists (`POST /v1/peers/{peer}/block`), recorded in the state so a node
//! restarted during a partition goes back to its side.
//!
//! Nodes are addressed by index (0 for `CERT-01`); [`Federation::find`] turns a name or a 1-based
//! number into one. Methods panic on an index out of range, like slice indexing.

use std::collections::BTreeSet;
use std::io::{self, Read as _, Seek as _, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use rustix::process::Signal;
use serde_json::Value;

use crate::client::{self, ApiClient, ApiError, Published, RecordQuery, Status};
use crate::error::{self, Error};
use crate::ports;
pub use crate::process::Spawn;
use crate::process::{Launch, NodeProcess, ProcessId};
use crate::roster::RosterMember;
use crate::state::{Block, FORMAT, FederationState, NodeState};
use crate::wait;

mod partitions;
mod setup;

use setup::{ensure_mdns_off, init_node, new_network_id, node_keys, write_rosters};

/// How long a node may take to answer after it is started.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a node may take to exit after SIGTERM (or SIGKILL).
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Lines of each node log shown when something times out.
pub const TAIL_LINES: usize = 25;

/// Pause between readiness polls.
const READY_POLL: Duration = Duration::from_millis(20);
/// Bytes read from the end of a log for its tail.
const TAIL_BYTES: u64 = 64 * 1024;

/// What a new testnet looks like.
#[derive(Debug, Clone)]
pub struct FederationConfig {
    /// The testnet directory (created if missing; must not hold a testnet).
    pub dir: PathBuf,
    /// Roster members: `CERT-01`…
    pub nodes: usize,
    /// Extra nodes after the members, left out of the shared roster: each lists the members and
    /// itself, so it tries to join, and the members must refuse it.
    pub outsiders: usize,
    /// Roster members that run no node: authors whose records reach the federation some other way
    /// (the benchmarks' pre-signed feeds, imported from export files).
    pub extra_members: Vec<RosterMember>,
    /// The `certnet` binary (see [`crate::locate`]).
    pub certnet_bin: PathBuf,
    /// Fixed ports: node `i` gets API `base + 2i` and p2p `base + 2i + 1`; `None`: free ports.
    pub base_port: Option<u16>,
    /// Network id; `None`: a new random `testnet-…`, so testnets never mix.
    pub network: Option<String>,
    /// RUST_LOG for the nodes; `None`: the node's default.
    pub rust_log: Option<String>,
    /// Listen on QUIC too (`/ip4/127.0.0.1/udp/P/quic-v1`), if the node accepts it.
    pub quic: bool,
    /// Owned (killed on drop: tests) or detached (the CLI).
    pub spawn: Spawn,
    /// How long a node may take to answer after it is started.
    pub ready_timeout: Duration,
    /// How long a node may take to exit after a signal.
    pub stop_timeout: Duration,
}

impl FederationConfig {
    /// `nodes` members under `dir` running `certnet_bin`, owned, on free ports, with QUIC.
    pub fn new(dir: impl Into<PathBuf>, nodes: usize, certnet_bin: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            nodes,
            outsiders: 0,
            extra_members: Vec::new(),
            certnet_bin: certnet_bin.into(),
            base_port: None,
            network: None,
            rust_log: None,
            quic: true,
            spawn: Spawn::Owned,
            ready_timeout: DEFAULT_READY_TIMEOUT,
            stop_timeout: DEFAULT_STOP_TIMEOUT,
        }
    }
}

/// Whether every running member sees every other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mesh {
    /// Every running member lists every other as connected; it took this long.
    Formed(Duration),
    /// The node has no `GET /v1/peers` yet, so there is no mesh to wait for.
    NoNetworking,
}

/// What `down` did to one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeOutcome {
    /// It was not running.
    NotRunning,
    /// It exited after SIGTERM; the status when it was this program's child.
    Stopped(Option<ExitStatus>),
    /// It ignored SIGTERM and was killed.
    Killed,
}

/// A testnet: its directory, its nodes and their processes.
#[derive(Debug)]
pub struct Federation {
    dir: PathBuf,
    state: FederationState,
    clients: Vec<ApiClient>,
    procs: Vec<Option<NodeProcess>>,
    spawn: Spawn,
    ready_timeout: Duration,
    stop_timeout: Duration,
}

impl Federation {
    /// Sets up a new testnet (nothing is started): `certnet init` and `certnet keys --json` for
    /// every node, the shared roster into every node, and the state file.
    ///
    /// On failure, removes what it created.
    pub fn create(config: &FederationConfig) -> Result<Self, Error> {
        if config.nodes == 0 {
            return Err(Error::Invalid("a testnet needs at least one node".into()));
        }
        let dir = absolute(&config.dir)?;
        let mut cleanup = Cleanup::default();
        if !dir.exists() {
            cleanup.0.push(dir.clone());
        }
        std::fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        if FederationState::path(&dir).exists() {
            return Err(Error::Exists { dir });
        }
        let logs = dir.join("logs");
        if !logs.exists() {
            cleanup.0.push(logs.clone());
        }
        std::fs::create_dir_all(&logs).map_err(io_err("create", &logs))?;

        let total = config.nodes + config.outsiders;
        let ports = ports::allocate(total, config.base_port)?;
        let network = config.network.clone().unwrap_or_else(new_network_id);
        let width = total.to_string().len().max(2);
        let bin = &config.certnet_bin;
        let mut quic = config.quic;
        let mut nodes = Vec::with_capacity(total);
        for (i, ports) in ports.iter().enumerate() {
            let name = format!("CERT-{:0width$}", i + 1);
            let data_dir = dir.join(&name);
            if data_dir.exists() {
                return Err(Error::Io {
                    action: "use",
                    path: data_dir,
                    source: io::Error::new(io::ErrorKind::AlreadyExists, "it exists already"),
                });
            }
            cleanup.0.push(data_dir.clone());
            let api = SocketAddr::from((Ipv4Addr::LOCALHOST, ports.api));
            let init = |quic| init_node(bin, &data_dir, &name, &network, api, ports.p2p, quic);
            let listen = match init(quic) {
                Ok(listen) => listen,
                // The first node tells whether this certnet accepts a QUIC listen address.
                Err(Error::Command { stderr, .. })
                    if quic && i == 0 && stderr.to_ascii_lowercase().contains("quic") =>
                {
                    remove_dir(&data_dir)?;
                    quic = false;
                    init(false)?
                }
                Err(err) => return Err(err),
            };
            ensure_mdns_off(&data_dir.join("config.toml"))?;
            let keys = node_keys(bin, &data_dir)?;
            if keys.name != name {
                return Err(Error::Output {
                    command: format!("certnet keys --json --data-dir {}", data_dir.display()),
                    detail: format!("name `{}`, expected `{name}`", keys.name),
                });
            }
            nodes.push(NodeState {
                log: logs.join(format!("{name}.log")),
                name,
                data_dir,
                api,
                listen,
                peer_id: keys.peer_id,
                author_key: keys.author_key,
                encryption_key: keys.encryption_key,
                on_roster: i < config.nodes,
                process: None,
            });
        }
        write_rosters(&network, &nodes, &config.extra_members)?;

        let state = FederationState {
            format: FORMAT,
            network,
            certnet_bin: absolute(bin)?,
            rust_log: config.rust_log.clone(),
            nodes,
            blocked: Vec::new(),
        };
        state.save(&dir)?;
        let mut federation = Self::with_state(dir, state, config.spawn)?;
        federation.set_timeouts(config.ready_timeout, config.stop_timeout);
        cleanup.0.clear();
        Ok(federation)
    }

    /// The testnet in `dir`, as an earlier invocation left it; nodes still running are adopted.
    pub fn open(dir: &Path, spawn: Spawn) -> Result<Self, Error> {
        let dir = absolute(dir)?;
        let state = FederationState::load(&dir)?;
        Self::with_state(dir, state, spawn)
    }

    fn with_state(dir: PathBuf, state: FederationState, spawn: Spawn) -> Result<Self, Error> {
        let mut clients = Vec::with_capacity(state.nodes.len());
        for node in &state.nodes {
            let client = ApiClient::with_token_file(node.api, &node.data_dir.join("api.token"))
                .map_err(|source| Error::Api {
                    node: node.name.clone(),
                    source,
                })?;
            clients.push(client);
        }
        let procs = state
            .nodes
            .iter()
            .map(|n| {
                n.process
                    .filter(ProcessId::is_alive)
                    .map(NodeProcess::found)
            })
            .collect();
        Ok(Self {
            dir,
            state,
            clients,
            procs,
            spawn,
            ready_timeout: DEFAULT_READY_TIMEOUT,
            stop_timeout: DEFAULT_STOP_TIMEOUT,
        })
    }

    /// Sets how long nodes may take to become ready and to exit.
    pub fn set_timeouts(&mut self, ready: Duration, stop: Duration) {
        self.ready_timeout = ready;
        self.stop_timeout = stop;
    }

    /// The testnet directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The network id.
    pub fn network(&self) -> &str {
        &self.state.network
    }

    /// The `certnet` binary the nodes run.
    pub fn certnet_bin(&self) -> &Path {
        &self.state.certnet_bin
    }

    /// Uses another `certnet` binary from the next start on.
    pub fn set_certnet_bin(&mut self, bin: PathBuf) -> Result<(), Error> {
        self.state.certnet_bin = bin;
        self.save()
    }

    /// Number of nodes (members and outsiders).
    pub fn len(&self) -> usize {
        self.state.nodes.len()
    }

    /// Whether there are no nodes (never, for a created testnet).
    pub fn is_empty(&self) -> bool {
        self.state.nodes.is_empty()
    }

    /// Every node, in order.
    pub fn nodes(&self) -> &[NodeState] {
        &self.state.nodes
    }

    /// Node `i`.
    pub fn node(&self, i: usize) -> &NodeState {
        &self.state.nodes[i]
    }

    /// Node `i`'s name.
    pub fn name(&self, i: usize) -> &str {
        &self.state.nodes[i].name
    }

    /// Node `i`'s PeerId.
    pub fn peer_id(&self, i: usize) -> &str {
        &self.state.nodes[i].peer_id
    }

    /// The API client of node `i`.
    pub fn client(&self, i: usize) -> &ApiClient {
        &self.clients[i]
    }

    /// Indices of the roster members (not the outsiders).
    pub fn members(&self) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.state.nodes[i].on_roster)
            .collect()
    }

    /// Blocks in force (`by` refuses `peer`).
    pub fn blocked(&self) -> &[Block] {
        &self.state.blocked
    }

    /// The node called `given` (case-insensitive), or numbered `given` from 1.
    pub fn find(&self, given: &str) -> Result<usize, Error> {
        let given = given.trim();
        if let Some(i) = self
            .state
            .nodes
            .iter()
            .position(|n| n.name.eq_ignore_ascii_case(given))
        {
            return Ok(i);
        }
        match given.parse::<usize>() {
            Ok(n) if (1..=self.len()).contains(&n) => Ok(n - 1),
            _ => Err(Error::UnknownNode {
                given: given.to_owned(),
                names: self.names().join(", "),
                count: self.len(),
            }),
        }
    }

    fn names(&self) -> Vec<String> {
        self.state.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// The pid of node `i`'s process, if it runs.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.running_id(i).map(|id| id.pid)
    }

    /// Whether node `i`'s process runs.
    pub fn is_running(&self, i: usize) -> bool {
        self.running_id(i).is_some()
    }

    fn running_id(&self, i: usize) -> Option<ProcessId> {
        self.procs[i]
            .as_ref()
            .map(NodeProcess::id)
            .filter(ProcessId::is_alive)
    }

    /// Indices of the nodes whose process runs.
    pub fn running(&self) -> Vec<usize> {
        (0..self.len()).filter(|&i| self.is_running(i)).collect()
    }

    fn save(&self) -> Result<(), Error> {
        Ok(self.state.save(&self.dir)?)
    }

    // ---- starting and stopping ----

    /// Starts node `i` and waits until it is ready; re-applies the blocks it holds in a partition.
    pub fn start(&mut self, i: usize) -> Result<(), Error> {
        self.spawn_node(i)?;
        self.wait_ready(i)?;
        self.reapply_blocks(i)
    }

    /// Starts every node that is not running, then waits until all are ready.
    pub fn start_all(&mut self) -> Result<(), Error> {
        let stopped: Vec<usize> = (0..self.len()).filter(|&i| !self.is_running(i)).collect();
        for &i in &stopped {
            self.spawn_node(i)?;
        }
        for &i in &stopped {
            self.wait_ready(i)?;
            self.reapply_blocks(i)?;
        }
        Ok(())
    }

    fn spawn_node(&mut self, i: usize) -> Result<(), Error> {
        if let Some(pid) = self.pid(i) {
            return Err(Error::AlreadyRunning {
                node: self.name(i).to_owned(),
                pid,
            });
        }
        let node = &self.state.nodes[i];
        // A node killed with SIGKILL leaves its api.addr behind; readiness must see a fresh one.
        let api_addr = node.data_dir.join("api.addr");
        match std::fs::remove_file(&api_addr) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(Error::Io {
                    action: "remove",
                    path: api_addr,
                    source,
                });
            }
        }
        let process = NodeProcess::spawn(&Launch {
            bin: &self.state.certnet_bin,
            data_dir: &node.data_dir,
            log: &node.log,
            rust_log: self.state.rust_log.as_deref(),
            spawn: self.spawn,
        })
        .map_err(|source| Error::Spawn {
            node: node.name.clone(),
            bin: self.state.certnet_bin.clone(),
            source,
        })?;
        self.state.nodes[i].process = Some(process.id());
        self.procs[i] = Some(process);
        self.save()
    }

    /// Waits until node `i` has written `api.addr` and answers `GET /v1/status` as itself; fails
    /// early, with its log's tail, if its process exits.
    pub fn wait_ready(&mut self, i: usize) -> Result<Duration, Error> {
        let start = Instant::now();
        let node = self.state.nodes[i].clone();
        let api_addr = node.data_dir.join("api.addr");
        let mut detail = String::from("api.addr not written yet");
        loop {
            let Some(process) = self.procs[i].as_mut() else {
                return Err(Error::NotRunning { node: node.name });
            };
            if !process.is_running() {
                let status = process
                    .try_exit_status()
                    .map_or_else(|| "status unknown".to_owned(), |s| s.to_string());
                self.forget(i)?;
                return Err(Error::Exited {
                    tail: self.log_tail(i, TAIL_LINES),
                    node: node.name,
                    status,
                    log: node.log,
                });
            }
            if let Ok(text) = std::fs::read_to_string(&api_addr) {
                match text.trim().parse::<SocketAddr>() {
                    Ok(addr) if addr == node.api => match self.clients[i].status() {
                        Ok(status) if status.peer_id == node.peer_id => return Ok(start.elapsed()),
                        Ok(status) => {
                            return Err(Error::WrongNode {
                                node: node.name,
                                addr,
                                expected: node.peer_id,
                                found: status.peer_id,
                            });
                        }
                        Err(err) => detail = format!("GET /v1/status: {err}"),
                    },
                    Ok(addr) => {
                        detail = format!("api.addr holds {addr}, expected {}", node.api);
                    }
                    Err(_) => detail = format!("api.addr holds {:?}", text.trim()),
                }
            }
            if start.elapsed() >= self.ready_timeout {
                return Err(Error::NotReady {
                    waited: start.elapsed(),
                    detail,
                    tail: self.log_tail(i, TAIL_LINES),
                    node: node.name,
                    log: node.log,
                });
            }
            std::thread::sleep(READY_POLL);
        }
    }

    /// Forgets node `i`'s process (it has exited).
    fn forget(&mut self, i: usize) -> Result<(), Error> {
        self.procs[i] = None;
        self.state.nodes[i].process = None;
        self.save()
    }

    fn running_process(&mut self, i: usize) -> Result<&mut NodeProcess, Error> {
        let alive = self.is_running(i);
        match self.procs[i].as_mut() {
            Some(process) if alive => Ok(process),
            _ => Err(Error::NotRunning {
                node: self.state.nodes[i].name.clone(),
            }),
        }
    }

    /// Sends `signal` to node `i` and waits for it to exit; its exit status if it was our child.
    fn signal_and_wait(
        &mut self,
        i: usize,
        signal: Signal,
        signal_name: &'static str,
    ) -> Result<Option<ExitStatus>, Error> {
        let timeout = self.stop_timeout;
        let node = self.state.nodes[i].name.clone();
        let process = self.running_process(i)?;
        let pid = process.id().pid;
        process.signal(signal).map_err(|source| Error::Signal {
            node: node.clone(),
            pid,
            source,
        })?;
        let status = process
            .wait_exit(timeout)
            .map_err(|()| Error::StopTimeout {
                node,
                pid,
                signal: signal_name,
                waited: timeout,
            })?;
        self.forget(i)?;
        Ok(status)
    }

    /// SIGKILL node `i` and wait until it is gone: a crash, with no chance to flush or clean up.
    pub fn kill(&mut self, i: usize) -> Result<(), Error> {
        self.signal_and_wait(i, Signal::KILL, "SIGKILL").map(drop)
    }

    /// SIGTERM node `i` and wait until it has exited; its exit status when this program started it.
    pub fn stop(&mut self, i: usize) -> Result<Option<ExitStatus>, Error> {
        self.signal_and_wait(i, Signal::TERM, "SIGTERM")
    }

    /// Stops node `i` if it runs (SIGTERM), then starts it again on the same data dir and ports.
    pub fn restart(&mut self, i: usize) -> Result<(), Error> {
        if self.is_running(i) {
            self.stop(i)?;
        }
        self.start(i)
    }

    /// Stops every node: SIGTERM to all, then SIGKILL to any still running after the stop timeout;
    /// then checks with `/proc` that none of their processes is left. Clears the block lists.
    pub fn down(&mut self) -> Result<Vec<(String, NodeOutcome)>, Error> {
        let mut outcomes = vec![NodeOutcome::NotRunning; self.len()];
        let running = self.running();
        for &i in &running {
            if let Some(process) = &self.procs[i] {
                process
                    .signal(Signal::TERM)
                    .map_err(|source| Error::Signal {
                        node: self.state.nodes[i].name.clone(),
                        pid: process.id().pid,
                        source,
                    })?;
            }
        }
        let deadline = Instant::now() + self.stop_timeout;
        let mut left = Vec::new();
        for &i in &running {
            let Some(process) = self.procs[i].as_mut() else {
                continue;
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            outcomes[i] = match process.wait_exit(remaining) {
                Ok(status) => NodeOutcome::Stopped(status),
                Err(()) => {
                    process.kill_now();
                    match process.wait_exit(self.stop_timeout) {
                        Ok(_) => NodeOutcome::Killed,
                        Err(()) => {
                            left.push((self.state.nodes[i].name.clone(), process.id().pid));
                            continue;
                        }
                    }
                }
            };
            self.procs[i] = None;
            self.state.nodes[i].process = None;
        }
        // Whatever the state file says, no recorded process may still run.
        for node in &self.state.nodes {
            if let Some(id) = node.process
                && id.is_alive()
                && !left.iter().any(|(_, pid)| *pid == id.pid)
            {
                left.push((node.name.clone(), id.pid));
            }
        }
        self.state.blocked.clear();
        self.save()?;
        if !left.is_empty() {
            return Err(Error::Orphans { left });
        }
        Ok(self
            .state
            .nodes
            .iter()
            .map(|n| n.name.clone())
            .zip(outcomes)
            .collect())
    }

    /// Removes what [`Federation::create`] made (state file, node data dirs, logs, and the
    /// directory itself if then empty). Refuses while a node runs.
    pub fn purge(self) -> Result<(), Error> {
        if let Some(&i) = self.running().first() {
            return Err(Error::AlreadyRunning {
                node: self.name(i).to_owned(),
                pid: self.pid(i).unwrap_or_default(),
            });
        }
        for node in &self.state.nodes {
            remove_dir(&node.data_dir)?;
            remove_file(&node.log)?;
        }
        let logs = self.dir.join("logs");
        let _ = std::fs::remove_dir(&logs);
        remove_file(&FederationState::path(&self.dir))?;
        let _ = std::fs::remove_dir(&self.dir);
        Ok(())
    }

    // ---- the API ----

    fn api<T>(&self, i: usize, result: Result<T, ApiError>) -> Result<T, Error> {
        result.map_err(|source| Error::Api {
            node: self.name(i).to_owned(),
            source,
        })
    }

    /// `GET /v1/status` of node `i`.
    pub fn status(&self, i: usize) -> Result<Status, Error> {
        self.api(i, self.clients[i].status())
    }

    /// Publishes `record` (`{kind, tlp, refs?, content}`) on node `i`; the new record's id.
    pub fn publish(&self, i: usize, record: &Value) -> Result<String, Error> {
        self.publish_full(i, record).map(|p| p.id)
    }

    /// Publishes `record` on node `i`; the node's whole answer.
    pub fn publish_full(&self, i: usize, record: &Value) -> Result<Published, Error> {
        self.api(i, self.clients[i].publish(record))
    }

    /// Every record node `i` lists, following cursors to the end.
    pub fn records(&self, i: usize) -> Result<Vec<Value>, Error> {
        self.api(i, self.clients[i].records(&RecordQuery::default()))
    }

    /// Whether the nodes have networking: `GET /v1/peers` on the first running node answers.
    pub fn supports_networking(&self) -> Result<bool, Error> {
        let &i = self.running().first().ok_or(Error::NoneRunning)?;
        self.api(i, self.clients[i].has_networking())
    }

    /// The PeerIds node `i` is connected to.
    pub fn connected_peers(&self, i: usize) -> Result<BTreeSet<String>, Error> {
        let peers = self.api(i, self.clients[i].peers())?;
        Ok(client::connected_peers(&peers))
    }

    /// Waits until every running member is connected to every other running member (outsiders
    /// are not counted).
    pub fn wait_mesh(&self, timeout: Duration) -> Result<Mesh, Error> {
        let members: Vec<usize> = self
            .members()
            .into_iter()
            .filter(|&i| self.is_running(i))
            .collect();
        let Some(&first) = members.first() else {
            return Err(Error::NoneRunning);
        };
        if !self.api(first, self.clients[first].has_networking())? {
            return Ok(Mesh::NoNetworking);
        }
        let took = self.wait_until(
            timeout,
            "every running member to be connected to every other",
            |fed| {
                for &i in &members {
                    let peers = fed.connected_peers(i)?;
                    if members
                        .iter()
                        .any(|&j| j != i && !peers.contains(fed.peer_id(j)))
                    {
                        return Ok(false);
                    }
                }
                Ok::<_, Error>(true)
            },
        )?;
        Ok(Mesh::Formed(took))
    }

    // ---- waiting and logs ----

    /// Polls `condition` until it holds or `timeout` passes. On timeout the error names `what`, the
    /// condition's last error (with its causes), and the tail of every node's log.
    pub fn wait_until<E: std::error::Error>(
        &self,
        timeout: Duration,
        what: &str,
        mut condition: impl FnMut(&Self) -> Result<bool, E>,
    ) -> Result<Duration, Error> {
        let mut poll = || condition(self).map_err(|err| error::chain(&err));
        wait::wait_until(timeout, what, &mut poll).map_err(|wait| Error::Timeout {
            wait,
            logs: self.log_tails(TAIL_LINES),
        })
    }

    /// The last `lines` lines of node `i`'s log.
    pub fn log_tail(&self, i: usize, lines: usize) -> String {
        tail(&self.state.nodes[i].log, lines)
    }

    /// The last `lines` lines of every node's log, each under a header naming the node.
    pub fn log_tails(&self, lines: usize) -> String {
        let mut out = String::new();
        for (i, node) in self.state.nodes.iter().enumerate() {
            out.push_str(&format!(
                "--- {} ({}), last {lines} lines of {}\n{}\n",
                node.name,
                self.pid(i)
                    .map_or_else(|| "not running".to_owned(), |p| format!("pid {p}")),
                node.log.display(),
                self.log_tail(i, lines)
            ));
        }
        out
    }
}

impl Drop for Federation {
    fn drop(&mut self) {
        if self.spawn == Spawn::Owned {
            for process in self.procs.iter_mut().flatten() {
                process.kill_now();
            }
        }
    }
}

/// Removes the paths it holds when dropped (a failed `create`), unless emptied.
#[derive(Default)]
struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for path in self.0.iter().rev() {
            let _ = std::fs::remove_dir_all(path);
        }
    }
}

pub(super) fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Error {
    let path = path.to_owned();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}

fn absolute(path: &Path) -> Result<PathBuf, Error> {
    std::path::absolute(path).map_err(io_err("resolve", path))
}

fn remove_dir(path: &Path) -> Result<(), Error> {
    match std::fs::remove_dir_all(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(io_err("remove", path)(err)),
        _ => Ok(()),
    }
}

fn remove_file(path: &Path) -> Result<(), Error> {
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(io_err("remove", path)(err)),
        _ => Ok(()),
    }
}

/// The last `lines` lines of a file (read from its last 64 KiB), or a note saying why there are none.
fn tail(path: &Path, lines: usize) -> String {
    let read = || -> io::Result<String> {
        let mut file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    match read() {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(err) => format!("(no log: {err})"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn tail_keeps_the_last_lines() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("log");
        std::fs::write(&path, "a\nb\nc\n").unwrap();
        assert_eq!(tail(&path, 2), "b\nc");
        assert_eq!(tail(&path, 10), "a\nb\nc");
        assert!(tail(&tmp.path().join("none"), 2).starts_with("(no log:"));
    }
}
