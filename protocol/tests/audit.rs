//! Export files and their audit: a good log passes; every kind of tampering is caught and named.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use certnet_protocol::audit::{AuditError, AuditOptions, audit};
use certnet_protocol::chain::EquivocationProof;
use certnet_protocol::checkpoint;
use certnet_protocol::export::{ExportItem, ExportReader, export_log, log_origin};
use certnet_protocol::keys::AuthorSecret;
use certnet_protocol::record::{FeedPosition, VerifiedRecord, sample, sign_record};

const NET: &str = "certnet-test";

fn chain(seed: u8, n: u64, variant: u64) -> Vec<VerifiedRecord> {
    let secret = AuthorSecret::from_seed(&[seed; 32]);
    let mut prev = None;
    (1..=n)
        .map(|seq| {
            let r = sign_record(
                NET,
                sample::incident(seq + variant),
                FeedPosition {
                    seq,
                    prev,
                    time: seq,
                },
                &secret,
            )
            .unwrap();
            prev = Some(r.id());
            r
        })
        .collect()
}

/// Interleaves two authors' chains: a log as a node would hold it.
fn log() -> Vec<Vec<u8>> {
    let a = chain(1, 6, 0);
    let b = chain(2, 4, 0);
    let mut out = Vec::new();
    for i in 0..6 {
        out.push(a[i].bytes().to_vec());
        if i < 4 {
            out.push(b[i].bytes().to_vec());
        }
    }
    out
}

fn node_key() -> AuthorSecret {
    AuthorSecret::from_seed(&[99; 32])
}

fn export(entries: &[Vec<u8>]) -> Vec<u8> {
    export_log(Vec::new(), NET, &node_key(), entries, &[])
        .unwrap()
        .0
}

/// Re-writes `file` with its entries changed by `edit`, keeping the original header and checkpoint.
fn tamper(file: &[u8], edit: impl FnOnce(&mut Vec<Vec<u8>>)) -> Vec<u8> {
    let (mut reader, header) = ExportReader::new(file).unwrap();
    let mut entries = Vec::new();
    while let Some(item) = reader.next_item().unwrap() {
        if let ExportItem::Entry(e) = item {
            entries.push(e);
        }
    }
    edit(&mut entries);
    let mut w = certnet_protocol::export::ExportWriter::new(Vec::new(), &header).unwrap();
    for e in &entries {
        w.entry(e).unwrap();
    }
    w.finish().unwrap()
}

fn run(file: &[u8]) -> Result<certnet_protocol::audit::AuditSummary, AuditError> {
    audit(file, &AuditOptions::default(), |_, _| {})
}

#[test]
fn a_good_export_passes() {
    let entries = log();
    let file = export(&entries);
    let mut calls = 0;
    let s = audit(
        file.as_slice(),
        &AuditOptions {
            expected_key: Some(node_key().public()),
            old_checkpoint: None,
        },
        |_, _| calls += 1,
    )
    .unwrap();
    assert_eq!(s.entries, 10);
    assert_eq!(s.heads.len(), 2);
    assert_eq!(s.checkpoint.size(), 10);
    assert_eq!(s.header.origin, log_origin(NET, &node_key().public()));
    assert!(calls >= 1);
}

#[test]
fn an_empty_log_passes() {
    let s = run(&export(&[])).unwrap();
    assert_eq!(s.entries, 0);
}

#[test]
fn a_flipped_byte_is_caught_at_its_entry() {
    let file = export(&log());
    let bad = tamper(&file, |e| {
        let n = e[3].len();
        e[3][n / 2] ^= 0x01;
    });
    let err = run(&bad).unwrap_err();
    assert!(matches!(err, AuditError::Entry { index: 3, .. }), "{err}");
    assert!(!err.is_io());
}

