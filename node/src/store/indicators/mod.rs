//! The indicator index: which log entries report an observable (an indicator value or CVE id, in
//! canonical form; see `certnet_protocol::record::normalize`).
//!
//! - clear records: `(digest (8), log index (8))` pairs, one per distinct observable of a record
//!   ([`lookup_values`]), in sorted run files beside the sled database ([`runs`]), added as each group
//!   of appends is applied and written out after durable flushes; derived, rebuilt from the log;
//! - tree `opened`: `n ‖ keyed digest (8) ‖ log index (8)` → empty, for the sealed records this node
//!   opened (written by the follower with its progress mark; see `opened.rs`). Their digest is an
//!   HMAC under a key derived from this node's encryption key (`Keyring::index_digest`): a plain hash
//!   of a sealed IPv4 address would give it away to anyone holding the store.
//!
//! The digest is the first 8 bytes of SHA-256 over a domain tag and the value, so every pair is 16
//! bytes whatever the value's length (a URL can take 2 KiB) and costs the same for every type. Two values sharing a digest only cost a lookup a record it reads and drops: readers always
//! check the record's content for the value itself.

use sha2::{Digest, Sha256};

use super::keys::u64_be;
use super::{Store, StoreError, sled_err};
use certnet_protocol::record::Payload;
use certnet_protocol::record::normalize::normalize;

/// The `opened` tree's prefix for the index entries of opened sealed records.
pub(super) const OPENED_PREFIX: u8 = b'n';

/// The index digest of a normalised observable value (clear records).
pub(super) fn digest(value: &str) -> [u8; 8] {
    let mut h = Sha256::new();
    h.update(b"certnet indicator index v1\0");
    h.update(value.as_bytes());
    let full = h.finalize();
    let mut d = [0u8; 8];
    d.copy_from_slice(&full[..8]);
    d
}

mod runs;

pub(super) use runs::Runs;

/// `digest (8) ‖ log index (8)`: a key of the `opened` tree's index entries (after its prefix).
fn entry_key(digest: [u8; 8], index: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&digest);
    k[8..].copy_from_slice(&index.to_be_bytes());
    k
}

/// The distinct digests a record is found by.
pub(super) fn digests_of(payload: &Payload) -> Vec<[u8; 8]> {
    let mut digests: Vec<[u8; 8]> = lookup_values(payload).iter().map(|v| digest(v)).collect();
    digests.sort_unstable();
    digests.dedup();
    digests
}

/// The values a record is found by: its observables in their normalised form (the same as signed,
/// except a URL's host, which a record may carry in any case).
pub fn lookup_values(payload: &Payload) -> Vec<String> {
    payload
        .observables()
        .into_iter()
        .map(|(kind, v)| normalize(kind, v))
        .collect()
}

/// The `opened` tree keys of log entry `index` under `digests`: one per distinct digest.
pub(super) fn keys_of_digests(
    digests: impl IntoIterator<Item = [u8; 8]>,
    index: u64,
) -> Vec<[u8; 16]> {
    let mut keys: Vec<[u8; 16]> = digests.into_iter().map(|d| entry_key(d, index)).collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// The directory of the run files of the store at `path` (beside it, never inside sled's).
pub(super) fn runs_dir(path: &std::path::Path) -> std::path::PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".indicators");
    path.with_file_name(name)
}

/// What [`Store::indicator_entries`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicatorHits {
    /// Log indexes of the entries that may report the value, ascending, each once.
    pub indexes: Vec<u64>,
    /// More entries than asked for: the oldest are left out.
    pub truncated: bool,
}

impl Store {
    pub(super) fn runs(&self) -> std::sync::MutexGuard<'_, Runs> {
        // A panic while holding it leaves pairs in memory or whole run files: still consistent.
        self.indicators.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Indexes the log entries the run files do not cover (after a restart, or all of them for a
    /// new or deleted index), and writes them out.
    pub(super) fn catch_up_indicators(&self, size: u64) -> Result<(), StoreError> {
        let id = self.store_id()?;
        let mut runs = self.runs();
        let io = |e: std::io::Error| {
            StoreError::Corrupt(format!("the indicator index cannot be written: {e}"))
        };
        runs.bind(&id).map_err(io)?;
        runs.truncate(size).map_err(io)?;
        let from = runs.upto();
        if size - from > 100_000 {
            tracing::info!(
                entries = size - from,
                "building the indicator index of this store (once, after an upgrade or a deleted index)"
            );
        }
        for entry in self.log_iter(from) {
            let entry = entry?;
            let record = certnet_protocol::record::Record::decode(&entry.bytes)
                .map_err(|e| StoreError::Corrupt(format!("log entry {}: {e}", entry.index)))?;
            runs.add(entry.index, &digests_of(record.payload()));
            runs.persist(entry.index + 1, false).map_err(io)?;
        }
        Ok(())
    }

    /// A nonce naming this store, made when it is first opened: run files beside it carry it.
    fn store_id(&self) -> Result<Vec<u8>, StoreError> {
        const KEY: &[u8] = b"store-id";
        if let Some(id) = self.meta.get(KEY).map_err(sled_err("read meta"))? {
            return Ok(id.to_vec());
        }
        let id = format!("{}-{}", super::now_us(), std::process::id()).into_bytes();
        self.meta
            .insert(KEY, id.as_slice())
            .map_err(sled_err("write meta"))?;
        self.db.flush().map_err(sled_err("flush meta"))?;
        Ok(id)
    }

    /// Log entries that may report the normalised observable `value`: clear records, and the sealed
    /// ones this node opened, filed under `sealed_digest` (the keyed digest of `value`). The newest
    /// `max` of them, oldest first. Callers check each record for the value.
    pub fn indicator_entries(
        &self,
        value: &str,
        sealed_digest: Option<[u8; 8]>,
        max: usize,
    ) -> Result<IndicatorHits, StoreError> {
        let size = self.log_size();
        let mut indexes = Vec::new();
        self.runs()
            .lookup(digest(value), &mut indexes)
            .map_err(|e| StoreError::Corrupt(format!("the indicator index cannot be read: {e}")))?;
        if let Some(sealed) = sealed_digest {
            let mut opened_prefix = vec![OPENED_PREFIX];
            opened_prefix.extend_from_slice(&sealed);
            for item in self.opened.scan_prefix(&opened_prefix) {
                let (k, _) = item.map_err(sled_err("read opened"))?;
                indexes.push(index_of(&k[9..])?);
            }
        }
        indexes.retain(|i| *i < size);
        indexes.sort_unstable();
        indexes.dedup();
        let truncated = indexes.len() > max;
        if truncated {
            indexes.drain(..indexes.len() - max);
        }
        Ok(IndicatorHits { indexes, truncated })
    }
}

fn index_of(bytes: &[u8]) -> Result<u64, StoreError> {
    u64_be(bytes).ok_or_else(|| StoreError::Corrupt("bad indicator index key".into()))
}
