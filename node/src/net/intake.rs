//! What waits for the store's one writer: gossip messages and sync pages, shared fairly.
//!
//! - A gossip message's size is checked before it is queued (no record is larger than
//!   `MAX_RECORD`: a larger message is refused at once, as invalid).
//! - Gossip waits in lanes, one per (peer, claimed author): a lane holds at most
//!   [`MAX_LANE_BYTES`], all lanes [`MAX_INTAKE_BYTES`]. A batch takes messages round-robin over
//!   peers and, within a peer, over authors, at most [`MAX_LANE_BATCH`] from one lane, so one
//!   member's flood — of its own records, or of garbage — delays others' records by at most its
//!   share, and the batch in progress, which every new message waits for, stays short.
//! - Gossip batches and sync pages alternate when both wait, so a flood never postpones catch-up;
//!   a page is taken in parts of at most [`MAX_LANE_BATCH`] records (the rest waits at the front,
//!   with the page's sync slot), so gossip never waits behind a whole page either.
//!
//! Pure state: no I/O; the event loop reports the validation results of what it refuses.

use std::collections::{HashMap, VecDeque};

use certnet_protocol::keys::AuthorKey;
use certnet_protocol::record::MAX_RECORD;
use libp2p::PeerId;

use super::jobs::{GossipItem, PagePart, SyncPage};
use super::limits::{MAX_GOSSIP_BATCH, MAX_INTAKE_BYTES, MAX_LANE_BATCH, MAX_LANE_BYTES};

/// Why a gossip message was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Larger than any record: invalid on every node (the sender is penalised).
    TooLarge,
    /// Its lane or the intake is full: ignored (sync delivers it later), no penalty.
    Full,
}

/// The next work for the store's writer.
#[derive(Debug)]
pub(crate) enum Work {
    /// Gossip messages, in the order they were taken.
    Gossip(Vec<GossipItem>),
    /// One sync page.
    Page(Box<SyncPage>),
}

type Lane = VecDeque<GossipItem>;

/// One peer's lanes, by claimed author (`None`: the author could not be read).
#[derive(Debug, Default)]
struct PeerLanes {
    order: VecDeque<Option<AuthorKey>>,
    lanes: HashMap<Option<AuthorKey>, (Lane, usize)>,
}

/// Gossip lanes and sync pages waiting for the writer.
#[derive(Debug, Default)]
pub(crate) struct Intake {
    peers: VecDeque<PeerId>,
    lanes: HashMap<PeerId, PeerLanes>,
    bytes: usize,
    pages: VecDeque<SyncPage>,
    gossip_last: bool,
}

impl Intake {
    /// Queues a gossip message from `item.source`, claimed to be by `author`; a refused message is
    /// dropped (the caller reports its validation result).
    pub(crate) fn offer(
        &mut self,
        item: GossipItem,
        author: Option<AuthorKey>,
    ) -> Result<(), Refused> {
        let size = item.data.len();
        if size > MAX_RECORD {
            return Err(Refused::TooLarge);
        }
        if self.bytes + size > MAX_INTAKE_BYTES {
            return Err(Refused::Full);
        }
        let peer = item.source;
        let lanes = self.lanes.entry(peer).or_default();
        let (lane, lane_bytes) = lanes.lanes.entry(author).or_default();
        if *lane_bytes + size > MAX_LANE_BYTES {
            return Err(Refused::Full);
        }
        if lane.is_empty() {
            lanes.order.push_back(author);
        }
        lane.push_back(item);
        *lane_bytes += size;
        self.bytes += size;
        if !self.peers.contains(&peer) {
            self.peers.push_back(peer);
        }
        Ok(())
    }

    /// Queues a sync page (its size is bounded by the sync frame; pages are bounded in number by the
    /// sync client's in-flight slots).
    pub(crate) fn offer_page(&mut self, page: SyncPage) {
        self.pages.push_back(page);
    }

