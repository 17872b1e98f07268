//! Which sync requests this node serves: each peer has a budget of Heads and of Range requests
//! (token buckets), and a few serving slots of its own out of a shared few. A request past either is
//! refused (the stream is dropped: the peer asks again later) and counted; refusals are logged once a
//! minute per peer with their number.
//!
//! Pure state: the event loop runs the serving job while it holds the permit.

use std::collections::HashMap;
use std::time::Instant;

use certnet_protocol::sync::SyncRequest;
use libp2p::PeerId;

use super::limits::{Bucket, HEADS_BUDGET, RANGE_BUDGET, SERVE_PER_PEER, SERVE_TOTAL};
use super::permit::{KeyedSlots, Permit};

/// Whether to serve a request.
#[derive(Debug)]
pub(crate) enum Admission {
    /// Serve it while holding this permit.
    Serve(Permit<PeerId>),
    /// Too many requests of this peer (or of all peers) are being served.
    Busy,
    /// The peer spent its budget of this kind of request.
    OverBudget,
}

/// Per-peer budgets and serving slots.
#[derive(Debug)]
pub(crate) struct ServeLimiter {
    slots: KeyedSlots<PeerId>,
    budgets: HashMap<PeerId, (Bucket, Bucket)>,
}

impl Default for ServeLimiter {
    fn default() -> Self {
        Self {
            slots: KeyedSlots::new(SERVE_PER_PEER, SERVE_TOTAL),
            budgets: HashMap::new(),
        }
    }
}

impl ServeLimiter {
    /// Decides about `request` from `peer` at `now`.
    pub(crate) fn admit(&mut self, peer: PeerId, request: &SyncRequest, now: Instant) -> Admission {
        let (heads, range) = self.budgets.entry(peer).or_insert_with(|| {
            (
                Bucket::new(HEADS_BUDGET, now),
                Bucket::new(RANGE_BUDGET, now),
            )
        });
        let bucket = match request {
            SyncRequest::Heads => heads,
            SyncRequest::Range { .. } => range,
        };
        if !self.slots.has_room(&peer) {
            return Admission::Busy;
        }
        if !bucket.take(now) {
            return Admission::OverBudget;
        }
        match self.slots.try_take(&peer) {
            Some(permit) => Admission::Serve(permit),
            None => Admission::Busy,
        }
    }

    /// Forgets `peer`'s budgets (it left; a returning peer starts with a full budget, which a
    /// reconnect loop cannot exploit faster than connection limits allow).
    pub(crate) fn forget(&mut self, peer: &PeerId) {
        self.budgets.remove(peer);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use certnet_protocol::keys::AuthorSecret;

    use super::*;
    use crate::datadir::keys::NodeSecret;

    fn peer(n: u8) -> PeerId {
        NodeSecret::from_seed(&[n; 32]).unwrap().peer_id()
    }

    fn range() -> SyncRequest {
        SyncRequest::Range {
            author: AuthorSecret::from_seed(&[1; 32]).public(),
            from_seq: 1,
            max: 10,
        }
    }

    #[test]
    fn heads_are_budgeted_and_slots_are_shared() {
        let t = Instant::now();
        let mut s = ServeLimiter::default();
        let mut held = Vec::new();
        for _ in 0..HEADS_BUDGET.burst as usize {
            match s.admit(peer(1), &SyncRequest::Heads, t) {
                Admission::Serve(p) => drop(p),
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            s.admit(peer(1), &SyncRequest::Heads, t),
            Admission::OverBudget
        ));
        // Ranges have their own budget; the peer's slots bound what runs at once.
        for _ in 0..SERVE_PER_PEER {
            match s.admit(peer(1), &range(), t) {
                Admission::Serve(p) => held.push(p),
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(s.admit(peer(1), &range(), t), Admission::Busy));
        // Another peer still gets served, until the shared slots run out.
        let mut others = 0;
        for n in 2..20 {
            if let Admission::Serve(p) = s.admit(peer(n), &range(), t) {
                held.push(p);
                others += 1;
            }
        }
        assert_eq!(others, SERVE_TOTAL - SERVE_PER_PEER);
        held.clear();
        // Budgets refill with time.
        let later = t + Duration::from_secs(10);
        assert!(matches!(
            s.admit(peer(1), &SyncRequest::Heads, later),
            Admission::Serve(_)
        ));
    }
}
