//! Byte layouts of the store's keys: big-endian integers so sled's order is numeric order.

use certnet_protocol::id::RecordId;
use certnet_protocol::keys::AuthorKey;

/// `author (32) ‖ seq (8, big-endian)`: feeds, orphans and forks.
pub(super) fn feed_key(author: &AuthorKey, seq: u64) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..32].copy_from_slice(author.as_bytes());
    k[32..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// Inverse of [`feed_key`].
pub(super) fn split_feed_key(k: &[u8]) -> Option<(AuthorKey, u64)> {
    if k.len() != 40 {
        return None;
    }
    let author = AuthorKey::from_slice(&k[..32]).ok()?;
    Some((author, u64_be(&k[32..])?))
}

/// `target id (32) ‖ referrer's log index (8, big-endian)`: the refs index.
pub(super) fn ref_key(target: &RecordId, index: u64) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..32].copy_from_slice(target.as_bytes());
    k[32..].copy_from_slice(&index.to_be_bytes());
    k
}

/// A `log` value: `record id (32) ‖ added time (8, big-endian µs since the Unix epoch)`.
pub(super) fn log_value(id: &RecordId, added_us: u64) -> [u8; 40] {
    let mut v = [0u8; 40];
    v[..32].copy_from_slice(id.as_bytes());
    v[32..].copy_from_slice(&added_us.to_be_bytes());
    v
}

/// Inverse of [`log_value`]; a bare 32-byte id (stores written before added times) reads as time 0.
pub(super) fn split_log_value(v: &[u8]) -> Option<(RecordId, u64)> {
    match v.len() {
        32 => Some((RecordId::from_slice(v)?, 0)),
        40 => Some((RecordId::from_slice(&v[..32])?, u64_be(&v[32..])?)),
        _ => None,
    }
}

/// `level (1) ‖ index (8, big-endian)`: Merkle nodes.
pub(super) fn merkle_key(level: u32, index: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = level as u8;
    k[1..].copy_from_slice(&index.to_be_bytes());
    k
}

/// A big-endian u64 from exactly 8 bytes.
pub(super) fn u64_be(b: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(b.try_into().ok()?))
}

/// The smallest key greater than every key starting with `prefix`, if any.
pub(super) fn next_prefix(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut next = prefix.to_vec();
    while let Some(last) = next.pop() {
        if last < 0xff {
            next.push(last + 1);
            return Some(next);
        }
    }
    None
}
