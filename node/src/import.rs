//! Feeding an audited export file into a store: how a store is rebuilt from a backup, or an
//! air-gapped node is fed. Offline: the caller holds the store exclusively (no node running).
//!
//! The file must have passed `audit` first (the caller shows its progress). This module then reads it
//! twice more: first to hash every entry into the Merkle tree and compare the root with the audited
//! checkpoint before anything is written (noting the root at every batch boundary), then to hand the
//! entries to [`crate::ingest::ingest_batch`], the one path for records from others, in batches with
//! one flush each — each batch only once its entries hash to the root noted for it, so a file that
//! changes under the import is refused before the first changed batch reaches the store.
//! `ingest_batch` appends in the order given, so an import into an empty store reproduces the
//! exported log entry for entry, with the same Merkle root.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};

use certnet_protocol::audit::AuditSummary;
use certnet_protocol::chain::EquivocationProof;
use certnet_protocol::export::{ExportError, ExportItem, ExportReader};
use certnet_protocol::keys::AuthorKey;
use certnet_protocol::merkle::{Frontier, leaf_hash};

use crate::ingest::{Outcome, ingest_batch};
use crate::membership::Roster;
use crate::store::{Store, StoreError};

/// Most entries handed to `ingest_batch` at once (one flush each).
pub const BATCH: usize = 4096;

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be opened.
    #[error("cannot open {}", .path.display())]
    Open {
        /// The export file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The export is of another network.
    #[error(
        "the export is of network `{file}` but this node is on `{node}`: import it into a node of that network"
    )]
    WrongNetwork {
        /// The file's network.
        file: String,
        /// This node's network.
        node: String,
    },
    /// Reading the file a second time failed.
    #[error("cannot read the export again after auditing it: {0}")]
    Read(#[from] ExportError),
    /// The file's entries differ from what was audited.
    #[error(
        "the file changed between the audit and the import: its entries no longer match the audited checkpoint"
    )]
    Changed,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Entries read from the file.
    pub entries: u64,
    /// Fork proofs read from the file.
    pub fork_proofs: u64,
    /// What became of the entries, by [`Outcome::label`].
    pub outcomes: BTreeMap<&'static str, u64>,
    /// What became of the fork proofs' records, by [`Outcome::label`].
    pub fork_outcomes: BTreeMap<&'static str, u64>,
    /// Authors of entries dropped because they are not in the roster.
    pub not_members: BTreeSet<AuthorKey>,
    /// Log size before the import.
    pub log_size_before: u64,
    /// Log size after the import.
    pub log_size_after: u64,
    /// Whether the store's first `checkpoint size` entries now have the export checkpoint's root.
    pub root_matches: bool,
    /// Whether the export's checkpoint was kept (it is this node's own log and the roots match).
    pub checkpoint_kept: bool,
}

