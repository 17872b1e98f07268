//! The node's event loop: one task owns the node's state and the libp2p Swarm; everything else holds
//! a [`NodeHandle`].
//!
//! Shaped like rust-libp2p's `examples/file-sharing`: the cloneable handle sends
//! `Command { .., reply: oneshot }` over a bounded channel, and [`Node::run`] answers commands in one
//! `select!` that also drives the network:
//!
//! ```text
//! select! { biased;
//!     shutdown           => stop (running store jobs finish first)
//!     command            => answer it (status, announce, peers, block, roster reload, dial)
//!     network event      => Swarm event | finished store job | timer tick   (net::Network)
//! }
//! ```
//!
//! Handlers never block: store work runs in blocking tasks owned by the network's `JoinSet`, and
//! their results come back as network events. A node built with [`Node::new`] has no network (for
//! API tests); [`Node::start`] builds one.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::Multiaddr;
use libp2p_identity::{Keypair, PeerId};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info};

use crate::datadir::load::LoadedNode;
pub use crate::membership::NodeIdentity;
use crate::membership::RosterCell;
use crate::net::blocklist;
use crate::net::metrics::NetMetrics;
use crate::net::{
    AnnounceOutcome, DialError, NetConfig, NetError, Network, OwnFeedView, PeersSnapshot,
    RosterChange, RosterReloadError, next_event,
};
use crate::store::Store;

/// How many commands may wait for the loop before senders wait too.
pub const COMMAND_QUEUE: usize = 256;

/// The node's answer to [`Command::Status`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    /// Who the node is.
    pub identity: NodeIdentity,
    /// The certnet version running.
    pub version: &'static str,
    /// Time since the event loop started.
    pub uptime: Duration,
}

/// A request to the event loop. Each carries the channel its answer goes back on.
#[derive(Debug)]
#[non_exhaustive]
pub enum Command {
    /// What peers claimed and proved about this node's own feed.
    OwnFeed {
        /// Where the answer goes.
        reply: oneshot::Sender<OwnFeedView>,
    },
    /// Report identity, version and uptime.
    Status {
        /// Where the answer goes.
        reply: oneshot::Sender<NodeStatus>,
    },
    /// Gossip one of this node's records. Call only after it is durably stored.
    Announce {
        /// The signed record.
        bytes: Vec<u8>,
        /// Where the answer goes.
        reply: oneshot::Sender<AnnounceOutcome>,
    },
    /// List connected peers.
    Peers {
        /// Where the answer goes.
        reply: oneshot::Sender<PeersSnapshot>,
    },
    /// Block a peer (disconnect it and refuse it from now on).
    Block {
        /// The peer.
        peer: PeerId,
        /// Whether it was not blocked before.
        reply: oneshot::Sender<bool>,
    },
    /// Unblock a peer.
    Unblock {
        /// The peer.
        peer: PeerId,
        /// Whether it was blocked.
        reply: oneshot::Sender<bool>,
    },
    /// Re-read roster.toml and apply it.
    ReloadRoster {
        /// Where the answer goes; `None` logs it only (SIGHUP).
        reply: Option<oneshot::Sender<Result<RosterChange, RosterReloadError>>>,
    },
    /// Dial an address (operators and tests).
    Dial {
        /// Where to.
        addr: Multiaddr,
        /// The peer reached, once connected.
        reply: oneshot::Sender<Result<PeerId, DialError>>,
    },
}

/// The event loop stopped before answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the node's event loop has stopped (the node is shutting down)")]
pub struct NodeStopped;

/// A cloneable way to talk to the event loop from API handlers and other tasks.
#[derive(Debug, Clone)]
pub struct NodeHandle {
    commands: mpsc::Sender<Command>,
}

impl NodeHandle {
    /// Sends a command, waiting for queue space if the loop is busy.
    pub async fn send(&self, command: Command) -> Result<(), NodeStopped> {
        self.commands.send(command).await.map_err(|_| NodeStopped)
    }

    /// Sends the command `make` builds around a reply channel and waits for the answer.
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NodeStopped> {
        let (reply, answer) = oneshot::channel();
        self.send(make(reply)).await?;
        answer.await.map_err(|_| NodeStopped)
    }

    /// Asks the loop for its status.
    pub async fn status(&self) -> Result<NodeStatus, NodeStopped> {
        self.ask(|reply| Command::Status { reply }).await
    }

