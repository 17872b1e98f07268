//! The node's durable state in sled: records, per-author feeds, the append-only log and its Merkle
//! tree, orphans, fork proofs and checkpoints. The only module that imports sled.
//!
//! Invariants (see ARCHITECTURE.md):
//! - One writer: every mutation runs under `writer`, so derived state (log size, heads) is exact.
//! - One atomic sled batch per group of appends (up to `MAX_GROUP` of an ingest batch, or one own
//!   record) across the spaces of the main tree (`records`, `feeds`, `log`, `merkle`, `refs`): after
//!   a crash a record is either fully in the log or absent, and the log is a prefix of what was
//!   appended. Appends of a group are invisible to lock-free readers until the group is applied.
//! - A record enters the log only after its author's previous record: `feeds` holds, per author, every
//!   seq from 1 to the head and nothing above it.
//! - No delete or overwrite of anything in the log; orphans are the only entries ever removed.
//! - Added times (`log` values) never decrease along the log, even when the wall clock steps back.
//! - A failed flush or write poisons the store: every later write fails with `Poisoned`.

mod keys;
mod space;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use certnet_protocol::chain::{EquivocationProof, check_link};
use certnet_protocol::id::{Hash, RecordId};
use certnet_protocol::keys::AuthorKey;
use certnet_protocol::merkle::{self, NodeSource, ProofError, leaf_hash};
use certnet_protocol::record::{VerifiedRecord, verify_record};
use certnet_protocol::sync::Head;

use keys::{feed_key, log_value, merkle_key, split_log_value, u64_be};
use space::Space;

/// How to open a store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Directory of the sled database.
    pub path: PathBuf,
    /// sled page cache size, in bytes.
    pub cache_capacity: u64,
    /// Network id every record must carry.
    pub net: String,
    /// Most records kept while waiting for their predecessors.
    pub max_orphans: u64,
}

/// Store failures. All of them mean the operator must act; none is caused by peer input.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled reported an error.
    #[error("store: {context}: {error}")]
    Sled {
        /// What was being done.
        context: &'static str,
        /// The sled error (part of the message, not a separate source, so it prints once).
        error: sled::Error,
    },
    /// An earlier flush or write failed; the store refuses writes until restarted.
    #[error(
        "store is poisoned by an earlier write failure: restart the node after checking the disk"
    )]
    Poisoned,
    /// Stored bytes are not what the store wrote (disk corruption or a foreign database).
    #[error(
        "store is corrupt: {0} (rebuild it with `certnet import` from an export or let peers resync)"
    )]
    Corrupt(String),
}

fn sled_err(context: &'static str) -> impl FnOnce(sled::Error) -> StoreError {
    move |error| StoreError::Sled { context, error }
}

/// What happened to an ingested record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingest {
    /// Appended at this log index; `unblocked` orphans were appended after it.
    Appended {
        /// Log index of the record.
        index: u64,
        /// Orphans appended because this record filled their gap.
        unblocked: u64,
    },
    /// Already stored.
    Duplicate,
    /// Its predecessor is missing: kept aside until the author's feed reaches `need_from - 1`.
    Orphan {
        /// First seq of the author that is missing.
        need_from: u64,
    },
    /// Orphan space is full: dropped (sync will fetch it again).
    OrphanLimit,
    /// Same author and seq as a stored record with a different id: proof kept, author frozen.
    Fork {
        /// The equivocating author.
        author: AuthorKey,
        /// The seq signed twice.
        seq: u64,
    },
    /// The author is frozen after a fork: ignored.
    Frozen,
}

/// One log entry as read back: its index, when this node added it, and the signed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Position in the log (0-based).
    pub index: u64,
    /// When this node appended the entry, in microseconds since the Unix epoch. Node-local (two nodes
    /// add the same record at different times) and never decreasing along the log; 0 for entries
    /// written before the store kept it.
    pub added_us: u64,
    /// The signed record bytes.
    pub bytes: Vec<u8>,
}

/// State only the writer touches, derived from the trees at open.
struct Writer {
    heads: HashMap<AuthorKey, (u64, RecordId)>,
    frozen: HashMap<AuthorKey, u64>,
    orphans: u64,
    /// Added time of the last log entry: the floor for the next one.
    last_added_us: u64,
    /// Appends not yet applied to sled.
    group: Group,
}

