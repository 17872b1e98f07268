//! Store work the event loop hands to blocking tasks, and what comes back.
//!
//! Everything here may block (sled reads, fsync, signature checks on all cores). The loop spawns it
//! with `JoinSet::spawn_blocking` and gets a [`JobDone`] back through the set, so the loop never
//! waits on the disk and every task is owned.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;

use certnet_protocol::keys::AuthorKey;
use certnet_protocol::sync::{
    Head, MAX_HEADS, MAX_RANGE, MAX_RESPONSE_BYTES, SyncRequest, SyncResponse,
};
use libp2p::PeerId;
use libp2p::gossipsub::MessageId;
use libp2p::request_response::ResponseChannel;
use tokio::sync::oneshot;

use super::permit::Permit;
use super::reports::{RosterChange, RosterReloadError};
use crate::datadir::roster_file::{RosterError, RosterFile as _};
pub(crate) use crate::ingest::Facts;
use crate::ingest::{Outcome, store_verified, verify_all};
use crate::membership::{MemberName, Roster};
use crate::store::{Store, StoreError};

/// Byte budget for the records of one `Records` response, leaving room for the CBOR framing
/// (array and tag headers, and up to 5 header bytes per record) under `MAX_RESPONSE_BYTES`.
pub(crate) const RANGE_BYTE_BUDGET: usize = MAX_RESPONSE_BYTES - 16 - 5 * MAX_RANGE as usize;
// A budget that leaves no room for a single maximal record would make ranges stall.
const _: () = assert!(RANGE_BYTE_BUDGET >= certnet_protocol::record::MAX_RECORD);

/// A gossip message waiting for validation.
#[derive(Debug)]
pub(crate) struct GossipItem {
    /// Its message id, to report the validation result.
    pub(crate) id: MessageId,
    /// The peer it came from.
    pub(crate) source: PeerId,
    /// The record bytes.
    pub(crate) data: Vec<u8>,
}

/// A `Records` response waiting for ingest.
#[derive(Debug)]
pub(crate) struct SyncPage {
    /// Which page (or part of it: a page is ingested in parts of at most `MAX_LANE_BATCH` records,
    /// alternating with gossip).
    pub(crate) part: PagePart,
    /// The records.
    pub(crate) records: Vec<Vec<u8>>,
    /// The sync slot the request took: held until the page is ingested.
    pub(crate) permit: Option<Permit<PeerId>>,
}

/// Where an ingest batch came from.
#[derive(Debug)]
pub(crate) enum Batch {
    /// Gossip messages (ids and sources, in item order).
    Gossip(Vec<(MessageId, PeerId)>),
    /// One part of a sync page (its records are the items).
    Sync(PagePart),
}

/// Which part of which sync page an ingest batch was.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PagePart {
    /// Who sent it.
    pub(crate) peer: PeerId,
    /// Whose feed.
    pub(crate) author: AuthorKey,
    /// From which seq (this part).
    pub(crate) from_seq: u64,
    /// Where the whole page started.
    pub(crate) page_from: u64,
    /// Whether this part ends the page.
    pub(crate) last: bool,
    /// The peer's claimed head, if known.
    pub(crate) target: Option<u64>,
    /// Whether it answers a proof request (one record of this node's own feed).
    pub(crate) proof: bool,
}

impl PagePart {
    /// A whole page from `from_seq`, as it arrives.
    pub(crate) fn whole(
        peer: PeerId,
        author: AuthorKey,
        from_seq: u64,
        target: Option<u64>,
        proof: bool,
    ) -> Self {
        Self {
            peer,
            author,
            from_seq,
            page_from: from_seq,
            last: true,
            target,
            proof,
        }
    }
}

/// How an ingest batch ended.
#[derive(Debug)]
pub(crate) enum Ingested {
    /// Stored: one outcome per item, in order, with the record's facts when it decodes.
    Done(Vec<(Outcome, Option<Facts>)>),
    /// A sync page broke the protocol (wrong author, not consecutive): nothing was ingested.
    Violation(String),
    /// The store failed.
    Failed(StoreError),
}

