//! The node's callers: announcing own records, the peer list, operator blocks, roster reloads,
//! dials.

use std::collections::{BTreeSet, HashSet};

use libp2p::gossipsub::PublishError;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::oneshot;
use tracing::{debug, error, info, warn};

use super::super::jobs;
use super::super::reports::{
    AnnounceOutcome, DialError, MemberPresence, PeerInfo, PeersSnapshot, RosterChange,
    RosterReloadError,
};
use super::{JobKind, Network, OwnFeedView, allowed_peers, member_addrs};
use crate::datadir::roster_file::RosterError;
use crate::membership::{MemberName, Roster};

impl Network {
    /// Publishes one of this node's records, already durably stored.
    pub(crate) fn announce(&mut self, bytes: Vec<u8>) -> AnnounceOutcome {
        if !self.author_rates.pace_own(std::time::Instant::now()) {
            self.metrics
                .gossip_published
                .get_or_create(&super::super::metrics::PublishLabels {
                    result: AnnounceOutcome::Paced.label(),
                })
                .inc();
            return AnnounceOutcome::Paced;
        }
        let result = self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(self.topic.clone(), bytes);
        let outcome = match result {
            Ok(_) => AnnounceOutcome::Sent,
            Err(PublishError::NoPeersSubscribedToTopic) => AnnounceOutcome::NoPeers,
            Err(PublishError::Duplicate) => AnnounceOutcome::Duplicate,
            Err(PublishError::AllQueuesFull(_)) => AnnounceOutcome::QueuesFull,
            Err(e) => AnnounceOutcome::Failed(e.to_string()),
        };
        match &outcome {
            AnnounceOutcome::Failed(e) => {
                error!(error = %e, "gossip refused one of this node's records: peers will get it by sync")
            }
            other => debug!(result = other.label(), "own record announced"),
        }
        self.metrics
            .gossip_published
            .get_or_create(&super::super::metrics::PublishLabels {
                result: outcome.label(),
            })
            .inc();
        outcome
    }

    /// What peers claimed and proved about this node's own feed, and how many are connected.
    pub(crate) fn own_feed(&self) -> OwnFeedView {
        OwnFeedView {
            connected: self.swarm.connected_peers().count(),
            ..self.own_feed.view()
        }
    }

    /// Connected peers, listen addresses and the block list.
    pub(crate) fn peers(&self) -> PeersSnapshot {
        let roster = self.roster.get();
        let gossipsub = &self.swarm.behaviour().gossipsub;
        let subscribed: HashSet<PeerId> = gossipsub
            .all_peers()
            .filter(|(_, topics)| topics.contains(&&self.topic_hash))
            .map(|(peer, _)| *peer)
            .collect();
        let mut peers: Vec<PeerInfo> = self
            .peers
            .iter()
            .map(|(peer, c)| {
                let mut addrs = vec![c.remote.clone()];
                for addr in &c.listen {
                    if !addrs.contains(addr) {
                        addrs.push(addr.clone());
                    }
                }
                PeerInfo {
                    peer_id: *peer,
                    member: roster.member_by_peer(peer).map(|m| m.name().clone()),
                    addrs,
                    connected_since: c.since,
                    outbound: c.outbound,
                    ping: c.rtt,
                    subscribed: subscribed.contains(peer),
                    gossip_score: gossipsub.peer_score(peer),
                    offences: self.peers.offences(peer),
                    last_heads: c.heads.as_ref().map(|(at, _)| *at),
                    heads: c.heads.as_ref().map(|(_, h)| h.clone()).unwrap_or_default(),
                }
            })
            .collect();
        peers.sort_by(|a, b| (&a.member, a.peer_id).cmp(&(&b.member, b.peer_id)));
        let local = *self.swarm.local_peer_id();
        let members = roster
            .members()
            .iter()
            .filter(|m| *m.author_key() != self.own)
            .map(|m| {
                let connected = m.peer_ids().iter().any(|p| self.peers.is_connected(p));
                MemberPresence {
                    name: m.name().clone(),
                    connected,
                    last_seen: if connected {
                        None
                    } else {
                        m.peer_ids()
                            .iter()
                            .filter_map(|p| self.peers.last_seen(p))
                            .max()
                    },
                    blocked: m.peer_ids().iter().any(|p| self.blocked.contains(p)),
                }
            })
            .collect();
        PeersSnapshot {
            local_peer_id: local,
            listen_addrs: self.listen_addrs.clone(),
            peers,
            blocked: self.blocked.iter().copied().collect(),
            members,
        }
    }

