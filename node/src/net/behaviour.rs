//! The node's libp2p behaviours and the Swarm built from them.
//!
//! Connection gates come first so a refused peer never reaches the protocols: the roster allow-list,
//! the operator block list, temporary bans, the connection caps of `net::limits` (one established
//! connection per peer, pending handshakes, established in all) and the process memory cap. Then identify, ping,
//! gossipsub (records), request-response (sync), Kademlia (finding members' addresses) and optional
//! mDNS (labs only; it does not announce loopback).

use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{
    StreamProtocol, Swarm, SwarmBuilder, allow_block_list, connection_limits, gossipsub, identify,
    kad, mdns, memory_connection_limits, noise, ping, request_response, tcp, yamux,
};

use super::codec::SyncCodec;
use super::{NetConfig, NetError, gossip, limits};
use crate::membership::NetworkId;

/// How long a sync request may take, both ways.
pub(crate) const SYNC_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Most concurrent sync streams per connection (inbound and outbound together).
const SYNC_STREAMS_PER_CONNECTION: usize = 8;

/// Everything the Swarm runs.
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    /// PeerIds of roster members: every other peer is refused.
    pub(crate) allowed: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    /// PeerIds the operator blocked.
    pub(crate) blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    /// PeerIds refused for a while after repeated offences (`net::limits`).
    pub(crate) banned: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    /// Connection caps: one per peer, pending handshakes, established in all (`net::limits`).
    pub(crate) limits: connection_limits::Behaviour,
    /// No new connection while the process holds more than `limits::MAX_PROCESS_MEMORY`.
    pub(crate) memory: memory_connection_limits::Behaviour,
    /// Exchanges listen addresses and protocols.
    pub(crate) identify: identify::Behaviour,
    /// Liveness and round-trip time.
    pub(crate) ping: ping::Behaviour,
    /// Record gossip.
    pub(crate) gossipsub:
        gossipsub::Behaviour<gossipsub::IdentityTransform, gossipsub::WhitelistSubscriptionFilter>,
    /// Sync requests and responses.
    pub(crate) sync: request_response::Behaviour<SyncCodec>,
    /// Member address discovery.
    pub(crate) kad: kad::Behaviour<kad::store::MemoryStore>,
    /// Local-network discovery, when enabled.
    pub(crate) mdns: Toggle<mdns::tokio::Behaviour>,
}

/// The sync protocol id of network `net`.
pub(crate) fn sync_protocol(net: &NetworkId) -> Result<StreamProtocol, NetError> {
    StreamProtocol::try_from_owned(format!("/certnet/{net}/sync/1"))
        .map_err(|e| NetError::Build(format!("sync protocol id: {e}")))
}

/// The Kademlia protocol id of network `net`: a DHT per federation, apart from the public one.
pub(crate) fn kad_protocol(net: &NetworkId) -> Result<StreamProtocol, NetError> {
    StreamProtocol::try_from_owned(format!("/certnet/{net}/kad/1"))
        .map_err(|e| NetError::Build(format!("kademlia protocol id: {e}")))
}

impl Behaviour {
    fn new(key: &Keypair, net: &NetworkId, config: &NetConfig) -> Result<Self, NetError> {
        let peer_id = key.public().to_peer_id();

        let mut gossipsub = gossipsub::Behaviour::new_with_subscription_filter(
            gossipsub::MessageAuthenticity::Anonymous,
            gossip::config().map_err(|e| NetError::Build(format!("gossipsub config: {e}")))?,
            gossip::subscription_filter(net),
        )
        .map_err(|e| NetError::Build(format!("gossipsub: {e}")))?;
        gossipsub
            .with_peer_score(gossip::score_params(net), gossip::score_thresholds())
            .map_err(|e| NetError::Build(format!("gossipsub scoring: {e}")))?;

        let sync = request_response::Behaviour::with_codec(
            SyncCodec,
            [(sync_protocol(net)?, request_response::ProtocolSupport::Full)],
            request_response::Config::default()
                .with_request_timeout(SYNC_REQUEST_TIMEOUT)
                .with_max_concurrent_streams(SYNC_STREAMS_PER_CONNECTION),
        );

        let mut kad_config = kad::Config::new(kad_protocol(net)?);
        kad_config.set_periodic_bootstrap_interval(Some(Duration::from_secs(5 * 60)));
        let mut kad =
            kad::Behaviour::with_config(peer_id, kad::store::MemoryStore::new(peer_id), kad_config);
        // Members are servers for each other: without this, a node with no confirmed external
        // address stays a client and nobody adds it to their routing table.
        kad.set_mode(Some(kad::Mode::Server));

        let mdns = if config.mdns {
            Some(
                mdns::tokio::Behaviour::new(mdns::Config::default(), peer_id)
                    .map_err(|e| NetError::Build(format!("mdns: {e}")))?,
            )
        } else {
            None
        };

        Ok(Self {
            allowed: allow_block_list::Behaviour::default(),
            blocked: allow_block_list::Behaviour::default(),
            banned: allow_block_list::Behaviour::default(),
            limits: connection_limits::Behaviour::new(
                connection_limits::ConnectionLimits::default()
                    .with_max_established_per_peer(Some(1))
                    .with_max_pending_incoming(Some(limits::MAX_PENDING_INCOMING))
                    .with_max_pending_outgoing(Some(limits::MAX_PENDING_OUTGOING))
                    .with_max_established_incoming(Some(limits::MAX_ESTABLISHED_INCOMING))
                    .with_max_established(Some(limits::MAX_ESTABLISHED)),
            ),
            memory: memory_connection_limits::Behaviour::with_max_bytes(limits::MAX_PROCESS_MEMORY),
            identify: identify::Behaviour::new(
                identify::Config::new(format!("/certnet/{net}/1"), key.public())
                    .with_agent_version(format!("certnet/{}", env!("CARGO_PKG_VERSION"))),
            ),
            ping: ping::Behaviour::new(ping::Config::new()),
            gossipsub,
            sync,
            kad,
            mdns: Toggle::from(mdns),
        })
    }
}

/// Builds the Swarm: TCP (Noise, Yamux) and QUIC, DNS resolution, the behaviours, and a long idle
/// timeout (the default 10 s drops quiet members between records).
pub(crate) fn build_swarm(
    key: Keypair,
    net: &NetworkId,
    config: &NetConfig,
) -> Result<Swarm<Behaviour>, NetError> {
    let idle = config.idle_timeout;
    let swarm = SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| NetError::Build(format!("tcp transport: {e}")))?
        .with_quic()
        .with_dns()
        .map_err(|e| NetError::Build(format!("dns resolver: {e}")))?
        .with_behaviour(|key| {
            Behaviour::new(key, net, config)
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })
        })
        .map_err(|e| NetError::Build(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
        .build();
    Ok(swarm)
}
