//! What the node knows about its peers: who is connected since when over which address, their
//! listen addresses and ping, recent offences, and when to re-dial members that are not connected.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use certnet_protocol::keys::AuthorKey;
use libp2p::{Multiaddr, PeerId};

use super::limits::{BAN_BASE, BAN_MAX, BAN_OFFENCES};
use super::{MAX_REDIAL_DELAY, MIN_REDIAL_DELAY};

/// A connected peer.
#[derive(Debug, Clone)]
pub(crate) struct Connected {
    /// Wall-clock time of the connection, for operators.
    pub(crate) since: SystemTime,
    /// The remote address of the connection.
    pub(crate) remote: Multiaddr,
    /// Whether this node dialed.
    pub(crate) outbound: bool,
    /// Listen addresses the peer reported (identify).
    pub(crate) listen: Vec<Multiaddr>,
    /// Last ping round trip.
    pub(crate) rtt: Option<Duration>,
    /// Its last Heads answer: when, and the roster members' heads in it.
    pub(crate) heads: Option<(SystemTime, Vec<(AuthorKey, u64)>)>,
}

/// When to try a member again.
#[derive(Debug, Clone, Copy)]
struct Redial {
    at: Instant,
    delay: Duration,
}

/// A temporary ban after repeated offences.
#[derive(Debug, Clone, Copy)]
struct Ban {
    until: Option<Instant>,
    /// Bans so far: each doubles the next.
    count: u32,
}

/// Connected peers, offences, bans and re-dial schedule.
#[derive(Debug, Default)]
pub(crate) struct PeerTable {
    connected: HashMap<PeerId, Connected>,
    offences: HashMap<PeerId, u32>,
    bans: HashMap<PeerId, Ban>,
    redial: HashMap<PeerId, Redial>,
    /// When each peer's last connection closed (since this node started).
    last_seen: HashMap<PeerId, SystemTime>,
}

impl PeerTable {
    /// A connection to `peer` is up (its first one).
    pub(crate) fn connected(&mut self, peer: PeerId, remote: Multiaddr, outbound: bool) {
        self.redial.remove(&peer);
        self.connected.insert(
            peer,
            Connected {
                since: SystemTime::now(),
                remote,
                outbound,
                listen: Vec::new(),
                rtt: None,
                heads: None,
            },
        );
    }

    /// `peer`'s last connection closed. Members get re-dialed after the shortest delay.
    pub(crate) fn disconnected(&mut self, peer: &PeerId, now: Instant) -> bool {
        let was = self.connected.remove(peer).is_some();
        if was {
            self.last_seen.insert(*peer, SystemTime::now());
        }
        self.redial.entry(*peer).or_insert(Redial {
            at: now + MIN_REDIAL_DELAY,
            delay: MIN_REDIAL_DELAY,
        });
        was
    }

    /// When `peer`'s last connection closed, if it was connected since this node started.
    pub(crate) fn last_seen(&self, peer: &PeerId) -> Option<SystemTime> {
        self.last_seen.get(peer).copied()
    }

    /// Whether `peer` is connected.
    pub(crate) fn is_connected(&self, peer: &PeerId) -> bool {
        self.connected.contains_key(peer)
    }

