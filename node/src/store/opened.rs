//! What this node learned by opening the sealed records addressed to it: the refs of their bodies
//! (so an opened update counts in its target's view) and the records it could not open although
//! addressed to it (flagged, never dropped). Kept in their own tree, outside the log: derived from
//! the log and this node's encryption keys, rebuilt from the start when missing.
//!
//! Tree `opened`:
//! - `r ‖ target (32) ‖ referrer (32)` → empty: an opened sealed record names `target` in its refs;
//! - `f ‖ id (32)` → UTF-8 reason: a sealed record addressed to this node that does not open;
//! - `n ‖ digest (8) ‖ log index (8)` → empty: an opened sealed record reports an observable (the
//!   indicator index's entries for sealed records, `indicators.rs`; the digest is keyed by this
//!   node's encryption key, so the store alone does not give low-entropy values away);
//! - `k` → 8 bytes: the fingerprint of that key; another one empties the tree (the follower refills
//!   it from the log);
//! - `w` → log index (8, BE): every entry below it has been looked at.

use certnet_protocol::id::RecordId;

use super::indicators;
use super::keys::u64_be;
use super::{Store, StoreError, sled_err};

const PROGRESS: &[u8] = b"w";
const KEY: &[u8] = b"k";

/// What opening one sealed record (addressed to this node) gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenedOutcome {
    /// It opened: its log index, the refs of its body and the observables its body reports.
    Opened {
        /// The record's log index.
        index: u64,
        /// The refs of its body.
        refs: Vec<RecordId>,
        /// The keyed digests of the values its body is found by (`Keyring::index_digest` of
        /// `indicators::lookup_values`).
        digests: Vec<[u8; 8]>,
    },
    /// It is addressed to this node but does not open: why.
    Flag(String),
}

fn ref_key(target: &RecordId, referrer: &RecordId) -> Vec<u8> {
    let mut k = Vec::with_capacity(65);
    k.push(b'r');
    k.extend_from_slice(target.as_bytes());
    k.extend_from_slice(referrer.as_bytes());
    k
}

fn flag_key(id: &RecordId) -> Vec<u8> {
    let mut k = Vec::with_capacity(33);
    k.push(b'f');
    k.extend_from_slice(id.as_bytes());
    k
}

impl Store {
    /// Empties the tree if it was written under another index key (`fingerprint`, see
    /// `Keyring::index_key_fingerprint`): after a rotation of the encryption key, or the first time.
    /// Whether it was emptied.
    pub fn reset_opened_unless_keyed_by(&self, fingerprint: [u8; 8]) -> Result<bool, StoreError> {
        let held = self.opened.get(KEY).map_err(sled_err("read opened"))?;
        if held.as_deref() == Some(&fingerprint[..]) {
            return Ok(false);
        }
        self.opened.clear().map_err(sled_err("clear opened"))?;
        self.opened
            .insert(KEY, &fingerprint[..])
            .map_err(sled_err("write opened"))?;
        Ok(true)
    }

    /// The first log index not yet looked at for sealed records.
    pub fn opened_upto(&self) -> Result<u64, StoreError> {
        Ok(self
            .opened
            .get(PROGRESS)
            .map_err(sled_err("read opened"))?
            .and_then(|v| u64_be(&v))
            .unwrap_or(0))
    }

    /// Records what opening the sealed records of log entries below `upto` gave, and moves the
    /// progress mark to `upto`, in one atomic batch.
    pub fn put_opened(
        &self,
        upto: u64,
        outcomes: &[(RecordId, OpenedOutcome)],
    ) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (id, outcome) in outcomes {
            match outcome {
                OpenedOutcome::Opened {
                    index,
                    refs,
                    digests,
                } => {
                    for target in refs {
                        batch.insert(ref_key(target, id), &[][..]);
                    }
                    for key in indicators::keys_of_digests(digests.iter().copied(), *index) {
                        let mut k = Vec::with_capacity(17);
                        k.push(indicators::OPENED_PREFIX);
                        k.extend_from_slice(&key);
                        batch.insert(k, &[][..]);
                    }
                }
                OpenedOutcome::Flag(reason) => batch.insert(flag_key(id), reason.as_bytes()),
            }
        }
        batch.insert(PROGRESS, &upto.to_be_bytes()[..]);
        self.opened
            .apply_batch(batch)
            .map_err(sled_err("write opened"))
    }

    /// Adds the refs of a sealed record this node just published (the follower would find them
    /// too, a moment later; a check of the next update must not miss them).
    pub fn put_sealed_refs(&self, id: &RecordId, targets: &[RecordId]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for target in targets {
            batch.insert(ref_key(target, id), &[][..]);
        }
        self.opened
            .apply_batch(batch)
            .map_err(sled_err("write opened"))
    }

    /// Signed bytes of the opened sealed records whose bodies name `target`, by id order.
    pub fn sealed_referrers(&self, target: &RecordId) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut prefix = vec![b'r'];
        prefix.extend_from_slice(target.as_bytes());
        let mut out = Vec::new();
        for item in self.opened.scan_prefix(&prefix) {
            let (k, _) = item.map_err(sled_err("read opened"))?;
            let id = RecordId::from_slice(&k[33..])
                .ok_or_else(|| StoreError::Corrupt("bad opened ref key".into()))?;
            if let Some(bytes) = self.get(&id)? {
                out.push(bytes);
            }
        }
        Ok(out)
    }

    /// Why a sealed record addressed to this node does not open, if it does not.
    pub fn sealed_flag(&self, id: &RecordId) -> Result<Option<String>, StoreError> {
        Ok(self
            .opened
            .get(flag_key(id))
            .map_err(sled_err("read opened"))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// How many sealed records addressed to this node do not open.
    pub fn sealed_flag_count(&self) -> usize {
        self.opened.scan_prefix(b"f").count()
    }
}
