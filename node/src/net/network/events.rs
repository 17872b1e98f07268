//! Swarm events: connections up and down, refused connections, listen addresses, identify, ping,
//! Kademlia and mDNS. Gossip and sync events go to `records` and `sync`.

use std::time::Instant;

use libp2p::swarm::{DialError as SwarmDialError, ListenError, SwarmEvent};
use libp2p::{Multiaddr, PeerId, identify, kad, mdns, ping};
use tracing::{debug, error, info, warn};

use super::super::behaviour::BehaviourEvent;
use super::super::gossip;
use super::super::reports::DialError;
use super::{MAX_PEER_ADDRS, Network};

impl Network {
    pub(super) fn on_swarm(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(event) => self.on_behaviour(event),
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => {
                if num_established.get() == 1 {
                    self.on_connected(
                        peer_id,
                        endpoint.get_remote_address().clone(),
                        endpoint.is_dialer(),
                    );
                }
                if let Some(reply) = self.dials.remove(&connection_id) {
                    let _ = reply.send(Ok(peer_id));
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                cause,
                ..
            } => self.on_disconnected(peer_id, cause.map(|e| e.to_string())),
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => {
                if matches!(error, SwarmDialError::Denied { .. }) {
                    self.metrics.connections_denied.inc();
                }
                debug!(peer = ?peer_id, error = %error, "dial failed");
                if let Some(reply) = self.dials.remove(&connection_id) {
                    let _ = reply.send(Err(DialError(error.to_string())));
                }
            }
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error,
                peer_id,
                ..
            } => {
                if let ListenError::Denied { cause } = &error {
                    self.metrics.connections_denied.inc();
                    // Logged once a minute per address, with a count: a flood of refused
                    // connections must not flood the log.
                    let key = peer_id.map_or_else(|| send_back_addr.to_string(), |p| p.to_string());
                    if let Some(count) = self.refused_connections.deny(key, Instant::now()) {
                        info!(peer = ?peer_id, addr = %send_back_addr, cause = %cause, count, "incoming connections refused");
                    }
                } else {
                    debug!(addr = %send_back_addr, error = %error, "incoming connection failed");
                }
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                info!(addr = %address, "listening");
                self.listen_addrs.push(address);
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen_addrs.retain(|a| *a != address);
            }
            SwarmEvent::ListenerError { error, .. } => {
                warn!(error = %error, "a listener failed");
            }
            SwarmEvent::ListenerClosed {
                addresses, reason, ..
            } => {
                if let Err(e) = reason {
                    error!(addrs = ?addresses, error = %e, "a listener closed: peers cannot dial these addresses any more");
                }
                self.listen_addrs.retain(|a| !addresses.contains(a));
            }
            _ => {}
        }
    }

    fn on_connected(&mut self, peer: PeerId, remote: Multiaddr, outbound: bool) {
        if self.peers.is_banned(&peer, Instant::now()) {
            // A connection that raced the ban: close it at once.
            let _ = self.swarm.disconnect_peer_id(peer);
            return;
        }
        self.peers.connected(peer, remote.clone(), outbound);
        self.metrics.peers_connected.set(self.peers.len() as i64);
        let member = self.member_name(&peer);
        info!(peer = %peer, member = member.as_deref().unwrap_or("-"), addr = %remote, outbound, "peer connected");
        let score = gossip::member_score(self.peers.offences(&peer));
        let behaviour = self.swarm.behaviour_mut();
        behaviour.gossipsub.set_application_score(&peer, score);
        if outbound {
            behaviour.kad.add_address(&peer, remote);
        }
        // Catch up with every new peer (PROTOCOL.md §13: on every new connection).
        self.sync.want_heads(peer);
    }

    fn on_disconnected(&mut self, peer: PeerId, cause: Option<String>) {
        if self.peers.disconnected(&peer, Instant::now()) {
            self.sync.peer_gone(&peer);
            self.own_feed.peer_gone(&peer);
            self.serving.forget(&peer);
            self.metrics.peers_connected.set(self.peers.len() as i64);
            let member = self.member_name(&peer);
            info!(peer = %peer, member = member.as_deref().unwrap_or("-"), cause = cause.as_deref().unwrap_or("closed"), "peer disconnected");
        }
    }

    fn on_behaviour(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Gossipsub(event) => self.on_gossip(event),
            BehaviourEvent::Sync(event) => self.on_sync(event),
            BehaviourEvent::Identify(identify::Event::Received {
                peer_id, mut info, ..
            }) => {
                info.listen_addrs.truncate(MAX_PEER_ADDRS);
                if info.protocols.contains(&self.kad_protocol) {
                    for addr in &info.listen_addrs {
                        self.swarm
                            .behaviour_mut()
                            .kad
                            .add_address(&peer_id, addr.clone());
                    }
                }
                self.peers.set_listen(&peer_id, info.listen_addrs);
            }
            BehaviourEvent::Ping(ping::Event {
                peer,
                result: Ok(rtt),
                ..
            }) => self.peers.set_rtt(&peer, rtt),
            BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                result: kad::QueryResult::GetClosestPeers(Ok(found)),
                ..
            }) => {
                let roster = self.roster.get();
                for info in found.peers {
                    if roster.member_by_peer(&info.peer_id).is_some()
                        && !self.peers.is_connected(&info.peer_id)
                        && !info.addrs.is_empty()
                    {
                        debug!(peer = %info.peer_id, "found a member's addresses in the DHT");
                        self.dial_member(info.peer_id, info.addrs, Instant::now());
                    }
                }
            }
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                let roster = self.roster.get();
                for (peer, addr) in found {
                    if roster.member_by_peer(&peer).is_some() {
                        self.swarm
                            .behaviour_mut()
                            .kad
                            .add_address(&peer, addr.clone());
                        if !self.peers.is_connected(&peer) {
                            self.dial_member(peer, vec![addr], Instant::now());
                        }
                    }
                }
            }
            _ => {}
        }
    }
}
