//! The one path by which records from others enter the store — gossip, sync and import alike:
//! verify on all cores (`verify_strict` only), drop non-members, append in the order given, and
//! commit the batch with a single flush.

use certnet_protocol::keys::AuthorKey;
use certnet_protocol::record::{RecordError, VerifiedRecord, verify_record};
use rayon::prelude::*;

use crate::membership::Roster;
use crate::store::{Ingest, Store, StoreError};

/// What became of one item of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Verified and handed to the store, which said this.
    Stored(Ingest),
    /// Invalid on every honest node: the sender misbehaved (penalise it).
    Rejected(RecordError),
    /// Valid, but its author is not in this node's roster: dropped without blaming the sender.
    NotMember(AuthorKey),
}

impl Outcome {
    /// A short, stable label for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Stored(Ingest::Appended { .. }) => "accepted",
            Outcome::Stored(Ingest::Duplicate) => "duplicate",
            Outcome::Stored(Ingest::Orphan { .. }) => "orphan",
            Outcome::Stored(Ingest::OrphanLimit) => "orphan_limit",
            Outcome::Stored(Ingest::Fork { .. }) => "fork",
            Outcome::Stored(Ingest::Frozen) => "frozen",
            Outcome::Rejected(_) => "rejected",
            Outcome::NotMember(_) => "not_member",
        }
    }
}

/// Verifies every item in parallel; results in input order.
pub fn verify_all(net: &str, items: &[Vec<u8>]) -> Vec<Result<VerifiedRecord, RecordError>> {
    items
        .par_iter()
        .map(|bytes| verify_record(bytes, net))
        .collect()
}

/// What is known of a verified record beyond its outcome (for metrics, logs and follow-up sync).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// Its author.
    pub author: AuthorKey,
    /// Its seq.
    pub seq: u64,
    /// Its `time` (author's clock, ms since the epoch).
    pub time: u64,
}

impl Facts {
    fn of(record: &VerifiedRecord) -> Self {
        Facts {
            author: record.author(),
            seq: record.seq(),
            time: record.payload().time,
        }
    }
}

/// Verifies, filters and stores a batch, flushing once at the end (group commit). Outcomes are in
/// input order. Blocking: call it off the async runtime.
pub fn ingest_batch(
    store: &Store,
    roster: &Roster,
    net: &str,
    items: &[Vec<u8>],
) -> Result<Vec<Outcome>, StoreError> {
    let stored = store_verified(store, roster, verify_all(net, items))?;
    Ok(stored.into_iter().map(|(outcome, _)| outcome).collect())
}

/// The second half of [`ingest_batch`], for callers that look at the verified records first (sync
/// checks a page's author and seqs): drops non-members, appends the rest in the order given, flushes
/// once. Each outcome comes with the record's facts when it verified.
pub fn store_verified(
    store: &Store,
    roster: &Roster,
    verified: Vec<Result<VerifiedRecord, RecordError>>,
) -> Result<Vec<(Outcome, Option<Facts>)>, StoreError> {
    let mut outcomes: Vec<Option<(Outcome, Option<Facts>)>> = vec![None; verified.len()];
    let mut accepted: Vec<(usize, VerifiedRecord)> = Vec::with_capacity(verified.len());
    for (i, result) in verified.into_iter().enumerate() {
        match result {
            Err(e) => outcomes[i] = Some((Outcome::Rejected(e), None)),
            Ok(r) if roster.member_by_author(&r.author()).is_none() => {
                outcomes[i] = Some((Outcome::NotMember(r.author()), Some(Facts::of(&r))));
            }
            Ok(r) => accepted.push((i, r)),
        }
    }
    // Appended in the order given (an export's order is its log's order); a record that arrives
    // before its predecessor waits as an orphan and is appended right after it.
    let facts: Vec<(usize, Facts)> = accepted.iter().map(|(i, r)| (*i, Facts::of(r))).collect();
    let records: Vec<VerifiedRecord> = accepted.into_iter().map(|(_, r)| r).collect();
    let stored = store.ingest_batch(records)?;
    for ((i, f), ingest) in facts.into_iter().zip(stored) {
        outcomes[i] = Some((Outcome::Stored(ingest), Some(f)));
    }
    // Every slot was filled: rejected and non-members above, the rest by the store (same length).
    Ok(outcomes.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::membership::{Member, MemberName, NetworkId};
    use crate::store::StoreConfig;
    use certnet_protocol::keys::AuthorSecret;
    use certnet_protocol::record::{FeedPosition, sample, sign_record};

    #[test]
    fn a_mixed_batch_gets_one_outcome_per_item_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let net = NetworkId::dev();
        let store = Store::open(&StoreConfig {
            path: dir.path().join("db"),
            cache_capacity: 8 << 20,
            net: net.as_str().to_owned(),
            max_orphans: 10,
            disk: None,
        })
        .unwrap();
        let member = AuthorSecret::from_seed(&[1; 32]);
        let stranger = AuthorSecret::from_seed(&[2; 32]);
        let mut roster = Roster::new(net.clone());
        let name: MemberName = "CERT-A".parse().unwrap();
        roster
            .add_member(Member::new(name, member.public(), vec![], vec![]))
            .unwrap();
        let sign = |s: &AuthorSecret, seq: u64, prev| {
            let at = FeedPosition {
                seq,
                prev,
                time: seq,
            };
            sign_record(net.as_str(), sample::incident(seq), at, s).unwrap()
        };
        let r1 = sign(&member, 1, None);
        let r2 = sign(&member, 2, Some(r1.id()));
        let foreign = sign(&stranger, 1, None);
        let items = vec![
            r2.bytes().to_vec(),
            b"garbage".to_vec(),
            foreign.bytes().to_vec(),
            r1.bytes().to_vec(),
        ];
        let out = ingest_batch(&store, &roster, net.as_str(), &items).unwrap();
        assert_eq!(out.len(), 4);
        // r2 came first: it waits as an orphan and is appended right after r1.
        assert_eq!(out[0], Outcome::Stored(Ingest::Orphan { need_from: 1 }));
        assert!(matches!(out[1], Outcome::Rejected(_)));
        assert_eq!(out[2], Outcome::NotMember(stranger.public()));
        assert_eq!(
            out[3],
            Outcome::Stored(Ingest::Appended {
                index: 0,
                unblocked: 1
            })
        );
    }
}