/// A member's position in a peer's heads compared with ours.
#[derive(Debug, Clone)]
pub(crate) struct Gap {
    /// The author.
    pub(crate) author: AuthorKey,
    /// Its member name.
    pub(crate) member: MemberName,
    /// Our head seq (0 if none).
    pub(crate) ours: u64,
    /// The peer's head seq.
    pub(crate) theirs: u64,
    /// Same seq, different record: the peer holds the other side of a fork.
    pub(crate) conflict: bool,
}

/// A finished job.
#[derive(Debug)]
pub(crate) enum JobDone {
    /// An ingest batch.
    Ingest {
        /// Where it came from.
        batch: Batch,
        /// What happened.
        result: Ingested,
        /// The writer's slot, held until the outcomes are handled.
        permit: Permit<()>,
    },
    /// A sync request answered from the store.
    Served {
        /// Who asked.
        peer: PeerId,
        /// `heads` or `range`.
        kind: &'static str,
        /// Where the answer goes.
        channel: ResponseChannel<SyncResponse>,
        /// The answer.
        result: Result<SyncResponse, StoreError>,
        /// The serving slot, held until the answer is handed to the Swarm.
        permit: Permit<PeerId>,
    },
    /// A peer's heads compared with ours.
    Compared {
        /// Whose heads.
        peer: PeerId,
        /// Every roster member (not frozen) the peer holds records of, with both heads.
        gaps: Vec<Gap>,
    },
    /// roster.toml re-read.
    RosterLoaded {
        /// The new roster.
        result: Result<Roster, RosterError>,
        /// Who asked for the reload.
        reply: Option<oneshot::Sender<Result<RosterChange, RosterReloadError>>>,
    },
    /// Expired orphans dropped.
    Swept {
        /// How many, or why not.
        expired: Result<u64, StoreError>,
    },
    /// The block list file written.
    BlockListSaved {
        /// The file.
        path: PathBuf,
        /// What happened.
        result: std::io::Result<()>,
    },
}

/// Ingests a gossip batch.
pub(crate) fn ingest_gossip(
    store: &Store,
    roster: &Roster,
    net: &str,
    items: Vec<GossipItem>,
    permit: Permit<()>,
) -> JobDone {
    let (meta, data): (Vec<_>, Vec<_>) = items
        .into_iter()
        .map(|item| ((item.id, item.source), item.data))
        .unzip();
    let result = match store_verified(store, roster, verify_all(net, &data)) {
        Ok(outcomes) => Ingested::Done(outcomes),
        Err(e) => Ingested::Failed(e),
    };
    JobDone::Ingest {
        batch: Batch::Gossip(meta),
        result,
        permit,
    }
}

/// Checks that a sync page holds consecutive records of the author asked for, then ingests it.
/// The page's sync slot is given back when this returns (or panics).
pub(crate) fn ingest_page(
    store: &Store,
    roster: &Roster,
    net: &str,
    page: SyncPage,
    permit: Permit<()>,
) -> JobDone {
    let SyncPage {
        part,
        records,
        permit: _sync_slot,
    } = page;
    let batch = Batch::Sync(part);
    let PagePart {
        author, from_seq, ..
    } = part;
    // Verified once, on all cores; the page's shape is checked on the verified records.
    let verified = verify_all(net, &records);
    for (i, r) in verified.iter().enumerate() {
        // Invalid records are left to the store step, which rejects them (and the peer pays).
        let Ok(r) = r else { continue };
        let f = (r.author(), r.seq());
        let expected = from_seq.saturating_add(i as u64);
        if f.0 != author || f.1 != expected {
            return JobDone::Ingest {
                batch,
                result: Ingested::Violation(format!(
                    "record {i} of a range from seq {from_seq} is seq {} of {}, expected seq {expected} of {author}",
                    f.1, f.0
                )),
                permit,
            };
        }
    }
    let result = match store_verified(store, roster, verified) {
        Ok(outcomes) => Ingested::Done(outcomes),
        Err(e) => Ingested::Failed(e),
    };
    JobDone::Ingest {
        batch,
        result,
        permit,
    }
}

