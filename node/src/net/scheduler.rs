//! The sync client's schedule: what to ask whom, and when.
//!
//! - Heads requests first (they decide everything else), then proofs of claims about this node's
//!   own feed ([`super::own_feed`]), then fetches of feeds, round-robin over authors.
//! - A fetch of an author's feed has candidates: the peers whose Heads claimed records beyond ours,
//!   each with what it claimed. The fetch slot is taken when a request is sent, not when it is
//!   wanted, and only one peer fetches an author at a time (N peers announcing the same records cost
//!   one download). A peer is asked only up to what it claimed, and a page that comes back empty
//!   before that is an unbacked claim: the candidate is dropped.
//! - A timeout backs the peer off ([`FETCH_BACKOFF`], doubling); the next request for the author
//!   goes to another candidate that holds the records.
//! - Requests in flight are bounded per peer and in all ([`FETCH_PER_PEER`], [`FETCH_TOTAL`]) by
//!   permits that travel with the answer into the ingest job: a response waiting for the store still
//!   holds its slot, so memory is bounded; a dropped job gives it back.
//!
//! Pure bookkeeping: no I/O, no Swarm.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use certnet_protocol::keys::AuthorKey;
use certnet_protocol::sync::{MAX_RANGE, SyncRequest};
use libp2p::PeerId;
use libp2p::request_response::OutboundRequestId;

use super::limits::{FETCH_BACKOFF, FETCH_BACKOFF_MAX, FETCH_PER_PEER, FETCH_TOTAL};
use super::permit::{KeyedSlots, Permit};

/// Something to ask a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Want {
    /// Its heads.
    Heads,
    /// This node's own record at `seq`, to back the peer's claim.
    Proof {
        /// The claimed seq.
        seq: u64,
    },
    /// A page of `author`'s feed from `from_seq`, the peer having claimed it up to `target`.
    Range {
        /// Whose feed.
        author: AuthorKey,
        /// First seq wanted.
        from_seq: u64,
        /// The head the peer claimed.
        target: u64,
    },
}

impl Want {
    /// The wire request; `own` is this node's author key (proofs ask for its feed).
    pub(crate) fn request(&self, own: &AuthorKey) -> SyncRequest {
        match self {
            Want::Heads => SyncRequest::Heads,
            Want::Proof { seq } => SyncRequest::Range {
                author: *own,
                from_seq: *seq,
                max: 1,
            },
            Want::Range {
                author,
                from_seq,
                target,
            } => SyncRequest::Range {
                author: *author,
                from_seq: *from_seq,
                max: u32::try_from(target.saturating_sub(*from_seq).saturating_add(1))
                    .unwrap_or(MAX_RANGE)
                    .clamp(1, MAX_RANGE),
            },
        }
    }

    /// `heads`, `proof` or `range`, for metrics.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Want::Heads => "heads",
            Want::Proof { .. } => "proof",
            Want::Range { .. } => "range",
        }
    }
}

/// An answered or failed request, with its slot.
#[derive(Debug)]
pub(crate) struct Done {
    /// Who was asked.
    pub(crate) peer: PeerId,
    /// What was asked.
    pub(crate) want: Want,
    /// The slot; keep it until the answer is ingested.
    pub(crate) permit: Permit<PeerId>,
}

/// How a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// No answer in time.
    Timeout,
    /// An answer that broke the protocol (undecodable, over a limit).
    Invalid,
    /// The connection went, or the peer refused.
    Other,
}

/// What a fetched page showed about its peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PageVerdict {
    /// Records came, or the peer's claim is reached.
    Ok,
    /// The page was empty before the peer's claimed head: it claimed what it does not serve.
    Unbacked {
        /// What it claimed.
        claimed: u64,
        /// Where its records ended.
        served_to: u64,
    },
}

#[derive(Debug, Default)]
struct Fetch {
    /// Peer → the head it claimed.
    candidates: HashMap<PeerId, u64>,
    /// Our head of the author, as far as this schedule knows.
    have: u64,
    /// The peer whose request is out, if one is.
    active: Option<PeerId>,
    /// The peer that served the last page (asked first for the next).
    last: Option<PeerId>,
}

