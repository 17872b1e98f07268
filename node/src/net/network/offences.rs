//! Offences, bans and the loop's timers (re-dials, sync rounds, forgiving, ban ends, proof
//! deadlines).

use std::time::Instant;

use libp2p::swarm::DialError as SwarmDialError;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{Multiaddr, PeerId};
use tracing::{debug, error, info, warn};

use super::super::gossip;
use super::super::jobs::JobDone;
use super::{
    FORGIVE_INTERVAL, JobKind, Network, ORPHAN_SWEEP, REDIAL_JITTER, jitter, member_addrs,
};
use crate::store::DiskState;

impl Network {
    /// Counts an offence against `peer` (invalid sync data, an unbacked claim, a timeout) and lowers
    /// its application score (invalid gossip is penalised by gossipsub itself, P4, and a peer below
    /// the graylist threshold is banned at the next tick); a peer that reached
    /// [`super::super::limits::BAN_OFFENCES`] is disconnected and refused for a while (its queued
    /// gossip is dropped). Lines are logged once a minute per peer and kind, with a count.
    pub(super) fn offend(&mut self, peer: PeerId, kind: &'static str, detail: &str) {
        let now = Instant::now();
        let (count, ban) = self.peers.offend(peer, now);
        self.metrics.offence(kind);
        let member = self.member_name(&peer);
        if let Some(n) = self.denials.deny((peer, kind), now) {
            warn!(peer = %peer, member = member.as_deref().unwrap_or("-"), kind, offences = count, repeated = n, detail, "peer misbehaved: penalised");
        }
        self.swarm
            .behaviour_mut()
            .gossipsub
            .set_application_score(&peer, gossip::member_score(count));
        if let Some(length) = ban {
            self.metrics.peers_banned.inc();
            warn!(peer = %peer, member = member.as_deref().unwrap_or("-"), offences = count, ban_secs = length.as_secs(), "peer disconnected and refused for a while after repeated offences");
            self.ban(peer);
        }
    }

    /// Disconnects and refuses `peer` (its ban is in the peer table), dropping what it queued.
    fn ban(&mut self, peer: PeerId) {
        self.swarm.behaviour_mut().banned.block_peer(peer);
        let _ = self.swarm.disconnect_peer_id(peer);
        self.sync.peer_gone(&peer);
        self.own_feed.peer_gone(&peer);
        self.author_rates.peer_gone(&peer);
        for item in self.intake.drop_peer(&peer) {
            self.report(
                &item.id,
                &item.source,
                libp2p::gossipsub::MessageAcceptance::Ignore,
            );
        }
    }