    /// Gossips one of this node's records. Persist first, then announce: peers that miss the
    /// gossip (none connected yet, queues full) get the record by sync.
    pub async fn announce(&self, bytes: Vec<u8>) -> Result<AnnounceOutcome, NodeStopped> {
        self.ask(|reply| Command::Announce { bytes, reply }).await
    }

    /// What peers claimed about this node's own feed since start, and which claims they proved.
    pub async fn own_feed(&self) -> Result<OwnFeedView, NodeStopped> {
        self.ask(|reply| Command::OwnFeed { reply }).await
    }

    /// Connected peers, listen addresses and the block list.
    pub async fn peers(&self) -> Result<PeersSnapshot, NodeStopped> {
        self.ask(|reply| Command::Peers { reply }).await
    }

    /// Blocks `peer`; `true` if it was not blocked before.
    pub async fn block(&self, peer: PeerId) -> Result<bool, NodeStopped> {
        self.ask(|reply| Command::Block { peer, reply }).await
    }

    /// Unblocks `peer`; `true` if it was blocked.
    pub async fn unblock(&self, peer: PeerId) -> Result<bool, NodeStopped> {
        self.ask(|reply| Command::Unblock { peer, reply }).await
    }

    /// Re-reads roster.toml and applies it: allow-list, disconnections, record acceptance.
    pub async fn reload_roster(
        &self,
    ) -> Result<Result<RosterChange, RosterReloadError>, NodeStopped> {
        self.ask(|reply| Command::ReloadRoster { reply: Some(reply) })
            .await
    }

    /// Dials `addr` and waits until a connection is up or the dial failed.
    pub async fn dial(&self, addr: Multiaddr) -> Result<Result<PeerId, DialError>, NodeStopped> {
        self.ask(|reply| Command::Dial { addr, reply }).await
    }
}

/// Everything [`Node::start`] needs to run a node with networking.
pub struct NodeSetup {
    /// Who the node is.
    pub identity: NodeIdentity,
    /// The libp2p keypair (from the node key).
    pub keypair: Keypair,
    /// The store, shared with the API.
    pub store: Arc<Store>,
    /// The roster, shared with the API; reloads replace its contents.
    pub roster: RosterCell,
    /// Network settings.
    pub net: NetConfig,
    /// Network metrics (register them in the node's registry with [`NetMetrics::register`]).
    pub metrics: NetMetrics,
}

impl NodeSetup {
    /// The setup for a loaded data directory: node key, `[p2p]` settings, the block list at
    /// `D/blocked-peers.txt` and reloads from `D/roster.toml`.
    pub fn from_loaded(
        node: &LoadedNode,
        store: Arc<Store>,
        roster: RosterCell,
        metrics: NetMetrics,
    ) -> Result<Self, NetError> {
        let mut net = NetConfig::from_config(node.config().p2p())?;
        net.block_list = Some(node.data_dir().root().join(blocklist::FILE_NAME));
        net.roster_file = Some(node.data_dir().roster());
        Ok(Self {
            identity: node.identity(),
            keypair: node.node_key().keypair().clone(),
            store,
            roster,
            net,
            metrics,
        })
    }
}

impl std::fmt::Debug for NodeSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeSetup")
            .field("identity", &self.identity)
            .field("net", &self.net)
            .finish_non_exhaustive()
    }
}

/// The event loop and the state it alone owns.
#[derive(Debug)]
pub struct Node {
    commands: mpsc::Receiver<Command>,
    identity: NodeIdentity,
    started: Instant,
    net: Option<Network>,
}

impl Node {
    /// A loop without networking (for API tests) and the handle that talks to it. Call
    /// [`Node::run`] to start it.
    pub fn new(identity: NodeIdentity) -> (NodeHandle, Node) {
        Self::with_network(identity, None)
    }

    /// A loop with networking: builds the Swarm and starts listening (so a busy port or a bad
    /// address fails here, at start). Must be called inside a tokio runtime.
    pub fn start(setup: NodeSetup) -> Result<(NodeHandle, Node), NetError> {
        let network = Network::new(
            setup.keypair,
            setup.identity.author_key,
            setup.store,
            setup.roster,
            setup.net,
            setup.metrics,
        )?;
        Ok(Self::with_network(setup.identity, Some(network)))
    }

