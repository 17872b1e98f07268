//! Sync wire messages (`/certnet/<net>/sync/1`): ask a peer for its heads, then for ranges of an
//! author's feed. Records are self-authenticating, so any peer can serve anyone's feed.
//!
//! On the stream each message is framed as a 4-byte big-endian length followed by that many bytes of
//! deterministic CBOR; a peer that announces more than the bound for that message is cut off.

use ciborium::Value;

use crate::cbor;
use crate::cbor_reader::Reader;
use crate::id::RecordId;
use crate::keys::AuthorKey;
use crate::record::MAX_RECORD;

/// Largest encoded request.
pub const MAX_REQUEST_BYTES: usize = 1024;
/// Largest encoded response.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// Most heads in one `Heads` response (one per author in the roster).
pub const MAX_HEADS: usize = 10_000;
/// Most records a `Range` request may ask for.
pub const MAX_RANGE: u32 = 1024;

/// A request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncRequest {
    /// `[0]`: what is the latest record you hold of every author?
    Heads,
    /// `[1, author, from_seq, max]`: records of `author` from `from_seq` on, in seq order.
    Range {
        /// Whose feed.
        author: AuthorKey,
        /// First seq wanted (≥ 1).
        from_seq: u64,
        /// At most this many records (1 to [`MAX_RANGE`]).
        max: u32,
    },
}

/// One author's head as a peer holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The author.
    pub author: AuthorKey,
    /// The highest seq held with a complete chain below it.
    pub seq: u64,
    /// Its record id.
    pub id: RecordId,
}

/// A response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncResponse {
    /// `[0, [[author, seq, id], ...]]`, authors in ascending byte order.
    Heads(Vec<Head>),
    /// `[1, [record, ...]]`: consecutive records of the requested feed, possibly fewer than asked
    /// (the byte budget is [`MAX_RESPONSE_BYTES`]); empty when the peer has none from `from_seq`.
    Records(Vec<Vec<u8>>),
}