    pub(super) fn on_tick(&mut self, now: Instant) {
        let roster = self.roster.get();
        let local = *self.swarm.local_peer_id();
        for (peer, addrs) in member_addrs(&roster, false) {
            if peer != local
                && !self.blocked.contains(&peer)
                && !self.peers.is_banned(&peer, now)
                && self.peers.redial_due(&peer, now)
            {
                self.dial_member(peer, addrs, now);
            }
        }
        if now >= self.next_sync_round {
            let interval = self.config.sync_interval;
            self.next_sync_round = now + interval * 3 / 4 + jitter(interval / 2);
            let candidates: Vec<PeerId> = self
                .peers
                .iter()
                .map(|(peer, _)| *peer)
                .filter(|peer| roster.member_by_peer(peer).is_some() && self.trusted(peer, now))
                .collect();
            if !candidates.is_empty() {
                let pick = getrandom::u64().unwrap_or(0) % candidates.len() as u64;
                let peer = candidates[usize::try_from(pick).unwrap_or(0)];
                debug!(peer = %peer, "periodic sync round");
                self.sync.want_heads(peer);
            }
        }
        // Gossip's own verdict: a member below the graylist threshold (invalid messages mostly; also
        // promises of messages it did not deliver, or a send queue it does not drain) is banned like
        // one with too many offences.
        let graylist = gossip::score_thresholds().graylist_threshold;
        let graylisted: Vec<(PeerId, f64)> = self
            .peers
            .iter()
            .filter_map(|(peer, _)| {
                let score = self.swarm.behaviour().gossipsub.peer_score(peer)?;
                (score < graylist && !self.peers.is_banned(peer, now)).then_some((*peer, score))
            })
            .collect();
        for (peer, score) in graylisted {
            if let Some(length) = self.peers.ban_now(peer, now) {
                self.metrics.peers_banned.inc();
                let member = self.member_name(&peer);
                warn!(peer = %peer, member = member.as_deref().unwrap_or("-"), score, ban_secs = length.as_secs(), "peer's gossip score fell below the graylist threshold (invalid messages, broken promises or a slow connection): disconnected and refused for a while");
                self.ban(peer);
            }
        }
        self.check_disk();
        if now >= self.next_orphan_sweep {
            self.next_orphan_sweep = now + ORPHAN_SWEEP;
            let store = self.store.clone();
            self.spawn(JobKind::Sweep, move || JobDone::Swept {
                expired: store.expire_orphans(crate::store::now_us()),
            });
        }
        for peer in self.peers.bans_over(now) {
            info!(peer = %peer, "ban over: the peer may connect again");
            self.swarm.behaviour_mut().banned.unblock_peer(peer);
            self.peers.redial_now(&peer);
        }
        for (peer, seq) in self.own_feed.expire(now) {
            self.offend(
                peer,
                "unbacked_claim",
                &format!(
                    "claimed this node's own feed up to seq {seq} and did not prove it in time"
                ),
            );
        }
        if now >= self.next_forgive {
            self.next_forgive = now + FORGIVE_INTERVAL;
            for (peer, count) in self.peers.forgive() {
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .set_application_score(&peer, gossip::member_score(count));
            }
        }
    }

    /// Reads the disk's state; logs a change, and on recovery asks every peer for its heads so that
    /// what was refused meanwhile is fetched.
    fn check_disk(&mut self) {
        let (state, free, limits, before) = self.store.disk_transition();
        let Some(before) = before else {
            return;
        };
        let watermark = limits.map_or(0, |l| l.watermark);
        let floor = limits.map_or(0, |l| l.floor);
        match state {
            DiskState::Ok => {
                info!(
                    free,
                    before = before.as_str(),
                    "disk space is back above the watermark: taking records from peers again"
                );
                let peers: Vec<PeerId> = self.peers.iter().map(|(p, _)| *p).collect();
                for peer in peers {
                    self.sync.want_heads(peer);
                }
            }
            DiskState::Low => warn!(
                free,
                watermark,
                "disk space below the watermark: records from peers are refused (they come again by sync), own publishes go on; free space on the store's disk"
            ),
            DiskState::Full => error!(
                free,
                floor,
                "disk space below the floor: nothing is written, own publishes are refused (507); free space on the store's disk"
            ),
        }
    }

    /// Dials a member at its known addresses (plus whatever Kademlia knows); with none known, looks
    /// it up in the DHT.
    pub(super) fn dial_member(&mut self, peer: PeerId, addrs: Vec<Multiaddr>, now: Instant) {
        if self.blocked.contains(&peer) {
            return;
        }
        let opts = DialOpts::peer_id(peer)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .addresses(addrs)
            .extend_addresses_through_behaviour()
            .build();
        match self.swarm.dial(opts) {
            Ok(()) => debug!(peer = %peer, "dialing member"),
            Err(SwarmDialError::NoAddresses) => {
                debug!(peer = %peer, "no address known for member: asking the DHT");
                self.swarm.behaviour_mut().kad.get_closest_peers(peer);
            }
            Err(SwarmDialError::DialPeerConditionFalse(_)) => {}
            Err(e) => debug!(peer = %peer, error = %e, "cannot dial member"),
        }
        self.peers.dialed(peer, now, jitter(REDIAL_JITTER));
    }
}
