//! What the API and the node's tasks share: the store, the roster, this node's author key and metrics,
//! and the operations that take more than one store call: publishing an own record and making
//! checkpoints.
//!
//! Everything here blocks (sled reads, fsync, signing): async code calls it through
//! `tokio::task::spawn_blocking`. The clock is read by the caller ([`now_ms`]) and passed in, so the
//! rules about it are testable.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use certnet_protocol::checkpoint::{self, Checkpoint, CheckpointError, VerifierKey};
use certnet_protocol::export::{ExportHeader, log_origin};
use certnet_protocol::id::RecordId;
use certnet_protocol::keys::{AuthorKey, AuthorSecret};
use certnet_protocol::record::{
    Draft, FeedPosition, Kind, Payload, Record, RecordError, sign_record,
};
use certnet_protocol::view::{Effect, HistoryEntry, current_view};
use tracing::{error, info};

use crate::membership::Roster;
use crate::membership::RosterCell;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

/// 2025-01-01T00:00:00Z in ms: a clock before this is clearly wrong.
pub const CLOCK_MIN_MS: u64 = 1_735_689_600_000;
/// 2100-01-01T00:00:00Z in ms: a clock after this is clearly wrong.
pub const CLOCK_MAX_MS: u64 = 4_102_444_800_000;

/// The system clock in ms since the Unix epoch (0 if it reads before the epoch).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Why this node did not publish a record.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The local clock is clearly wrong: the node refuses to sign.
    #[error(
        "this node's clock reads {now_ms} ms since the Unix epoch, which is before 2025 or after 2100: fix the system clock (NTP) first; records are never signed with a wrong time"
    )]
    ClockWrong {
        /// What the clock read.
        now_ms: u64,
    },
    /// Peers hold later records of this node's own feed (a restored backup or a lost disk): signing
    /// now would sign a seq twice. Sync is fetching them.
    #[error(
        "peers hold this node's own records up to seq {peers_have}, this store only up to seq {have} (restored from an old backup?): they are being fetched by sync, publish again in a few seconds"
    )]
    Behind {
        /// This store's head seq of the own feed.
        have: u64,
        /// The highest seq of the own feed a peer announced.
        peers_have: u64,
    },
    /// The draft breaks a record rule.
    #[error(transparent)]
    Invalid(RecordError),
    /// An update or revoke whose target is not in this node's log (a node updates only its own
    /// records, which it always holds).
    #[error(
        "the target {target} is not in this node's log: an update or revoke names one of this node's own records (see `certnet records --author` with this node's name)"
    )]
    UnknownTarget {
        /// The `refs[0]` of the draft.
        target: RecordId,
    },
    /// An update or revoke that every node would ignore (PROTOCOL.md §8): nothing is signed.
    #[error("this {kind} would change nothing and is not signed: {rule}")]
    NoEffect {
        /// `update` or `revoke`.
        kind: String,
        /// The rule, with what to do instead.
        rule: &'static str,
    },
    /// The store could not take the record.
    #[error(transparent)]
    Store(StoreError),
}

/// A view rule (`certnet_protocol::view`), with what the operator should do instead.
fn fix_for(rule: &'static str) -> &'static str {
    match rule {
        "target already revoked" => {
            "the target is already revoked (a revoked record takes no update or second revoke): publish a new record instead"
        }
        "an update may not tighten the tlp (revoke and publish anew)" => {
            "an update may not tighten the TLP, because peers may already hold the looser version: revoke the record and publish it anew with the tighter TLP"
        }
        "not by the target's author" => {
            "only the target's author can update or revoke it: publish a sighting or a new record that refers to it"
        }
        "target cannot be updated or revoked" => {
            "only incidents, indicators, advisories and sightings can be updated or revoked"
        }
        "update content is not of the target's kind" => {
            "the update's content must be of the target's kind (e.g. {\"incident\": {...}} for an incident)"
        }
        other => other,
    }
}

/// Why a checkpoint could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointFailure {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Signing or re-opening the node's own checkpoint failed (a bug or a damaged store).
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
}

