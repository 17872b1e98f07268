//! Store tests: chains, orphans, forks, proofs, restarts, and a model test against an in-memory store.

use std::collections::{BTreeMap, HashMap, HashSet};

use certnet_protocol::keys::AuthorSecret;
use certnet_protocol::merkle::{Frontier, verify_consistency, verify_inclusion};
use certnet_protocol::record::{FeedPosition, sample, sign_record};
use proptest::prelude::*;

use super::keys::log_value;
use super::*;
use certnet_protocol::chain::EquivocationProof;
use certnet_protocol::merkle::leaf_hash;
use certnet_protocol::record::{VerifiedRecord, verify_record};

const NET: &str = "certnet-test";

fn config(dir: &std::path::Path) -> StoreConfig {
    StoreConfig {
        path: dir.join("db"),
        cache_capacity: 8 << 20,
        net: NET.into(),
        max_orphans: 100,
        disk: None,
    }
}

/// `n` chained records by author `a`; `variant` changes the content (for forks).
fn chain(a: u8, n: u64, variant: u64) -> Vec<VerifiedRecord> {
    let secret = AuthorSecret::from_seed(&[a; 32]);
    let mut prev = None;
    (1..=n)
        .map(|seq| {
            let at = FeedPosition {
                seq,
                prev,
                time: seq,
            };
            let r = sign_record(NET, sample::incident(seq * 1000 + variant), at, &secret).unwrap();
            prev = Some(r.id());
            r
        })
        .collect()
}

fn log_root(store: &Store) -> Hash {
    let mut f = Frontier::new();
    for item in store.log_iter(0) {
        f.push(leaf_hash(&item.unwrap().bytes));
    }
    f.root()
}

#[test]
fn appends_chains_and_serves_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&config(dir.path())).unwrap();
    let a = chain(1, 5, 0);
    let b = chain(2, 3, 0);
    for r in a.iter().chain(&b) {
        assert!(matches!(
            store.ingest(r.clone()).unwrap(),
            Ingest::Appended { .. }
        ));
    }
    assert_eq!(store.ingest(a[0].clone()).unwrap(), Ingest::Duplicate);
    assert_eq!(store.log_size(), 8);
    assert_eq!(store.head(&a[0].author()), Some((5, a[4].id())));
    assert_eq!(store.heads().len(), 2);
    let range = store.range(&a[0].author(), 2, 2, usize::MAX).unwrap();
    assert_eq!(range, vec![a[1].bytes().to_vec(), a[2].bytes().to_vec()]);
    assert_eq!(
        store.range(&a[0].author(), 1, 100, 1).unwrap().len(),
        1,
        "byte budget still returns one"
    );
    assert_eq!(
        store.get(&b[2].id()).unwrap().as_deref(),
        Some(b[2].bytes())
    );
    assert_eq!(store.position(&b[0].id()).unwrap(), Some(5));

    let root = store.root(8).unwrap();
    assert_eq!(root, log_root(&store));
    let proof = store.inclusion_proof(5, 8).unwrap();
    verify_inclusion(&leaf_hash(b[0].bytes()), 5, 8, &proof, &root).unwrap();
    let old = store.root(3).unwrap();
    let cproof = store.consistency_proof(3, 8).unwrap();
    verify_consistency(3, 8, &old, &root, &cproof).unwrap();
    assert!(store.inclusion_proof(0, 9).is_err());
}