#[derive(Debug, Clone, Copy)]
struct Backoff {
    until: Instant,
    step: Duration,
}

/// The sync client's state.
#[derive(Debug)]
pub(crate) struct Scheduler {
    heads: VecDeque<PeerId>,
    heads_wanted: HashSet<PeerId>,
    proofs: VecDeque<(PeerId, u64)>,
    fetches: HashMap<AuthorKey, Fetch>,
    order: VecDeque<AuthorKey>,
    backoff: HashMap<PeerId, Backoff>,
    slots: KeyedSlots<PeerId>,
    in_flight: HashMap<OutboundRequestId, Done>,
}

impl Default for Scheduler {
    fn default() -> Self {
        Self {
            heads: VecDeque::new(),
            heads_wanted: HashSet::new(),
            proofs: VecDeque::new(),
            fetches: HashMap::new(),
            order: VecDeque::new(),
            backoff: HashMap::new(),
            slots: KeyedSlots::new(FETCH_PER_PEER, FETCH_TOTAL),
            in_flight: HashMap::new(),
        }
    }
}

impl Scheduler {
    /// Asks `peer` for its heads (once, until answered).
    pub(crate) fn want_heads(&mut self, peer: PeerId) -> bool {
        if !self.heads_wanted.insert(peer) {
            return false;
        }
        self.heads.push_back(peer);
        true
    }

    /// Asks `peer` to prove its claim that this node's own feed reaches `seq`.
    pub(crate) fn want_proof(&mut self, peer: PeerId, seq: u64) {
        self.proofs.retain(|(p, _)| *p != peer);
        self.proofs.push_back((peer, seq));
    }

    /// `peer` claims `author`'s feed up to `claimed`; this node holds it up to `have`.
    pub(crate) fn claim(&mut self, peer: PeerId, author: AuthorKey, claimed: u64, have: u64) {
        if claimed <= have {
            if let Some(f) = self.fetches.get_mut(&author) {
                f.candidates.remove(&peer);
            }
            return;
        }
        let fetch = self.fetches.entry(author).or_default();
        if fetch.candidates.is_empty() && fetch.active.is_none() {
            fetch.have = have;
            if !self.order.contains(&author) {
                self.order.push_back(author);
            }
        }
        fetch.have = fetch.have.max(have);
        fetch.candidates.insert(peer, claimed);
    }

    fn backing_off(&self, peer: &PeerId, now: Instant) -> bool {
        self.backoff.get(peer).is_some_and(|b| b.until > now)
    }

    /// The next request to send and its slot, if a peer has one waiting and the limits allow it.
    /// `usable` says whether a peer can be asked now (connected, not blocked, trusted); with `fetch`
    /// false only heads and proofs go out (the store takes no records from others now);
    /// `allowance` says how many more records of an author the node takes now from a peer (a fetch
    /// asks for no more; a peer with none is not asked).
    pub(crate) fn next(
        &mut self,
        now: Instant,
        fetch: bool,
        usable: impl Fn(&PeerId) -> bool,
        mut allowance: impl FnMut(&PeerId, &AuthorKey) -> u64,
    ) -> Option<(PeerId, Want, Permit<PeerId>)> {
        // Heads, then proofs: whoever has a slot.
        for _ in 0..self.heads.len() {
            let peer = self.heads.pop_front()?;
            if !usable(&peer) {
                self.heads_wanted.remove(&peer);
                continue;
            }
            match self.slots.try_take(&peer) {
                Some(permit) => return Some((peer, Want::Heads, permit)),
                None => self.heads.push_back(peer),
            }
        }
        for _ in 0..self.proofs.len() {
            let (peer, seq) = self.proofs.pop_front()?;
            if !usable(&peer) {
                continue;
            }
            match self.slots.try_take(&peer) {
                Some(permit) => return Some((peer, Want::Proof { seq }, permit)),
                None => self.proofs.push_back((peer, seq)),
            }
        }
        if !fetch {
            return None;
        }
        // Fetches, round-robin over authors.
        for _ in 0..self.order.len() {
            let Some(author) = self.order.pop_front() else {
                break;
            };
            let Some(fetch) = self.fetches.get(&author) else {
                continue;
            };
            let have = fetch.have;
            if fetch.active.is_none() && fetch.candidates.values().all(|c| *c <= have) {
                self.fetches.remove(&author);
                continue;
            }
            self.order.push_back(author);
            if fetch.active.is_some() {
                continue;
            }
            // The peer that served the last page first, then the others, most records first.
            let last = fetch.last;
            let mut choices: Vec<(PeerId, u64)> = fetch
                .candidates
                .iter()
                .filter(|(_, claimed)| **claimed > have)
                .map(|(p, c)| (*p, *c))
                .collect();
            choices.sort_by_key(|(p, c)| (Some(*p) != last, std::cmp::Reverse(*c)));
            for (peer, claimed) in choices {
                if !usable(&peer) || self.backing_off(&peer, now) {
                    continue;
                }
                let allowed = allowance(&peer, &author);
                if allowed == 0 {
                    continue;
                }
                if let Some(permit) = self.slots.try_take(&peer) {
                    if let Some(f) = self.fetches.get_mut(&author) {
                        f.active = Some(peer);
                    }
                    let want = Want::Range {
                        author,
                        from_seq: have + 1,
                        target: claimed.min(have.saturating_add(allowed)),
                    };
                    return Some((peer, want, permit));
                }
            }
        }
        None
    }