/// Most appends applied to sled in one batch. Fewer batches mean fewer IO-buffer writes; larger ones
/// cost memory and space in sled (ingest bench, 1M records: 64 → 4,572 records/s, 189 MiB RSS, 3.74×
/// disk; 256 → 4,482/s, 221 MiB, 4.41×; one per record → 3,083/s, 172 MiB, 3.59×).
const MAX_GROUP: usize = 64;

/// Appends made under the writer lock and applied to sled together by [`Store::commit`].
///
/// sled seals and writes its IO buffer twice for every `apply_batch`, whatever its size, so one
/// batch per record costs two writes and two `sync_file_range` calls per record; one batch per
/// group costs them once per group. Later appends of the group read what earlier ones wrote from
/// here (`records`, `feeds`, Merkle `nodes`), so the group behaves like the store it will become.
#[derive(Default)]
struct Group {
    batch: sled::Batch,
    /// Signed bytes of the records appended in this group.
    records: HashMap<RecordId, Vec<u8>>,
    /// `(author, seq)` → id, for this group's appends.
    feeds: HashMap<(AuthorKey, u64), RecordId>,
    /// Merkle nodes (leaf hashes included) this group's appends created.
    nodes: HashMap<(u32, u64), Hash>,
    /// Log size once the group is applied: the index of the next append.
    size: u64,
}

/// The wall clock in microseconds since the Unix epoch (0 if it is set before 1970).
fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// The store. Cheap to share behind an `Arc`; reads never block on the writer.
pub struct Store {
    db: sled::Db,
    /// The log's data: every append is one atomic batch on this tree, across the spaces below.
    main: sled::Tree,
    records: Space,
    feeds: Space,
    log: Space,
    merkle_nodes: Space,
    refs: Space,
    orphans: sled::Tree,
    forks: sled::Tree,
    checkpoints: sled::Tree,
    net: String,
    max_orphans: u64,
    size: AtomicU64,
    poisoned: AtomicBool,
    writer: Mutex<Writer>,
}

/// Reads committed Merkle nodes. Leaf hashes (level 0) are not stored: they are computed from the
/// log entry, which saves a write per append; every level above is stored.
struct Nodes<'a>(&'a Store);

/// Merkle nodes as the writer sees them: its pending group first, then the committed store.
struct Pending<'a>(&'a Store, &'a Group);

impl NodeSource for Pending<'_> {
    type Error = StoreError;

    fn perfect_node(&self, level: u32, index: u64) -> Result<Hash, StoreError> {
        match self.1.nodes.get(&(level, index)) {
            Some(hash) => Ok(*hash),
            None => Nodes(self.0).perfect_node(level, index),
        }
    }
}

impl NodeSource for Nodes<'_> {
    type Error = StoreError;

    fn perfect_node(&self, level: u32, index: u64) -> Result<Hash, StoreError> {
        if level == 0 {
            let (id, _) = self.0.log_entry_at(index)?;
            let bytes = self.0.named_record(id.as_bytes(), || {
                StoreError::Corrupt(format!("log entry {index} names a missing record"))
            })?;
            return Ok(leaf_hash(&bytes));
        }
        let v = self
            .0
            .merkle_nodes
            .get(&merkle_key(level, index))
            .map_err(sled_err("read merkle node"))?
            .ok_or_else(|| {
                StoreError::Corrupt(format!("merkle node ({level}, {index}) missing"))
            })?;
        v.as_ref().try_into().map_err(|_| {
            StoreError::Corrupt(format!("merkle node ({level}, {index}) is not 32 bytes"))
        })
    }
}

