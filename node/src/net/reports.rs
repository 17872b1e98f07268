//! What the network answers the event loop's callers (API handlers, the CLI through the API, tests):
//! publish outcomes, the peer list, roster reload results, dial results.

use std::time::{Duration, SystemTime};

use libp2p::{Multiaddr, PeerId};

use crate::datadir::roster_file::RosterError;
use crate::membership::{MemberName, NetworkId};

/// What gossip publishing did with an announced record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnnounceOutcome {
    /// Sent to peers.
    Sent,
    /// No peer is subscribed yet: sync delivers it.
    NoPeers,
    /// Published before (same bytes): nothing to do.
    Duplicate,
    /// Every peer's send queue is full: sync delivers it.
    QueuesFull,
    /// This node publishes faster than the federation's per-author rate (`[p2p] author_rate`):
    /// not gossiped, so that peers do not count it as a flood; they fetch it by sync.
    Paced,
    /// Networking is off on this node.
    Offline,
    /// Gossip refused the message (a bug: records always fit).
    Failed(String),
}

impl AnnounceOutcome {
    /// A stable label for logs, metrics and the API.
    pub fn label(&self) -> &'static str {
        match self {
            AnnounceOutcome::Sent => "sent",
            AnnounceOutcome::NoPeers => "no_peers",
            AnnounceOutcome::Duplicate => "duplicate",
            AnnounceOutcome::QueuesFull => "queues_full",
            AnnounceOutcome::Paced => "paced",
            AnnounceOutcome::Offline => "offline",
            AnnounceOutcome::Failed(_) => "failed",
        }
    }
}

/// One connected peer, as the operator sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerInfo {
    /// Its PeerId.
    pub peer_id: PeerId,
    /// The roster member it belongs to.
    pub member: Option<MemberName>,
    /// The connection's remote address, then the listen addresses it reported.
    pub addrs: Vec<Multiaddr>,
    /// When the connection was established.
    pub connected_since: SystemTime,
    /// Whether this node dialed.
    pub outbound: bool,
    /// Last ping round trip.
    pub ping: Option<Duration>,
    /// Whether it subscribed to the records topic (gossip reaches it).
    pub subscribed: bool,
    /// Its gossipsub score, as this node computes it.
    pub gossip_score: Option<f64>,
    /// Its recent sync offences.
    pub offences: u32,
    /// When it last answered a Heads request (the start of a sync round), if it did on this
    /// connection.
    pub last_heads: Option<SystemTime>,
    /// The roster members' heads (author, seq) in that answer.
    pub heads: Vec<(certnet_protocol::keys::AuthorKey, u64)>,
}

/// This node's view of the network.
#[derive(Debug, Clone, PartialEq)]
pub struct PeersSnapshot {
    /// This node's PeerId.
    pub local_peer_id: PeerId,
    /// Addresses this node listens on.
    pub listen_addrs: Vec<Multiaddr>,
    /// Connected peers, by member name then PeerId.
    pub peers: Vec<PeerInfo>,
    /// Peers the operator blocked.
    pub blocked: Vec<PeerId>,
    /// Every other roster member, connected or not.
    pub members: Vec<MemberPresence>,
}

/// Whether a roster member is connected, and when it was last.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberPresence {
    /// The member.
    pub name: MemberName,
    /// One of its PeerIds is connected now.
    pub connected: bool,
    /// When its last connection closed (since this node started), if it is not connected.
    pub last_seen: Option<SystemTime>,
    /// One of its PeerIds is blocked.
    pub blocked: bool,
}

/// What a roster reload changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterChange {
    /// Members in the new roster.
    pub members: usize,
    /// Members added.
    pub added: Vec<MemberName>,
    /// Members removed.
    pub removed: Vec<MemberName>,
    /// Peers disconnected because they are no longer allowed.
    pub disconnected: Vec<PeerId>,
}

/// Why a roster reload was refused (the running roster stays).
#[derive(Debug, thiserror::Error)]
pub enum RosterReloadError {
    /// The node was started without a roster file.
    #[error("this node has no roster file to reload")]
    NoFile,
    /// roster.toml is unreadable or invalid.
    #[error(transparent)]
    Invalid(#[from] RosterError),
    /// The network id changed: that is a different federation.
    #[error(
        "roster.toml now names network `{new}` but this node runs `{running}`: a network change needs a new data directory; put `network = \"{running}\"` back"
    )]
    NetworkChanged {
        /// The network the node runs.
        running: NetworkId,
        /// The network in the file.
        new: NetworkId,
    },
}

/// A dial did not produce a connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dial failed: {0}")]
pub struct DialError(pub String);
