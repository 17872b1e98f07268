//! The node's durable state in sled: records, per-author feeds, the append-only log and its Merkle
//! tree, orphans, fork proofs and checkpoints. The only module that imports sled.
//!
//! Invariants (see ARCHITECTURE.md):
//! - One writer: every mutation runs under `writer`, so derived state (log size, heads) is exact.
//! - One atomic sled batch per group of appends (up to `MAX_GROUP` of an ingest batch, or one own
//!   record) across the spaces of the main tree (`records`, `feeds`, `log`, `merkle`, `refs`, the band index): after
//!   a crash a record is either fully in the log or absent, and the log is a prefix of what was
//!   appended. Appends of a group are invisible to lock-free readers until the group is applied.
//! - A record enters the log only after its author's previous record: `feeds` holds, per author, every
//!   seq from 1 to the head and nothing above it.
//! - No delete or overwrite of anything in the log; orphans are the only entries ever removed.
//! - Added times (`log` values) never decrease along the log, even when the wall clock steps back.
//! - A failed flush or write poisons the store: every later write fails with `Poisoned`.

mod append;
mod bands;
mod disk;
mod indicators;
mod keys;
mod misp;
pub use misp::StateEntry;
mod opened;
mod orphans;
mod read;
mod space;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use certnet_protocol::id::{Hash, RecordId};
use certnet_protocol::keys::AuthorKey;
use certnet_protocol::merkle::{NodeSource, leaf_hash};

pub use bands::BandSet;
pub use disk::{DiskLimits, DiskState};
pub use indicators::{IndicatorHits, lookup_values};
use keys::{merkle_key, split_log_value, u64_be};
pub use opened::OpenedOutcome;
pub use orphans::{ORPHAN_SHARE, ORPHAN_TTL};
use space::Space;
use tokio::sync::watch;

/// How to open a store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Directory of the sled database.
    pub path: PathBuf,
    /// sled page cache size, in bytes.
    pub cache_capacity: u64,
    /// Network id every record must carry.
    pub net: String,
    /// Most records kept while waiting for their predecessors (one author: an eighth of it).
    pub max_orphans: u64,
    /// Free space to keep (`None`: the defaults for the file system, [`DiskLimits::default_for`]).
    pub disk: Option<DiskLimits>,
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
    /// Free space is below the watermark: records from others are not taken now (nothing was
    /// written; peers deliver them again by sync once space returns).
    #[error(
        "the disk holding the store has {free} bytes free, below the watermark of {watermark}: records from peers wait until space is freed"
    )]
    DiskLow {
        /// Free bytes.
        free: u64,
        /// The watermark.
        watermark: u64,
    },
    /// Free space is below the floor: nothing is written now (nothing was written).
    #[error(
        "the disk holding the store has {free} bytes free, below the floor of {floor}: free space on it ([store] min_free_mib, publish_floor_mib)"
    )]
    DiskFull {
        /// Free bytes.
        free: u64,
        /// The floor.
        floor: u64,
    },
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
    /// Orphans per author (each within its quota).
    orphans_by: HashMap<AuthorKey, u64>,
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
    /// `(band, author)` pairs whose first entry this group indexes.
    idents: std::collections::HashSet<(u8, AuthorKey)>,
    /// The indicator digests of each append, for the run index once the group is applied.
    indicators: Vec<(u64, Vec<[u8; 8]>)>,
    /// Log size once the group is applied: the index of the next append.
    size: u64,
}

