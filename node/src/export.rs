//! Writing the store's log as an export file (PROTOCOL.md §15), streamed entry by entry so a log of
//! millions of records is never held in memory. The format itself is protocol's `ExportWriter`.

use std::io::{self, Write};

use certnet_protocol::chain::EquivocationProof;
use certnet_protocol::export::{ExportHeader, ExportWriter};

use crate::store::{Store, StoreError};

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportStreamError {
    /// Writing failed (for the API: the client went away).
    #[error("cannot write the export: {0}")]
    Io(#[from] io::Error),
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The log has fewer entries than the checkpoint covers (cannot happen: the log only grows).
    #[error("the log ends after {got} entries but the checkpoint covers {expected}")]
    ShortLog {
        /// The checkpoint's size.
        expected: u64,
        /// Entries found.
        got: u64,
    },
    /// A stored fork proof no longer verifies (disk corruption).
    #[error("stored fork proof {index} is invalid: {reason}")]
    BadFork {
        /// 0-based number of the proof.
        index: usize,
        /// Why.
        reason: String,
    },
}

/// What an export held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportStats {
    /// Log entries written.
    pub entries: u64,
    /// Fork proofs written.
    pub forks: u64,
}

/// Writes the header, the first `size` log entries and every fork proof to `out`. `size` must be the
/// size of the checkpoint in `header`.
pub fn write_export<W: Write>(
    store: &Store,
    header: &ExportHeader,
    size: u64,
    out: W,
) -> Result<ExportStats, ExportStreamError> {
    let mut writer = ExportWriter::new(out, header)?;
    if size > 0 {
        for item in store.log_iter(0) {
            let entry = item?;
            let index = entry.index;
            if index != writer.entries() {
                return Err(StoreError::Corrupt(format!(
                    "log index {index} follows entry {}",
                    writer.entries()
                ))
                .into());
            }
            writer.entry(&entry.bytes)?;
            if writer.entries() == size {
                break;
            }
        }
    }
    if writer.entries() < size {
        return Err(ExportStreamError::ShortLog {
            expected: size,
            got: writer.entries(),
        });
    }
    let entries = writer.entries();
    let mut forks = 0;
    for (index, bytes) in store.forks()?.into_iter().enumerate() {
        let proof = EquivocationProof::from_cbor(&bytes, &header.net).map_err(|e| {
            ExportStreamError::BadFork {
                index,
                reason: e.to_string(),
            }
        })?;
        writer.fork(&proof)?;
        forks += 1;
    }
    writer.finish()?;
    Ok(ExportStats { entries, forks })
}
