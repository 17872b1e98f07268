//! Records waiting for their predecessors: kept aside, bounded, and appended once their gap fills.

use certnet_protocol::chain::check_link;
use certnet_protocol::keys::AuthorKey;
use certnet_protocol::record::VerifiedRecord;

use super::keys::feed_key;
use super::{Ingest, Store, StoreError, Writer, sled_err};

impl Store {
    /// Removes and returns the orphan kept at `author`/`seq`, if any.
    pub(super) fn take_orphan(
        &self,
        w: &mut Writer,
        author: AuthorKey,
        seq: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        if w.orphans == 0 {
            return Ok(None);
        }
        match self.orphans.remove(feed_key(&author, seq)) {
            Ok(Some(v)) => {
                w.orphans = w.orphans.saturating_sub(1);
                Ok(Some(v.to_vec()))
            }
            Ok(None) => Ok(None),
            Err(e) => self.poison(StoreError::Sled {
                context: "remove orphan",
                error: e,
            }),
        }
    }

    pub(super) fn keep_orphan(
        &self,
        w: &mut Writer,
        record: VerifiedRecord,
        need_from: u64,
    ) -> Result<Ingest, StoreError> {
        let key = feed_key(&record.author(), record.seq());
        if let Some(existing) = self.orphans.get(key).map_err(sled_err("read orphans"))? {
            if existing.as_ref() == record.bytes() {
                return Ok(Ingest::Duplicate);
            }
            let other = self.reverify(&existing)?;
            // Two different orphans at one seq: equivocation, provable now.
            return self.record_fork(w, other, record);
        }
        if w.orphans >= self.max_orphans {
            return Ok(Ingest::OrphanLimit);
        }
        if let Err(e) = self.orphans.insert(key, record.bytes()) {
            return self.poison(StoreError::Sled {
                context: "insert orphan",
                error: e,
            });
        }
        w.orphans += 1;
        Ok(Ingest::Orphan { need_from })
    }

    /// Appends the author's waiting orphans that now extend the chain.
    pub(super) fn drain_orphans(
        &self,
        w: &mut Writer,
        author: AuthorKey,
    ) -> Result<u64, StoreError> {
        let mut appended = 0;
        while let Some(&(seq, id)) = w.heads.get(&author) {
            let Some(bytes) = self.take_orphan(w, author, seq + 1)? else {
                break;
            };
            let record = self.reverify(&bytes)?;
            if check_link(Some((seq, id)), &record).is_err() {
                // Its prev is some other record at our head's seq: the author forked, but we do not
                // hold that record, so there is no proof yet. Sync will bring it or not.
                tracing::warn!(author = %author, seq = seq + 1, "orphan does not link to the head; dropped");
                break;
            }
            self.append_locked(w, &record)?;
            appended += 1;
        }
        Ok(appended)
    }
}