/// Why a sync message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// Over the byte bound for this message.
    #[error("message is {size} bytes, the limit is {max}")]
    TooLarge {
        /// Size seen.
        size: usize,
        /// Limit.
        max: usize,
    },
    /// Not deterministic CBOR.
    #[error("message: {0}")]
    Cbor(#[from] cbor::CborError),
    /// Well-formed CBOR of the wrong shape.
    #[error("message: {0}")]
    Shape(&'static str),
}

fn tagged(tag: u64, rest: impl IntoIterator<Item = Value>) -> Vec<u8> {
    let mut items = vec![Value::Integer(tag.into())];
    items.extend(rest);
    cbor::encode(&Value::Array(items))
}

impl SyncRequest {
    /// Deterministic CBOR encoding.
    pub fn to_cbor(&self) -> Vec<u8> {
        match self {
            SyncRequest::Heads => tagged(0, []),
            SyncRequest::Range {
                author,
                from_seq,
                max,
            } => tagged(
                1,
                [
                    Value::Bytes(author.as_bytes().to_vec()),
                    Value::Integer((*from_seq).into()),
                    Value::Integer((*max).into()),
                ],
            ),
        }
    }

    /// Decodes and checks bounds.
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, SyncError> {
        check_size(bytes, MAX_REQUEST_BYTES)?;
        let mut r = Reader::new(bytes);
        let items = r.array(4)?;
        if items == 0 {
            return Err(SyncError::Shape("must start with a message type"));
        }
        let request = match (r.uint()?, items) {
            (0, 1) => SyncRequest::Heads,
            (1, 4) => {
                let author = AuthorKey::from_slice(r.bytes(32)?)
                    .map_err(|_| SyncError::Shape("range author must be a valid 32-byte key"))?;
                let from_seq = Some(r.uint()?)
                    .filter(|s| *s >= 1)
                    .ok_or(SyncError::Shape("range from_seq must be at least 1"))?;
                let max = u32::try_from(r.uint()?)
                    .ok()
                    .filter(|m| (1..=MAX_RANGE).contains(m))
                    .ok_or(SyncError::Shape("range max must be 1 to 1024"))?;
                SyncRequest::Range {
                    author,
                    from_seq,
                    max,
                }
            }
            (1, _) => return Err(SyncError::Shape("range needs author, from_seq and max")),
            _ => return Err(SyncError::Shape("unknown request type")),
        };
        r.finish()?;
        Ok(request)
    }
}

impl SyncResponse {
    /// Deterministic CBOR encoding.
    pub fn to_cbor(&self) -> Vec<u8> {
        match self {
            SyncResponse::Heads(heads) => tagged(
                0,
                [Value::Array(
                    heads
                        .iter()
                        .map(|h| {
                            Value::Array(vec![
                                Value::Bytes(h.author.as_bytes().to_vec()),
                                Value::Integer(h.seq.into()),
                                Value::Bytes(h.id.as_bytes().to_vec()),
                            ])
                        })
                        .collect(),
                )],
            ),
            SyncResponse::Records(records) => tagged(
                1,
                [Value::Array(
                    records.iter().map(|r| Value::Bytes(r.clone())).collect(),
                )],
            ),
        }
    }

    /// Decodes and checks bounds. Records are returned as bytes: verify each with
    /// [`crate::record::verify_record`] (in parallel) before use.
    ///
    /// Nothing is allocated for a list before its count is checked against its bound and against the
    /// bytes that remain, nor for a record before its length is checked against [`MAX_RECORD`]: a
    /// response costs at most about its own size in memory, whatever it announces.
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, SyncError> {
        check_size(bytes, MAX_RESPONSE_BYTES)?;
        let mut r = Reader::new(bytes);
        if r.array(2)? != 2 {
            return Err(SyncError::Shape("response needs exactly one list"));
        }
        let response = match r.uint()? {
            0 => {
                let n = r
                    .array(MAX_HEADS)
                    .map_err(|_| SyncError::Shape("too many heads"))?;
                let mut heads: Vec<Head> = Vec::with_capacity(n);
                for _ in 0..n {
                    if r.array(3)? != 3 {
                        return Err(SyncError::Shape("a head must be [author, seq, id]"));
                    }
                    let author = AuthorKey::from_slice(r.bytes(32)?)
                        .map_err(|_| SyncError::Shape("head author must be a valid 32-byte key"))?;
                    let seq = Some(r.uint()?)
                        .filter(|s| *s >= 1)
                        .ok_or(SyncError::Shape("head seq must be at least 1"))?;
                    let id = RecordId::from_slice(r.bytes(32)?)
                        .ok_or(SyncError::Shape("head id must be 32 bytes"))?;
                    if heads.last().is_some_and(|h| h.author >= author) {
                        return Err(SyncError::Shape(
                            "heads must be sorted by author, without repeats",
                        ));
                    }
                    heads.push(Head { author, seq, id });
                }
                SyncResponse::Heads(heads)
            }
            1 => {
                let n = r
                    .array(MAX_RANGE as usize)
                    .map_err(|_| SyncError::Shape("more records than any range allows"))?;
                let mut records = Vec::with_capacity(n);
                for _ in 0..n {
                    let record = r.bytes(MAX_RECORD).map_err(|_| {
                        SyncError::Shape("records must be byte strings of at most one record")
                    })?;
                    records.push(record.to_vec());
                }
                SyncResponse::Records(records)
            }
            _ => return Err(SyncError::Shape("unknown response type")),
        };
        r.finish()?;
        Ok(response)
    }
}

fn check_size(bytes: &[u8], max: usize) -> Result<(), SyncError> {
    if bytes.len() > max {
        return Err(SyncError::TooLarge {
            size: bytes.len(),
            max,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::AuthorSecret;
    use proptest::prelude::*;

    fn key(n: u8) -> AuthorKey {
        AuthorSecret::from_seed(&[n; 32]).public()
    }

    #[test]
    fn round_trips() {
        let req = SyncRequest::Range {
            author: key(1),
            from_seq: 7,
            max: 100,
        };
        assert_eq!(SyncRequest::from_cbor(&req.to_cbor()), Ok(req));
        assert_eq!(
            SyncRequest::from_cbor(&SyncRequest::Heads.to_cbor()),
            Ok(SyncRequest::Heads)
        );
        let mut heads: Vec<Head> = (1..4)
            .map(|n| Head {
                author: key(n),
                seq: u64::from(n),
                id: RecordId::of_payload(&[n]),
            })
            .collect();
        heads.sort_by_key(|h| h.author);
        let resp = SyncResponse::Heads(heads.clone());
        assert_eq!(SyncResponse::from_cbor(&resp.to_cbor()), Ok(resp));
        heads.reverse();
        assert!(matches!(
            SyncResponse::from_cbor(&SyncResponse::Heads(heads).to_cbor()),
            Err(SyncError::Shape(_))
        ));
        let recs = SyncResponse::Records(vec![vec![1, 2, 3], vec![]]);
        assert_eq!(SyncResponse::from_cbor(&recs.to_cbor()), Ok(recs));
    }

    #[test]
    fn bounds_are_enforced() {
        let zero = SyncRequest::Range {
            author: key(1),
            from_seq: 0,
            max: 1,
        };
        assert!(matches!(
            SyncRequest::from_cbor(&zero.to_cbor()),
            Err(SyncError::Shape(_))
        ));
        let big = SyncRequest::Range {
            author: key(1),
            from_seq: 1,
            max: MAX_RANGE + 1,
        };
        assert!(matches!(
            SyncRequest::from_cbor(&big.to_cbor()),
            Err(SyncError::Shape(_))
        ));
        let huge = vec![0u8; MAX_REQUEST_BYTES + 1];
        assert!(matches!(
            SyncRequest::from_cbor(&huge),
            Err(SyncError::TooLarge { .. })
        ));
        let oversized = SyncResponse::Records(vec![vec![0; MAX_RECORD + 1]]);
        assert!(matches!(
            SyncResponse::from_cbor(&oversized.to_cbor()),
            Err(SyncError::Shape(_))
        ));
    }

    proptest! {
        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = SyncRequest::from_cbor(&bytes);
            let _ = SyncResponse::from_cbor(&bytes);
        }
    }
}