/// Imports the export at `path`, which `audit` found valid with summary `audited`. `own_key` is this
/// node's author key: an export of its own log also restores the checkpoint. `progress` gets
/// (entries done, entries in file).
pub fn import_export(
    store: &Store,
    roster: &Roster,
    own_key: AuthorKey,
    path: &Path,
    audited: &AuditSummary,
    mut progress: impl FnMut(u64, u64),
) -> Result<ImportReport, ImportError> {
    let net = roster.network().as_str();
    if audited.header.net != net {
        return Err(ImportError::WrongNetwork {
            file: audited.header.net.clone(),
            node: net.to_owned(),
        });
    }
    let open = || -> Result<_, ImportError> {
        let file = File::open(path).map_err(|source| ImportError::Open {
            path: path.to_owned(),
            source,
        })?;
        let (reader, header) = ExportReader::new(BufReader::with_capacity(1 << 20, file))?;
        if header != audited.header {
            return Err(ImportError::Changed);
        }
        Ok((reader, header))
    };
    let total = audited.checkpoint.size();

    // Pass 1: the root, before any write; the root after every batch, to check pass 2 against.
    let (mut reader, _) = open()?;
    let mut frontier = Frontier::new();
    let mut batch_roots = Vec::new();
    while let Some(item) = reader.next_item()? {
        if let ExportItem::Entry(bytes) = item {
            frontier.push(leaf_hash(&bytes));
            if frontier.size().is_multiple_of(BATCH as u64) {
                batch_roots.push(frontier.root());
            }
        }
    }
    if frontier.size() != total || frontier.root() != *audited.checkpoint.root() {
        return Err(ImportError::Changed);
    }
    batch_roots.push(frontier.root());

    // Pass 2: ingest, each batch only if it hashes to what pass 1 saw.
    let (mut reader, header) = open()?;
    let mut report = ImportReport {
        log_size_before: store.log_size(),
        ..ImportReport::default()
    };
    let mut frontier = Frontier::new();
    let mut roots = batch_roots.into_iter();
    let mut batch: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
    let mut fork_items = Vec::new();
    let mut checked_feed = |batch: &mut Vec<Vec<u8>>,
                            frontier: &Frontier,
                            report: &mut ImportReport|
     -> Result<(), ImportError> {
        if roots.next() != Some(frontier.root()) {
            return Err(ImportError::Changed);
        }
        feed(store, roster, net, batch, report)
    };

    while let Some(item) = reader.next_item()? {
        match item {
            ExportItem::Entry(bytes) => {
                if !fork_items.is_empty() || report.entries == total {
                    return Err(ImportError::Changed);
                }
                frontier.push(leaf_hash(&bytes));
                batch.push(bytes);
                report.entries += 1;
                if batch.len() == BATCH {
                    checked_feed(&mut batch, &frontier, &mut report)?;
                    progress(report.entries, total);
                }
            }
            ExportItem::Fork(bytes) => fork_items.push(bytes),
        }
    }
    if frontier.size() != total || frontier.root() != *audited.checkpoint.root() {
        return Err(ImportError::Changed);
    }
    if !batch.is_empty() || total == 0 {
        checked_feed(&mut batch, &frontier, &mut report)?;
    }
    progress(report.entries, total);

    for bytes in fork_items {
        let proof = EquivocationProof::from_cbor(&bytes, net).map_err(|_| ImportError::Changed)?;
        report.fork_proofs += 1;
        let items: Vec<Vec<u8>> = proof.records().iter().map(|r| r.bytes().to_vec()).collect();
        for outcome in ingest_batch(store, roster, net, &items)? {
            *report.fork_outcomes.entry(outcome.label()).or_default() += 1;
        }
    }

    report.log_size_after = store.log_size();
    report.root_matches =
        store.log_size() >= total && store.root(total)? == *audited.checkpoint.root();
    if report.root_matches && header.key == own_key && store.checkpoint_at(total)?.is_none() {
        store.put_checkpoint(total, &header.checkpoint)?;
        report.checkpoint_kept = true;
    }
    Ok(report)
}