    fn with_network(identity: NodeIdentity, net: Option<Network>) -> (NodeHandle, Node) {
        let (sender, commands) = mpsc::channel(COMMAND_QUEUE);
        let node = Node {
            commands,
            identity,
            started: Instant::now(),
            net,
        };
        (NodeHandle { commands: sender }, node)
    }

    /// Runs until `shutdown` completes or every handle is dropped.
    ///
    /// Shutdown comes first in the `select!`, so a stop is never starved by a busy command queue.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        self.started = Instant::now();
        info!(
            name = %self.identity.name,
            network = %self.identity.network,
            peer_id = %self.identity.peer_id,
            "event loop started"
        );
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                command = self.commands.recv() => match command {
                    Some(command) => self.handle_command(command),
                    None => break,
                },
                event = next_event(self.net.as_mut()) => {
                    if let Some(net) = self.net.as_mut() {
                        net.handle(event);
                    }
                }
            }
        }
        if let Some(net) = self.net.as_mut() {
            net.shutdown().await;
        }
        info!("event loop stopped");
    }

    /// Handles one command. Must stay short and never block: it runs on the loop.
    fn handle_command(&mut self, command: Command) {
        match command {
            // The asker may have gone away (client disconnected): nothing to do then.
            Command::Status { reply } => {
                debug!("status requested");
                let _ = reply.send(self.status());
            }
            Command::Announce { bytes, reply } => {
                let outcome = match self.net.as_mut() {
                    Some(net) => net.announce(bytes),
                    None => AnnounceOutcome::Offline,
                };
                let _ = reply.send(outcome);
            }
            Command::OwnFeed { reply } => {
                let view = self.net.as_ref().map(Network::own_feed).unwrap_or_default();
                let _ = reply.send(view);
            }
            Command::Peers { reply } => {
                let snapshot = match self.net.as_ref() {
                    Some(net) => net.peers(),
                    None => PeersSnapshot {
                        local_peer_id: self.identity.peer_id,
                        listen_addrs: Vec::new(),
                        peers: Vec::new(),
                        blocked: Vec::new(),
                        members: Vec::new(),
                    },
                };
                let _ = reply.send(snapshot);
            }
            Command::Block { peer, reply } => {
                let _ = reply.send(self.net.as_mut().is_some_and(|net| net.block(peer)));
            }
            Command::Unblock { peer, reply } => {
                let _ = reply.send(self.net.as_mut().is_some_and(|net| net.unblock(peer)));
            }
            Command::ReloadRoster { reply } => match self.net.as_mut() {
                Some(net) => net.reload_roster(reply),
                None => {
                    if let Some(reply) = reply {
                        let _ = reply.send(Err(RosterReloadError::NoFile));
                    }
                }
            },
            Command::Dial { addr, reply } => match self.net.as_mut() {
                Some(net) => net.dial(addr, reply),
                None => {
                    let _ = reply.send(Err(DialError("networking is off".into())));
                }
            },
        }
    }

    fn status(&self) -> NodeStatus {
        NodeStatus {
            identity: self.identity.clone(),
            version: env!("CARGO_PKG_VERSION"),
            uptime: self.started.elapsed(),
        }
    }
}

#[cfg(test)]
mod tests {
    use certnet_protocol::keys::AuthorSecret;

    use super::*;
    use crate::datadir::keys::NodeSecret;

    fn identity() -> NodeIdentity {
        NodeIdentity {
            name: "CERT-T".parse().unwrap(),
            network: "test".parse().unwrap(),
            author_key: AuthorSecret::from_seed(&[1; 32]).public(),
            peer_id: NodeSecret::from_seed(&[2; 32]).unwrap().peer_id(),
        }
    }

    #[tokio::test]
    async fn status_round_trip_then_shutdown() {
        let (handle, node) = Node::new(identity());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(node.run(async {
            let _ = stopped.await;
        }));
        let status = handle.clone().status().await.unwrap();
        assert_eq!(status.identity, identity());
        assert_eq!(status.version, env!("CARGO_PKG_VERSION"));
        stop.send(()).unwrap();
        task.await.unwrap();
        assert_eq!(handle.status().await, Err(NodeStopped));
    }

    #[tokio::test]
    async fn loop_ends_when_all_handles_drop() {
        let (handle, node) = Node::new(identity());
        let task = tokio::spawn(node.run(std::future::pending()));
        drop(handle);
        task.await.unwrap();
    }
}