#[test]
fn ids_are_found_by_their_hex_prefix_odd_or_even() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&config(dir.path())).unwrap();
    let records = chain(1, 20, 0);
    store.ingest_batch(records.clone()).unwrap();
    for r in &records {
        let hex = r.id().to_string();
        for len in [8, 9, 12, 63, 64] {
            assert_eq!(store.ids_with_prefix(&hex[..len], 10).unwrap(), [r.id()]);
        }
    }
    // One hex digit: every id starting with it, bounded by the limit.
    let first = records[0].id().to_string()[..1].to_owned();
    let expected = records
        .iter()
        .filter(|r| r.id().to_string().starts_with(&first))
        .count();
    assert_eq!(store.ids_with_prefix(&first, 100).unwrap().len(), expected);
    assert_eq!(store.ids_with_prefix("", 5).unwrap().len(), 5);
    assert!(
        store
            .ids_with_prefix("0123456789abcdef", 10)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn added_times_follow_the_clock_never_decrease_and_survive_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let before = now_us();
    let store = Store::open(&config(dir.path())).unwrap();
    for r in chain(1, 3, 0) {
        store.ingest(r).unwrap();
    }
    let after = now_us();
    let first: Vec<u64> = store.log_iter(0).map(|e| e.unwrap().added_us).collect();
    assert_eq!(first.len(), 3);
    assert!(first.windows(2).all(|w| w[0] <= w[1]), "{first:?}");
    assert!(
        first.iter().all(|t| (before..=after).contains(t)),
        "{first:?}"
    );
    assert_eq!(store.added_us(2).unwrap(), Some(first[2]));
    assert_eq!(store.added_us(3).unwrap(), None);

    // A later entry was added at a time far in the future (a clock that stepped back since):
    // new entries take that time rather than going back, also after a restart.
    let future = after + 3_600_000_000;
    let (k, v) = store.log.last().unwrap().unwrap();
    let (id, _) = split_log_value(&v).unwrap();
    store
        .main
        .insert(store.log.key(&k), &log_value(&id, future)[..])
        .unwrap();
    store.flush().unwrap();
    drop(store);
    let store = Store::open(&config(dir.path())).unwrap();
    for r in chain(2, 2, 0) {
        store.ingest(r).unwrap();
    }
    let later: Vec<u64> = store.log_iter(3).map(|e| e.unwrap().added_us).collect();
    assert_eq!(later, vec![future, future]);
}

#[test]
fn log_values_without_an_added_time_read_as_time_zero() {
    let id = chain(1, 1, 0)[0].id();
    assert_eq!(split_log_value(id.as_bytes()), Some((id, 0)));
    assert_eq!(split_log_value(&log_value(&id, 7)), Some((id, 7)));
    assert_eq!(split_log_value(&[0u8; 39]), None);
    assert_eq!(split_log_value(&[]), None);
}

#[test]
fn a_batch_larger_than_one_group_is_applied_whole_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&config(dir.path())).unwrap();
    let n = 2 * MAX_GROUP as u64 + 7;
    let outcomes = store.ingest_batch(chain(1, n, 0)).unwrap();
    for (i, outcome) in (0..).zip(&outcomes) {
        assert!(
            matches!(outcome, Ingest::Appended { index, .. } if *index == i),
            "{i}: {outcome:?}"
        );
    }
    assert_eq!(store.log_size(), n);
    assert_eq!(store.root(n).unwrap(), log_root(&store));
    drop(store);
    let store = Store::open(&config(dir.path())).unwrap();
    assert_eq!(store.log_size(), n);
    assert_eq!(
        store.head(&chain(1, 1, 0)[0].author()).map(|h| h.0),
        Some(n)
    );
    assert_eq!(store.root(n).unwrap(), log_root(&store));
}

#[test]
fn orphans_wait_for_their_predecessors() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&config(dir.path())).unwrap();
    let a = chain(1, 4, 0);
    assert_eq!(
        store.ingest(a[3].clone()).unwrap(),
        Ingest::Orphan { need_from: 1 }
    );
    assert_eq!(
        store.ingest(a[2].clone()).unwrap(),
        Ingest::Orphan { need_from: 1 }
    );
    assert_eq!(store.ingest(a[2].clone()).unwrap(), Ingest::Duplicate);
    assert_eq!(store.orphan_count(), 2);
    assert_eq!(
        store.ingest(a[0].clone()).unwrap(),
        Ingest::Appended {
            index: 0,
            unblocked: 0
        }
    );
    assert_eq!(
        store.ingest(a[1].clone()).unwrap(),
        Ingest::Appended {
            index: 1,
            unblocked: 2
        }
    );
    assert_eq!(store.orphan_count(), 0);
    assert_eq!(store.head(&a[0].author()), Some((4, a[3].id())));
}

