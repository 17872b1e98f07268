//! A hostile federation member, for tests and the `hostile` scenario: a roster member (its own
//! author key and PeerId) that runs no `certnet` node but a bare libp2p peer ([`peer`]) and sends
//! what an attacker would — floods of garbage, of records with bad signatures, of its own valid
//! records, orphans, forged heads, and sync answers built to exhaust memory. The helpers here make
//! those messages from certnet-protocol; nothing is taken from the node's code.

pub mod peer;

use certnet_protocol::id::RecordId;
use certnet_protocol::keys::AuthorSecret;
use certnet_protocol::record::{FeedPosition, RecordError, sample, sign_record};
use certnet_protocol::sync::MAX_RESPONSE_BYTES;

pub use peer::{HostileError, HostilePeer, Reply, Script};

/// `count` distinct garbage messages of `size` bytes each (random, so no two share a message id).
pub fn garbage(count: usize, size: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|_| {
            let mut m = vec![0u8; size.max(8)];
            let _ = getrandom::fill(&mut m);
            m
        })
        .collect()
}

/// `count` records of `secret` on `net` whose signatures do not verify (the last byte flipped), at
/// seqs from `first_seq`.
pub fn bad_signatures(
    net: &str,
    secret: &AuthorSecret,
    first_seq: u64,
    count: u64,
    time_ms: u64,
) -> Result<Vec<Vec<u8>>, RecordError> {
    let mut out = chain(net, secret, first_seq, count, None, time_ms)?;
    for m in &mut out {
        if let Some(last) = m.last_mut() {
            *last ^= 1;
        }
    }
    Ok(out)
}

/// `count` valid records of `secret` on `net`, a chain from `first_seq` after `prev`.
pub fn chain(
    net: &str,
    secret: &AuthorSecret,
    first_seq: u64,
    count: u64,
    mut prev: Option<RecordId>,
    time_ms: u64,
) -> Result<Vec<Vec<u8>>, RecordError> {
    (first_seq..first_seq + count)
        .map(|seq| {
            let at = FeedPosition {
                seq,
                prev: if seq == 1 {
                    None
                } else {
                    prev.or(Some(RecordId::of_payload(&seq.to_be_bytes())))
                },
                time: time_ms + seq,
            };
            let r = sign_record(net, sample::incident(seq), at, secret)?;
            prev = Some(r.id());
            Ok(r.into_bytes())
        })
        .collect()
}

/// A `Records` response body of about `MAX_RESPONSE_BYTES` made of one-byte records: before the
/// sync decoder checked counts first, decoding it cost hundreds of MB.
pub fn tiny_items_response() -> Vec<u8> {
    let n = (MAX_RESPONSE_BYTES - 16) / 2;
    let mut body = vec![0x82, 0x01, 0x9a];
    body.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
    for _ in 0..n {
        body.extend_from_slice(&[0x41, 0x00]);
    }
    body
}
