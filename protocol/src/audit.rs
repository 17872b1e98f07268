//! Offline audit of an export file: every signature, every author chain, the Merkle root against the
//! signed checkpoint, optionally consistency with an older checkpoint, and every fork proof. Trusts
//! nothing in the file but what it can check; streams, verifying signatures on all cores.

use std::collections::HashMap;
use std::io::BufRead;

use rayon::prelude::*;

use crate::chain::{EquivocationProof, check_link};
use crate::checkpoint::{self, Checkpoint, CheckpointError, VerifierKey};
use crate::export::{ExportError, ExportHeader, ExportItem, ExportReader};
use crate::id::{Hash, RecordId};
use crate::keys::AuthorKey;
use crate::merkle::{Frontier, leaf_hash};
use crate::record::{Record, RecordError, VerifiedRecord};

/// Entries verified together on all cores.
const BATCH: usize = 4096;

/// What the auditor brings from outside the file.
#[derive(Debug, Clone, Default)]
pub struct AuditOptions {
    /// The key the checkpoint must be signed by (pin it: otherwise the file's own key is used).
    pub expected_key: Option<AuthorKey>,
    /// An older signed checkpoint note of the same log: the file must extend it.
    pub old_checkpoint: Option<String>,
}

/// What a successful audit established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSummary {
    /// The header.
    pub header: ExportHeader,
    /// The verified checkpoint.
    pub checkpoint: Checkpoint,
    /// Entries verified.
    pub entries: u64,
    /// Each author's last seq and id, sorted by author.
    pub heads: Vec<(AuthorKey, u64, RecordId)>,
    /// Verified fork proofs: (author, seq).
    pub forks: Vec<(AuthorKey, u64)>,
    /// The size of the older checkpoint this log was found consistent with.
    pub consistent_with: Option<u64>,
}

/// Why an audit failed. [`AuditError::is_io`] separates "could not read" from "does not verify".
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The file could not be read.
    #[error("cannot read export: {0}")]
    Io(std::io::Error),
    /// The file is not an export file, or an item is not an entry or fork proof.
    #[error("{0}")]
    Format(ExportError),
    /// The checkpoint in the header does not verify.
    #[error("checkpoint: {0}")]
    Checkpoint(CheckpointError),
    /// The header's key is not the one the auditor expects.
    #[error("checkpoint is signed by {got}, expected {expected}")]
    UnexpectedKey {
        /// Pinned key.
        expected: AuthorKey,
        /// Key in the file.
        got: AuthorKey,
    },
    /// The header's origin is not `certnet/<net>/<key>` for the header's network and key.
    #[error("origin `{header}` does not name this log: expected `{expected}`")]
    OriginMismatch {
        /// In the header.
        header: String,
        /// What the header's network and key make it.
        expected: String,
    },
    /// The checkpoint's origin differs from the header's.
    #[error("checkpoint origin `{checkpoint}` differs from the header origin `{header}`")]
    CheckpointOrigin {
        /// In the header.
        header: String,
        /// In the checkpoint.
        checkpoint: String,
    },
    /// An entry is invalid.
    #[error("entry {index}{}: {reason}", who(.author, .seq))]
    Entry {
        /// 0-based log index.
        index: u64,
        /// The record's author, when it decodes.
        author: Option<AuthorKey>,
        /// The record's seq, when it decodes.
        seq: Option<u64>,
        /// What is wrong.
        reason: String,
    },
    /// Fewer entries than the checkpoint's size.
    #[error(
        "file ends after {got} entries but the checkpoint covers {expected} (entries dropped or file truncated)"
    )]
    Truncated {
        /// Checkpoint size.
        expected: u64,
        /// Entries found.
        got: u64,
    },
    /// The entries do not hash to the checkpoint's root.
    #[error(
        "merkle root of the {size} entries does not match the signed checkpoint (entries altered, reordered or replaced)"
    )]
    RootMismatch {
        /// Entries hashed.
        size: u64,
    },
    /// The older checkpoint is not a prefix of this log.
    #[error("older checkpoint: {0}")]
    OldCheckpoint(String),
    /// The older checkpoint note does not open: malformed (the auditor's input is wrong), or not
    /// signed by this log's key (a failure).
    #[error("older checkpoint: {0}")]
    OldNote(CheckpointError),
    /// A fork proof is invalid.
    #[error("fork proof {index}: {reason}")]
    Fork {
        /// 0-based fork proof number.
        index: u64,
        /// What is wrong.
        reason: String,
    },
}