    /// The request handed out by [`Scheduler::next`] went out as `id`.
    pub(crate) fn sent(
        &mut self,
        id: OutboundRequestId,
        peer: PeerId,
        want: Want,
        permit: Permit<PeerId>,
    ) {
        self.in_flight.insert(id, Done { peer, want, permit });
    }

    fn release(&mut self, peer: PeerId, want: &Want) {
        match want {
            Want::Heads => {
                self.heads_wanted.remove(&peer);
            }
            Want::Proof { .. } => {}
            Want::Range { author, .. } => {
                if let Some(f) = self.fetches.get_mut(author)
                    && f.active == Some(peer)
                {
                    f.active = None;
                }
            }
        }
    }

    /// Request `id` was answered: its peer, want and slot (keep the slot until the answer is
    /// ingested, then report the page with [`Scheduler::page_done`]).
    pub(crate) fn answered(&mut self, id: &OutboundRequestId) -> Option<Done> {
        let done = self.in_flight.remove(id)?;
        if done.want == Want::Heads {
            self.heads_wanted.remove(&done.peer);
        }
        Some(done)
    }

    /// Request `id` failed. Its slot is freed; a timeout backs its peer off; an answer that broke
    /// the protocol also ends the peer's candidacy for that author (the offence covers the claim).
    pub(crate) fn failed(
        &mut self,
        id: &OutboundRequestId,
        failure: Failure,
        now: Instant,
    ) -> Option<(PeerId, Want)> {
        let done = self.in_flight.remove(id)?;
        self.release(done.peer, &done.want);
        if failure == Failure::Invalid
            && let Want::Range { author, .. } = &done.want
            && let Some(f) = self.fetches.get_mut(author)
        {
            f.candidates.remove(&done.peer);
        }
        if failure == Failure::Timeout {
            let b = self.backoff.entry(done.peer).or_insert(Backoff {
                until: now,
                step: FETCH_BACKOFF / 2,
            });
            b.step = (b.step * 2).min(FETCH_BACKOFF_MAX);
            b.until = now + b.step;
        }
        Some((done.peer, done.want))
    }

    /// A fetched page of `author` from `peer`, asked from `from_seq`, was ingested, after which
    /// this node holds the author's feed up to `held` (the store's head: records the page held but
    /// that were rejected do not count). `stop` ends this peer's part (the page broke a rule, which
    /// is its own offence, or the store refused it); otherwise a page that brought nothing before
    /// the peer's claimed head is an unbacked claim.
    pub(crate) fn page_done(
        &mut self,
        peer: PeerId,
        author: AuthorKey,
        from_seq: u64,
        held: u64,
        stop: bool,
    ) -> PageVerdict {
        self.backoff.remove(&peer);
        let Some(fetch) = self.fetches.get_mut(&author) else {
            return PageVerdict::Ok;
        };
        if fetch.active == Some(peer) {
            fetch.active = None;
        }
        fetch.last = Some(peer);
        fetch.have = fetch.have.max(held);
        let claimed = fetch.candidates.get(&peer).copied().unwrap_or(0);
        let verdict = if !stop && held < from_seq && claimed >= from_seq {
            PageVerdict::Unbacked {
                claimed,
                served_to: from_seq.saturating_sub(1),
            }
        } else {
            PageVerdict::Ok
        };
        if stop || verdict != PageVerdict::Ok || claimed <= fetch.have {
            fetch.candidates.remove(&peer);
        }
        verdict
    }

