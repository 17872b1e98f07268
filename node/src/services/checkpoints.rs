//! Checkpoints of this node's log: signed on demand, on a schedule and at shutdown, one signature per
//! size; and the export header they head.

use certnet_protocol::checkpoint::{self, Checkpoint, CheckpointError};
use certnet_protocol::export::ExportHeader;
use tracing::info;

use super::NodeServices;
use crate::store::StoreError;

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

impl NodeServices {
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
    use certnet_protocol::record::sample;

    use crate::services::testing::{NOW, services};

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
