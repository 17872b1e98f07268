//! The writer: ingesting records from others, appending this node's own, forks, checkpoints. Every
//! mutation runs under the writer lock and lands in sled through [`Store::commit`].

use certnet_protocol::chain::{EquivocationProof, check_link};
use certnet_protocol::id::RecordId;
use certnet_protocol::keys::AuthorKey;
use certnet_protocol::merkle::{self, leaf_hash};
use certnet_protocol::record::{VerifiedRecord, verify_record};

use super::indicators;
use super::keys::{self, feed_key, log_value, merkle_key};
use super::{Ingest, MAX_GROUP, Pending, Store, StoreError, Writer, now_us, sled_err};

impl Store {
    /// Ingests one verified record (gossip, sync, import). Not durable until [`Store::flush`].
    pub fn ingest(&self, record: VerifiedRecord) -> Result<Ingest, StoreError> {
        self.check_writable()?;
        self.check_room_for_others()?;
        let mut w = self.lock();
        let outcome = self.ingest_locked(&mut w, record);
        self.commit(&mut w)?;
        outcome
    }

    /// Ingests many records and flushes once (group commit).
    pub fn ingest_batch(&self, records: Vec<VerifiedRecord>) -> Result<Vec<Ingest>, StoreError> {
        self.check_writable()?;
        self.check_room_for_others()?;
        let outcomes = {
            let mut w = self.lock();
            let outcomes = records
                .into_iter()
                .map(|r| {
                    let outcome = self.ingest_locked(&mut w, r);
                    if w.group.records.len() >= MAX_GROUP {
                        self.commit(&mut w)?;
                    }
                    outcome
                })
                .collect::<Result<Vec<_>, _>>();
            // What was appended before an error is valid: it is applied either way.
            self.commit(&mut w)?;
            outcomes?
        };
        self.flush()?;
        Ok(outcomes)
    }