#[test]
fn orphan_space_is_bounded_per_author_and_in_all_and_orphans_expire() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.max_orphans = 2 * ORPHAN_SHARE;
    let quota = cfg.max_orphans / ORPHAN_SHARE;
    let store = Store::open(&cfg).unwrap();
    // One author fills its quota (its chain's first record never comes)...
    let flood = chain(1, 40, 0);
    let mut kept = 0;
    for r in &flood[1..] {
        match store.ingest(r.clone()).unwrap() {
            Ingest::Orphan { .. } => kept += 1,
            Ingest::OrphanLimit => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(kept, quota, "one author is held to its share");
    // ...and another author's orphans still get in.
    let b = chain(2, 3, 0);
    assert!(matches!(
        store.ingest(b[2].clone()).unwrap(),
        Ingest::Orphan { need_from: 1 }
    ));
    assert_eq!(store.orphan_count(), quota + 1);
    // The counts survive a restart.
    drop(store);
    let store = Store::open(&cfg).unwrap();
    assert_eq!(store.orphan_count(), quota + 1);
    // The filled gap appends the waiting orphan.
    store.ingest(b[0].clone()).unwrap();
    assert_eq!(
        store.ingest(b[1].clone()).unwrap(),
        Ingest::Appended {
            index: 1,
            unblocked: 1
        }
    );
    // Orphans older than the TTL are dropped: the flooder's space is freed.
    let ttl = u64::try_from(ORPHAN_TTL.as_micros()).unwrap();
    assert_eq!(store.expire_orphans(now_us()).unwrap(), 0);
    assert_eq!(store.expire_orphans(now_us() + ttl).unwrap(), quota);
    assert_eq!(store.orphan_count(), 0);
    assert!(matches!(
        store.ingest(flood[5].clone()).unwrap(),
        Ingest::Orphan { .. }
    ));
    // Every author can fill the whole space no more: ORPHAN_SHARE authors can.
    let mut total = 1;
    for a in 10..(10 + ORPHAN_SHARE as u8 + 1) {
        let c = chain(a, quota + 2, 0);
        for r in &c[1..] {
            if matches!(store.ingest(r.clone()).unwrap(), Ingest::Orphan { .. }) {
                total += 1;
            }
        }
    }
    assert_eq!(total, cfg.max_orphans, "the whole space, never more");
}

#[test]
fn forks_freeze_the_author_and_keep_a_proof_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let a = chain(1, 3, 0);
    let forked = chain(1, 3, 1);
    let honest = chain(2, 2, 0);
    {
        let store = Store::open(&config(dir.path())).unwrap();
        for r in &a[..2] {
            store.ingest(r.clone()).unwrap();
        }
        let fork = store.ingest(forked[1].clone()).unwrap();
        assert_eq!(
            fork,
            Ingest::Fork {
                author: a[0].author(),
                seq: 2
            }
        );
        assert_eq!(store.ingest(a[2].clone()).unwrap(), Ingest::Frozen);
        for r in &honest {
            assert!(matches!(
                store.ingest(r.clone()).unwrap(),
                Ingest::Appended { .. }
            ));
        }
        store.flush().unwrap();
    }
    let store = Store::open(&config(dir.path())).unwrap();
    assert_eq!(store.frozen(), vec![(a[0].author(), 2)]);
    assert_eq!(store.ingest(a[2].clone()).unwrap(), Ingest::Frozen);
    let proofs = store.forks().unwrap();
    assert_eq!(proofs.len(), 1);
    let proof = EquivocationProof::from_cbor(&proofs[0], NET).unwrap();
    assert_eq!((proof.author(), proof.seq()), (a[0].author(), 2));
    assert_eq!(store.log_size(), 4);
}

