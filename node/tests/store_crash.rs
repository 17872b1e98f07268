//! Crash test: a child process appends and acknowledges records (own publishes flushed one by one,
//! peer records by group commit) while the parent SIGKILLs it at random points. After every kill the
//! store must reopen with every acknowledged record present, every author chain complete, and the
//! Merkle root equal to the root recomputed from the log. Runs without the libtest harness: the same
//! binary is parent and child.
#![allow(clippy::unwrap_used, clippy::print_stdout)] // a test binary: panics fail it, stdout is its report

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use certnet_node::store::{Store, StoreConfig};
use certnet_protocol::id::RecordId;
use certnet_protocol::keys::{AuthorKey, AuthorSecret};
use certnet_protocol::merkle::{Frontier, leaf_hash};
use certnet_protocol::record::{FeedPosition, VerifiedRecord, sample, sign_record, verify_record};

const NET: &str = "certnet-crash";
const ROUNDS: u32 = 20;
const CHILD_ENV: &str = "CERTNET_CRASH_CHILD_DIR";

fn config(dir: &Path) -> StoreConfig {
    StoreConfig {
        path: dir.join("db"),
        cache_capacity: 8 << 20,
        net: NET.into(),
        max_orphans: 1000,
        disk: None,
    }
}

fn own() -> AuthorSecret {
    AuthorSecret::from_seed(&[1; 32])
}

/// A peer's record at `seq`, deterministic so every round continues the same chain.
fn peer_record(secret: &AuthorSecret, seq: u64, prev: Option<RecordId>) -> VerifiedRecord {
    sign_record(
        NET,
        sample::incident(seq),
        FeedPosition {
            seq,
            prev,
            time: seq,
        },
        secret,
    )
    .unwrap()
}

fn child(dir: &Path) {
    let store = Store::open(&config(dir)).unwrap();
    let me = own();
    let peers = [
        AuthorSecret::from_seed(&[2; 32]),
        AuthorSecret::from_seed(&[3; 32]),
    ];
    let mut out = std::io::stdout().lock();
    for n in 0u64.. {
        // One own publish, acknowledged after its flush.
        let (rec, _) = store
            .append_own(me.public(), |head| {
                let at = FeedPosition {
                    seq: head.map_or(1, |h| h.0 + 1),
                    prev: head.map(|h| h.1),
                    time: n,
                };
                sign_record(NET, sample::incident(n), at, &me)
            })
            .unwrap()
            .unwrap();
        writeln!(out, "ack {}", rec.id()).unwrap();
        // A group commit of peer records, acknowledged after the batch's flush.
        let mut batch = Vec::new();
        for p in &peers {
            let mut head = store.head(&p.public());
            for _ in 0..8 {
                let seq = head.map_or(1, |h| h.0 + 1);
                let r = peer_record(p, seq, head.map(|h| h.1));
                head = Some((seq, r.id()));
                batch.push(r);
            }
        }
        let ids: Vec<RecordId> = batch.iter().map(|r| r.id()).collect();
        store.ingest_batch(batch).unwrap();
        for id in ids {
            writeln!(out, "ack {id}").unwrap();
        }
        out.flush().unwrap();
    }
}

/// xorshift, seeded from the clock: a different kill schedule every run, printed for replay.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn check(dir: &Path, acked: &[RecordId]) -> u64 {
    let store = Store::open(&config(dir)).unwrap();
    for id in acked {
        assert!(
            store.get(id).unwrap().is_some(),
            "acknowledged record {id} lost"
        );
    }
    let mut frontier = Frontier::new();
    let mut heads: HashMap<AuthorKey, (u64, RecordId)> = HashMap::new();
    let mut last_added = 0;
    for entry in store.log_iter(0) {
        let entry = entry.unwrap();
        let (index, bytes) = (entry.index, entry.bytes);
        assert_eq!(index, frontier.size());
        assert!(
            entry.added_us >= last_added,
            "added time goes back at entry {index}"
        );
        last_added = entry.added_us;
        let r = verify_record(&bytes, NET).unwrap();
        let head = heads.get(&r.author()).copied();
        certnet_protocol::chain::check_link(head, &r)
            .unwrap_or_else(|e| panic!("chain broken at {index}: {e}"));
        heads.insert(r.author(), (r.seq(), r.id()));
        frontier.push(leaf_hash(&bytes));
    }
    assert_eq!(frontier.size(), store.log_size());
    assert_eq!(
        store.root(store.log_size()).unwrap(),
        frontier.root(),
        "stored merkle root differs from the log"
    );
    for (author, head) in &heads {
        assert_eq!(store.head(author), Some(*head));
    }
    store.log_size()
}

fn main() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&dir));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("store crash test: {ROUNDS} rounds, seed {seed}");
    let mut rng = Rng(seed);
    let mut acked: Vec<RecordId> = Vec::new();
    let mut passed = 0;
    for round in 0..ROUNDS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| {
                    l.strip_prefix("ack ")
                        .and_then(|id| id.parse::<RecordId>().ok())
                })
                .collect::<Vec<_>>()
        });
        std::thread::sleep(Duration::from_millis(100 + rng.next() % 400));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let new = reader.join().unwrap();
        acked.extend(&new);
        let size = check(dir.path(), &acked);
        println!(
            "round {round}: killed after {} new acks, log {size} entries, all acknowledged present",
            new.len()
        );
        passed += 1;
    }
    println!("{passed} passed, 0 failed");
}