fn who(author: &Option<AuthorKey>, seq: &Option<u64>) -> String {
    match (author, seq) {
        (Some(a), Some(s)) => format!(" (author {a}, seq {s})"),
        _ => String::new(),
    }
}

impl AuditError {
    /// True when the file could not be read (exit code 2), false when it does not verify (exit 1).
    pub fn is_io(&self) -> bool {
        matches!(
            self,
            AuditError::Io(_) | AuditError::Format(ExportError::Io(_))
        )
    }

    /// True when the older checkpoint note given to the audit is not a signed note at all (the
    /// auditor's input is wrong: exit code 2); a well-formed note that this log's key did not sign
    /// is a verification failure.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            AuditError::OldNote(e) if !matches!(
                e,
                CheckpointError::NoSignature { .. } | CheckpointError::BadSignature { .. }
            )
        )
    }
}

impl From<ExportError> for AuditError {
    fn from(e: ExportError) -> Self {
        match e {
            ExportError::Io(io) => AuditError::Io(io),
            other => AuditError::Format(other),
        }
    }
}

/// Audits an export file read from `input`. `progress` is called with the number of entries verified
/// so far after each batch.
pub fn audit<R: BufRead>(
    input: R,
    options: &AuditOptions,
    mut progress: impl FnMut(u64, u64),
) -> Result<AuditSummary, AuditError> {
    let (mut reader, header) = ExportReader::new(input)?;
    if let Some(expected) = options.expected_key
        && expected != header.key
    {
        return Err(AuditError::UnexpectedKey {
            expected,
            got: header.key,
        });
    }
    let expected_origin = crate::export::log_origin(&header.net, &header.key);
    if header.origin != expected_origin {
        return Err(AuditError::OriginMismatch {
            header: header.origin.clone(),
            expected: expected_origin,
        });
    }
    let verifier = VerifierKey::new(header.origin.clone(), header.key).map_err(|e| {
        AuditError::Format(ExportError::Header(format!(
            "origin is not a valid note key name: {e}"
        )))
    })?;
    let cp = checkpoint::open(header.checkpoint.as_bytes(), &verifier)
        .map_err(AuditError::Checkpoint)?;
    if cp.origin() != header.origin {
        return Err(AuditError::CheckpointOrigin {
            header: header.origin.clone(),
            checkpoint: cp.origin().to_owned(),
        });
    }
    let old = match &options.old_checkpoint {
        None => None,
        Some(note) => {
            let old = checkpoint::open(note.as_bytes(), &verifier).map_err(AuditError::OldNote)?;
            if old.size() > cp.size() {
                return Err(AuditError::OldCheckpoint(format!(
                    "it covers {} entries, more than the new checkpoint's {}",
                    old.size(),
                    cp.size()
                )));
            }
            Some(old)
        }
    };

    let mut state = ChainState::default();
    let mut frontier = Frontier::new();
    let mut consistent_with = None;
    let check_old =
        |frontier: &Frontier, consistent_with: &mut Option<u64>| -> Result<(), AuditError> {
            if let Some(old) = &old
                && old.size() == frontier.size()
            {
                if frontier.root() != *old.root() {
                    return Err(AuditError::OldCheckpoint(format!(
                        "the first {} entries do not match it: this log rewrote history",
                        old.size()
                    )));
                }
                *consistent_with = Some(old.size());
            }
            Ok(())
        };
    check_old(&frontier, &mut consistent_with)?;

    let mut batch: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
    let mut forks = Vec::new();
    let mut pending_fork: Option<Vec<u8>> = None;
    let mut exhausted = false;
    while !exhausted && frontier.size() < cp.size() {
        // Fill one batch, never reading past the checkpoint's size.
        while batch.len() < BATCH && frontier.size() + (batch.len() as u64) < cp.size() {
            let next = reader.next_item().map_err(|e| match e {
                // A malformed item where an entry belongs is that entry's failure.
                ExportError::Item { reason, .. } => AuditError::Entry {
                    index: frontier.size() + batch.len() as u64,
                    author: None,
                    seq: None,
                    reason,
                },
                other => other.into(),
            })?;
            match next {
                Some(ExportItem::Entry(bytes)) => batch.push(bytes),
                Some(ExportItem::Fork(bytes)) => {
                    pending_fork = Some(bytes);
                    exhausted = true;
                    break;
                }
                None => {
                    exhausted = true;
                    break;
                }
            }
        }
        verify_batch(
            &header.net,
            &mut batch,
            &mut state,
            &mut frontier,
            &check_old,
            &mut consistent_with,
        )?;
        progress(frontier.size(), cp.size());
    }
    if frontier.size() < cp.size() {
        return Err(AuditError::Truncated {
            expected: cp.size(),
            got: frontier.size(),
        });
    }
    if frontier.root() != *cp.root() {
        return Err(AuditError::RootMismatch {
            size: frontier.size(),
        });
    }

    let mut index = 0u64;
    loop {
        let bytes = match pending_fork.take() {
            Some(b) => b,
            None => match reader.next_item()? {
                None => break,
                Some(ExportItem::Fork(b)) => b,
                Some(ExportItem::Entry(_)) => {
                    return Err(AuditError::Entry {
                        index: cp.size() + index,
                        author: None,
                        seq: None,
                        reason: "more entries than the checkpoint covers".into(),
                    });
                }
            },
        };
        let proof =
            EquivocationProof::from_cbor(&bytes, &header.net).map_err(|e| AuditError::Fork {
                index,
                reason: e.to_string(),
            })?;
        forks.push((proof.author(), proof.seq()));
        index += 1;
    }

    let mut heads: Vec<_> = state
        .heads
        .into_iter()
        .map(|(a, (s, id))| (a, s, id))
        .collect();
    heads.sort_by_key(|h| h.0);
    Ok(AuditSummary {
        header,
        entries: frontier.size(),
        checkpoint: cp,
        heads,
        forks,
        consistent_with,
    })
}

