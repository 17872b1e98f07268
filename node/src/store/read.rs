//! Reads: lock-free (they never wait for the writer, except for the small derived state it owns).

use certnet_protocol::id::{Hash, RecordId};
use certnet_protocol::keys::AuthorKey;
use certnet_protocol::merkle::{self, ProofError};
use certnet_protocol::sync::Head;
use std::sync::atomic::Ordering;

use super::keys::{feed_key, split_log_value, u64_be};
use super::{LogEntry, Nodes, Store, StoreError, sled_err};

impl Store {
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

    /// Ids of stored records whose lowercase hex starts with `hex_prefix` (hex digits only, at most
    /// 64), at most `limit` of them, in id order.
    pub fn ids_with_prefix(
        &self,
        hex_prefix: &str,
        limit: usize,
    ) -> Result<Vec<RecordId>, StoreError> {
        let whole = hex_prefix.len() / 2;
        let bytes = hex::decode(&hex_prefix[..whole * 2])
            .map_err(|e| StoreError::Corrupt(format!("not a hex prefix: {e}")))?;
        let mut out = Vec::new();
        for item in self.records.scan_prefix(&bytes) {
            let (key, _) = item.map_err(sled_err("read records"))?;
            let Some(id) = RecordId::from_slice(&key) else {
                continue;
            };
            if id.to_string().starts_with(hex_prefix) {
                out.push(id);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
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
    pub(super) fn named_record(
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

    /// Log entry `index`, if the log holds it.
    pub fn entry(&self, index: u64) -> Result<Option<LogEntry>, StoreError> {
        if index >= self.log_size() {
            return Ok(None);
        }
        let (id, added_us) = self.log_entry_at(index)?;
        let bytes = self.named_record(id.as_bytes(), || {
            StoreError::Corrupt(format!("log entry {index} names a missing record"))
        })?;
        Ok(Some(LogEntry {
            index,
            added_us,
            bytes,
        }))
    }

    /// The index of the first log entry this node added after `us` (µs since the epoch), or the
    /// log size if there is none: added times never decrease along the log, so this is a binary
    /// search of O(log n) reads.
    pub fn first_added_after(&self, us: u64) -> Result<u64, StoreError> {
        let (mut lo, mut hi) = (0, self.log_size());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.log_entry_at(mid)?.1 > us {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        Ok(lo)
    }

    /// When this node added log entry `index` (microseconds since the Unix epoch), if it exists.
    pub fn added_us(&self, index: u64) -> Result<Option<u64>, StoreError> {
        if index >= self.log_size() {
            return Ok(None);
        }
        Ok(Some(self.log_entry_at(index)?.1))
    }

    /// The record id and added time of log entry `index`, which must exist.
    pub(super) fn log_entry_at(&self, index: u64) -> Result<(RecordId, u64), StoreError> {
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

    pub(super) fn check_size(&self, size: u64) -> Result<(), ProofError<StoreError>> {
        let have = self.log_size();
        if size > have {
            return Err(ProofError::IndexOutOfRange {
                index: size,
                size: have,
            });
        }
        Ok(())
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