#[test]
fn a_non_linking_orphan_becomes_a_fork_when_the_real_record_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&config(dir.path())).unwrap();
    let a = chain(1, 3, 0);
    let b = chain(1, 3, 1); // b[1] has seq 2 but a different prev than a[1].
    store.ingest(a[0].clone()).unwrap();
    store.ingest(a[1].clone()).unwrap();
    // b[2]: seq 3, prev = b[1] which we do not hold: kept as an orphan at seq 3.
    assert!(matches!(
        store.ingest(b[2].clone()).unwrap(),
        Ingest::Orphan { .. }
    ));
    // a[2] extends our chain at seq 3: appended, and the orphan at seq 3 proves the fork.
    assert_eq!(
        store.ingest(a[2].clone()).unwrap(),
        Ingest::Fork {
            author: a[0].author(),
            seq: 3
        }
    );
    assert_eq!(store.log_size(), 3);
}

#[test]
fn own_appends_never_reuse_a_seq() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&config(dir.path())).unwrap();
    let secret = AuthorSecret::from_seed(&[9; 32]);
    for n in 1..=3u64 {
        let (rec, index) = store
            .append_own(secret.public(), |head| {
                let at = FeedPosition {
                    seq: head.map_or(1, |h| h.0 + 1),
                    prev: head.map(|h| h.1),
                    time: n,
                };
                sign_record(NET, sample::incident(n), at, &secret)
            })
            .unwrap()
            .unwrap();
        assert_eq!((rec.seq(), index), (n, n - 1));
    }
    // A closure that ignores the head is caught.
    let bad = store.append_own(secret.public(), |_| {
        sign_record(
            NET,
            sample::incident(9),
            FeedPosition {
                seq: 1,
                prev: None,
                time: 1,
            },
            &secret,
        )
    });
    assert!(matches!(bad, Err(StoreError::Corrupt(_))));
}

#[test]
fn referrers_are_indexed_in_log_order() {
    use certnet_protocol::record::{Content, Draft, Kind, Revoke, Tlp};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&config(dir.path())).unwrap();
    let secret = AuthorSecret::from_seed(&[1; 32]);
    let a = chain(1, 2, 0);
    for r in &a {
        store.ingest(r.clone()).unwrap();
    }
    let revoke = Draft {
        kind: Kind::Revoke,
        tlp: Tlp::Green,
        refs: vec![a[0].id()],
        content: Content::Revoke(Revoke {
            reason: "dup".into(),
        }),
    };
    let at = FeedPosition {
        seq: 3,
        prev: Some(a[1].id()),
        time: 3,
    };
    let r = sign_record(NET, revoke, at, &secret).unwrap();
    store.ingest(r.clone()).unwrap();
    assert_eq!(
        store.referrers(&a[0].id()).unwrap(),
        vec![r.bytes().to_vec()]
    );
    assert!(store.referrers(&a[1].id()).unwrap().is_empty());
}

/// A record of `secret` at `seq` after `prev` with this kind, TLP and refs.
fn signed(
    secret: &AuthorSecret,
    seq: u64,
    prev: Option<RecordId>,
    tlp: certnet_protocol::record::Tlp,
    kind_refs: Option<(certnet_protocol::record::Kind, RecordId)>,
) -> VerifiedRecord {
    use certnet_protocol::record::{Content, Kind, Revoke};
    let mut draft = sample::incident(seq);
    draft.tlp = tlp;
    if let Some((kind, target)) = kind_refs {
        draft.refs = vec![target];
        draft.content = match kind {
            Kind::Revoke => Content::Revoke(Revoke {
                reason: "withdrawn".into(),
            }),
            _ => unreachable!("only revokes here"),
        };
        draft.kind = kind;
    }
    let at = FeedPosition {
        seq,
        prev,
        time: seq,
    };
    sign_record(NET, draft, at, secret).unwrap()
}