    /// The next work: a gossip batch (round-robin over peers, then authors) or a sync page,
    /// alternating when both wait.
    pub(crate) fn next(&mut self) -> Option<Work> {
        let gossip_waits = !self.peers.is_empty();
        let page_waits = !self.pages.is_empty();
        let take_gossip = match (gossip_waits, page_waits) {
            (false, false) => return None,
            (true, false) => true,
            (false, true) => false,
            (true, true) => !self.gossip_last,
        };
        self.gossip_last = take_gossip;
        if !take_gossip {
            let mut page = self.pages.pop_front()?;
            if page.records.len() > MAX_LANE_BATCH {
                let rest = SyncPage {
                    part: PagePart {
                        from_seq: page.part.from_seq + MAX_LANE_BATCH as u64,
                        ..page.part
                    },
                    records: page.records.split_off(MAX_LANE_BATCH),
                    permit: page.permit.take(),
                };
                page.part.last = false;
                self.pages.push_front(rest);
            }
            return Some(Work::Page(Box::new(page)));
        }
        let mut batch = Vec::new();
        // Lanes that gave their share to this batch: back in line for the next one.
        let mut parked: Vec<(PeerId, Option<AuthorKey>)> = Vec::new();
        let mut taken: HashMap<(PeerId, Option<AuthorKey>), usize> = HashMap::new();
        while batch.len() < MAX_GOSSIP_BATCH {
            let Some(peer) = self.peers.pop_front() else {
                break;
            };
            let Some(lanes) = self.lanes.get_mut(&peer) else {
                continue;
            };
            if let Some(author) = lanes.order.pop_front()
                && let Some((lane, lane_bytes)) = lanes.lanes.get_mut(&author)
                && let Some(item) = lane.pop_front()
            {
                *lane_bytes -= item.data.len();
                self.bytes -= item.data.len();
                let count = taken.entry((peer, author)).or_default();
                *count += 1;
                if lane.is_empty() {
                    lanes.lanes.remove(&author);
                } else if *count >= MAX_LANE_BATCH {
                    parked.push((peer, author));
                } else {
                    lanes.order.push_back(author);
                }
                batch.push(item);
            }
            if !lanes.order.is_empty() {
                self.peers.push_back(peer);
            } else if lanes.lanes.is_empty() {
                self.lanes.remove(&peer);
            }
        }
        for (peer, author) in parked {
            if let Some(lanes) = self.lanes.get_mut(&peer) {
                lanes.order.push_back(author);
                if !self.peers.contains(&peer) {
                    self.peers.push_back(peer);
                }
            }
        }
        Some(Work::Gossip(batch))
    }

    /// Drops the parts still waiting of the page `peer` sent of `author` from `page_from` (a part
    /// broke a rule, or the store refused it): its sync slot is given back.
    pub(crate) fn drop_page(&mut self, peer: &PeerId, author: &AuthorKey, page_from: u64) {
        self.pages.retain(|p| {
            !(p.part.peer == *peer && p.part.author == *author && p.part.page_from == page_from)
        });
    }

    /// Removes everything `peer` sent that still waits (it was banned): the items, to report.
    pub(crate) fn drop_peer(&mut self, peer: &PeerId) -> Vec<GossipItem> {
        self.pages.retain(|p| p.part.peer != *peer);
        self.peers.retain(|p| p != peer);
        let mut out = Vec::new();
        if let Some(lanes) = self.lanes.remove(peer) {
            for (_, (lane, bytes)) in lanes.lanes {
                self.bytes -= bytes;
                out.extend(lane);
            }
        }
        out
    }

    /// Bytes of gossip waiting.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use certnet_protocol::keys::AuthorSecret;
    use libp2p::gossipsub::MessageId;

    use super::*;
    use crate::datadir::keys::NodeSecret;

    fn peer(n: u8) -> PeerId {
        NodeSecret::from_seed(&[n; 32]).unwrap().peer_id()
    }

    fn author(n: u8) -> AuthorKey {
        AuthorSecret::from_seed(&[n; 32]).public()
    }

    fn item(from: u8, tag: u32, size: usize) -> GossipItem {
        GossipItem {
            id: MessageId::new(&tag.to_be_bytes()),
            source: peer(from),
            data: vec![0; size],
        }
    }

    fn tags(work: Option<Work>) -> Vec<u32> {
        match work {
            Some(Work::Gossip(items)) => items
                .iter()
                .map(|i| u32::from_be_bytes(i.id.0[..4].try_into().unwrap()))
                .collect(),
            other => panic!("expected gossip, got {other:?}"),
        }
    }

    #[test]
    fn a_flooding_peer_gets_its_share_not_the_queue() {
        let mut intake = Intake::default();
        // Peer 1 floods with 1,000 messages of its own author; peers 2 and 3 send one each later.
        for n in 0..1000 {
            intake.offer(item(1, n, 100), Some(author(1))).unwrap();
        }
        intake.offer(item(2, 5000, 100), Some(author(2))).unwrap();
        intake.offer(item(3, 6000, 100), Some(author(3))).unwrap();
        let first = tags(intake.next());
        // The honest messages are in the first batch, right after one of the flood each, and the
        // flood adds only its share: the batch stays short.
        assert_eq!(&first[..4], &[0, 5000, 6000, 1]);
        assert_eq!(first.len(), MAX_LANE_BATCH + 2);
        // The flood goes on in the next batches, in order, a share at a time.
        let second = tags(intake.next());
        assert_eq!(second.len(), MAX_LANE_BATCH);
        assert_eq!(second[0], u32::try_from(MAX_LANE_BATCH).unwrap());
        let mut rest = 2 * MAX_LANE_BATCH;
        while let Some(work) = intake.next() {
            rest += tags(Some(work)).len();
        }
        assert_eq!(rest, 1000);
        assert_eq!(intake.bytes(), 0);
    }

