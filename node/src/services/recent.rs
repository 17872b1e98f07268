//! This node's own records signed within the duplicate window, by what they say (kind, TLP, refs,
//! content, audience): the duplicate check of a publish is one lookup, not a scan of the newest own
//! records (which made publishing N records within the window cost O(N²): a 10,000-event MISP import
//! ran at 11 events/s). Loaded from the store at the first publish since start (the newest
//! `MAX_DUPLICATE_SCAN` own records), kept up to date by each publish, pruned to the window.

use std::collections::HashMap;

use certnet_protocol::id::RecordId;
use certnet_protocol::record::{Content, Kind, Tlp};
use sha2::{Digest as _, Sha256};

/// What a record says, hashed.
pub(super) type Key = [u8; 32];

/// What a record says, hashed: equal keys for records a publish would repeat.
pub(super) fn key_of(
    kind: &Kind,
    tlp: Tlp,
    refs: &[RecordId],
    content: &Content,
    audience: Option<&[[u8; 32]]>,
) -> [u8; 32] {
    let refs: Vec<String> = refs.iter().map(ToString::to_string).collect();
    let audience: Option<Vec<String>> = audience.map(|a| a.iter().map(hex::encode).collect());
    let bytes = serde_json::to_vec(&(kind.to_string(), tlp.as_str(), refs, content, audience))
        .unwrap_or_default();
    Sha256::digest(bytes).into()
}

/// The index: key → (record id, signed time in ms).
#[derive(Debug, Default)]
pub(super) struct Recent {
    loaded: bool,
    by_key: HashMap<[u8; 32], (RecordId, u64)>,
}

impl Recent {
    /// Whether the store's newest own records were read into it.
    pub(super) fn is_loaded(&self) -> bool {
        self.loaded
    }

    /// Marks it loaded.
    pub(super) fn set_loaded(&mut self) {
        self.loaded = true;
    }

    /// The newest record with `key` signed at or after `since` ms.
    pub(super) fn get(&self, key: &[u8; 32], since: u64) -> Option<(RecordId, u64)> {
        self.by_key.get(key).copied().filter(|(_, t)| *t >= since)
    }

    /// Remembers a record; drops those signed before `since` once it holds `cap` entries.
    pub(super) fn insert(
        &mut self,
        key: [u8; 32],
        id: RecordId,
        time: u64,
        since: u64,
        cap: usize,
    ) {
        match self.by_key.get(&key) {
            Some((_, t)) if *t > time => {}
            _ => {
                self.by_key.insert(key, (id, time));
            }
        }
        if self.by_key.len() > cap {
            self.by_key.retain(|_, (_, t)| *t >= since);
        }
    }
}
