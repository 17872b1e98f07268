//! Feeding an audited export file into a store: how a store is rebuilt from a backup, or an
//! air-gapped node is fed. Offline: the caller holds the store exclusively (no node running).
//!
//! The file must have passed `audit` first (the caller shows its progress); this module then reads it
//! again and hands the entries to [`crate::ingest::ingest_batch`], the one path for records from
//! others, in batches with one flush each. `ingest_batch` appends in the order given, so an import
//! into an empty store reproduces the exported log entry for entry, with the same Merkle root.

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
    let file = File::open(path).map_err(|source| ImportError::Open {
        path: path.to_owned(),
        source,
    })?;
    let (mut reader, header) = ExportReader::new(BufReader::with_capacity(1 << 20, file))?;
    if header != audited.header {
        return Err(ImportError::Changed);
    }
    let total = audited.checkpoint.size();
    let mut report = ImportReport {
        log_size_before: store.log_size(),
        ..ImportReport::default()
    };
    let mut frontier = Frontier::new();
    let mut batch: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
    let mut fork_items = Vec::new();

    while let Some(item) = reader.next_item()? {
        match item {
            ExportItem::Entry(bytes) => {
                if !fork_items.is_empty() || report.entries == total {
                    return Err(ImportError::Changed);
                }
                if batch.len() == BATCH {
                    feed(store, roster, net, &mut batch, &mut report)?;
                    progress(report.entries, total);
                }
                frontier.push(leaf_hash(&bytes));
                batch.push(bytes);
                report.entries += 1;
            }
            ExportItem::Fork(bytes) => fork_items.push(bytes),
        }
    }
    feed(store, roster, net, &mut batch, &mut report)?;
    progress(report.entries, total);
    if frontier.size() != total || frontier.root() != *audited.checkpoint.root() {
        return Err(ImportError::Changed);
    }

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
}
