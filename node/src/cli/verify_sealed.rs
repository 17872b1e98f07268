//! `certnet verify --open-with KEYFILE`: after the audit, opens the export's sealed records that are
//! addressed to the given encryption key(s) and checks their bodies like clear records. Offline, no
//! roster: every recipient entry is tried (no hint keys).

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use anyhow::Context as _;
use certnet_protocol::export::{ExportItem, ExportReader};
use certnet_protocol::record::{Kind, Record};
use certnet_protocol::sealed::{EncryptionSecret, OpenError, OpenKeys, open};
use serde::Serialize;

use super::records::headline;

/// What happened to one sealed record.
#[derive(Debug, Serialize)]
pub(super) struct SealedEntry {
    /// Log index in the export.
    index: u64,
    id: String,
    author: String,
    seq: u64,
    /// `opened`, `not_a_recipient` or `does_not_open`.
    outcome: &'static str,
    /// The opened body's kind and TLP.
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tlp: Option<String>,
    /// Its title, value or reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    /// Why it does not open.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl SealedEntry {
    pub(super) fn failed(&self) -> bool {
        self.outcome == "does_not_open"
    }
}

/// Opens every sealed record of the (already audited) export at `path` with `secrets`.
pub(super) fn open_all(
    path: &Path,
    secrets: &[EncryptionSecret],
) -> anyhow::Result<Vec<SealedEntry>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let (mut reader, _) = ExportReader::new(BufReader::with_capacity(1 << 20, file))
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Vec::new();
    let mut index = 0u64;
    while let Some(item) = reader
        .next_item()
        .with_context(|| format!("cannot read {}", path.display()))?
    {
        let ExportItem::Entry(bytes) = item else {
            continue;
        };
        let at = index;
        index += 1;
        // The audit verified every entry; one that does not decode was reported there.
        let Ok(record) = Record::decode(&bytes) else {
            continue;
        };
        let p = record.payload();
        if p.kind != Kind::Sealed {
            continue;
        }
        let keys = OpenKeys {
            secrets,
            hints: None,
        };
        let mut entry = SealedEntry {
            index: at,
            id: record.id().to_string(),
            author: p.author.to_string(),
            seq: p.seq,
            outcome: "opened",
            kind: None,
            tlp: None,
            title: None,
            error: None,
        };
        match open(p, keys) {
            Ok(opened) => {
                entry.kind = Some(opened.payload.kind.to_string());
                entry.tlp = Some(opened.payload.tlp.to_string());
                entry.title = serde_json::to_value(&opened.payload.content)
                    .ok()
                    .map(|v| headline(&v))
                    .filter(|t| !t.is_empty());
            }
            Err(OpenError::NotRecipient) => entry.outcome = "not_a_recipient",
            Err(e) => {
                entry.outcome = "does_not_open";
                entry.error = Some(e.to_string());
            }
        }
        out.push(entry);
    }
    Ok(out)
}

/// The text lines of the report.
pub(super) fn render(entries: &[SealedEntry]) -> Vec<String> {
    let count = |o: &str| entries.iter().filter(|e| e.outcome == o).count();
    let mut lines = vec![format!(
        "  sealed       {} records: {} opened with the given key, {} not a recipient, {} do not open",
        entries.len(),
        count("opened"),
        count("not_a_recipient"),
        count("does_not_open")
    )];
    for e in entries {
        let what = match e.outcome {
            "opened" => format!(
                "opened: {} ({}) {}",
                e.kind.as_deref().unwrap_or("?"),
                e.tlp.as_deref().unwrap_or("?"),
                e.title.as_deref().unwrap_or("")
            ),
            "not_a_recipient" => "not a recipient (sealed to other members)".to_owned(),
            _ => format!(
                "addressed to this key but does NOT open: {}",
                e.error.as_deref().unwrap_or("")
            ),
        };
        lines.push(format!(
            "    entry {} seq {} {}: {what}",
            e.index,
            e.seq,
            &e.id[..12]
        ));
    }
    lines
}
