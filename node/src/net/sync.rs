//! The sync client's bookkeeping: which requests wait for which peer, which are on the wire, and who
//! is fetching which author's feed.
//!
//! Limits, so that a slow or hostile peer can neither stall nor bloat the node:
//! - at most [`MAX_IN_FLIGHT_PER_PEER`] requests per peer and [`MAX_IN_FLIGHT`] in total, counted from
//!   sending until the response has been ingested (so responses waiting for the store count too:
//!   memory is bounded by `MAX_IN_FLIGHT × MAX_RESPONSE_BYTES`);
//! - at most [`MAX_QUEUED_PER_PEER`] waiting requests per peer; more are dropped (the next sync round
//!   asks again);
//! - one peer at a time fetches a given author's feed, so N peers announcing the same new records
//!   cost one download, not N. The request timeout bounds how long a stalling peer holds an author.
//!
//! Pure bookkeeping: no I/O, no Swarm; the event loop sends what [`SyncClient::next`] hands out.

use std::collections::{HashMap, HashSet, VecDeque};

use certnet_protocol::keys::AuthorKey;
use certnet_protocol::sync::{MAX_RANGE, SyncRequest};
use libp2p::PeerId;
use libp2p::request_response::OutboundRequestId;

/// Requests per peer on the wire or awaiting ingest.
pub(crate) const MAX_IN_FLIGHT_PER_PEER: usize = 2;
/// Requests on the wire or awaiting ingest, all peers together.
pub(crate) const MAX_IN_FLIGHT: usize = 8;
/// Requests waiting to be sent, per peer.
pub(crate) const MAX_QUEUED_PER_PEER: usize = 256;

/// Something to ask a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Want {
    /// Its heads.
    Heads,
    /// A page of `author`'s feed from `from_seq`; `target` is the head seq the peer announced, if
    /// known (paging stops there).
    Range {
        /// Whose feed.
        author: AuthorKey,
        /// First seq wanted.
        from_seq: u64,
        /// The peer's announced head, if known.
        target: Option<u64>,
    },
}

impl Want {
    /// The wire request.
    pub(crate) fn request(&self) -> SyncRequest {
        match self {
            Want::Heads => SyncRequest::Heads,
            Want::Range {
                author, from_seq, ..
            } => SyncRequest::Range {
                author: *author,
                from_seq: *from_seq,
                max: MAX_RANGE,
            },
        }
    }

    /// `heads` or `range`, for metrics.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Want::Heads => "heads",
            Want::Range { .. } => "range",
        }
    }
}

/// The sync client's state.
#[derive(Debug, Default)]
pub(crate) struct SyncClient {
    queues: HashMap<PeerId, VecDeque<Want>>,
    busy: HashMap<PeerId, usize>,
    total_busy: usize,
    in_flight: HashMap<OutboundRequestId, (PeerId, Want)>,
    heads_pending: HashSet<PeerId>,
    fetching: HashMap<AuthorKey, PeerId>,
}

impl SyncClient {
    /// Queues a Heads request to `peer` unless one is already queued or on the wire.
    pub(crate) fn want_heads(&mut self, peer: PeerId) -> bool {
        if self.heads_pending.contains(&peer) {
            return false;
        }
        let queue = self.queues.entry(peer).or_default();
        if queue.len() >= MAX_QUEUED_PER_PEER {
            return false;
        }
        // Heads first: they decide everything else.
        queue.push_front(Want::Heads);
        self.heads_pending.insert(peer);
        true
    }

    /// Queues a fetch of `author`'s feed from `peer`, unless some peer is already fetching it or the
    /// peer's queue is full.
    pub(crate) fn want_range(
        &mut self,
        peer: PeerId,
        author: AuthorKey,
        from_seq: u64,
        target: Option<u64>,
    ) -> bool {
        if self.fetching.contains_key(&author) {
            return false;
        }
        let queue = self.queues.entry(peer).or_default();
        if queue.len() >= MAX_QUEUED_PER_PEER {
            return false;
        }
        queue.push_back(Want::Range {
            author,
            from_seq,
            target,
        });
        self.fetching.insert(author, peer);
        true
    }