/// Hands one batch to `ingest_batch` and tallies the outcomes.
fn feed(
    store: &Store,
    roster: &Roster,
    net: &str,
    batch: &mut Vec<Vec<u8>>,
    report: &mut ImportReport,
) -> Result<(), ImportError> {
    if batch.is_empty() {
        return Ok(());
    }
    for outcome in ingest_batch(store, roster, net, batch)? {
        if let Outcome::NotMember(author) = &outcome {
            report.not_members.insert(*author);
        }
        *report.outcomes.entry(outcome.label()).or_default() += 1;
    }
    batch.clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use certnet_protocol::audit::{AuditOptions, audit};
    use certnet_protocol::keys::AuthorSecret;
    use certnet_protocol::record::{FeedPosition, sample, sign_record};

    use super::*;
    use crate::membership::{Member, NetworkId};
    use crate::store::StoreConfig;

    fn store(dir: &Path, name: &str) -> Store {
        Store::open(&StoreConfig {
            path: dir.join(name),
            cache_capacity: 8 << 20,
            net: NetworkId::dev().as_str().to_owned(),
            max_orphans: 100,
            disk: None,
        })
        .unwrap()
    }

    /// Two interleaved authors whose keys sort B < A in log order A, B, A, B, …
    #[test]
    fn interleaved_authors_import_in_file_order_with_the_same_root() {
        let dir = tempfile::tempdir().unwrap();
        let net = NetworkId::dev();
        let mut secrets = [
            AuthorSecret::from_seed(&[1; 32]),
            AuthorSecret::from_seed(&[2; 32]),
        ];
        secrets.sort_by_key(|s| std::cmp::Reverse(s.public()));
        let mut roster = Roster::new(net.clone());
        for (i, s) in secrets.iter().enumerate() {
            roster
                .add_member(Member::new(
                    format!("CERT-{i}").parse().unwrap(),
                    s.public(),
                    vec![],
                    vec![],
                ))
                .unwrap();
        }
        let mut heads = [None, None];
        let mut entries = Vec::new();
        for n in 0..10u64 {
            let w = usize::try_from(n % 2).unwrap();
            let head: Option<(u64, _)> = heads[w];
            let at = FeedPosition {
                seq: head.map_or(1, |h| h.0 + 1),
                prev: head.map(|h| h.1),
                time: 1_767_225_600_000 + n,
            };
            let r = sign_record(net.as_str(), sample::incident(n), at, &secrets[w]).unwrap();
            heads[w] = Some((at.seq, r.id()));
            entries.push(r.into_bytes());
        }
        let path = dir.path().join("log.cbor");
        let (file, _) = certnet_protocol::export::export_log(
            File::create(&path).unwrap(),
            net.as_str(),
            &secrets[0],
            &entries,
            &[],
        )
        .unwrap();
        drop(file);
        let summary = audit(
            BufReader::new(File::open(&path).unwrap()),
            &AuditOptions::default(),
            |_, _| {},
        )
        .unwrap();

        let target = Arc::new(store(dir.path(), "db"));
        let report = import_export(
            &target,
            &roster,
            secrets[0].public(),
            &path,
            &summary,
            |_, _| {},
        )
        .unwrap();
        assert_eq!(report.entries, 10);
        assert_eq!(report.outcomes.get("accepted"), Some(&10));
        assert!(report.root_matches);
        assert!(report.checkpoint_kept);
        assert_eq!(target.root(10).unwrap(), *summary.checkpoint.root());

        // Again: everything is a duplicate, nothing changes.
        let again = import_export(
            &target,
            &roster,
            secrets[0].public(),
            &path,
            &summary,
            |_, _| {},
        )
        .unwrap();
        assert_eq!(again.outcomes.get("duplicate"), Some(&10));
        assert_eq!(again.log_size_after, 10);
        assert!(!again.checkpoint_kept);

        // A roster without the second author: its entries are dropped, the root differs.
        let mut partial = Roster::new(net.clone());
        partial
            .add_member(Member::new(
                "CERT-0".parse().unwrap(),
                secrets[0].public(),
                vec![],
                vec![],
            ))
            .unwrap();
        let other = store(dir.path(), "db2");
        let report = import_export(
            &other,
            &partial,
            secrets[0].public(),
            &path,
            &summary,
            |_, _| {},
        )
        .unwrap();
        assert_eq!(report.outcomes.get("accepted"), Some(&5));
        assert_eq!(report.outcomes.get("not_member"), Some(&5));
        assert!(report.not_members.contains(&secrets[1].public()));
        assert!(!report.root_matches);
    }

    #[test]
    fn a_file_changed_after_its_audit_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let net = NetworkId::dev();
        let secret = AuthorSecret::from_seed(&[4; 32]);
        let mut roster = Roster::new(net.clone());
        roster
            .add_member(Member::new(
                "CERT-X".parse().unwrap(),
                secret.public(),
                vec![],
                vec![],
            ))
            .unwrap();
        let export = |count: u64, path: &Path| {
            let mut prev = None;
            let entries: Vec<Vec<u8>> = (1..=count)
                .map(|seq| {
                    let at = FeedPosition {
                        seq,
                        prev,
                        time: 1_767_225_600_000 + seq,
                    };
                    let r = sign_record(net.as_str(), sample::incident(seq), at, &secret).unwrap();
                    prev = Some(r.id());
                    r.into_bytes()
                })
                .collect();
            certnet_protocol::export::export_log(
                File::create(path).unwrap(),
                net.as_str(),
                &secret,
                &entries,
                &[],
            )
            .unwrap();
        };
        let path = dir.path().join("log.cbor");
        export(6, &path);
        let summary = audit(
            BufReader::new(File::open(&path).unwrap()),
            &AuditOptions::default(),
            |_, _| {},
        )
        .unwrap();
        // The file is replaced after the audit: same header is impossible to keep with other
        // entries, so change one byte of an entry in place instead (its signature breaks too).
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.len() - 40;
        bytes[at] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let target = store(dir.path(), "db");
        let err = import_export(
            &target,
            &roster,
            secret.public(),
            &path,
            &summary,
            |_, _| {},
        )
        .unwrap_err();
        assert!(
            matches!(err, ImportError::Changed | ImportError::Read(_)),
            "{err}"
        );
        assert_eq!(target.log_size(), 0, "nothing was written");
    }
}