/// A record this node signed and stored durably.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Its id.
    pub id: RecordId,
    /// Its seq in this node's feed.
    pub seq: u64,
    /// Its index in the log.
    pub index: u64,
    /// The signed COSE bytes.
    pub bytes: Vec<u8>,
}

/// A signed checkpoint of this node's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The verified checkpoint (origin, size, root).
    pub checkpoint: Checkpoint,
    /// The signed note text.
    pub note: String,
    /// Whether this call signed it (false: it existed already).
    pub created: bool,
}

/// The node's shared state and the operations on it.
pub struct NodeServices {
    store: Arc<Store>,
    roster: RosterCell,
    author: AuthorSecret,
    net: String,
    origin: String,
    verifier: VerifierKey,
    metrics: Arc<Metrics>,
    /// Serialises checkpoint making (periodic task, API, shutdown): one signature per size.
    checkpointing: Mutex<()>,
    /// Whether a publish succeeded since start (after it, the own-feed check is not repeated).
    own_feed_checked: std::sync::atomic::AtomicBool,
}

impl fmt::Debug for NodeServices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeServices")
            .field("net", &self.net)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl NodeServices {
    /// Services over an open store, for the author `author` on the roster's network.
    pub fn new(
        store: Arc<Store>,
        roster: RosterCell,
        author: AuthorSecret,
        metrics: Arc<Metrics>,
    ) -> Result<Self, CheckpointFailure> {
        let net = roster.get().network().as_str().to_owned();
        let origin = log_origin(&net, &author.public());
        let verifier = VerifierKey::new(origin.clone(), author.public())
            .map_err(|_| CheckpointError::InvalidKeyName)?;
        Ok(Self {
            store,
            roster,
            author,
            net,
            origin,
            verifier,
            metrics,
            checkpointing: Mutex::new(()),
            own_feed_checked: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Whether this node has published since start (the own-feed check before the first publish is
    /// then done).
    pub fn own_feed_checked(&self) -> bool {
        self.own_feed_checked
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The roster as it is now (reloads replace it; the network id never changes).
    pub fn roster(&self) -> Arc<Roster> {
        self.roster.get()
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The network id.
    pub fn net(&self) -> &str {
        &self.net
    }

    /// This node's author key.
    pub fn author_key(&self) -> AuthorKey {
        self.author.public()
    }

    /// The log's origin: checkpoint origin line and note key name.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The verifier key of this node's checkpoints, in the text auditors configure.
    pub fn verifier(&self) -> &VerifierKey {
        &self.verifier
    }

    /// The member name the roster gives `author`, if it is a member.
    pub fn member_name(&self, author: &AuthorKey) -> Option<String> {
        self.roster
            .get()
            .member_by_author(author)
            .map(|m| m.name().to_string())
    }

    /// Counts and logs a failed store write; returns the error.
    pub fn store_write_failed(&self, err: StoreError) -> StoreError {
        self.metrics.store_write_failed();
        error!(error = %err, "store write failed");
        err
    }

    /// Runs the current view's rules (PROTOCOL.md §8) on an update or revoke before it is signed:
    /// one that every node would ignore — tightening the TLP, a second revoke, an update of a revoked
    /// record, another author's target — is refused, so a write either takes effect or fails.
    fn check_effect(&self, draft: &Draft, now_ms: u64) -> Result<(), PublishError> {
        if !matches!(draft.kind, Kind::Update | Kind::Revoke) {
            return Ok(());
        }
        let Some(target_id) = draft.refs.first() else {
            return Ok(()); // sign_record refuses it, naming the rule
        };
        let decode = |bytes: Vec<u8>| {
            Record::decode(&bytes).map_err(|e| {
                PublishError::Store(StoreError::Corrupt(format!(
                    "a stored record no longer decodes: {e}"
                )))
            })
        };
        let target = match self.store.get(target_id).map_err(PublishError::Store)? {
            Some(bytes) => decode(bytes)?,
            None => return Err(PublishError::UnknownTarget { target: *target_id }),
        };
        let referrers = self
            .store
            .referrers(target_id)
            .map_err(PublishError::Store)?
            .into_iter()
            .map(decode)
            .collect::<Result<Vec<_>, _>>()?;
        let mut pairs: Vec<(RecordId, &Payload)> =
            referrers.iter().map(|r| (r.id(), r.payload())).collect();
        // The draft as it would be signed: after everything this author signed so far.
        let next = Payload {
            net: self.net.clone(),
            author: self.author.public(),
            seq: u64::MAX,
            prev: None,
            time: now_ms,
            kind: draft.kind.clone(),
            tlp: draft.tlp,
            refs: draft.refs.clone(),
            content: draft.content.clone(),
        };
        let draft_id = RecordId::from_bytes([0xff; 32]);
        pairs.push((draft_id, &next));
        let view = current_view(target.payload(), &pairs);
        match view.history.iter().find(|h| h.id == draft_id) {
            Some(HistoryEntry {
                effect: Effect::Ignored(rule),
                ..
            }) => Err(PublishError::NoEffect {
                kind: draft.kind.to_string(),
                rule: fix_for(rule),
            }),
            _ => Ok(()),
        }
    }

    /// Signs `draft` as this node's next record at time `now_ms` and stores it durably (flushed before
    /// this returns). A seq is never signed twice: head lookup, signing and append happen under the
    /// store's writer lock.
    /// An update or revoke that would not take effect is refused first ([`PublishError::NoEffect`]).
    pub fn publish(
        &self,
        draft: Draft,
        now_ms: u64,
        peers_have: Option<u64>,
    ) -> Result<Published, PublishError> {
        if !(CLOCK_MIN_MS..CLOCK_MAX_MS).contains(&now_ms) {
            error!(
                now_ms,
                "refusing to sign: the system clock is clearly wrong"
            );
            return Err(PublishError::ClockWrong { now_ms });
        }
        self.check_effect(&draft, now_ms)?;
        let appended = self.store.append_own(self.author.public(), |head| {
            let have = head.map_or(0, |(seq, _)| seq);
            // Checked under the store's writer lock, against the head the record will extend.
            if let Some(peers_have) = peers_have
                && have < peers_have
            {
                return Err(PublishError::Behind { have, peers_have });
            }
            let at = FeedPosition {
                seq: have + 1,
                prev: head.map(|(_, id)| id),
                time: now_ms,
            };
            sign_record(&self.net, draft, at, &self.author).map_err(PublishError::Invalid)
        });
        let (record, index) = match appended {
            Ok(Ok(done)) => done,
            Ok(Err(refused)) => return Err(refused),
            Err(err) => return Err(PublishError::Store(self.store_write_failed(err))),
        };
        self.metrics.record_published();
        self.own_feed_checked
            .store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(Published {
            id: record.id(),
            seq: record.seq(),
            index,
            bytes: record.into_bytes(),
        })
    }

    /// The newest checkpoint, verified with this node's key.
    pub fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>, CheckpointFailure> {
        let Some((_, note)) = self.store.latest_checkpoint()? else {
            return Ok(None);
        };
        let checkpoint = checkpoint::open(note.as_bytes(), &self.verifier)?;
        Ok(Some(SignedCheckpoint {
            checkpoint,
            note,
            created: false,
        }))
    }

    /// A checkpoint for the current log size: the existing one, or a new one signed now.
    pub fn checkpoint_now(&self) -> Result<SignedCheckpoint, CheckpointFailure> {
        let _one_at_a_time = self.checkpointing.lock().unwrap_or_else(|e| e.into_inner());
        let size = self.store.log_size();
        if let Some(latest) = self.latest_checkpoint()?
            && latest.checkpoint.size() == size
        {
            return Ok(latest);
        }
        self.sign_checkpoint(size)
    }

    /// Signs a checkpoint if the log grew since the newest one (the periodic task).
    pub fn checkpoint_if_grown(&self) -> Result<Option<SignedCheckpoint>, CheckpointFailure> {
        let _one_at_a_time = self.checkpointing.lock().unwrap_or_else(|e| e.into_inner());
        let size = self.store.log_size();
        let latest = self.store.latest_checkpoint()?.map_or(0, |(s, _)| s);
        if size <= latest {
            return Ok(None);
        }
        self.sign_checkpoint(size).map(Some)
    }

    /// Signs and keeps a checkpoint of the first `size` entries. Caller holds `checkpointing`.
    fn sign_checkpoint(&self, size: u64) -> Result<SignedCheckpoint, CheckpointFailure> {
        let root = self.store.root(size)?;
        let checkpoint = Checkpoint::new(self.origin.clone(), size, root)?;
        let note = checkpoint::sign(&checkpoint, &self.origin, &self.author)?;
        self.store
            .put_checkpoint(size, &note)
            .map_err(|e| self.store_write_failed(e))?;
        self.metrics.checkpoint_made();
        info!(size, root = %hex::encode(root), "checkpoint signed");
        Ok(SignedCheckpoint {
            checkpoint,
            note,
            created: true,
        })
    }

    /// The header of an export at `checkpoint`.
    pub fn export_header(&self, checkpoint: &SignedCheckpoint) -> ExportHeader {
        ExportHeader {
            net: self.net.clone(),
            origin: self.origin.clone(),
            key: self.author.public(),
            checkpoint: checkpoint.note.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use certnet_protocol::record::{Tlp, sample};

    use super::*;
    use crate::membership::{Member, NetworkId};
    use crate::store::StoreConfig;

    fn services(dir: &std::path::Path) -> NodeServices {
        let author = AuthorSecret::from_seed(&[7; 32]);
        let net = NetworkId::dev();
        let mut roster = Roster::new(net.clone());
        roster
            .add_member(Member::new(
                "CERT-T".parse().unwrap(),
                author.public(),
                vec![],
                vec![],
            ))
            .unwrap();
        let store = Store::open(&StoreConfig {
            path: dir.join("store"),
            cache_capacity: 8 << 20,
            net: net.as_str().to_owned(),
            max_orphans: 100,
            disk: None,
        })
        .unwrap();
        NodeServices::new(
            Arc::new(store),
            RosterCell::new(roster),
            author,
            Arc::new(Metrics::new()),
        )
        .unwrap()
    }

    const NOW: u64 = 1_767_225_600_000; // 2026-01-01

    #[test]
    fn publish_chains_records_and_refuses_a_wrong_clock() {
        let dir = tempfile::tempdir().unwrap();
        let s = services(dir.path());
        let a = s.publish(sample::incident(1), NOW, None).unwrap();
        let b = s.publish(sample::incident(2), NOW + 1, None).unwrap();
        assert_eq!((a.seq, a.index, b.seq, b.index), (1, 0, 2, 1));
        assert_eq!(s.store().head(&s.author_key()), Some((2, b.id)));

        for bad in [0, CLOCK_MIN_MS - 1, CLOCK_MAX_MS] {
            let err = s.publish(sample::incident(3), bad, None).unwrap_err();
            assert!(matches!(err, PublishError::ClockWrong { now_ms } if now_ms == bad));
        }
        let mut red = sample::incident(3);
        red.tlp = Tlp::Red;
        let err = s.publish(red, NOW, None).unwrap_err();
        assert!(matches!(err, PublishError::Invalid(RecordError::TlpRed)));
        assert_eq!(s.store().log_size(), 2);
    }

    #[test]
    fn checkpoints_only_when_the_log_grew() {
        let dir = tempfile::tempdir().unwrap();
        let s = services(dir.path());
        assert!(s.checkpoint_if_grown().unwrap().is_none());
        assert!(s.latest_checkpoint().unwrap().is_none());
        s.publish(sample::incident(1), NOW, None).unwrap();
        let first = s.checkpoint_if_grown().unwrap().unwrap();
        assert!(first.created);
        assert_eq!(first.checkpoint.size(), 1);
        assert_eq!(*first.checkpoint.root(), s.store().root(1).unwrap());
        assert!(s.checkpoint_if_grown().unwrap().is_none());
        let again = s.checkpoint_now().unwrap();
        assert!(!again.created);
        assert_eq!(again.note, first.note);
        s.publish(sample::incident(2), NOW, None).unwrap();
        let second = s.checkpoint_now().unwrap();
        assert!(second.created);
        assert_eq!(second.checkpoint.size(), 2);
        assert_eq!(s.latest_checkpoint().unwrap().unwrap().note, second.note);
    }
}