    /// Blocks `peer`: closes its connection and refuses it from now on. Returns whether it was new.
    pub(crate) fn block(&mut self, peer: PeerId) -> bool {
        let new = self.blocked.insert(peer);
        self.swarm.behaviour_mut().blocked.block_peer(peer);
        self.sync.peer_gone(&peer);
        self.own_feed.peer_gone(&peer);
        if new {
            info!(peer = %peer, "peer blocked by the operator");
            self.save_block_list();
        }
        new
    }

    /// Unblocks `peer`; members are dialed again at once. Returns whether it was blocked.
    pub(crate) fn unblock(&mut self, peer: PeerId) -> bool {
        let was = self.blocked.remove(&peer);
        self.swarm.behaviour_mut().blocked.unblock_peer(peer);
        if was {
            info!(peer = %peer, "peer unblocked by the operator");
            self.peers.redial_now(&peer);
            self.save_block_list();
        }
        was
    }

    pub(super) fn save_block_list(&mut self) {
        let Some(path) = self.config.block_list.clone() else {
            return;
        };
        if self.block_list_saving {
            self.block_list_dirty = true;
            return;
        }
        self.block_list_saving = true;
        self.block_list_dirty = false;
        let peers = self.blocked.clone();
        self.spawn(JobKind::BlockList, move || {
            jobs::save_block_list(path, peers)
        });
    }

    /// Re-reads roster.toml off the loop; the answer goes to `reply` (or the log) once applied.
    pub(crate) fn reload_roster(
        &mut self,
        reply: Option<oneshot::Sender<Result<RosterChange, RosterReloadError>>>,
    ) {
        let Some(path) = self.config.roster_file.clone() else {
            if let Some(reply) = reply {
                let _ = reply.send(Err(RosterReloadError::NoFile));
            }
            return;
        };
        self.spawn(JobKind::Roster, move || jobs::load_roster(path, reply));
    }

    /// Dials `addr`; the answer comes when a connection is up or the dial failed.
    pub(crate) fn dial(
        &mut self,
        addr: Multiaddr,
        reply: oneshot::Sender<Result<PeerId, DialError>>,
    ) {
        let opts = DialOpts::unknown_peer_id().address(addr).build();
        let id = opts.connection_id();
        match self.swarm.dial(opts) {
            Ok(()) => {
                self.dials.insert(id, reply);
            }
            Err(e) => {
                let _ = reply.send(Err(DialError(e.to_string())));
            }
        }
    }

    pub(super) fn on_roster_loaded(
        &mut self,
        result: Result<Roster, RosterError>,
        reply: Option<oneshot::Sender<Result<RosterChange, RosterReloadError>>>,
    ) {
        let outcome = result
            .map_err(RosterReloadError::from)
            .and_then(|roster| self.apply_roster(roster));
        if let Err(e) = &outcome {
            warn!(error = %e, "roster not reloaded: the running roster stays");
        }
        if let Some(reply) = reply {
            let _ = reply.send(outcome);
        }
    }

    fn apply_roster(&mut self, new: Roster) -> Result<RosterChange, RosterReloadError> {
        let old = self.roster.get();
        if new.network() != old.network() {
            return Err(RosterReloadError::NetworkChanged {
                running: old.network().clone(),
                new: new.network().clone(),
            });
        }
        let old_peers = allowed_peers(&old);
        let new_peers = allowed_peers(&new);
        let names = |r: &Roster| -> BTreeSet<MemberName> {
            r.members().iter().map(|m| m.name().clone()).collect()
        };
        let (old_names, new_names) = (names(&old), names(&new));
        let added: Vec<MemberName> = new_names.difference(&old_names).cloned().collect();
        let removed: Vec<MemberName> = old_names.difference(&new_names).cloned().collect();
        let addrs = member_addrs(&new, true);
        let members = new.members().len();
        self.roster.replace(new);

        let local = *self.swarm.local_peer_id();
        let mut disconnected = Vec::new();
        for peer in old_peers.difference(&new_peers) {
            if self.peers.is_connected(peer) {
                disconnected.push(*peer);
            }
            let behaviour = self.swarm.behaviour_mut();
            // Closes its connections too.
            behaviour.allowed.disallow_peer(*peer);
            behaviour.kad.remove_peer(peer);
            self.peers.forget(peer);
            self.sync.peer_gone(peer);
            self.own_feed.peer_gone(peer);
            self.serving.forget(peer);
        }
        for peer in new_peers.difference(&old_peers) {
            self.swarm.behaviour_mut().allowed.allow_peer(*peer);
            self.peers.redial_now(peer);
        }
        for (peer, addrs) in addrs {
            if peer != local {
                for addr in addrs {
                    self.swarm.behaviour_mut().kad.add_address(&peer, addr);
                }
            }
        }
        info!(members, added = ?added, removed = ?removed, disconnected = disconnected.len(), "roster reloaded");
        Ok(RosterChange {
            members,
            added,
            removed,
            disconnected,
        })
    }
}