/// Answers a sync request from the store.
pub(crate) fn serve(
    store: &Store,
    peer: PeerId,
    request: SyncRequest,
    channel: ResponseChannel<SyncResponse>,
    permit: Permit<PeerId>,
) -> JobDone {
    let (kind, result) = match request {
        SyncRequest::Heads => {
            let mut heads = store.heads();
            heads.truncate(MAX_HEADS);
            ("heads", Ok(SyncResponse::Heads(heads)))
        }
        SyncRequest::Range {
            author,
            from_seq,
            max,
        } => (
            "range",
            store
                .range(
                    &author,
                    from_seq,
                    usize::try_from(max).unwrap_or(usize::MAX),
                    RANGE_BYTE_BUDGET,
                )
                .map(SyncResponse::Records),
        ),
    };
    JobDone::Served {
        peer,
        kind,
        channel,
        result,
        permit,
    }
}

/// Compares a peer's heads with ours for every member of the roster that is not frozen.
pub(crate) fn compare(store: &Store, roster: &Roster, peer: PeerId, theirs: Vec<Head>) -> JobDone {
    let ours: HashMap<AuthorKey, Head> = store.heads().into_iter().map(|h| (h.author, h)).collect();
    let frozen: HashSet<AuthorKey> = store.frozen().into_iter().map(|(a, _)| a).collect();
    let gaps = theirs
        .into_iter()
        .filter(|h| !frozen.contains(&h.author))
        .filter_map(|h| {
            let member = roster.member_by_author(&h.author)?.name().clone();
            let mine = ours.get(&h.author);
            Some(Gap {
                author: h.author,
                member,
                ours: mine.map_or(0, |m| m.seq),
                theirs: h.seq,
                conflict: mine.is_some_and(|m| m.seq == h.seq && m.id != h.id),
            })
        })
        .collect();
    JobDone::Compared { peer, gaps }
}

/// Re-reads roster.toml.
pub(crate) fn load_roster(
    path: PathBuf,
    reply: Option<oneshot::Sender<Result<RosterChange, RosterReloadError>>>,
) -> JobDone {
    JobDone::RosterLoaded {
        result: Roster::load(&path),
        reply,
    }
}

/// Writes the block list.
pub(crate) fn save_block_list(path: PathBuf, peers: BTreeSet<PeerId>) -> JobDone {
    let result = super::blocklist::save(&path, &peers);
    JobDone::BlockListSaved { path, result }
}

#[cfg(test)]
mod tests {
    use certnet_protocol::keys::AuthorSecret;
    use certnet_protocol::record::{FeedPosition, VerifiedRecord, sample, sign_record};

    use super::*;
    use crate::datadir::keys::NodeSecret;
    use crate::membership::{Member, NetworkId};
    use crate::store::{Ingest, StoreConfig};