#[test]
fn the_band_index_lists_each_band_and_where_authors_enter_it() {
    use certnet_protocol::record::{Kind, Tlp};
    let dir = tempfile::tempdir().unwrap();
    let a = AuthorSecret::from_seed(&[1; 32]);
    let b = AuthorSecret::from_seed(&[2; 32]);
    let a1 = signed(&a, 1, None, Tlp::Amber, None);
    let b1 = signed(&b, 1, None, Tlp::Clear, None);
    let a2 = signed(&a, 2, Some(a1.id()), Tlp::Clear, None);
    let a3 = signed(
        &a,
        3,
        Some(a2.id()),
        Tlp::Amber,
        Some((Kind::Revoke, a1.id())),
    );
    let b2 = signed(&b, 2, Some(b1.id()), Tlp::Green, None);
    {
        let store = Store::open(&config(dir.path())).unwrap();
        // One batch: later appends find their targets in the writer's pending group.
        store
            .ingest_batch(vec![a1.clone(), b1, a2, a3, b2])
            .unwrap();
        let list = |bands: BandSet, from: u64| -> Vec<u64> {
            store
                .band_entries(bands, from)
                .map(Result::unwrap)
                .collect()
        };
        assert_eq!(list(BandSet::one(Tlp::Clear), 0), [1, 2, 3]);
        assert_eq!(list(BandSet::one(Tlp::Green), 0), [3, 4]);
        assert_eq!(list(BandSet::one(Tlp::Amber), 0), [0, 3]);
        assert_eq!(list(BandSet::of([Tlp::Clear, Tlp::Amber]), 0), [0, 1, 2, 3]);
        assert_eq!(list(BandSet::of([Tlp::Clear, Tlp::Amber]), 2), [2, 3]);
        assert!(list(BandSet::one(Tlp::AmberStrict), 0).is_empty());
        // Newest first, below a bound (the console's feed).
        let back = |bands: BandSet, before: u64| -> Vec<u64> {
            store
                .band_entries_rev(bands, before)
                .map(Result::unwrap)
                .collect()
        };
        assert_eq!(
            back(BandSet::of([Tlp::Clear, Tlp::Amber]), 99),
            [3, 2, 1, 0]
        );
        assert_eq!(back(BandSet::one(Tlp::Green), 4), [3]);
        assert_eq!(back(BandSet::of([Tlp::Clear, Tlp::Green]), 3), [2, 1]);
        assert!(back(BandSet::one(Tlp::AmberStrict), 5).is_empty());
        assert_eq!(
            store.first_in_band(Tlp::Clear, &a.public()).unwrap(),
            Some(2)
        );
        assert_eq!(
            store.first_in_band(Tlp::Amber, &a.public()).unwrap(),
            Some(0)
        );
        assert_eq!(store.first_in_band(Tlp::Green, &a.public()).unwrap(), None);
        assert_eq!(
            store.first_in_band(Tlp::Green, &b.public()).unwrap(),
            Some(4)
        );
    }
    // A store whose index predates this version (or is damaged) rebuilds it at open, identically.
    {
        // sled's flusher thread may still hold the file lock for a moment after the store drops.
        let db = (0..100)
            .find_map(|_| {
                sled::open(dir.path().join("db")).ok().or_else(|| {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    None
                })
            })
            .unwrap();
        db.open_tree("meta")
            .unwrap()
            .remove(bands::INDEX_VERSION_KEY)
            .unwrap();
        let main = db.open_tree("log").unwrap();
        let stale: Vec<_> = main.scan_prefix(b"b").keys().map(Result::unwrap).collect();
        for k in stale {
            main.remove(k).unwrap();
        }
        db.flush().unwrap();
    }
    let store = Store::open(&config(dir.path())).unwrap();
    let clear: Vec<u64> = store
        .band_entries(BandSet::one(Tlp::Clear), 0)
        .map(Result::unwrap)
        .collect();
    assert_eq!(clear, [1, 2, 3]);
    assert_eq!(
        store.first_in_band(Tlp::Clear, &a.public()).unwrap(),
        Some(2)
    );
}

