//! The operator's block list on disk (`D/blocked-peers.txt`): one PeerId per line, `#` comments.
//!
//! Blocks survive a restart, as a ban should. The file is rewritten atomically on every change and
//! read once at start.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

use libp2p::PeerId;

use crate::datadir::fsutil;

/// File name of the block list inside the data directory.
pub const FILE_NAME: &str = "blocked-peers.txt";

/// Why the block list could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BlockListError {
    /// The file could not be read.
    #[error("cannot read block list {}", .path.display())]
    Read {
        /// The block list file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A line is not a PeerId.
    #[error("{}:{line}: `{text}` is not a peer id (one peer id per line; unblock with `certnet peers unblock`, or fix the line)", .path.display())]
    BadLine {
        /// The block list file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The line.
        text: String,
    },
}

/// Reads the block list; a missing file is an empty list.
pub fn load(path: &Path) -> Result<BTreeSet<PeerId>, BlockListError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(source) => {
            return Err(BlockListError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    let mut peers = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let peer = line.parse().map_err(|_| BlockListError::BadLine {
            path: path.to_owned(),
            line: i + 1,
            text: line.to_owned(),
        })?;
        peers.insert(peer);
    }
    Ok(peers)
}

/// Replaces the block list file with `peers`.
pub fn save(path: &Path, peers: &BTreeSet<PeerId>) -> io::Result<()> {
    let mut text = String::from(
        "# certnet: peers this node refuses to connect to (`certnet peers block` / `unblock`).\n",
    );
    for peer in peers {
        text.push_str(&peer.to_string());
        text.push('\n');
    }
    fsutil::write_replace(path, text.as_bytes(), 0o644)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datadir::keys::NodeSecret;

    #[test]
    fn round_trip_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        assert!(load(&path).unwrap().is_empty());
        let peers: BTreeSet<PeerId> = [1u8, 2]
            .iter()
            .map(|n| NodeSecret::from_seed(&[*n; 32]).unwrap().peer_id())
            .collect();
        save(&path, &peers).unwrap();
        assert_eq!(load(&path).unwrap(), peers);
        std::fs::write(&path, "# c\n\nnot-a-peer\n").unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(err.contains(":3: `not-a-peer` is not a peer id"), "{err}");
    }
}
