//! Per-author chains (seq/prev links) and equivocation proofs: two validly signed records by one author
//! with the same seq and different ids, which anyone can check without trusting who shows them.

use ciborium::Value;

use crate::cbor;
use crate::id::RecordId;
use crate::keys::AuthorKey;
use crate::record::{RecordError, VerifiedRecord, verify_record};

/// How a record fails to extend its author's chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The author has no record yet, but this one is not seq 1.
    #[error("first record of the author must have seq 1, got seq {seq}")]
    NotFirst {
        /// The record's seq.
        seq: u64,
    },
    /// The seq does not follow the author's head.
    #[error("expected seq {expected}, got seq {seq}")]
    WrongSeq {
        /// Head seq + 1.
        expected: u64,
        /// The record's seq.
        seq: u64,
    },
    /// The seq follows, but `prev` is not the head's id (a fork if the head is genuine).
    #[error("prev does not match the id of seq {head_seq}")]
    WrongPrev {
        /// The head's seq.
        head_seq: u64,
    },
}

/// Checks that `record` directly extends an author's chain whose head is `head` (seq, id).
pub fn check_link(
    head: Option<(u64, RecordId)>,
    record: &VerifiedRecord,
) -> Result<(), ChainError> {
    let p = record.payload();
    match head {
        None if p.seq == 1 => Ok(()),
        None => Err(ChainError::NotFirst { seq: p.seq }),
        Some((seq, _)) if p.seq != seq.saturating_add(1) => Err(ChainError::WrongSeq {
            expected: seq.saturating_add(1),
            seq: p.seq,
        }),
        Some((seq, id)) if p.prev != Some(id) => Err(ChainError::WrongPrev { head_seq: seq }),
        Some(_) => Ok(()),
    }
}

/// Why two records are not an equivocation proof.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForkError {
    /// The proof is not a CBOR array of two byte strings.
    #[error("equivocation proof must be a cbor array of two byte strings")]
    Malformed,
    /// One of the records is invalid.
    #[error("record {which} of the proof is invalid: {error}")]
    Record {
        /// 0 or 1.
        which: usize,
        /// Why.
        error: RecordError,
    },
    /// The records have different authors.
    #[error("the two records have different authors")]
    DifferentAuthors,
    /// The records have different seqs.
    #[error("the two records have different seqs ({0} and {1})")]
    DifferentSeqs(u64, u64),
    /// The records are the same record.
    #[error("the two records are the same record")]
    SameRecord,
    /// The records are not in id order (the encoding is unique).
    #[error("the two records must be ordered by id")]
    Unordered,
}

/// Proof that an author signed two different records at the same seq.
#[derive(Debug, Clone, PartialEq)]
pub struct EquivocationProof {
    /// Lower id first.
    records: [VerifiedRecord; 2],
}

impl EquivocationProof {
    /// Builds a proof from two verified records, checking they equivocate.
    pub fn new(x: VerifiedRecord, y: VerifiedRecord) -> Result<Self, ForkError> {
        if x.author() != y.author() {
            return Err(ForkError::DifferentAuthors);
        }
        if x.seq() != y.seq() {
            return Err(ForkError::DifferentSeqs(x.seq(), y.seq()));
        }
        if x.id() == y.id() {
            return Err(ForkError::SameRecord);
        }
        let records = if x.id() < y.id() { [x, y] } else { [y, x] };
        Ok(Self { records })
    }

    /// Encoding: a CBOR array of the two signed records as byte strings, lower id first.
    pub fn to_cbor(&self) -> Vec<u8> {
        cbor::encode(&Value::Array(
            self.records
                .iter()
                .map(|r| Value::Bytes(r.bytes().to_vec()))
                .collect(),
        ))
    }