    #[test]
    fn many_lanes_fill_a_batch_up_to_its_size() {
        let mut intake = Intake::default();
        for a in 0..40u8 {
            for n in 0..40 {
                let tag = u32::from(a) * 1000 + n;
                intake.offer(item(1, tag, 10), Some(author(a))).unwrap();
            }
        }
        let first = tags(intake.next());
        assert_eq!(first.len(), MAX_GOSSIP_BATCH);
        // Round-robin: each author's first message before any author's second.
        assert_eq!(&first[..3], &[0, 1000, 2000]);
        assert_eq!(first[40], 1);
    }

    #[test]
    fn authors_share_a_peer_lane_fairly() {
        let mut intake = Intake::default();
        for n in 0..10 {
            intake.offer(item(1, n, 10), Some(author(9))).unwrap();
        }
        intake.offer(item(1, 100, 10), Some(author(2))).unwrap();
        intake.offer(item(1, 200, 10), None).unwrap();
        let batch = tags(intake.next());
        assert_eq!(&batch[..3], &[0, 100, 200]);
    }

    #[test]
    fn sizes_are_checked_before_queuing_and_lanes_are_bounded() {
        let mut intake = Intake::default();
        let why = intake
            .offer(item(1, 0, MAX_RECORD + 1), Some(author(1)))
            .unwrap_err();
        assert_eq!(why, Refused::TooLarge);
        assert_eq!(intake.bytes(), 0);
        let per = 60_000;
        let fits = MAX_LANE_BYTES / per;
        for n in 0..fits {
            intake
                .offer(item(1, n as u32, per), Some(author(1)))
                .unwrap();
        }
        let why = intake.offer(item(1, 99, per), Some(author(1))).unwrap_err();
        assert_eq!(why, Refused::Full);
        // Another author's lane of the same peer still has room.
        intake.offer(item(1, 100, per), Some(author(2))).unwrap();
        assert_eq!(intake.bytes(), (fits + 1) * per);
        let dropped = intake.drop_peer(&peer(1));
        assert_eq!(dropped.len(), fits + 1);
        assert_eq!(intake.bytes(), 0);
        assert!(intake.next().is_none());
    }

    #[test]
    fn gossip_and_pages_alternate() {
        let mut intake = Intake::default();
        let page = |n: u64| SyncPage {
            part: PagePart::whole(peer(7), author(7), n, None, false),
            records: vec![],
            permit: None,
        };
        intake.offer_page(page(1));
        intake.offer_page(page(2));
        for n in 0..1000 {
            intake.offer(item(1, n, 10), Some(author(1))).unwrap();
        }
        let kinds: Vec<&str> = std::iter::from_fn(|| intake.next())
            .take(5)
            .map(|w| match w {
                Work::Gossip(_) => "gossip",
                Work::Page(_) => "page",
            })
            .collect();
        assert_eq!(kinds, ["gossip", "page", "gossip", "page", "gossip"]);
    }

    #[test]
    fn a_long_page_is_taken_in_parts_between_gossip_batches() {
        let mut intake = Intake::default();
        let records = MAX_LANE_BATCH * 2 + 5;
        intake.offer_page(SyncPage {
            part: PagePart::whole(peer(7), author(7), 11, None, false),
            records: (0..records)
                .map(|n| vec![u8::try_from(n % 256).unwrap()])
                .collect(),
            permit: None,
        });
        for n in 0..1000 {
            intake.offer(item(1, n, 10), Some(author(1))).unwrap();
        }
        let mut parts = Vec::new();
        while let Some(work) = intake.next() {
            if let Work::Page(p) = work {
                parts.push((
                    p.part.from_seq,
                    p.part.page_from,
                    p.records.len(),
                    p.part.last,
                ));
            }
        }
        let lane = MAX_LANE_BATCH as u64;
        assert_eq!(
            parts,
            [
                (11, 11, MAX_LANE_BATCH, false),
                (11 + lane, 11, MAX_LANE_BATCH, false),
                (11 + 2 * lane, 11, 5, true),
            ]
        );
    }

    #[test]
    fn the_rest_of_a_page_can_be_dropped() {
        let mut intake = Intake::default();
        intake.offer_page(SyncPage {
            part: PagePart::whole(peer(7), author(7), 1, None, false),
            records: vec![vec![0]; MAX_LANE_BATCH + 1],
            permit: None,
        });
        let Some(Work::Page(first)) = intake.next() else {
            panic!("expected a page part");
        };
        assert!(!first.part.last);
        intake.drop_page(&peer(7), &author(7), 1);
        assert!(intake.next().is_none());
    }
}