#[test]
fn a_replaced_signature_names_author_and_seq() {
    let file = export(&log());
    let bad = tamper(&file, |e| {
        let n = e[4].len();
        e[4][n - 64..].copy_from_slice(&[7; 64]);
    });
    let err = run(&bad).unwrap_err();
    let AuditError::Entry {
        index,
        author,
        seq,
        reason,
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!((*index, *seq), (4, Some(3)));
    assert_eq!(*author, Some(AuthorSecret::from_seed(&[1; 32]).public()));
    assert!(reason.contains("signature"), "{reason}");
    assert!(
        err.to_string().contains("entry 4 (author ed25519:"),
        "{err}"
    );
}

#[test]
fn a_dropped_entry_is_caught() {
    let file = export(&log());
    // Dropping the last entry: the file is short of the checkpoint size.
    let err = run(&tamper(&file, |e| {
        e.pop();
    }))
    .unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::Truncated {
                expected: 10,
                got: 9
            }
        ),
        "{err}"
    );
    // Dropping a middle entry breaks a chain at the entry that follows.
    let err = run(&tamper(&file, |e| {
        e.remove(2);
    }))
    .unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::Entry {
                index: 3,
                seq: Some(3),
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn reordered_entries_are_caught() {
    let file = export(&log());
    // Swapping two entries of different authors keeps every chain intact: the root catches it.
    let err = run(&tamper(&file, |e| e.swap(0, 1))).unwrap_err();
    assert!(
        matches!(err, AuditError::RootMismatch { size: 10 }),
        "{err}"
    );
    // Swapping two entries of one author breaks the chain.
    let err = run(&tamper(&file, |e| e.swap(0, 2))).unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::Entry {
                index: 0,
                seq: Some(2),
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_truncated_file_is_caught() {
    let file = export(&log());
    for cut in [file.len() - 1, file.len() - 700, 40] {
        let err = run(&file[..cut]).unwrap_err();
        assert!(!err.is_io(), "cut {cut}: {err}");
    }
    // Cut inside the last entry: that entry is named.
    let err = run(&file[..file.len() - 10]).unwrap_err();
    assert!(matches!(err, AuditError::Entry { index: 9, .. }), "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");
}

#[test]
fn an_extra_entry_is_caught() {
    let file = export(&log());
    let extra = chain(3, 1, 0)[0].bytes().to_vec();
    let err = run(&tamper(&file, |e| e.push(extra))).unwrap_err();
    assert!(matches!(err, AuditError::Entry { index: 10, .. }), "{err}");
}

#[test]
fn a_pinned_key_must_match() {
    let file = export(&log());
    let other = AuthorSecret::from_seed(&[5; 32]).public();
    let err = audit(
        file.as_slice(),
        &AuditOptions {
            expected_key: Some(other),
            old_checkpoint: None,
        },
        |_, _| {},
    )
    .unwrap_err();
    assert!(matches!(err, AuditError::UnexpectedKey { .. }), "{err}");
}

#[test]
fn a_forged_checkpoint_is_caught() {
    // Same entries, checkpoint signed by another key but claiming the node's key in the header.
    let entries = log();
    let file = export_log(
        Vec::new(),
        NET,
        &AuthorSecret::from_seed(&[5; 32]),
        &entries,
        &[],
    )
    .unwrap()
    .0;
    let (mut r, mut header) = ExportReader::new(file.as_slice()).unwrap();
    header.key = node_key().public();
    header.origin = log_origin(NET, &node_key().public());
    let mut w = certnet_protocol::export::ExportWriter::new(Vec::new(), &header).unwrap();
    while let Some(ExportItem::Entry(e)) = r.next_item().unwrap() {
        w.entry(&e).unwrap();
    }
    let err = run(&w.finish().unwrap()).unwrap_err();
    assert!(matches!(err, AuditError::Checkpoint(_)), "{err}");
}

#[test]
fn an_origin_naming_another_log_is_caught() {
    // Signed correctly by the node key, but under an origin naming another network.
    let entries = log();
    let origin = log_origin("some-other-net", &node_key().public());
    let (_, cp) = export_log(Vec::new(), NET, &node_key(), &entries, &[]).unwrap();
    let cp = checkpoint::Checkpoint::new(origin.clone(), cp.size(), *cp.root()).unwrap();
    let note = checkpoint::sign(&cp, &origin, &node_key()).unwrap();
    let header = certnet_protocol::export::ExportHeader {
        net: NET.into(),
        origin,
        key: node_key().public(),
        checkpoint: note,
    };
    let mut w = certnet_protocol::export::ExportWriter::new(Vec::new(), &header).unwrap();
    for e in &entries {
        w.entry(e).unwrap();
    }
    let err = run(&w.finish().unwrap()).unwrap_err();
    assert!(matches!(err, AuditError::OriginMismatch { .. }), "{err}");
}

#[test]
fn consistency_with_an_older_checkpoint() {
    let entries = log();
    let (_, old_cp) = export_log(Vec::new(), NET, &node_key(), &entries[..6], &[]).unwrap();
    let origin = log_origin(NET, &node_key().public());
    let old_note = checkpoint::sign(&old_cp, &origin, &node_key()).unwrap();
    let file = export(&entries);
    let ok = audit(
        file.as_slice(),
        &AuditOptions {
            expected_key: None,
            old_checkpoint: Some(old_note),
        },
        |_, _| {},
    )
    .unwrap();
    assert_eq!(ok.consistent_with, Some(6));

    // A log that rewrote its first entries (another author's chain first) is inconsistent.
    let mut rewritten = chain(4, 6, 0)
        .into_iter()
        .map(|r| r.bytes().to_vec())
        .collect::<Vec<_>>();
    rewritten.extend_from_slice(&entries[..4]);
    let file = export(&rewritten);
    let note = checkpoint::sign(&old_cp, &origin, &node_key()).unwrap();
    let err = audit(
        file.as_slice(),
        &AuditOptions {
            expected_key: None,
            old_checkpoint: Some(note),
        },
        |_, _| {},
    )
    .unwrap_err();
    assert!(matches!(err, AuditError::OldCheckpoint(_)), "{err}");
}

#[test]
fn fork_proofs_are_verified() {
    let a = chain(1, 2, 0);
    let b = chain(1, 2, 50);
    let proof = EquivocationProof::new(a[1].clone(), b[1].clone()).unwrap();
    let entries = vec![a[0].bytes().to_vec(), a[1].bytes().to_vec()];
    let file = export_log(
        Vec::new(),
        NET,
        &node_key(),
        &entries,
        std::slice::from_ref(&proof),
    )
    .unwrap()
    .0;
    let s = run(&file).unwrap();
    assert_eq!(s.forks, vec![(proof.author(), 2)]);
    // Corrupt the second record inside the proof.
    let mut bad = file.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    assert!(matches!(
        run(&bad).unwrap_err(),
        AuditError::Fork { index: 0, .. }
    ));
}

#[test]
fn garbage_is_a_format_error_not_a_panic() {
    for bytes in [&b""[..], b"\x00", b"certnet", &[0xa1, 0x61, 0x78, 0x01][..]] {
        let err = run(bytes).unwrap_err();
        assert!(matches!(err, AuditError::Format(_)), "{err}");
    }
}