    /// Decodes and fully verifies a proof for network `net`.
    pub fn from_cbor(bytes: &[u8], net: &str) -> Result<Self, ForkError> {
        let value = cbor::decode(bytes).map_err(|_| ForkError::Malformed)?;
        let Value::Array(items) = value else {
            return Err(ForkError::Malformed);
        };
        let Ok::<[Value; 2], _>([a, b]) = items.try_into() else {
            return Err(ForkError::Malformed);
        };
        let (Value::Bytes(a), Value::Bytes(b)) = (a, b) else {
            return Err(ForkError::Malformed);
        };
        let a = verify_record(&a, net).map_err(|error| ForkError::Record { which: 0, error })?;
        let b = verify_record(&b, net).map_err(|error| ForkError::Record { which: 1, error })?;
        if a.id() > b.id() {
            return Err(ForkError::Unordered);
        }
        Self::new(a, b)
    }

    /// The equivocating author.
    pub fn author(&self) -> AuthorKey {
        self.records[0].author()
    }

    /// The seq signed twice.
    pub fn seq(&self) -> u64 {
        self.records[0].seq()
    }

    /// The two records, lower id first.
    pub fn records(&self) -> &[VerifiedRecord; 2] {
        &self.records
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::AuthorSecret;
    use crate::record::{FeedPosition, sample, sign_record};

    const NET: &str = "certnet-test";

    fn rec(secret: &AuthorSecret, n: u64, seq: u64, prev: Option<RecordId>) -> VerifiedRecord {
        sign_record(
            NET,
            sample::incident(n),
            FeedPosition { seq, prev, time: 1 },
            secret,
        )
        .unwrap()
    }

    #[test]
    fn links() {
        let s = AuthorSecret::from_seed(&[3; 32]);
        let r1 = rec(&s, 1, 1, None);
        let r2 = rec(&s, 2, 2, Some(r1.id()));
        assert_eq!(check_link(None, &r1), Ok(()));
        assert_eq!(check_link(Some((1, r1.id())), &r2), Ok(()));
        assert_eq!(check_link(None, &r2), Err(ChainError::NotFirst { seq: 2 }));
        assert_eq!(
            check_link(Some((2, r2.id())), &r2),
            Err(ChainError::WrongSeq {
                expected: 3,
                seq: 2
            })
        );
        assert_eq!(
            check_link(Some((1, r2.id())), &r2),
            Err(ChainError::WrongPrev { head_seq: 1 })
        );
    }

    #[test]
    fn equivocation_proof_round_trips_and_verifies() {
        let s = AuthorSecret::from_seed(&[3; 32]);
        let a = rec(&s, 1, 5, Some(RecordId::of_payload(b"p")));
        let b = rec(&s, 2, 5, Some(RecordId::of_payload(b"p")));
        let proof = EquivocationProof::new(b.clone(), a.clone()).unwrap();
        assert_eq!(proof.seq(), 5);
        assert_eq!(proof.author(), s.public());
        let bytes = proof.to_cbor();
        assert_eq!(EquivocationProof::from_cbor(&bytes, NET), Ok(proof.clone()));
        assert!(matches!(
            EquivocationProof::from_cbor(&bytes, "other"),
            Err(ForkError::Record { which: 0, .. })
        ));
        // Reversed order is not the canonical encoding.
        let [lo, hi] = proof.records().clone();
        let reversed = cbor::encode(&Value::Array(vec![
            Value::Bytes(hi.bytes().to_vec()),
            Value::Bytes(lo.bytes().to_vec()),
        ]));
        assert_eq!(
            EquivocationProof::from_cbor(&reversed, NET),
            Err(ForkError::Unordered)
        );
    }

    #[test]
    fn non_equivocations_are_refused() {
        let s = AuthorSecret::from_seed(&[3; 32]);
        let t = AuthorSecret::from_seed(&[4; 32]);
        let a = rec(&s, 1, 1, None);
        assert_eq!(
            EquivocationProof::new(a.clone(), a.clone()),
            Err(ForkError::SameRecord)
        );
        assert_eq!(
            EquivocationProof::new(a.clone(), rec(&t, 2, 1, None)),
            Err(ForkError::DifferentAuthors)
        );
        assert_eq!(
            EquivocationProof::new(a.clone(), rec(&s, 2, 2, Some(a.id()))),
            Err(ForkError::DifferentSeqs(1, 2))
        );
        assert_eq!(
            EquivocationProof::from_cbor(&[0x80], NET),
            Err(ForkError::Malformed)
        );
    }
}