#[test]
fn added_after_finds_the_first_later_entry_and_appends_are_announced() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&config(dir.path())).unwrap();
    let mut appended = store.subscribe();
    assert_eq!(*appended.borrow_and_update(), 0);
    let records = chain(1, 4, 0);
    for r in &records {
        store.ingest(r.clone()).unwrap();
    }
    assert!(appended.has_changed().unwrap());
    assert_eq!(*appended.borrow_and_update(), 4);
    let times: Vec<u64> = (0..4)
        .map(|i| store.added_us(i).unwrap().unwrap())
        .collect();
    assert_eq!(store.first_added_after(0).unwrap(), 0);
    assert_eq!(store.first_added_after(times[3]).unwrap(), 4);
    let after_second = store.first_added_after(times[1]).unwrap();
    assert!(
        after_second >= 2
            && times[..after_second as usize]
                .iter()
                .all(|t| *t <= times[1])
    );
    assert_eq!(store.entry(3).unwrap().unwrap().bytes, records[3].bytes());
    assert!(store.entry(4).unwrap().is_none());
}

#[test]
fn checkpoints_are_kept_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&config(dir.path())).unwrap();
    assert_eq!(store.latest_checkpoint().unwrap(), None);
    store.put_checkpoint(3, "three").unwrap();
    store.put_checkpoint(10, "ten").unwrap();
    assert_eq!(store.latest_checkpoint().unwrap(), Some((10, "ten".into())));
    assert_eq!(store.checkpoint_at(3).unwrap().as_deref(), Some("three"));
}

/// The model: what a correct store holds after a sequence of ingests, computed naively.
#[derive(Default)]
struct Model {
    log: Vec<RecordId>,
    heads: HashMap<AuthorKey, u64>,
    frozen: HashSet<AuthorKey>,
    /// (author, seq) → record, waiting.
    orphans: BTreeMap<(AuthorKey, u64), VerifiedRecord>,
    seen: HashSet<RecordId>,
    by_seq: HashMap<(AuthorKey, u64), RecordId>,
}

impl Model {
    fn ingest(&mut self, r: &VerifiedRecord) {
        let a = r.author();
        if self.frozen.contains(&a) || self.seen.contains(&r.id()) {
            return;
        }
        let head = self.heads.get(&a).copied().unwrap_or(0);
        if r.seq() <= head {
            self.frozen.insert(a);
            return;
        }
        if let Some(o) = self.orphans.get(&(a, r.seq())) {
            if o.id() != r.id() {
                self.frozen.insert(a);
                if r.seq() == head + 1 && r.payload().prev == self.log_id(a, head) {
                    self.append(r);
                }
                self.orphans.remove(&(a, r.seq()));
            }
            return;
        }
        if r.seq() == head + 1 && r.payload().prev == self.log_id(a, head) {
            self.append(r);
            loop {
                let h = self.heads[&a];
                let Some(next) = self.orphans.remove(&(a, h + 1)) else {
                    break;
                };
                if next.payload().prev == self.log_id(a, h) {
                    self.append(&next);
                } else {
                    break;
                }
            }
        } else {
            self.orphans.insert((a, r.seq()), r.clone());
        }
    }

    fn log_id(&self, _a: AuthorKey, seq: u64) -> Option<RecordId> {
        if seq == 0 {
            return None;
        }
        self.by_seq.get(&(_a, seq)).copied()
    }

    fn append(&mut self, r: &VerifiedRecord) {
        self.log.push(r.id());
        self.seen.insert(r.id());
        self.heads.insert(r.author(), r.seq());
        self.by_seq.insert((r.author(), r.seq()), r.id());
    }
}

/// Per author: two alternative chains of 6 records (variant 1 forks variant 0 from seq 1).
static MODEL_CHAINS: std::sync::LazyLock<Vec<[Vec<VerifiedRecord>; 2]>> =
    std::sync::LazyLock::new(|| {
        (0..3u8)
            .map(|a| [chain(a + 1, 6, 0), chain(a + 1, 6, 1)])
            .collect()
    });

#[derive(Debug, Clone)]
enum Op {
    Ingest {
        author: usize,
        seq: usize,
        variant: usize,
    },
    /// Several ingests in one group (`ingest_batch`): later ones see what earlier ones appended.
    Batch(Vec<(usize, usize, usize)>),
    Restart,
}