    /// Queues the next page of a fetch `peer` is doing, ahead of other work for that peer.
    pub(crate) fn next_page(
        &mut self,
        peer: PeerId,
        author: AuthorKey,
        from_seq: u64,
        target: Option<u64>,
    ) {
        self.fetching.insert(author, peer);
        self.queues
            .entry(peer)
            .or_default()
            .push_front(Want::Range {
                author,
                from_seq,
                target,
            });
    }

    /// Ends `peer`'s fetch of `author` (done, failed or abandoned).
    pub(crate) fn release(&mut self, peer: PeerId, author: &AuthorKey) {
        if self.fetching.get(author) == Some(&peer) {
            self.fetching.remove(author);
        }
    }

    /// The next request to send, if any peer has one waiting and the limits allow it. The caller
    /// sends it and reports the id with [`SyncClient::sent`].
    pub(crate) fn next(&mut self) -> Option<(PeerId, Want)> {
        if self.total_busy >= MAX_IN_FLIGHT {
            return None;
        }
        let peer = *self.queues.iter().find_map(|(peer, queue)| {
            let busy = self.busy.get(peer).copied().unwrap_or(0);
            (!queue.is_empty() && busy < MAX_IN_FLIGHT_PER_PEER).then_some(peer)
        })?;
        let queue = self.queues.get_mut(&peer)?;
        let want = queue.pop_front()?;
        if queue.is_empty() {
            self.queues.remove(&peer);
        }
        *self.busy.entry(peer).or_default() += 1;
        self.total_busy += 1;
        Some((peer, want))
    }

    /// Records that the request handed out by [`SyncClient::next`] went out as `id`.
    pub(crate) fn sent(&mut self, id: OutboundRequestId, peer: PeerId, want: Want) {
        self.in_flight.insert(id, (peer, want));
    }

    /// The request `id` was answered. Its slot stays taken until [`SyncClient::finished`].
    pub(crate) fn answered(&mut self, id: &OutboundRequestId) -> Option<(PeerId, Want)> {
        let (peer, want) = self.in_flight.remove(id)?;
        if want == Want::Heads {
            self.heads_pending.remove(&peer);
        }
        Some((peer, want))
    }

    /// The request `id` failed: frees its slot and, for a range, the author.
    pub(crate) fn failed(&mut self, id: &OutboundRequestId) -> Option<(PeerId, Want)> {
        let (peer, want) = self.answered(id)?;
        self.finished(peer);
        if let Want::Range { author, .. } = &want {
            self.release(peer, author);
        }
        Some((peer, want))
    }

    /// Frees a slot of `peer` taken by [`SyncClient::next`].
    pub(crate) fn finished(&mut self, peer: PeerId) {
        if let Some(busy) = self.busy.get_mut(&peer) {
            *busy = busy.saturating_sub(1);
            self.total_busy = self.total_busy.saturating_sub(1);
            if *busy == 0 {
                self.busy.remove(&peer);
            }
        }
    }

    /// Undoes [`SyncClient::next`] for a request that could not be sent (the peer is gone).
    pub(crate) fn dropped(&mut self, peer: PeerId, want: &Want) {
        self.finished(peer);
        match want {
            Want::Heads => {
                self.heads_pending.remove(&peer);
            }
            Want::Range { author, .. } => self.release(peer, author),
        }
    }

    /// Drops everything still waiting for `peer` (disconnected, blocked, removed from the roster).
    /// Requests on the wire end through their failure events.
    pub(crate) fn peer_gone(&mut self, peer: &PeerId) {
        if let Some(queue) = self.queues.remove(peer) {
            for want in queue {
                if let Want::Range { author, .. } = want {
                    self.release(*peer, &author);
                }
            }
        }
        if !self
            .in_flight
            .values()
            .any(|(p, w)| p == peer && *w == Want::Heads)
        {
            self.heads_pending.remove(peer);
        }
    }

