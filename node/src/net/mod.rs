//! The node's libp2p networking: who may connect, how records travel (gossip), how nodes catch up
//! (sync), and what the operator sees of it (peers, metrics).
//!
//! - `behaviour`: the Swarm and its behaviours (allow/block lists, one connection per peer,
//!   identify, ping, gossipsub, request-response sync, Kademlia, optional mDNS).
//! - [`codec`]: sync frames on the wire (length prefix, bounds checked before allocating).
//! - [`gossip`]: topic, message id, gossipsub and peer-score settings, validation results.
//! - `network`: the state the event loop owns; it routes every event to one of these state machines
//!   (pure, no I/O, each unit-tested):
//!   - `peers`: connected peers, offences, bans, re-dial backoff;
//!   - `scheduler`: the sync client (what to ask whom; slots taken when sent; timeouts, backoff);
//!   - `own_feed`: claims about this node's own feed, counted only once proven;
//!   - `serving`: which sync requests of peers are served (budgets, slots);
//!   - `intake`: what the store's writer ingests next (bounded lanes, fair round-robin);
//!   - [`author_rate`]: how fast another member's feed may grow here (gossip and sync together).
//! - [`limits`]: every admission limit, token buckets, rate-limited denial logs; `permit`: work slots
//!   as RAII guards.
//! - `jobs`: blocking store work run off the event loop (ingest, serving sync, head comparison).
//! - `reports`: what the network answers its callers (peer list, publish and reload outcomes).
//! - [`blocklist`]: the operator's block list file.
//! - [`metrics`]: Prometheus metrics.
//!
//! Invariant: only the event loop ([`crate::node`]) touches the Swarm; store work runs in blocking
//! tasks whose results come back to the loop.

mod author_rate;
mod behaviour;
pub mod blocklist;
pub mod codec;
pub mod gossip;
mod intake;
mod jobs;
pub mod limits;
pub mod metrics;
mod network;
mod own_feed;
mod peers;
mod permit;
mod reports;
mod scheduler;
mod serving;

use std::path::PathBuf;
use std::time::Duration;

use libp2p::Multiaddr;

pub(crate) use network::{Network, next_event};
pub use own_feed::OwnFeedView;
pub use reports::{
    AnnounceOutcome, DialError, MemberPresence, PeerInfo, PeersSnapshot, RosterChange,
    RosterReloadError,
};

use crate::datadir::config::P2pConfig;

/// Default idle timeout: long, so members that have nothing to say stay connected.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// Default time between sync rounds with a random connected member.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(30);
/// First re-dial delay of a disconnected member; doubles up to [`MAX_REDIAL_DELAY`].
pub const MIN_REDIAL_DELAY: Duration = Duration::from_secs(2);
/// Longest re-dial delay.
pub const MAX_REDIAL_DELAY: Duration = Duration::from_secs(60);

/// The network's settings, parsed and typed.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Addresses to listen on.
    pub listen: Vec<Multiaddr>,
    /// Whether mDNS discovery runs.
    pub mdns: bool,
    /// How long an idle connection stays open.
    pub idle_timeout: Duration,
    /// Time between periodic sync rounds.
    pub sync_interval: Duration,
    /// Where the operator's block list lives (`None`: in memory only).
    pub block_list: Option<PathBuf>,
    /// Where roster.toml lives, for reloads (`None`: reloads are refused).
    pub roster_file: Option<PathBuf>,
    /// How fast another member's feed may grow at this node ([`author_rate`]).
    pub author_budget: limits::Budget,
}

impl NetConfig {
    /// Settings for these listen addresses, everything else at its default.
    pub fn new(listen: Vec<Multiaddr>) -> Self {
        Self {
            listen,
            mdns: false,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            sync_interval: DEFAULT_SYNC_INTERVAL,
            block_list: None,
            roster_file: None,
            author_budget: limits::Budget {
                burst: limits::DEFAULT_AUTHOR_BURST as f64,
                per_sec: limits::DEFAULT_AUTHOR_RATE as f64,
            },
        }
    }

    /// Settings from config.toml's `[p2p]` section.
    pub fn from_config(p2p: &P2pConfig) -> Result<Self, NetError> {
        let listen = p2p
            .listen()
            .iter()
            .map(|text| {
                text.parse::<Multiaddr>()
                    .map_err(|source| NetError::BadListenAddr {
                        addr: text.clone(),
                        source,
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut config = Self::new(listen);
        config.mdns = p2p.mdns();
        config.author_budget = limits::Budget {
            burst: p2p.author_burst() as f64,
            per_sec: p2p.author_rate() as f64,
        };
        Ok(config)
    }
}

/// Why the network could not start.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A listen address is not a multiaddr.
    #[error(
        "[p2p] listen `{addr}` is not a valid multiaddr (for example \"/ip4/0.0.0.0/tcp/4471\"): {source}"
    )]
    BadListenAddr {
        /// The address as written.
        addr: String,
        /// The parse error.
        source: libp2p::multiaddr::Error,
    },
    /// Listening failed (port in use, address not local, unsupported transport).
    #[error("cannot listen on {addr} (change [p2p] listen in config.toml): {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// What went wrong.
        reason: String,
    },
    /// The block list file is unusable.
    #[error(transparent)]
    BlockList(#[from] blocklist::BlockListError),
    /// Building the Swarm failed.
    #[error("cannot start networking: {0}")]
    Build(String),
}