    /// Signs and appends this node's own next record, durably, in one step under the writer lock so
    /// a seq is never signed twice. `make` gets the author's head and returns the signed record.
    pub fn append_own<E>(
        &self,
        author: AuthorKey,
        make: impl FnOnce(Option<(u64, RecordId)>) -> Result<VerifiedRecord, E>,
    ) -> Result<Result<(VerifiedRecord, u64), E>, StoreError> {
        self.check_writable()?;
        self.check_room()?;
        let mut w = self.lock();
        if w.frozen.contains_key(&author) {
            return Err(StoreError::Corrupt(
                "this node's own author key is frozen after a fork".into(),
            ));
        }
        let head = w.heads.get(&author).copied();
        let record = match make(head) {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        if let Err(e) = check_link(head, &record) {
            return Err(StoreError::Corrupt(format!(
                "own record does not extend the feed head: {e}"
            )));
        }
        let index = self.append_locked(&mut w, &record)?;
        self.commit(&mut w)?;
        drop(w);
        self.flush()?;
        Ok(Ok((record, index)))
    }

    pub(super) fn ingest_locked(
        &self,
        w: &mut Writer,
        record: VerifiedRecord,
    ) -> Result<Ingest, StoreError> {
        let author = record.author();
        let seq = record.seq();
        if w.frozen.contains_key(&author) {
            return Ok(Ingest::Frozen);
        }
        if w.group.records.contains_key(&record.id())
            || self
                .records
                .contains_key(record.id().as_bytes())
                .map_err(sled_err("read records"))?
        {
            return Ok(Ingest::Duplicate);
        }
        let head = w.heads.get(&author).copied();
        let head_seq = head.map_or(0, |h| h.0);
        if seq <= head_seq {
            // We hold a different record at this seq: equivocation.
            let other = self.feed_record(w, author, seq)?;
            return self.record_fork(w, other, record);
        }
        if seq > head_seq + 1 || check_link(head, &record).is_err() {
            return self.keep_orphan(w, record, head_seq + 1);
        }
        let index = self.append_locked(w, &record)?;
        if let Some(stale) = self.take_orphan(w, author, seq)?
            && stale != record.bytes()
        {
            // An orphan at this seq that did not link: the author signed two records here.
            let other = self.reverify(&stale)?;
            return self.record_fork(w, other, record);
        }
        let unblocked = self.drain_orphans(w, author)?;
        Ok(Ingest::Appended { index, unblocked })
    }

    /// Appends a record known to extend its author's chain to the writer's pending group.
    pub(super) fn append_locked(
        &self,
        w: &mut Writer,
        record: &VerifiedRecord,
    ) -> Result<u64, StoreError> {
        let index = w.group.size;
        let id = record.id();
        let nodes = match merkle::append(&Pending(self, &w.group), index, leaf_hash(record.bytes()))
        {
            Ok(n) => n,
            Err(e) => return self.poison(e),
        };
        let bands = self.band_entries_of(w, index, record.payload())?;
        self.add_band_entries(w, bands);
        let added_us = now_us().max(w.last_added_us);
        let group = &mut w.group;
        let batch = &mut group.batch;
        // records: id → log index (8, big-endian) ‖ signed bytes.
        let mut value = Vec::with_capacity(8 + record.bytes().len());
        value.extend_from_slice(&index.to_be_bytes());
        value.extend_from_slice(record.bytes());
        batch.insert(self.records.key(id.as_bytes()), value);
        batch.insert(
            self.feeds.key(&feed_key(&record.author(), record.seq())),
            id.as_bytes(),
        );
        batch.insert(
            self.log.key(&index.to_be_bytes()),
            &log_value(&id, added_us)[..],
        );
        for (level, i, hash) in nodes.iter().filter(|n| n.0 > 0) {
            batch.insert(self.merkle_nodes.key(&merkle_key(*level, *i)), &hash[..]);
        }
        for target in &record.payload().refs {
            batch.insert(self.refs.key(&keys::ref_key(target, index)), id.as_bytes());
        }
        for (level, i, hash) in nodes {
            group.nodes.insert((level, i), hash);
        }
        group.records.insert(id, record.bytes().to_vec());
        group.feeds.insert((record.author(), record.seq()), id);
        group.size = index + 1;
        group
            .indicators
            .push((index, indicators::digests_of(record.payload())));
        w.heads.insert(record.author(), (record.seq(), id));
        w.last_added_us = added_us;
        Ok(index)
    }

    pub(super) fn record_fork(
        &self,
        w: &mut Writer,
        a: VerifiedRecord,
        b: VerifiedRecord,
    ) -> Result<Ingest, StoreError> {
        let (author, seq) = (a.author(), a.seq());
        let proof = EquivocationProof::new(a, b)
            .map_err(|e| StoreError::Corrupt(format!("fork proof from stored records: {e}")))?;
        if let Err(e) = self.forks.insert(feed_key(&author, seq), proof.to_cbor()) {
            return self.poison(StoreError::Sled {
                context: "insert fork proof",
                error: e,
            });
        }
        w.frozen.entry(author).or_insert(seq);
        tracing::error!(author = %author, seq, "author signed two records at one seq: frozen, proof kept");
        Ok(Ingest::Fork { author, seq })
    }

    /// Bytes written by this store are re-verified before reuse in a proof or an append.
    pub(super) fn reverify(&self, bytes: &[u8]) -> Result<VerifiedRecord, StoreError> {
        verify_record(bytes, &self.net)
            .map_err(|e| StoreError::Corrupt(format!("stored record no longer verifies: {e}")))
    }

    pub(super) fn feed_record(
        &self,
        w: &Writer,
        author: AuthorKey,
        seq: u64,
    ) -> Result<VerifiedRecord, StoreError> {
        if let Some(id) = w.group.feeds.get(&(author, seq))
            && let Some(bytes) = w.group.records.get(id)
        {
            return self.reverify(bytes);
        }
        let id = self
            .feeds
            .get(&feed_key(&author, seq))
            .map_err(sled_err("read feeds"))?
            .ok_or_else(|| {
                StoreError::Corrupt(format!("feed of {author} has a hole at seq {seq}"))
            })?;
        let bytes = self.named_record(&id, || {
            StoreError::Corrupt("feed names a missing record".into())
        })?;
        self.reverify(&bytes)
    }

    /// Keeps a signed checkpoint note for tree size `size`.
    pub fn put_checkpoint(&self, size: u64, note: &str) -> Result<(), StoreError> {
        self.check_writable()?;
        self.check_room()?;
        if let Err(e) = self.checkpoints.insert(size.to_be_bytes(), note.as_bytes()) {
            return self.poison(StoreError::Sled {
                context: "insert checkpoint",
                error: e,
            });
        }
        self.flush()
    }
}
