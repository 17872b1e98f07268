//! How fast a member's own node may push that member's records to this node, gossip and sync
//! together.
//!
//! Each other author has a token bucket (`[p2p] author_burst` records at once, then
//! `author_rate` a second), spent by records of that author that arrive from a node of the same
//! member (its PeerIds in the roster) and that the store takes (appended or kept as an orphan);
//! records that fail verification spend nothing. While an author has no token left, gossip of its
//! records from its own node is ignored unvalidated (not relayed, no penalty) and sync asks its own
//! node for no more of them than there are tokens; the rest waits, none is lost: sync fetches it as
//! the bucket refills.
//!
//! Records relayed or served by other members are not counted: each of them took the author's
//! records at the same bounded rate, so a flood spreads no faster than the budget, while a node
//! catching up after downtime fetches a large backlog from the others at full speed.
//!
//! A node keeps to the budget it asks of others: it gossips its own records at most at that rate
//! (the rest its peers fetch by sync). So an author's node whose messages keep coming past the
//! budget — beyond [`SENDER_TOLERANCE`] times it — floods: each such message is an offence, and
//! repeated offences ban it. Set the same budget on every node.
//!
//! Without it, one compromised member publishing valid records at full rate makes every node
//! verify, store and relay them as fast as its CPU allows, and the honest members' records wait
//! behind that work. This node's own feed is never limited (its own records come back by sync after
//! a restore).
//!
//! Pure state: no I/O.

use std::collections::HashMap;
use std::time::Instant;

use certnet_protocol::keys::AuthorKey;
use libp2p::PeerId;

use super::limits::{Bucket, Budget};

/// Most authors tracked; beyond it, full buckets (the same as new ones) are forgotten.
const MAX_TRACKED: usize = 4096;

/// How far past the author budget one peer's gossip may go before it counts as a flood: honest
/// relays each forward the records they took, which may differ from node to node.
pub(crate) const SENDER_TOLERANCE: f64 = 2.0;

/// Per-author budgets of records taken from peers.
#[derive(Debug)]
pub(crate) struct AuthorRates {
    own: AuthorKey,
    budget: Budget,
    buckets: HashMap<AuthorKey, Bucket>,
    /// This node's own gossip.
    own_pace: Bucket,
    /// Messages each peer sent past an author's budget.
    senders: HashMap<PeerId, Bucket>,
}

impl AuthorRates {
    /// Budgets of `budget` for every author but `own`.
    pub(crate) fn new(own: AuthorKey, budget: Budget) -> Self {
        Self {
            own,
            budget,
            buckets: HashMap::new(),
            own_pace: Bucket::new(budget, Instant::now()),
            senders: HashMap::new(),
        }
    }

    /// Whether this node may gossip one more of its own records now (otherwise peers fetch it).
    pub(crate) fn pace_own(&mut self, now: Instant) -> bool {
        self.own_pace.take(now)
    }

    /// `peer` sent a message past its author's budget; true when that makes it a flooder.
    pub(crate) fn over_budget_from(&mut self, peer: PeerId, now: Instant) -> bool {
        if self.senders.len() >= MAX_TRACKED && !self.senders.contains_key(&peer) {
            self.senders.retain(|_, b| !b.is_full(now));
        }
        let tolerance = Budget {
            burst: self.budget.burst * SENDER_TOLERANCE,
            per_sec: self.budget.per_sec * SENDER_TOLERANCE,
        };
        !self
            .senders
            .entry(peer)
            .or_insert_with(|| Bucket::new(tolerance, now))
            .take(now)
    }

    /// Forgets what `peer` sent (it left or was banned).
    pub(crate) fn peer_gone(&mut self, peer: &PeerId) {
        self.senders.remove(peer);
    }

    /// How many more records of `author` this node takes now (`u64::MAX`: unlimited).
    pub(crate) fn allowance(&mut self, author: &AuthorKey, now: Instant) -> u64 {
        if *author == self.own {
            return u64::MAX;
        }
        match self.buckets.get_mut(author) {
            Some(bucket) => bucket.available(now) as u64,
            None => self.budget.burst as u64,
        }
    }