/// The wall clock in microseconds since the Unix epoch (0 if it is set before 1970).
pub fn now_us() -> u64 {
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
    bands: Space,
    idents: Space,
    /// The indicator index of clear records (`indicators/`), in run files beside the sled database.
    indicators: Mutex<indicators::Runs>,
    orphans: sled::Tree,
    forks: sled::Tree,
    checkpoints: sled::Tree,
    meta: sled::Tree,
    /// What opening sealed records addressed to this node gave (`opened`).
    opened: sled::Tree,
    /// What this node remembers of the MISP events it imported (`misp.rs`).
    misp: sled::Tree,
    net: String,
    max_orphans: u64,
    size: AtomicU64,
    poisoned: AtomicBool,
    writer: Mutex<Writer>,
    disk: disk::Disk,
    /// The log size readers can see, for those waiting on appends (the live stream).
    appended: watch::Sender<u64>,
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
            bands: space(b'b'),
            idents: space(b'i'),
            main,
            orphans: tree("orphans")?,
            forks: tree("forks")?,
            checkpoints: tree("checkpoints")?,
            meta: tree("meta")?,
            opened: tree("opened")?,
            misp: tree("misp")?,
            indicators: Mutex::new(
                indicators::Runs::open(&indicators::runs_dir(&config.path)).map_err(|e| {
                    StoreError::Corrupt(format!(
                        "the indicator index directory cannot be opened: {e}"
                    ))
                })?,
            ),
            db,
            net: config.net.clone(),
            max_orphans: config.max_orphans,
            size: AtomicU64::new(0),
            poisoned: AtomicBool::new(false),
            writer: Mutex::new(Writer {
                heads: HashMap::new(),
                frozen: HashMap::new(),
                orphans: 0,
                orphans_by: HashMap::new(),
                last_added_us: 0,
                group: Group::default(),
            }),
            appended: watch::Sender::new(0),
            disk: disk::Disk::new(config.path.clone(), config.disk),
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
        self.appended.send_replace(size);
        self.rebuild_bands_if_stale(size)?;
        self.catch_up_indicators(size)?;
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
        self.count_orphans(&mut w)?;
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

    /// `Ok` if the disk has room for records from others (above the watermark).
    fn check_room_for_others(&self) -> Result<(), StoreError> {
        let (state, free) = self.disk.check(false);
        match (state, self.disk.limits()) {
            (DiskState::Ok, _) | (_, None) => Ok(()),
            (_, Some(limits)) => Err(StoreError::DiskLow {
                free,
                watermark: limits.watermark,
            }),
        }
    }

    /// `Ok` if the disk has room for any write (above the floor).
    fn check_room(&self) -> Result<(), StoreError> {
        let (state, free) = self.disk.check(false);
        match (state, self.disk.limits()) {
            (DiskState::Full, Some(limits)) => Err(StoreError::DiskFull {
                free,
                floor: limits.floor,
            }),
            _ => Ok(()),
        }
    }

    /// The disk's state as last seen (asking the file system at most once a second).
    pub fn disk_state(&self) -> DiskState {
        self.disk.check(false).0
    }

    /// The disk's state, free bytes and limits (asking the file system at most once a second).
    pub fn disk(&self) -> (DiskState, u64, Option<DiskLimits>) {
        let (state, free) = self.disk.check(false);
        (state, free, self.disk.limits())
    }

    /// Asks the file system now; the disk's state, free bytes and limits, and the state before if
    /// it changed since the last call. For one caller only (the network loop, which logs changes
    /// and acts on recovery).
    pub fn disk_transition(&self) -> (DiskState, u64, Option<DiskLimits>, Option<DiskState>) {
        let (state, free) = self.disk.check(true);
        (state, free, self.disk.limits(), self.disk.transition())
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
            Ok(_) => {
                // The log is durable up to its size: the index's memory may become a run file. A
                // failure here costs only a rebuild of that part at the next open.
                if let Err(e) = self.runs().persist(self.log_size(), false) {
                    tracing::warn!(error = %e, "the indicator index could not be written out; kept in memory");
                }
                Ok(())
            }
            Err(e) => self.poison(StoreError::Sled {
                context: "flush",
                error: e,
            }),
        }
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
        {
            let mut runs = self.runs();
            for (index, digests) in &group.indicators {
                runs.add(*index, digests);
            }
        }
        self.size.store(size, Ordering::SeqCst);
        self.appended.send_replace(size);
        Ok(())
    }

    /// The log size readers can see, updated after every applied group: wait on it for appends.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }
}

#[cfg(test)]
mod tests;
