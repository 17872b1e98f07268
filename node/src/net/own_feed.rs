//! What peers claim about this node's own feed, and what they proved.
//!
//! A restored backup or a lost disk can leave a node's store behind its own feed: peers hold later
//! records it signed. Signing the next seq then would sign a seq twice. So before its first publish
//! a node asks peers for their heads. But a claim is only a claim: a peer says "your feed is at seq
//! N" and must then hand over the record at seq N, signed by this node's key (fetched with one Range
//! request, verified like any record). Only a proven claim holds a publish back (until sync has
//! fetched the records up to it); a claim its peer does not back within [`PROOF_DEADLINE`] is
//! unbacked: an offence, and it never blocks a publish.
//!
//! Pure state: the event loop sends the proof requests and reports what came back.

use std::collections::HashMap;
use std::time::Instant;

use libp2p::PeerId;

use super::limits::PROOF_DEADLINE;

/// What became of a claim whose proof came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The peer handed over this node's own record at the claimed seq.
    Proven(u64),
    /// It did not (nothing, or something else): an offence.
    Unbacked(u64),
    /// No claim of this peer was waiting (it expired or the peer left).
    Stale,
}

/// What the publish path needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OwnFeedView {
    /// Heads answers received since start.
    pub answers: u64,
    /// Claims above this node's head still waiting for their proof.
    pub pending: usize,
    /// The highest seq of this node's own feed a peer proved, if any did.
    pub proven: Option<u64>,
    /// Peers connected now.
    pub connected: usize,
}

/// Claims and proofs about this node's own feed.
#[derive(Debug, Default)]
pub(crate) struct OwnFeed {
    answers: u64,
    pending: HashMap<PeerId, (u64, Instant)>,
    proven: Option<u64>,
}

impl OwnFeed {
    /// A Heads answer arrived from `peer`, claiming this node's feed at `claimed` (if it lists it);
    /// `local` is this store's head seq. Returns the seq to ask `peer` to prove, if any.
    pub(crate) fn answered(
        &mut self,
        peer: PeerId,
        claimed: Option<u64>,
        local: u64,
        now: Instant,
    ) -> Option<u64> {
        self.answers += 1;
        match claimed {
            Some(seq) if seq > local && self.proven.is_none_or(|p| seq > p) => {
                self.pending.insert(peer, (seq, now));
                Some(seq)
            }
            _ => {
                self.pending.remove(&peer);
                None
            }
        }
    }

    /// The proof request to `peer` came back: `record_seq` is the seq of the verified record of this
    /// node's own feed it returned, if it returned one.
    pub(crate) fn proof(&mut self, peer: PeerId, record_seq: Option<u64>) -> Verdict {
        let Some((claimed, _)) = self.pending.remove(&peer) else {
            return Verdict::Stale;
        };
        if record_seq == Some(claimed) {
            self.proven = Some(self.proven.map_or(claimed, |p| p.max(claimed)));
            Verdict::Proven(claimed)
        } else {
            Verdict::Unbacked(claimed)
        }
    }

    /// Claims whose proof did not come within [`PROOF_DEADLINE`]: unbacked, with their peers.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<(PeerId, u64)> {
        let mut late = Vec::new();
        self.pending.retain(|peer, (seq, since)| {
            let keep = now.saturating_duration_since(*since) < PROOF_DEADLINE;
            if !keep {
                late.push((*peer, *seq));
            }
            keep
        });
        late
    }

    /// `peer` left: its claim is dropped (unproven claims never count).
    pub(crate) fn peer_gone(&mut self, peer: &PeerId) {
        self.pending.remove(peer);
    }

    /// What the publish path needs to know.
    pub(crate) fn view(&self) -> OwnFeedView {
        OwnFeedView {
            answers: self.answers,
            pending: self.pending.len(),
            proven: self.proven,
            connected: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datadir::keys::NodeSecret;

    fn peer(n: u8) -> PeerId {
        NodeSecret::from_seed(&[n; 32]).unwrap().peer_id()
    }

    #[test]
    fn a_forged_claim_is_unbacked_and_never_counts() {
        let t0 = Instant::now();
        let mut own = OwnFeed::default();
        assert_eq!(own.answered(peer(1), Some(u64::MAX), 3, t0), Some(u64::MAX));
        assert_eq!(own.view().pending, 1);
        // The liar returns nothing for seq u64::MAX.
        assert_eq!(own.proof(peer(1), None), Verdict::Unbacked(u64::MAX));
        assert_eq!(
            own.view(),
            OwnFeedView {
                answers: 1,
                pending: 0,
                proven: None,
                connected: 0,
            }
        );
        // A claim that is never answered expires as unbacked.
        own.answered(peer(2), Some(10), 3, t0);
        assert!(own.expire(t0).is_empty());
        assert_eq!(own.expire(t0 + PROOF_DEADLINE), vec![(peer(2), 10)]);
        assert_eq!(own.proof(peer(2), Some(10)), Verdict::Stale);
        assert_eq!(own.view().proven, None);
    }

    #[test]
    fn a_backed_claim_holds_and_claims_at_or_below_the_head_ask_nothing() {
        let t0 = Instant::now();
        let mut own = OwnFeed::default();
        assert_eq!(own.answered(peer(1), Some(3), 3, t0), None);
        assert_eq!(own.answered(peer(1), None, 3, t0), None);
        assert_eq!(own.answered(peer(2), Some(7), 3, t0), Some(7));
        // A record of another seq does not back the claim.
        assert_eq!(own.proof(peer(2), Some(6)), Verdict::Unbacked(7));
        own.answered(peer(2), Some(7), 3, t0);
        assert_eq!(own.proof(peer(2), Some(7)), Verdict::Proven(7));
        assert_eq!(own.view().proven, Some(7));
        // Nothing more to prove at or below what is proven.
        assert_eq!(own.answered(peer(3), Some(7), 3, t0), None);
        assert_eq!(own.view().answers, 5);
        own.answered(peer(4), Some(9), 3, t0);
        own.peer_gone(&peer(4));
        assert_eq!(own.view().pending, 0);
    }
}