    /// The store took `count` records of `author`.
    pub(crate) fn spend(&mut self, author: &AuthorKey, count: u64, now: Instant) {
        if *author == self.own || count == 0 {
            return;
        }
        if self.buckets.len() >= MAX_TRACKED && !self.buckets.contains_key(author) {
            self.buckets.retain(|_, b| !b.is_full(now));
        }
        let budget = self.budget;
        self.buckets
            .entry(*author)
            .or_insert_with(|| Bucket::new(budget, now))
            .spend(count as f64, now);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use certnet_protocol::keys::AuthorSecret;

    use super::*;

    fn author(n: u8) -> AuthorKey {
        AuthorSecret::from_seed(&[n; 32]).public()
    }

    const BUDGET: Budget = Budget {
        burst: 100.0,
        per_sec: 10.0,
    };

    #[test]
    fn an_author_gets_its_burst_then_its_rate_and_others_are_untouched() {
        let t0 = Instant::now();
        let mut rates = AuthorRates::new(author(0), BUDGET);
        assert_eq!(rates.allowance(&author(1), t0), 100);
        rates.spend(&author(1), 100, t0);
        assert_eq!(rates.allowance(&author(1), t0), 0);
        assert_eq!(rates.allowance(&author(2), t0), 100);
        assert_eq!(rates.allowance(&author(1), t0 + Duration::from_secs(2)), 20);
        assert_eq!(
            rates.allowance(&author(1), t0 + Duration::from_secs(60)),
            100
        );
    }

    #[test]
    fn overspending_a_page_is_paid_back_before_more_is_taken() {
        let t0 = Instant::now();
        let mut rates = AuthorRates::new(author(0), BUDGET);
        // Gossip already queued when the bucket ran dry is stored anyway: the debt is repaid first.
        rates.spend(&author(1), 130, t0);
        assert_eq!(rates.allowance(&author(1), t0 + Duration::from_secs(2)), 0);
        assert_eq!(rates.allowance(&author(1), t0 + Duration::from_secs(4)), 10);
    }

    #[test]
    fn a_peer_past_the_budget_beyond_the_tolerance_floods_and_own_gossip_is_paced() {
        let t0 = Instant::now();
        let mut rates = AuthorRates::new(author(0), BUDGET);
        let flooder = crate::datadir::keys::NodeSecret::from_seed(&[7; 32])
            .unwrap()
            .peer_id();
        let tolerated = (BUDGET.burst * SENDER_TOLERANCE) as usize;
        for _ in 0..tolerated {
            assert!(!rates.over_budget_from(flooder, t0));
        }
        assert!(rates.over_budget_from(flooder, t0));
        // Coming back at the tolerated rate is not a flood.
        assert!(!rates.over_budget_from(flooder, t0 + Duration::from_secs(1)));
        // This node's own gossip keeps to the budget it asks of others.
        let paced = (0..1000).filter(|_| rates.pace_own(t0)).count();
        assert_eq!(paced, BUDGET.burst as usize);
    }

    #[test]
    fn the_own_feed_is_never_limited() {
        let t0 = Instant::now();
        let mut rates = AuthorRates::new(author(0), BUDGET);
        rates.spend(&author(0), 10_000, t0);
        assert_eq!(rates.allowance(&author(0), t0), u64::MAX);
    }

    #[test]
    fn tracking_is_bounded() {
        let t0 = Instant::now();
        let mut rates = AuthorRates::new(author(0), BUDGET);
        for n in 0..(MAX_TRACKED as u32 + 10) {
            let mut seed = [1u8; 32];
            seed[..4].copy_from_slice(&n.to_be_bytes());
            rates.spend(&AuthorSecret::from_seed(&seed).public(), 1, t0);
        }
        // Once full again, the earlier buckets are forgotten.
        rates.spend(&author(9), 1, t0 + Duration::from_secs(60));
        assert!(rates.buckets.len() <= 2);
    }
}