    /// Connected peers.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&PeerId, &Connected)> {
        self.connected.iter()
    }

    /// How many peers are connected.
    pub(crate) fn len(&self) -> usize {
        self.connected.len()
    }

    /// Records the listen addresses `peer` reported.
    pub(crate) fn set_listen(&mut self, peer: &PeerId, addrs: Vec<Multiaddr>) {
        if let Some(c) = self.connected.get_mut(peer) {
            c.listen = addrs;
        }
    }

    /// Records what `peer` answered to a Heads request (only roster members' heads: bounded by the
    /// roster, whatever the peer sent).
    pub(crate) fn set_heads(&mut self, peer: &PeerId, heads: Vec<(AuthorKey, u64)>) {
        if let Some(c) = self.connected.get_mut(peer) {
            c.heads = Some((SystemTime::now(), heads));
        }
    }

    /// Records a ping round trip.
    pub(crate) fn set_rtt(&mut self, peer: &PeerId, rtt: Duration) {
        if let Some(c) = self.connected.get_mut(peer) {
            c.rtt = Some(rtt);
        }
    }

    /// Counts an offence by `peer`; returns its count, and how long to ban it if this offence
    /// reached [`BAN_OFFENCES`] (each ban doubles the last, up to [`BAN_MAX`]).
    pub(crate) fn offend(&mut self, peer: PeerId, now: Instant) -> (u32, Option<Duration>) {
        let n = self.offences.entry(peer).or_default();
        *n = n.saturating_add(1);
        let count = *n;
        if count < BAN_OFFENCES {
            return (count, None);
        }
        (count, self.ban_now(peer, now))
    }

    /// Bans `peer` from `now` (unless it is banned already): for how long. Each ban doubles the last,
    /// up to [`BAN_MAX`].
    pub(crate) fn ban_now(&mut self, peer: PeerId, now: Instant) -> Option<Duration> {
        if self.is_banned(&peer, now) {
            return None;
        }
        let ban = self.bans.entry(peer).or_insert(Ban {
            until: None,
            count: 0,
        });
        let length = BAN_BASE
            .saturating_mul(1u32 << ban.count.min(16))
            .min(BAN_MAX);
        ban.count = ban.count.saturating_add(1);
        ban.until = Some(now + length);
        Some(length)
    }

    /// Whether `peer` is banned at `now`.
    pub(crate) fn is_banned(&self, peer: &PeerId, now: Instant) -> bool {
        self.bans
            .get(peer)
            .and_then(|b| b.until)
            .is_some_and(|until| until > now)
    }

    /// Peers whose ban ended by `now` (to be let in again); their offences start over.
    pub(crate) fn bans_over(&mut self, now: Instant) -> Vec<PeerId> {
        let mut over = Vec::new();
        for (peer, ban) in &mut self.bans {
            if ban.until.is_some_and(|until| until <= now) {
                ban.until = None;
                over.push(*peer);
            }
        }
        for peer in &over {
            self.offences.remove(peer);
        }
        over
    }

    /// `peer`'s recent offences.
    pub(crate) fn offences(&self, peer: &PeerId) -> u32 {
        self.offences.get(peer).copied().unwrap_or(0)
    }

    /// Forgives one offence of every peer, and one earlier ban of every peer that is neither banned
    /// nor offending now (so an honest peer banned once over a bad link is not banned for ever
    /// longer); returns the peers whose offence count changed.
    pub(crate) fn forgive(&mut self) -> Vec<(PeerId, u32)> {
        let mut changed = Vec::new();
        self.offences.retain(|peer, n| {
            *n -= 1;
            changed.push((*peer, *n));
            *n > 0
        });
        let offences = &self.offences;
        self.bans.retain(|peer, ban| {
            if ban.until.is_none() && !offences.contains_key(peer) {
                ban.count = ban.count.saturating_sub(1);
            }
            ban.until.is_some() || ban.count > 0
        });
        changed
    }

    /// Whether `peer` (not connected) is due for a dial at `now`. Unknown peers are due at once.
    pub(crate) fn redial_due(&self, peer: &PeerId, now: Instant) -> bool {
        !self.connected.contains_key(peer) && self.redial.get(peer).is_none_or(|r| r.at <= now)
    }

    /// A dial of `peer` was started at `now`: the next one waits twice as long (capped), plus
    /// `jitter`, so that two members dialing each other at once do not keep colliding.
    pub(crate) fn dialed(&mut self, peer: PeerId, now: Instant, jitter: Duration) {
        let r = self.redial.entry(peer).or_insert(Redial {
            at: now,
            delay: MIN_REDIAL_DELAY / 2,
        });
        r.delay = (r.delay * 2).min(MAX_REDIAL_DELAY);
        r.at = now + r.delay + jitter;
    }

    /// Makes `peer` due for a dial now (unblocked, added to the roster).
    pub(crate) fn redial_now(&mut self, peer: &PeerId) {
        self.redial.remove(peer);
    }

    /// Forgets `peer`'s dial schedule, offences and bans (removed from the roster).
    pub(crate) fn forget(&mut self, peer: &PeerId) {
        self.redial.remove(peer);
        self.offences.remove(peer);
        self.bans.remove(peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datadir::keys::NodeSecret;

    #[test]
    fn a_peer_is_last_seen_when_its_connection_closes() {
        let peer = NodeSecret::from_seed(&[1; 32]).unwrap().peer_id();
        let mut t = PeerTable::default();
        assert_eq!(t.last_seen(&peer), None);
        t.connected(peer, "/ip4/127.0.0.1/tcp/1".parse().unwrap(), true);
        let before = SystemTime::now();
        assert!(t.disconnected(&peer, Instant::now()));
        assert!(t.last_seen(&peer).is_some_and(|seen| seen >= before));
        assert!(!t.is_connected(&peer));
    }

    #[test]
    fn redial_backs_off_and_resets_on_connect() {
        let peer = NodeSecret::from_seed(&[1; 32]).unwrap().peer_id();
        let mut t = PeerTable::default();
        let now = Instant::now();
        assert!(t.redial_due(&peer, now));
        t.dialed(peer, now, Duration::ZERO);
        assert!(!t.redial_due(&peer, now));
        assert!(t.redial_due(&peer, now + MIN_REDIAL_DELAY));
        t.dialed(peer, now, Duration::ZERO);
        assert!(!t.redial_due(&peer, now + MIN_REDIAL_DELAY));
        for _ in 0..20 {
            t.dialed(peer, now, Duration::ZERO);
        }
        assert!(t.redial_due(&peer, now + MAX_REDIAL_DELAY));
        t.connected(peer, "/ip4/127.0.0.1/tcp/1".parse().unwrap(), true);
        assert!(!t.redial_due(&peer, now), "connected peers are not dialed");
        t.disconnected(&peer, now);
        assert!(t.redial_due(&peer, now + MIN_REDIAL_DELAY));
    }

    #[test]
    fn repeated_offences_ban_for_longer_each_time() {
        let peer = NodeSecret::from_seed(&[1; 32]).unwrap().peer_id();
        let mut t = PeerTable::default();
        let now = Instant::now();
        for n in 1..BAN_OFFENCES {
            assert_eq!(t.offend(peer, now), (n, None));
        }
        assert_eq!(t.offend(peer, now), (BAN_OFFENCES, Some(BAN_BASE)));
        assert!(t.is_banned(&peer, now));
        assert_eq!(t.offend(peer, now).1, None, "no second ban while banned");
        assert!(t.bans_over(now).is_empty());
        assert_eq!(t.bans_over(now + BAN_BASE), vec![peer]);
        assert!(!t.is_banned(&peer, now + BAN_BASE));
        let later = now + BAN_BASE;
        for _ in 1..BAN_OFFENCES {
            t.offend(peer, later);
        }
        assert_eq!(t.offend(peer, later).1, Some(BAN_BASE * 2), "doubled");
    }

    #[test]
    fn offences_are_forgiven_one_at_a_time() {
        let peer = NodeSecret::from_seed(&[1; 32]).unwrap().peer_id();
        let mut t = PeerTable::default();
        let now = Instant::now();
        assert_eq!(t.offend(peer, now).0, 1);
        assert_eq!(t.offend(peer, now).0, 2);
        assert_eq!(t.forgive(), vec![(peer, 1)]);
        assert_eq!(t.forgive(), vec![(peer, 0)]);
        assert_eq!(t.offences(&peer), 0);
        assert!(t.forgive().is_empty());
    }

    #[test]
    fn a_clean_record_forgives_earlier_bans_too() {
        let peer = NodeSecret::from_seed(&[1; 32]).unwrap().peer_id();
        let mut t = PeerTable::default();
        let now = Instant::now();
        for _ in 0..BAN_OFFENCES {
            t.offend(peer, now);
        }
        assert!(t.is_banned(&peer, now));
        t.forgive();
        assert!(t.is_banned(&peer, now), "a ban runs its course");
        assert_eq!(t.bans_over(now + BAN_BASE), vec![peer]);
        // Clean since: the next ban is the first again, not a doubled one.
        t.forgive();
        let later = now + BAN_BASE;
        for _ in 1..BAN_OFFENCES {
            t.offend(peer, later);
        }
        assert_eq!(t.offend(peer, later).1, Some(BAN_BASE));
    }
}