    /// Forgets everything waiting for `peer` (disconnected, banned, removed from the roster).
    /// Requests on the wire end through their failure events.
    pub(crate) fn peer_gone(&mut self, peer: &PeerId) {
        self.heads.retain(|p| p != peer);
        if !self
            .in_flight
            .values()
            .any(|d| d.peer == *peer && d.want == Want::Heads)
        {
            self.heads_wanted.remove(peer);
        }
        self.proofs.retain(|(p, _)| p != peer);
        for f in self.fetches.values_mut() {
            f.candidates.remove(peer);
        }
    }

    /// Requests in flight (sent, or answered and not yet ingested), all peers together.
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.slots.used()
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

    fn all(_: &PeerId) -> bool {
        true
    }

    fn unlimited(_: &PeerId, _: &AuthorKey) -> u64 {
        u64::MAX
    }

    /// Everything `next` hands out now, permits kept alive.
    fn drain(s: &mut Scheduler, now: Instant) -> Vec<(PeerId, Want, Permit<PeerId>)> {
        std::iter::from_fn(|| s.next(now, true, all, unlimited)).collect()
    }

    #[test]
    fn a_fetch_asks_a_peer_for_no_more_than_its_allowance() {
        let t = Instant::now();
        let mut s = Scheduler::default();
        s.claim(peer(1), author(9), 100, 10);
        assert!(
            s.next(t, true, all, |_, _| 0).is_none(),
            "no allowance: it waits"
        );
        let (_, want, _permit) = s.next(t, true, all, |_, _| 3).unwrap();
        assert_eq!(
            want.request(&author(0)),
            SyncRequest::Range {
                author: author(9),
                from_seq: 11,
                max: 3
            }
        );
    }

    #[test]
    fn a_peer_without_allowance_is_passed_over_for_one_with() {
        let t = Instant::now();
        let mut s = Scheduler::default();
        s.claim(peer(1), author(9), 100, 10);
        s.claim(peer(2), author(9), 50, 10);
        // peer 1 (the author's own node, say) has no allowance left; peer 2 relays.
        let (p, want, _permit) = s
            .next(
                t,
                true,
                all,
                |p, _| if *p == peer(1) { 0 } else { u64::MAX },
            )
            .unwrap();
        assert_eq!(p, peer(2));
        assert_eq!(
            want,
            Want::Range {
                author: author(9),
                from_seq: 11,
                target: 50
            }
        );
    }

    #[test]
    fn heads_first_one_fetch_per_author_slot_taken_when_sent() {
        let t = Instant::now();
        let mut s = Scheduler::default();
        s.claim(peer(1), author(9), 10, 0);
        s.claim(peer(2), author(9), 12, 0);
        assert!(s.want_heads(peer(3)));
        assert!(!s.want_heads(peer(3)));
        let out = drain(&mut s, t);
        assert_eq!(out.len(), 2, "heads, then one fetch of author 9");
        assert_eq!(out[0].1, Want::Heads);
        let Want::Range {
            author: a,
            from_seq,
            target,
        } = out[1].1.clone()
        else {
            panic!("{:?}", out[1].1);
        };
        assert_eq!((a, from_seq), (author(9), 1));
        // The peer that claimed more is asked, up to its claim.
        assert_eq!((out[1].0, target), (peer(2), 12));
        assert_eq!(s.in_flight(), 2);
        drop(out);
        assert_eq!(s.in_flight(), 0, "dropped permits free their slots");
    }