    /// Requests on the wire or awaiting ingest, all peers together.
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.total_busy
    }
}

#[cfg(test)]
mod tests {
    use certnet_protocol::keys::AuthorSecret;

    use super::*;
    use crate::datadir::keys::NodeSecret;

    fn peer(n: u8) -> PeerId {
        NodeSecret::from_seed(&[n; 32]).unwrap().peer_id()
    }

    fn author(n: u8) -> AuthorKey {
        AuthorSecret::from_seed(&[n; 32]).public()
    }

    /// Everything `next` hands out until the limits stop it. (Request ids only come from a live
    /// Behaviour, so `sent`/`answered`/`failed` are exercised by the two-node test.)
    fn drain(client: &mut SyncClient) -> Vec<(PeerId, Want)> {
        std::iter::from_fn(|| client.next()).collect()
    }

    #[test]
    fn one_peer_per_author_and_heads_once() {
        let mut c = SyncClient::default();
        assert!(c.want_heads(peer(1)));
        assert!(!c.want_heads(peer(1)));
        assert!(c.want_range(peer(1), author(9), 1, Some(10)));
        assert!(
            !c.want_range(peer(2), author(9), 1, Some(10)),
            "author already being fetched"
        );
        let sent = drain(&mut c);
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0], (peer(1), Want::Heads), "heads go first");
        c.release(peer(1), &author(9));
        assert!(c.want_range(peer(2), author(9), 1, Some(10)));
    }

    #[test]
    fn in_flight_limits_per_peer_and_overall() {
        let mut c = SyncClient::default();
        for a in 0..5 {
            assert!(c.want_range(peer(1), author(a), 1, None));
        }
        assert_eq!(drain(&mut c).len(), MAX_IN_FLIGHT_PER_PEER);
        c.finished(peer(1));
        assert_eq!(drain(&mut c).len(), 1);

        let mut c = SyncClient::default();
        for p in 0..20u8 {
            assert!(c.want_range(peer(p), author(p), 1, None));
        }
        let sent = drain(&mut c);
        assert_eq!(sent.len(), MAX_IN_FLIGHT);
        assert_eq!(c.in_flight(), MAX_IN_FLIGHT);
        let (first, _) = sent[0];
        c.finished(first);
        assert_eq!(drain(&mut c).len(), 1, "only released slots are reused");
        // Finishing twice does not free a slot that was never taken.
        c.finished(first);
        assert_eq!(drain(&mut c).len(), 0);
    }

    #[test]
    fn queues_are_bounded_and_dropped_with_the_peer() {
        let mut c = SyncClient::default();
        let mut accepted = 0;
        for i in 0..(MAX_QUEUED_PER_PEER as u32 + 10) {
            let a = AuthorSecret::from_seed(&{
                let mut s = [0u8; 32];
                s[..4].copy_from_slice(&i.to_be_bytes());
                s
            })
            .public();
            if c.want_range(peer(1), a, 1, None) {
                accepted += 1;
            }
        }
        assert_eq!(accepted, MAX_QUEUED_PER_PEER);
        c.peer_gone(&peer(1));
        assert!(drain(&mut c).is_empty());
        assert!(
            c.fetching.is_empty(),
            "authors of dropped requests are free again"
        );
    }

    #[test]
    fn next_page_goes_first() {
        let mut c = SyncClient::default();
        assert!(c.want_range(peer(1), author(1), 1, None));
        assert!(c.want_range(peer(1), author(2), 1, None));
        c.next_page(peer(1), author(3), 1025, Some(2000));
        let (_, first) = c.next().unwrap();
        assert_eq!(
            first,
            Want::Range {
                author: author(3),
                from_seq: 1025,
                target: Some(2000)
            }
        );
    }
}