/// Each author's head so far.
#[derive(Default)]
struct ChainState {
    heads: HashMap<AuthorKey, (u64, RecordId)>,
}

/// Verifies a batch in parallel, then checks chains and extends the tree in log order.
fn verify_batch(
    net: &str,
    batch: &mut Vec<Vec<u8>>,
    state: &mut ChainState,
    frontier: &mut Frontier,
    check_old: &impl Fn(&Frontier, &mut Option<u64>) -> Result<(), AuditError>,
    consistent_with: &mut Option<u64>,
) -> Result<(), AuditError> {
    let results: Vec<(EntryResult, Hash)> = batch
        .par_iter()
        .map(|bytes| (verify_entry(bytes, net), leaf_hash(bytes)))
        .collect();
    for (result, leaf) in results {
        let index = frontier.size();
        let record = result.map_err(|(who, e)| AuditError::Entry {
            index,
            author: who.map(|w| w.0),
            seq: who.map(|w| w.1),
            reason: e.to_string(),
        })?;
        let head = state.heads.get(&record.author()).copied();
        check_link(head, &record).map_err(|e| AuditError::Entry {
            index,
            author: Some(record.author()),
            seq: Some(record.seq()),
            reason: format!("breaks the author's chain: {e}"),
        })?;
        state
            .heads
            .insert(record.author(), (record.seq(), record.id()));
        frontier.push(leaf);
        check_old(frontier, consistent_with)?;
    }
    batch.clear();
    Ok(())
}

/// A verified entry, or why not (with author and seq when the record decodes).
type EntryResult = Result<VerifiedRecord, (Option<(AuthorKey, u64)>, RecordError)>;

/// Verifies one entry, keeping author and seq for the error when the record decodes.
fn verify_entry(bytes: &[u8], net: &str) -> EntryResult {
    let record = Record::decode(bytes).map_err(|e| (None, e))?;
    let who = (record.payload().author, record.payload().seq);
    record.verify(net).map_err(|e| (Some(who), e))
}
