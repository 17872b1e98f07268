//! Records waiting for their predecessors: kept aside, bounded, and appended once their gap fills.
//!
//! Bounds, so that no author (and no peer relaying for it) can keep others' records out: at most
//! `max_orphans` in all, at most a share of that per author ([`ORPHAN_SHARE`]), and none older than
//! [`ORPHAN_TTL`] (expired orphans are dropped when space is needed and by [`Store::expire_orphans`];
//! sync fetches them again if they are still wanted). Each orphan is kept as `added time (8,
//! big-endian µs) ‖ record bytes`.

use std::time::Duration;

use certnet_protocol::chain::check_link;
use certnet_protocol::keys::AuthorKey;
use certnet_protocol::record::VerifiedRecord;

use super::keys::{feed_key, split_feed_key};
use super::{Ingest, Store, StoreError, Writer, now_us, sled_err};

/// One author may hold at most this fraction (1/N) of the orphan space.
pub const ORPHAN_SHARE: u64 = 8;
/// Orphans older than this are dropped.
pub const ORPHAN_TTL: Duration = Duration::from_secs(10 * 60);

/// An orphan's stored value.
fn orphan_value(record: &[u8], added_us: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + record.len());
    v.extend_from_slice(&added_us.to_be_bytes());
    v.extend_from_slice(record);
    v
}

/// (added time, record bytes) of a stored orphan. Values written before added times were kept
/// (the bare record, a COSE tag 18 byte first) read as added at time 0: the first to expire.
fn split_orphan(v: &[u8]) -> (u64, &[u8]) {
    match v.first() {
        Some(0xd2) | None => (0, v),
        Some(_) if v.len() >= 8 => {
            let mut t = [0u8; 8];
            t.copy_from_slice(&v[..8]);
            (u64::from_be_bytes(t), &v[8..])
        }
        Some(_) => (0, v),
    }
}

impl Store {
    /// Most orphans one author may have waiting.
    fn orphan_quota(&self) -> u64 {
        (self.max_orphans / ORPHAN_SHARE).max(1)
    }

    /// Counts the orphans per author (at open).
    pub(super) fn count_orphans(&self, w: &mut Writer) -> Result<(), StoreError> {
        w.orphans = 0;
        w.orphans_by.clear();
        for key in self.orphans.iter().keys() {
            let key = key.map_err(sled_err("read orphans"))?;
            let (author, _) =
                split_feed_key(&key).ok_or_else(|| StoreError::Corrupt("bad orphan key".into()))?;
            *w.orphans_by.entry(author).or_default() += 1;
            w.orphans += 1;
        }
        Ok(())
    }

    fn forget_one(w: &mut Writer, author: &AuthorKey) {
        w.orphans = w.orphans.saturating_sub(1);
        if let Some(n) = w.orphans_by.get_mut(author) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                w.orphans_by.remove(author);
            }
        }
    }

    /// Removes and returns the orphan kept at `author`/`seq`, if any.
    pub(super) fn take_orphan(
        &self,
        w: &mut Writer,
        author: AuthorKey,
        seq: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        if w.orphans_by.get(&author).is_none_or(|n| *n == 0) {
            return Ok(None);
        }
        match self.orphans.remove(feed_key(&author, seq)) {
            Ok(Some(v)) => {
                Self::forget_one(w, &author);
                Ok(Some(split_orphan(&v).1.to_vec()))
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
        let author = record.author();
        let key = feed_key(&author, record.seq());
        if let Some(existing) = self.orphans.get(key).map_err(sled_err("read orphans"))? {
            let (_, bytes) = split_orphan(&existing);
            if bytes == record.bytes() {
                return Ok(Ingest::Duplicate);
            }
            let other = self.reverify(bytes)?;
            // Two different orphans at one seq: equivocation, provable now.
            return self.record_fork(w, other, record);
        }
        if w.orphans >= self.max_orphans {
            self.expire_locked(w, now_us())?;
        }
        if w.orphans >= self.max_orphans
            || w.orphans_by.get(&author).copied().unwrap_or(0) >= self.orphan_quota()
        {
            return Ok(Ingest::OrphanLimit);
        }
        if let Err(e) = self
            .orphans
            .insert(key, orphan_value(record.bytes(), now_us()))
        {
            return self.poison(StoreError::Sled {
                context: "insert orphan",
                error: e,
            });
        }
        w.orphans += 1;
        *w.orphans_by.entry(author).or_default() += 1;
        Ok(Ingest::Orphan { need_from })
    }

    /// Drops orphans added more than [`ORPHAN_TTL`] before `now_us` (µs since the epoch); how many.
    pub fn expire_orphans(&self, now_us: u64) -> Result<u64, StoreError> {
        self.check_writable()?;
        let mut w = self.lock();
        self.expire_locked(&mut w, now_us)
    }

    fn expire_locked(&self, w: &mut Writer, now_us: u64) -> Result<u64, StoreError> {
        if w.orphans == 0 {
            return Ok(0);
        }
        let ttl = u64::try_from(ORPHAN_TTL.as_micros()).unwrap_or(u64::MAX);
        let mut old = Vec::new();
        for item in self.orphans.iter() {
            let (k, v) = item.map_err(sled_err("read orphans"))?;
            if split_orphan(&v).0.saturating_add(ttl) <= now_us {
                old.push(k);
            }
        }
        for k in &old {
            if let Err(e) = self.orphans.remove(k) {
                return self.poison(StoreError::Sled {
                    context: "remove orphan",
                    error: e,
                });
            }
            if let Some((author, _)) = split_feed_key(k) {
                Self::forget_one(w, &author);
            }
        }
        if !old.is_empty() {
            tracing::debug!(
                expired = old.len(),
                "orphans expired (sync fetches them again if wanted)"
            );
        }
        Ok(old.len() as u64)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orphan_values_carry_their_time_and_old_ones_read_as_expired() {
        let v = orphan_value(&[0xd2, 1, 2], 77);
        assert_eq!(split_orphan(&v), (77, &[0xd2, 1, 2][..]));
        assert_eq!(split_orphan(&[0xd2, 1, 2]), (0, &[0xd2, 1, 2][..]));
    }
}