impl Store {
    /// Opens (or creates) the store and rebuilds the writer's state from it.
    pub fn open(config: &StoreConfig) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(&config.path)
            .cache_capacity(config.cache_capacity)
            .mode(sled::Mode::HighThroughput)
            .open()
            .map_err(sled_err("open database"))?;
        let tree = |name: &'static str| db.open_tree(name).map_err(sled_err("open tree"));
        let main = tree("log")?;
        let space = |prefix: u8| Space::new(main.clone(), prefix);
        let store = Store {
            records: space(b'r'),
            feeds: space(b'f'),
            log: space(b'l'),
            merkle_nodes: space(b'm'),
            refs: space(b'x'),
            main,
            orphans: tree("orphans")?,
            forks: tree("forks")?,
            checkpoints: tree("checkpoints")?,
            db,
            net: config.net.clone(),
            max_orphans: config.max_orphans,
            size: AtomicU64::new(0),
            poisoned: AtomicBool::new(false),
            writer: Mutex::new(Writer {
                heads: HashMap::new(),
                frozen: HashMap::new(),
                orphans: 0,
                last_added_us: 0,
                group: Group::default(),
            }),
        };
        store.recover()?;
        Ok(store)
    }

    /// Derives log size, heads, frozen authors and the orphan count from the trees.
    fn recover(&self) -> Result<(), StoreError> {
        let (size, last_added_us) = match self.log.last().map_err(sled_err("read log"))? {
            None => (0, 0),
            Some((k, v)) => {
                let index = u64_be(&k).ok_or_else(|| StoreError::Corrupt("bad log key".into()))?;
                // Appends are atomic, so the last entry's record and position exist.
                let (id, added_us) = split_log_value(&v).ok_or_else(|| {
                    StoreError::Corrupt(format!("log entry {index} is malformed"))
                })?;
                if self.position(&id)? != Some(index) {
                    return Err(StoreError::Corrupt(format!(
                        "log entry {index} has no matching record position"
                    )));
                }
                (index + 1, added_us)
            }
        };
        self.size.store(size, Ordering::SeqCst);
        let mut w = self.lock();
        w.last_added_us = last_added_us;
        w.group.size = size;
        w.heads = self.scan_heads()?;
        for item in self.forks.iter() {
            let (k, _) = item.map_err(sled_err("read forks"))?;
            let (author, seq) = keys::split_feed_key(&k)
                .ok_or_else(|| StoreError::Corrupt("bad fork key".into()))?;
            w.frozen.entry(author).or_insert(seq);
        }
        w.orphans = self.orphans.len() as u64;
        Ok(())
    }

    /// The last feed entry of every author, jumping from author to author.
    fn scan_heads(&self) -> Result<HashMap<AuthorKey, (u64, RecordId)>, StoreError> {
        let mut heads = HashMap::new();
        let mut from: Vec<u8> = Vec::new();
        loop {
            let Some((k, _)) = self
                .feeds
                .range_from(&from)
                .next()
                .transpose()
                .map_err(sled_err("read feeds"))?
            else {
                break;
            };
            let prefix = k[..32].to_vec();
            let (lk, lv) = self
                .feeds
                .scan_prefix(&prefix)
                .next_back()
                .transpose()
                .map_err(sled_err("read feeds"))?
                .ok_or_else(|| StoreError::Corrupt("feed vanished".into()))?;
            let (author, seq) = keys::split_feed_key(&lk)
                .ok_or_else(|| StoreError::Corrupt("bad feed key".into()))?;
            let id = RecordId::from_slice(&lv)
                .ok_or_else(|| StoreError::Corrupt("bad feed value".into()))?;
            heads.insert(author, (seq, id));
            match keys::next_prefix(&prefix) {
                Some(next) => from = next,
                None => break,
            }
        }
        Ok(heads)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Writer> {
        // A panic while holding the lock cannot leave sled half-written (atomic batches), so the
        // derived state is still the committed state: recover from poisoning.
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        if self.poisoned.load(Ordering::SeqCst) {
            Err(StoreError::Poisoned)
        } else {
            Ok(())
        }
    }

    fn poison<T>(&self, e: StoreError) -> Result<T, StoreError> {
        self.poisoned.store(true, Ordering::SeqCst);
        tracing::error!(error = %e, "store write failed; refusing further writes");
        Err(e)
    }

    /// Makes everything written so far durable. A failure poisons the store.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.check_writable()?;
        match self.db.flush() {
            Ok(_) => Ok(()),
            Err(e) => self.poison(StoreError::Sled {
                context: "flush",
                error: e,
            }),
        }
    }

    /// Ingests one verified record (gossip, sync, import). Not durable until [`Store::flush`].
    pub fn ingest(&self, record: VerifiedRecord) -> Result<Ingest, StoreError> {
        self.check_writable()?;
        let mut w = self.lock();
        let outcome = self.ingest_locked(&mut w, record);
        self.commit(&mut w)?;
        outcome
    }

    /// Ingests many records and flushes once (group commit).
    pub fn ingest_batch(&self, records: Vec<VerifiedRecord>) -> Result<Vec<Ingest>, StoreError> {
        self.check_writable()?;
        let outcomes = {
            let mut w = self.lock();
            let outcomes = records
                .into_iter()
                .map(|r| {
                    let outcome = self.ingest_locked(&mut w, r);
                    if w.group.records.len() >= MAX_GROUP {
                        self.commit(&mut w)?;
                    }
                    outcome
                })
                .collect::<Result<Vec<_>, _>>();
            // What was appended before an error is valid: it is applied either way.
            self.commit(&mut w)?;
            outcomes?
        };
        self.flush()?;
        Ok(outcomes)
    }

    /// Signs and appends this node's own next record, durably, in one step under the writer lock so
    /// a seq is never signed twice. `make` gets the author's head and returns the signed record.
    pub fn append_own<E>(
        &self,
        author: AuthorKey,
        make: impl FnOnce(Option<(u64, RecordId)>) -> Result<VerifiedRecord, E>,
    ) -> Result<Result<(VerifiedRecord, u64), E>, StoreError> {
        self.check_writable()?;
        let mut w = self.lock();
        if w.frozen.contains_key(&author) {
            return Err(StoreError::Corrupt(
                "this node's own author key is frozen after a fork".into(),
            ));
        }
        let head = w.heads.get(&author).copied();
        let record = match make(head) {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        if let Err(e) = check_link(head, &record) {
            return Err(StoreError::Corrupt(format!(
                "own record does not extend the feed head: {e}"
            )));
        }
        let index = self.append_locked(&mut w, &record)?;
        self.commit(&mut w)?;
        drop(w);
        self.flush()?;
        Ok(Ok((record, index)))
    }

    /// Applies the writer's pending group to sled in one atomic batch and makes it visible.
    fn commit(&self, w: &mut Writer) -> Result<(), StoreError> {
        if w.group.records.is_empty() {
            return Ok(());
        }
        let size = w.group.size;
        let group = std::mem::replace(
            &mut w.group,
            Group {
                size,
                ..Group::default()
            },
        );
        if let Err(source) = self.main.apply_batch(group.batch) {
            return self.poison(StoreError::Sled {
                context: "append",
                error: source,
            });
        }
        self.size.store(size, Ordering::SeqCst);
        Ok(())
    }

    fn ingest_locked(&self, w: &mut Writer, record: VerifiedRecord) -> Result<Ingest, StoreError> {
        let author = record.author();
        let seq = record.seq();
        if w.frozen.contains_key(&author) {
            return Ok(Ingest::Frozen);
        }
        if w.group.records.contains_key(&record.id())
            || self
                .records
                .contains_key(record.id().as_bytes())
                .map_err(sled_err("read records"))?
        {
            return Ok(Ingest::Duplicate);
        }
        let head = w.heads.get(&author).copied();
        let head_seq = head.map_or(0, |h| h.0);
        if seq <= head_seq {
            // We hold a different record at this seq: equivocation.
            let other = self.feed_record(w, author, seq)?;
            return self.record_fork(w, other, record);
        }
        if seq > head_seq + 1 || check_link(head, &record).is_err() {
            return self.keep_orphan(w, record, head_seq + 1);
        }
        let index = self.append_locked(w, &record)?;
        if let Some(stale) = self.take_orphan(w, author, seq)?
            && stale != record.bytes()
        {
            // An orphan at this seq that did not link: the author signed two records here.
            let other = self.reverify(&stale)?;
            return self.record_fork(w, other, record);
        }
        let unblocked = self.drain_orphans(w, author)?;
        Ok(Ingest::Appended { index, unblocked })
    }

    /// Removes and returns the orphan kept at `author`/`seq`, if any.
    fn take_orphan(
        &self,
        w: &mut Writer,
        author: AuthorKey,
        seq: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        if w.orphans == 0 {
            return Ok(None);
        }
        match self.orphans.remove(feed_key(&author, seq)) {
            Ok(Some(v)) => {
                w.orphans = w.orphans.saturating_sub(1);
                Ok(Some(v.to_vec()))
            }
            Ok(None) => Ok(None),
            Err(e) => self.poison(StoreError::Sled {
                context: "remove orphan",
                error: e,
            }),
        }
    }

    /// Appends a record known to extend its author's chain to the writer's pending group.
    fn append_locked(&self, w: &mut Writer, record: &VerifiedRecord) -> Result<u64, StoreError> {
        let index = w.group.size;
        let id = record.id();
        let nodes = match merkle::append(&Pending(self, &w.group), index, leaf_hash(record.bytes()))
        {
            Ok(n) => n,
            Err(e) => return self.poison(e),
        };
        let added_us = now_us().max(w.last_added_us);
        let group = &mut w.group;
        let batch = &mut group.batch;
        // records: id → log index (8, big-endian) ‖ signed bytes.
        let mut value = Vec::with_capacity(8 + record.bytes().len());
        value.extend_from_slice(&index.to_be_bytes());
        value.extend_from_slice(record.bytes());
        batch.insert(self.records.key(id.as_bytes()), value);
        batch.insert(
            self.feeds.key(&feed_key(&record.author(), record.seq())),
            id.as_bytes(),
        );
        batch.insert(
            self.log.key(&index.to_be_bytes()),
            &log_value(&id, added_us)[..],
        );
        for (level, i, hash) in nodes.iter().filter(|n| n.0 > 0) {
            batch.insert(self.merkle_nodes.key(&merkle_key(*level, *i)), &hash[..]);
        }
        for target in &record.payload().refs {
            batch.insert(self.refs.key(&keys::ref_key(target, index)), id.as_bytes());
        }
        for (level, i, hash) in nodes {
            group.nodes.insert((level, i), hash);
        }
        group.records.insert(id, record.bytes().to_vec());
        group.feeds.insert((record.author(), record.seq()), id);
        group.size = index + 1;
        w.heads.insert(record.author(), (record.seq(), id));
        w.last_added_us = added_us;
        Ok(index)
    }

    fn keep_orphan(
        &self,
        w: &mut Writer,
        record: VerifiedRecord,
        need_from: u64,
    ) -> Result<Ingest, StoreError> {
        let key = feed_key(&record.author(), record.seq());
        if let Some(existing) = self.orphans.get(key).map_err(sled_err("read orphans"))? {
            if existing.as_ref() == record.bytes() {
                return Ok(Ingest::Duplicate);
            }
            let other = self.reverify(&existing)?;
            // Two different orphans at one seq: equivocation, provable now.
            return self.record_fork(w, other, record);
        }
        if w.orphans >= self.max_orphans {
            return Ok(Ingest::OrphanLimit);
        }
        if let Err(e) = self.orphans.insert(key, record.bytes()) {
            return self.poison(StoreError::Sled {
                context: "insert orphan",
                error: e,
            });
        }
        w.orphans += 1;
        Ok(Ingest::Orphan { need_from })
    }

    /// Appends the author's waiting orphans that now extend the chain.
    fn drain_orphans(&self, w: &mut Writer, author: AuthorKey) -> Result<u64, StoreError> {
        let mut appended = 0;
        while let Some(&(seq, id)) = w.heads.get(&author) {
            let Some(bytes) = self.take_orphan(w, author, seq + 1)? else {
                break;
            };
            let record = self.reverify(&bytes)?;
            if check_link(Some((seq, id)), &record).is_err() {
                // Its prev is some other record at our head's seq: the author forked, but we do not
                // hold that record, so there is no proof yet. Sync will bring it or not.
                tracing::warn!(author = %author, seq = seq + 1, "orphan does not link to the head; dropped");
                break;
            }
            self.append_locked(w, &record)?;
            appended += 1;
        }
        Ok(appended)
    }

    fn record_fork(
        &self,
        w: &mut Writer,
        a: VerifiedRecord,
        b: VerifiedRecord,
    ) -> Result<Ingest, StoreError> {
        let (author, seq) = (a.author(), a.seq());
        let proof = EquivocationProof::new(a, b)
            .map_err(|e| StoreError::Corrupt(format!("fork proof from stored records: {e}")))?;
        if let Err(e) = self.forks.insert(feed_key(&author, seq), proof.to_cbor()) {
            return self.poison(StoreError::Sled {
                context: "insert fork proof",
                error: e,
            });
        }
        w.frozen.entry(author).or_insert(seq);
        tracing::error!(author = %author, seq, "author signed two records at one seq: frozen, proof kept");
        Ok(Ingest::Fork { author, seq })
    }

    /// Bytes written by this store are re-verified before reuse in a proof or an append.
    fn reverify(&self, bytes: &[u8]) -> Result<VerifiedRecord, StoreError> {
        verify_record(bytes, &self.net)
            .map_err(|e| StoreError::Corrupt(format!("stored record no longer verifies: {e}")))
    }

    fn feed_record(
        &self,
        w: &Writer,
        author: AuthorKey,
        seq: u64,
    ) -> Result<VerifiedRecord, StoreError> {
        if let Some(id) = w.group.feeds.get(&(author, seq))
            && let Some(bytes) = w.group.records.get(id)
        {
            return self.reverify(bytes);
        }
        let id = self
            .feeds
            .get(&feed_key(&author, seq))
            .map_err(sled_err("read feeds"))?
            .ok_or_else(|| {
                StoreError::Corrupt(format!("feed of {author} has a hole at seq {seq}"))
            })?;
        let bytes = self.named_record(&id, || {
            StoreError::Corrupt("feed names a missing record".into())
        })?;
        self.reverify(&bytes)
    }

    // ---- reads ----

    /// Number of log entries.
    pub fn log_size(&self) -> u64 {
        self.size.load(Ordering::SeqCst)
    }

    /// The signed bytes of a record.
    pub fn get(&self, id: &RecordId) -> Result<Option<Vec<u8>>, StoreError> {
        let v = self
            .records
            .get(id.as_bytes())
            .map_err(sled_err("read records"))?;
        Ok(v.and_then(|v| v.get(8..).map(<[u8]>::to_vec)))
    }

    /// The log index of a record.
    pub fn position(&self, id: &RecordId) -> Result<Option<u64>, StoreError> {
        let v = self
            .records
            .get(id.as_bytes())
            .map_err(sled_err("read records"))?;
        Ok(v.and_then(|v| v.get(..8).and_then(u64_be)))
    }

    /// The signed bytes of a record another entry names; `missing` says what it means if absent.
    fn named_record(
        &self,
        id: &[u8],
        missing: impl FnOnce() -> StoreError,
    ) -> Result<Vec<u8>, StoreError> {
        let v = self.records.get(id).map_err(sled_err("read records"))?;
        v.and_then(|v| v.get(8..).map(<[u8]>::to_vec))
            .ok_or_else(missing)
    }

    /// Signed bytes of the logged records that name `target` in their refs, in log order.
    pub fn referrers(&self, target: &RecordId) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut out = Vec::new();
        for item in self.refs.scan_prefix(target.as_bytes()) {
            let (_, id) = item.map_err(sled_err("read refs"))?;
            let bytes = self.named_record(&id, || {
                StoreError::Corrupt("refs names a missing record".into())
            })?;
            out.push(bytes.to_vec());
        }
        Ok(out)
    }

    /// One author's head.
    pub fn head(&self, author: &AuthorKey) -> Option<(u64, RecordId)> {
        self.lock().heads.get(author).copied()
    }

    /// Every author's head, sorted by author.
    pub fn heads(&self) -> Vec<Head> {
        let mut heads: Vec<Head> = self
            .lock()
            .heads
            .iter()
            .map(|(a, (seq, id))| Head {
                author: *a,
                seq: *seq,
                id: *id,
            })
            .collect();
        heads.sort_by_key(|h| h.author);
        heads
    }

    /// Records of `author` from `from_seq`, at most `max` of them and `max_bytes` in total (at least one
    /// if any exists).
    pub fn range(
        &self,
        author: &AuthorKey,
        from_seq: u64,
        max: usize,
        max_bytes: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut out = Vec::new();
        let mut bytes = 0;
        for item in self.feeds.range_from(&feed_key(author, from_seq)).take(max) {
            let (k, id) = item.map_err(sled_err("read feeds"))?;
            if k[..32] != author.as_bytes()[..] {
                break;
            }
            let rec = self.named_record(&id, || {
                StoreError::Corrupt("feed names a missing record".into())
            })?;
            if !out.is_empty() && bytes + rec.len() > max_bytes {
                break;
            }
            bytes += rec.len();
            out.push(rec.to_vec());
        }
        Ok(out)
    }

    /// Log entries from `from` on, in order.
    pub fn log_iter(&self, from: u64) -> impl Iterator<Item = Result<LogEntry, StoreError>> + '_ {
        self.log.range_from(&from.to_be_bytes()).map(move |item| {
            let (k, v) = item.map_err(sled_err("read log"))?;
            let index = u64_be(&k).ok_or_else(|| StoreError::Corrupt("bad log key".into()))?;
            let (id, added_us) = split_log_value(&v)
                .ok_or_else(|| StoreError::Corrupt(format!("log entry {index} is malformed")))?;
            let bytes = self.named_record(id.as_bytes(), || {
                StoreError::Corrupt(format!("log entry {index} names a missing record"))
            })?;
            Ok(LogEntry {
                index,
                added_us,
                bytes,
            })
        })
    }

    /// When this node added log entry `index` (microseconds since the Unix epoch), if it exists.
    pub fn added_us(&self, index: u64) -> Result<Option<u64>, StoreError> {
        if index >= self.log_size() {
            return Ok(None);
        }
        Ok(Some(self.log_entry_at(index)?.1))
    }

    /// The record id and added time of log entry `index`, which must exist.
    fn log_entry_at(&self, index: u64) -> Result<(RecordId, u64), StoreError> {
        let v = self
            .log
            .get(&index.to_be_bytes())
            .map_err(sled_err("read log"))?
            .ok_or_else(|| StoreError::Corrupt(format!("log entry {index} missing")))?;
        split_log_value(&v)
            .ok_or_else(|| StoreError::Corrupt(format!("log entry {index} is malformed")))
    }

    /// The Merkle root of the first `size` entries.
    pub fn root(&self, size: u64) -> Result<Hash, StoreError> {
        merkle::root(&Nodes(self), size)
    }

    /// Inclusion proof of entry `index` in the tree of `size` entries.
    pub fn inclusion_proof(
        &self,
        index: u64,
        size: u64,
    ) -> Result<Vec<Hash>, ProofError<StoreError>> {
        self.check_size(size)?;
        merkle::inclusion_proof(&Nodes(self), index, size)
    }

    /// Consistency proof between tree sizes `old` and `new`.
    pub fn consistency_proof(
        &self,
        old: u64,
        new: u64,
    ) -> Result<Vec<Hash>, ProofError<StoreError>> {
        self.check_size(new)?;
        merkle::consistency_proof(&Nodes(self), old, new)
    }

    fn check_size(&self, size: u64) -> Result<(), ProofError<StoreError>> {
        let have = self.log_size();
        if size > have {
            return Err(ProofError::IndexOutOfRange {
                index: size,
                size: have,
            });
        }
        Ok(())
    }

    /// Keeps a signed checkpoint note for tree size `size`.
    pub fn put_checkpoint(&self, size: u64, note: &str) -> Result<(), StoreError> {
        self.check_writable()?;
        if let Err(e) = self.checkpoints.insert(size.to_be_bytes(), note.as_bytes()) {
            return self.poison(StoreError::Sled {
                context: "insert checkpoint",
                error: e,
            });
        }
        self.flush()
    }

    /// The newest checkpoint: (size, note).
    pub fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, StoreError> {
        let Some((k, v)) = self
            .checkpoints
            .last()
            .map_err(sled_err("read checkpoints"))?
        else {
            return Ok(None);
        };
        let size = u64_be(&k).ok_or_else(|| StoreError::Corrupt("bad checkpoint key".into()))?;
        let note = String::from_utf8(v.to_vec())
            .map_err(|_| StoreError::Corrupt("checkpoint is not text".into()))?;
        Ok(Some((size, note)))
    }

    /// The checkpoint at exactly `size`, if one was made.
    pub fn checkpoint_at(&self, size: u64) -> Result<Option<String>, StoreError> {
        let v = self
            .checkpoints
            .get(size.to_be_bytes())
            .map_err(sled_err("read checkpoints"))?;
        v.map(|v| {
            String::from_utf8(v.to_vec())
                .map_err(|_| StoreError::Corrupt("checkpoint is not text".into()))
        })
        .transpose()
    }

    /// Every fork proof (encoded), by author and seq.
    pub fn forks(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        self.forks
            .iter()
            .values()
            .map(|v| v.map(|v| v.to_vec()).map_err(sled_err("read forks")))
            .collect()
    }

    /// Authors frozen after a fork, with the seq they forked at.
    pub fn frozen(&self) -> Vec<(AuthorKey, u64)> {
        let mut f: Vec<_> = self.lock().frozen.iter().map(|(a, s)| (*a, *s)).collect();
        f.sort();
        f
    }

    /// Records waiting for their predecessors.
    pub fn orphan_count(&self) -> u64 {
        self.lock().orphans
    }

    /// Bytes the database occupies on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.db.size_on_disk().map_err(sled_err("size on disk"))
    }
}

#[cfg(test)]
mod tests;