    struct Fixture {
        _dir: tempfile::TempDir,
        store: Store,
        roster: Roster,
        author: AuthorSecret,
        other: AuthorSecret,
        peer: PeerId,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreConfig {
            path: dir.path().join("db"),
            cache_capacity: 8 << 20,
            net: NetworkId::dev().as_str().to_owned(),
            max_orphans: 10,
            disk: None,
        })
        .unwrap();
        let author = AuthorSecret::from_seed(&[1; 32]);
        let other = AuthorSecret::from_seed(&[2; 32]);
        let mut roster = Roster::new(NetworkId::dev());
        for (name, key) in [("A", &author), ("B", &other)] {
            roster
                .add_member(Member::new(
                    name.parse().unwrap(),
                    key.public(),
                    vec![],
                    vec![],
                ))
                .unwrap();
        }
        Fixture {
            _dir: dir,
            store,
            roster,
            author,
            other,
            peer: NodeSecret::from_seed(&[9; 32]).unwrap().peer_id(),
        }
    }

    fn feed(secret: &AuthorSecret, count: u64) -> Vec<VerifiedRecord> {
        let mut out: Vec<VerifiedRecord> = Vec::new();
        for seq in 1..=count {
            let at = FeedPosition {
                seq,
                prev: out.last().map(VerifiedRecord::id),
                time: seq,
            };
            out.push(
                sign_record(NetworkId::dev().as_str(), sample::incident(seq), at, secret).unwrap(),
            );
        }
        out
    }

    /// The writer's slot an ingest job holds.
    fn writer() -> Permit<()> {
        crate::net::permit::KeyedSlots::new(1, 1)
            .try_take(&())
            .unwrap()
    }

    fn page(f: &Fixture, from_seq: u64, records: &[VerifiedRecord]) -> JobDone {
        ingest_page(
            &f.store,
            &f.roster,
            NetworkId::dev().as_str(),
            SyncPage {
                part: PagePart::whole(f.peer, f.author.public(), from_seq, None, false),
                records: records.iter().map(|r| r.bytes().to_vec()).collect(),
                permit: None,
            },
            writer(),
        )
    }

    fn result(done: JobDone) -> Ingested {
        match done {
            JobDone::Ingest { result, .. } => result,
            other => panic!("not an ingest: {other:?}"),
        }
    }

    #[test]
    fn a_consecutive_page_is_ingested_in_order() {
        let f = fixture();
        let records = feed(&f.author, 3);
        let Ingested::Done(outcomes) = result(page(&f, 1, &records)) else {
            panic!("expected an ingest");
        };
        assert_eq!(outcomes.len(), 3);
        assert!(outcomes.iter().all(|(o, facts)| matches!(
            o,
            Outcome::Stored(Ingest::Appended { .. })
        ) && facts.is_some()));
        assert_eq!(outcomes[2].1.unwrap().seq, 3);
    }

    #[test]
    fn pages_out_of_order_or_of_another_author_are_violations() {
        let f = fixture();
        let records = feed(&f.author, 3);
        let skipped = [records[0].clone(), records[2].clone()];
        assert!(matches!(
            result(page(&f, 1, &skipped)),
            Ingested::Violation(_)
        ));
        assert!(matches!(
            result(page(&f, 2, &records)),
            Ingested::Violation(_)
        ));
        let foreign = feed(&f.other, 1);
        assert!(matches!(
            result(page(&f, 1, &foreign)),
            Ingested::Violation(_)
        ));
        assert_eq!(
            f.store.log_size(),
            0,
            "nothing of a violating page is stored"
        );
    }

    #[test]
    fn invalid_records_in_a_page_are_rejected() {
        let f = fixture();
        let records = feed(&f.author, 2);
        let mut bytes: Vec<Vec<u8>> = records.iter().map(|r| r.bytes().to_vec()).collect();
        let last = bytes[1].len() - 1;
        bytes[1][last] ^= 1;
        let done = ingest_page(
            &f.store,
            &f.roster,
            NetworkId::dev().as_str(),
            SyncPage {
                part: PagePart::whole(f.peer, f.author.public(), 1, Some(2), false),
                records: bytes,
                permit: None,
            },
            writer(),
        );
        let Ingested::Done(outcomes) = result(done) else {
            panic!("expected an ingest");
        };
        assert!(matches!(
            outcomes[0].0,
            Outcome::Stored(Ingest::Appended { .. })
        ));
        assert!(matches!(outcomes[1].0, Outcome::Rejected(_)));
    }

    #[test]
    fn compare_reports_members_ahead_and_conflicts() {
        let f = fixture();
        let mine = feed(&f.author, 2);
        let items: Vec<Vec<u8>> = mine.iter().map(|r| r.bytes().to_vec()).collect();
        crate::ingest::ingest_batch(&f.store, &f.roster, NetworkId::dev().as_str(), &items)
            .unwrap();
        let stranger = AuthorSecret::from_seed(&[3; 32]).public();
        let theirs = vec![
            Head {
                author: f.author.public(),
                seq: 2,
                id: certnet_protocol::id::RecordId::of_payload(b"other"),
            },
            Head {
                author: f.other.public(),
                seq: 7,
                id: mine[0].id(),
            },
            Head {
                author: stranger,
                seq: 1,
                id: mine[0].id(),
            },
        ];
        let JobDone::Compared { gaps, .. } = compare(&f.store, &f.roster, f.peer, theirs) else {
            panic!("expected a comparison");
        };
        assert_eq!(gaps.len(), 2, "non-members are left out");
        let a = gaps.iter().find(|g| g.author == f.author.public()).unwrap();
        assert!(a.conflict && a.ours == 2 && a.theirs == 2);
        let b = gaps.iter().find(|g| g.author == f.other.public()).unwrap();
        assert!(!b.conflict && b.ours == 0 && b.theirs == 7);
    }
}