    #[test]
    fn a_timeout_backs_the_peer_off_and_another_candidate_serves() {
        let t = Instant::now();
        let mut s = Scheduler::default();
        s.claim(peer(1), author(9), 10, 0);
        let (p, want, permit) = s.next(t, true, all, unlimited).unwrap();
        assert_eq!(p, peer(1));
        // Requests ids come only from a live Behaviour: fake the failure through `release`.
        drop(permit);
        s.release(p, &want);
        s.backoff.insert(
            p,
            Backoff {
                until: t + FETCH_BACKOFF,
                step: FETCH_BACKOFF,
            },
        );
        s.claim(peer(2), author(9), 10, 0);
        let (p2, _, _permit) = s.next(t, true, all, unlimited).unwrap();
        assert_eq!(p2, peer(2), "the backed-off peer is skipped");
        assert!(
            s.next(t, true, all, unlimited).is_none(),
            "one fetch per author"
        );
    }

    #[test]
    fn an_empty_page_before_the_claim_is_unbacked_and_drops_the_candidate() {
        let t = Instant::now();
        let mut s = Scheduler::default();
        s.claim(peer(1), author(9), 1_000_000, 0);
        s.claim(peer(2), author(9), 3, 0);
        let (p, _, permit) = s.next(t, true, all, unlimited).unwrap();
        assert_eq!(p, peer(1));
        drop(permit);
        assert_eq!(
            s.page_done(peer(1), author(9), 1, 0, false),
            PageVerdict::Unbacked {
                claimed: 1_000_000,
                served_to: 0
            }
        );
        // The honest peer serves the rest.
        let (p, want, permit) = s.next(t, true, all, unlimited).unwrap();
        assert_eq!(
            (p, want),
            (
                peer(2),
                Want::Range {
                    author: author(9),
                    from_seq: 1,
                    target: 3
                }
            )
        );
        drop(permit);
        assert_eq!(
            s.page_done(peer(2), author(9), 1, 3, false),
            PageVerdict::Ok
        );
        assert!(
            s.next(t, true, all, unlimited).is_none(),
            "caught up: nothing more to fetch"
        );
    }

    #[test]
    fn a_page_of_rejected_records_moves_nothing_and_the_next_candidate_serves() {
        let t = Instant::now();
        let mut s = Scheduler::default();
        s.claim(peer(1), author(9), 11, 0);
        s.claim(peer(2), author(9), 10, 0);
        let (p, _, permit) = s.next(t, true, all, unlimited).unwrap();
        assert_eq!(p, peer(1));
        drop(permit);
        // Ten records came back and were all rejected: the store still holds nothing; the bad
        // page is its own offence, not also an unbacked claim.
        assert_eq!(s.page_done(peer(1), author(9), 1, 0, true), PageVerdict::Ok);
        let (p, want, _permit) = s.next(t, true, all, unlimited).unwrap();
        assert_eq!(
            (p, want),
            (
                peer(2),
                Want::Range {
                    author: author(9),
                    from_seq: 1,
                    target: 10
                }
            )
        );
    }

    #[test]
    fn authors_take_turns_and_limits_hold() {
        let t = Instant::now();
        let mut s = Scheduler::default();
        for a in 0..20u8 {
            s.claim(peer(a % 5), author(a), 5, 0);
        }
        let out = drain(&mut s, t);
        assert_eq!(out.len(), FETCH_TOTAL);
        let authors: HashSet<_> = out
            .iter()
            .map(|(_, w, _)| match w {
                Want::Range { author, .. } => *author,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(authors.len(), FETCH_TOTAL, "different authors");
        for p in 0..5u8 {
            assert!(out.iter().filter(|(q, _, _)| *q == peer(p)).count() <= FETCH_PER_PEER);
        }
    }

    #[test]
    fn proofs_ask_for_one_own_record() {
        let own = author(1);
        let want = Want::Proof { seq: u64::MAX };
        assert_eq!(
            want.request(&own),
            SyncRequest::Range {
                author: own,
                from_seq: u64::MAX,
                max: 1
            }
        );
        let range = Want::Range {
            author: own,
            from_seq: 5,
            target: 6,
        };
        assert!(matches!(
            range.request(&own),
            SyncRequest::Range { max: 2, .. }
        ));
        let mut s = Scheduler::default();
        s.want_proof(peer(1), 7);
        s.want_proof(peer(1), 8);
        let out = drain(&mut s, Instant::now());
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].1, Want::Proof { seq: 8 });
    }
}