fn pick() -> impl Strategy<Value = (usize, usize, usize)> {
    (
        0usize..3,
        0usize..6,
        prop_oneof![9 => Just(0usize), 1 => Just(1usize)],
    )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => pick().prop_map(|(author, seq, variant)| Op::Ingest { author, seq, variant }),
        4 => proptest::collection::vec(pick(), 1..12).prop_map(Op::Batch),
        1 => Just(Op::Restart),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn store_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        let chains = &*MODEL_CHAINS;
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&config(dir.path())).unwrap();
        let mut model = Model::default();
        for op in ops {
            match op {
                Op::Ingest { author, seq, variant } => {
                    let r = &chains[author][variant][seq];
                    store.ingest(r.clone()).unwrap();
                    model.ingest(r);
                }
                Op::Batch(picks) => {
                    let records: Vec<VerifiedRecord> = picks
                        .iter()
                        .map(|&(author, seq, variant)| chains[author][variant][seq].clone())
                        .collect();
                    store.ingest_batch(records.clone()).unwrap();
                    for r in &records {
                        model.ingest(r);
                    }
                }
                Op::Restart => {
                    store.flush().unwrap();
                    drop(store);
                    store = Store::open(&config(dir.path())).unwrap();
                }
            }
            let log: Vec<RecordId> = store
                .log_iter(0)
                .map(|e| RecordId::of_payload(verify_record(&e.unwrap().bytes, NET).unwrap().record().payload_bytes()))
                .collect();
            prop_assert_eq!(&log, &model.log);
            let frozen: HashSet<AuthorKey> = store.frozen().into_iter().map(|f| f.0).collect();
            prop_assert_eq!(&frozen, &model.frozen);
            prop_assert_eq!(store.root(store.log_size()).unwrap(), log_root(&store));
            for (a, seq) in &model.heads {
                prop_assert_eq!(store.head(a).map(|h| h.0), Some(*seq));
            }
        }
    }
}

#[test]
fn the_indicator_index_finds_every_entry_of_a_value_and_is_rebuilt_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let expect = |store: &Store| {
        // Every sample incident names the same email; each its own domain.
        let all = store
            .indicator_entries("refunds@tax-refund.example", None, 100)
            .unwrap();
        assert_eq!(all.indexes, [0, 1, 2, 3, 4, 5]);
        assert!(!all.truncated);
        let one = store
            .indicator_entries("tax-refund-2000.example", None, 100)
            .unwrap();
        assert_eq!(one.indexes, [1]);
        let newest = store
            .indicator_entries("refunds@tax-refund.example", None, 2)
            .unwrap();
        assert_eq!(newest.indexes, [4, 5]);
        assert!(newest.truncated);
        assert!(
            store
                .indicator_entries("nothing.example", None, 100)
                .unwrap()
                .indexes
                .is_empty()
        );
    };
    {
        let store = Store::open(&config(dir.path())).unwrap();
        store.ingest_batch(chain(1, 3, 0)).unwrap();
        for r in chain(2, 3, 7) {
            store.ingest(r).unwrap();
        }
        expect(&store);
    }
    // A deleted index is rebuilt from the log at open.
    std::fs::remove_dir_all(indicators::runs_dir(&config(dir.path()).path)).unwrap();
    {
        let store = Store::open(&config(dir.path())).unwrap();
        expect(&store);
    }
    // Run files of another store (one deleted and rebuilt beside them) are not this store's: they
    // go, and this store's log is indexed again.
    let runs_dir = indicators::runs_dir(&config(dir.path()).path);
    std::fs::remove_dir_all(&runs_dir).unwrap();
    {
        let mut stale = indicators::Runs::open(&runs_dir).unwrap();
        stale.bind(b"another store").unwrap();
        for index in 0..6 {
            stale.add(index, &[indicators::digest("nothing.example")]);
        }
        stale.persist(6, true).unwrap();
    }
    let store = Store::open(&config(dir.path())).unwrap();
    expect(&store);
}
