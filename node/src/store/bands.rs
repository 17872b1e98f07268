//! The band index: which log entries may add objects to each TLP band, and where each author first
//! appears in a band. Readers that serve one audience (TAXII collections, filtered lists, the live
//! stream) walk only the entries of the bands they may read, so a sparse band costs what it holds,
//! not what the log holds.
//!
//! Spaces of the main tree (written in the same atomic batch as the entry):
//! - `b`: `band (1) ‖ log index (8)` → empty, for every band an entry is tagged with;
//! - `i`: `band (1) ‖ author (32)` → log index (8) of the author's first entry whose own TLP is that
//!   band (where its STIX identity enters that band's collection).
//!
//! Tags are a superset of where an entry's STIX versions land, computed from the record and its
//! target alone (no view logic here): a record's own TLP; for an `update`, every band between its
//! TLP and its target's (the versions it makes and those it ends); for a `revoke`, every band up to
//! its target's (an update can only have loosened the target); for a `sealed` record, every band (its
//! kind and target are known only to its recipients). Readers filter exactly after reading.

use std::collections::HashSet;

use certnet_protocol::id::RecordId;
use certnet_protocol::keys::AuthorKey;
use certnet_protocol::record::{Kind, Payload, Record, Tlp};

use super::keys::{split_log_value, u64_be};
use super::space::Space;
use super::{Store, StoreError, Writer, sled_err};

/// Bumped when what the indexes hold changes: a store with an older version rebuilds them at open.
pub(super) const INDEX_VERSION: u8 = 2;
/// The `meta` tree's key holding [`INDEX_VERSION`].
pub(super) const INDEX_VERSION_KEY: &[u8] = b"band-index-version";

/// The bands in order, tightest last; a band's byte is its position here.
const ORDER: [Tlp; 5] = [
    Tlp::Clear,
    Tlp::Green,
    Tlp::Amber,
    Tlp::AmberStrict,
    Tlp::Red,
];

fn band_byte(tlp: Tlp) -> u8 {
    match tlp {
        Tlp::Clear => 0,
        Tlp::Green => 1,
        Tlp::Amber => 2,
        Tlp::AmberStrict => 3,
        Tlp::Red => 4,
    }
}

/// A set of TLP bands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BandSet(u8);

impl BandSet {
    /// No band.
    pub const NONE: BandSet = BandSet(0);
    /// Every band.
    pub const ALL: BandSet = BandSet(0b1_1111);

    /// The set holding only `tlp`.
    pub fn one(tlp: Tlp) -> Self {
        BandSet(1 << band_byte(tlp))
    }

    /// The set of these bands.
    pub fn of(tlps: impl IntoIterator<Item = Tlp>) -> Self {
        tlps.into_iter()
            .fold(BandSet::NONE, |set, t| set.with(BandSet::one(t)))
    }

    /// Both sets together.
    pub fn with(self, other: BandSet) -> Self {
        BandSet(self.0 | other.0)
    }

    /// Whether `tlp` is in the set.
    pub fn contains(self, tlp: Tlp) -> bool {
        self.0 & (1 << band_byte(tlp)) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The bands, loosest first.
    pub fn iter(self) -> impl Iterator<Item = Tlp> {
        ORDER.into_iter().filter(move |t| self.contains(*t))
    }

    /// Every band from `a` to `b`, both included, in either order.
    fn between(a: Tlp, b: Tlp) -> Self {
        let (lo, hi) = (
            band_byte(a).min(band_byte(b)),
            band_byte(a).max(band_byte(b)),
        );
        BandSet::of(ORDER[lo as usize..=hi as usize].iter().copied())
    }
}

/// The bands a record's log entry is tagged with; `target` is the TLP of the record it updates or
/// revokes, if this node holds it.
pub(super) fn tags(payload: &Payload, target: Option<Tlp>) -> BandSet {
    let own = BandSet::one(payload.tlp);
    match (&payload.kind, target) {
        // A sealed record may be an update or revoke of anything (only its recipients know): every
        // band, so a recipient's readers find the versions it makes or ends.
        (Kind::Sealed, _) => BandSet::ALL,
        (Kind::Update, Some(t)) => BandSet::between(payload.tlp, t),
        (Kind::Revoke, Some(t)) => own.with(BandSet::between(Tlp::Clear, t)),
        _ => own,
    }
}

fn band_key(band: u8, index: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = band;
    k[1..].copy_from_slice(&index.to_be_bytes());
    k
}

fn ident_key(band: u8, author: &AuthorKey) -> [u8; 33] {
    let mut k = [0u8; 33];
    k[0] = band;
    k[1..].copy_from_slice(author.as_bytes());
    k
}

/// The TLP of the target an `update` or `revoke` names, read with `lookup`.
fn target_tlp(
    payload: &Payload,
    lookup: impl FnOnce(&RecordId) -> Result<Option<Vec<u8>>, StoreError>,
) -> Result<Option<Tlp>, StoreError> {
    if !matches!(payload.kind, Kind::Update | Kind::Revoke) {
        return Ok(None);
    }
    let Some(target) = payload.refs.first() else {
        return Ok(None);
    };
    Ok(lookup(target)?
        .and_then(|bytes| Record::decode(&bytes).ok())
        .map(|r| r.payload().tlp))
}

impl Store {
    /// The index entries of log entry `index` (record `payload`), read before anything is written so
    /// that a failed read leaves the writer's group untouched. [`Store::add_band_entries`] adds them.
    pub(super) fn band_entries_of(
        &self,
        w: &Writer,
        index: u64,
        payload: &Payload,
    ) -> Result<BandEntries, StoreError> {
        let target = target_tlp(payload, |id| match w.group.records.get(id) {
            Some(bytes) => Ok(Some(bytes.clone())),
            None => self.get(id),
        })?;
        let keys = tags(payload, target)
            .iter()
            .map(|band| self.bands.key(&band_key(band_byte(band), index)))
            .collect();
        let first = (band_byte(payload.tlp), payload.author);
        let ident = if w.group.idents.contains(&first)
            || self
                .idents
                .contains_key(&ident_key(first.0, &first.1))
                .map_err(sled_err("read band index"))?
        {
            None
        } else {
            Some(first)
        };
        Ok(BandEntries { keys, ident, index })
    }

    /// Adds what [`Store::band_entries_of`] found to the writer's group.
    pub(super) fn add_band_entries(&self, w: &mut Writer, entries: BandEntries) {
        for key in entries.keys {
            w.group.batch.insert(key, &[][..]);
        }
        if let Some(first) = entries.ident {
            w.group.batch.insert(
                self.idents.key(&ident_key(first.0, &first.1)),
                &entries.index.to_be_bytes()[..],
            );
            w.group.idents.insert(first);
        }
    }

    /// Rebuilds the band index from the log if it was written by an older version (or never).
    pub(super) fn rebuild_bands_if_stale(&self, size: u64) -> Result<(), StoreError> {
        let version = self
            .meta
            .get(INDEX_VERSION_KEY)
            .map_err(sled_err("read meta"))?;
        if version.as_deref() == Some(&[INDEX_VERSION][..]) {
            return Ok(());
        }
        if size > 0 {
            tracing::info!(
                entries = size,
                "building the band index of this store (once, after an upgrade)"
            );
        }
        for space in [&self.bands, &self.idents] {
            clear(space)?;
        }
        let mut seen: HashSet<(u8, AuthorKey)> = HashSet::new();
        let mut batch = sled::Batch::default();
        let mut pending = 0usize;
        for item in self.log.range_from(&[]) {
            let (k, v) = item.map_err(sled_err("read log"))?;
            let index = u64_be(&k).ok_or_else(|| StoreError::Corrupt("bad log key".into()))?;
            let (id, _) = split_log_value(&v)
                .ok_or_else(|| StoreError::Corrupt(format!("log entry {index} is malformed")))?;
            let bytes = self.get(&id)?.ok_or_else(|| {
                StoreError::Corrupt(format!("log entry {index} names a missing record"))
            })?;
            let record = Record::decode(&bytes)
                .map_err(|e| StoreError::Corrupt(format!("log entry {index}: {e}")))?;
            let payload = record.payload();
            let target = target_tlp(payload, |id| self.get(id))?;
            for band in tags(payload, target).iter() {
                batch.insert(self.bands.key(&band_key(band_byte(band), index)), &[][..]);
            }
            let first = (band_byte(payload.tlp), payload.author);
            if seen.insert(first) {
                batch.insert(
                    self.idents.key(&ident_key(first.0, &first.1)),
                    &index.to_be_bytes()[..],
                );
            }
            pending += 1;
            if pending == 10_000 {
                self.main
                    .apply_batch(std::mem::take(&mut batch))
                    .map_err(sled_err("write band index"))?;
                pending = 0;
            }
        }
        self.main
            .apply_batch(batch)
            .map_err(sled_err("write band index"))?;
        self.meta
            .insert(INDEX_VERSION_KEY, &[INDEX_VERSION][..])
            .map_err(sled_err("write meta"))?;
        self.db.flush().map_err(sled_err("flush band index"))?;
        Ok(())
    }

    /// Log indexes from `from` on whose entries are tagged with any band of `bands`, in log order,
    /// each once. Only entries already visible to readers (below the log size) are returned.
    pub fn band_entries(
        &self,
        bands: BandSet,
        from: u64,
    ) -> impl Iterator<Item = Result<u64, StoreError>> + '_ {
        let size = self.log_size();
        let heads = bands
            .iter()
            .map(|tlp| self.band_iter(band_byte(tlp), from, u64::MAX, false))
            .collect();
        merge(heads, false).take_while(move |item| item.as_ref().map_or(true, |i| *i < size))
    }

    /// Log indexes below `before` whose entries are tagged with any band of `bands`, newest first,
    /// each once (the console's feed pages back through a band without reading the others).
    pub fn band_entries_rev(
        &self,
        bands: BandSet,
        before: u64,
    ) -> impl Iterator<Item = Result<u64, StoreError>> + '_ {
        let before = before.min(self.log_size());
        let heads = bands
            .iter()
            .map(|tlp| self.band_iter(band_byte(tlp), 0, before, true))
            .collect();
        merge(heads, true)
    }

    /// One band's log indexes in `from..before`, in log order or (`rev`) newest first.
    fn band_iter(&self, band: u8, from: u64, before: u64, rev: bool) -> BandIter<'_> {
        let entries = self
            .bands
            .range(&band_key(band, from), &band_key(band, before));
        let keys: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> = if rev {
            Box::new(entries.rev())
        } else {
            Box::new(entries)
        };
        let iter = keys.map(|item| {
            let (k, _) = item.map_err(sled_err("read band index"))?;
            u64_be(&k[1..]).ok_or_else(|| StoreError::Corrupt("bad band key".into()))
        });
        let boxed: Box<dyn Iterator<Item = Result<u64, StoreError>> + '_> = Box::new(iter);
        boxed.peekable()
    }

    /// The log index of `author`'s first entry whose own TLP is `tlp`, if any.
    pub fn first_in_band(&self, tlp: Tlp, author: &AuthorKey) -> Result<Option<u64>, StoreError> {
        let v = self
            .idents
            .get(&ident_key(band_byte(tlp), author))
            .map_err(sled_err("read band index"))?;
        Ok(v.and_then(|v| u64_be(&v))
            .filter(|index| *index < self.log_size()))
    }
}

/// The band index entries of one append.
pub(super) struct BandEntries {
    keys: Vec<Vec<u8>>,
    ident: Option<(u8, AuthorKey)>,
    index: u64,
}

type BandIter<'a> = std::iter::Peekable<Box<dyn Iterator<Item = Result<u64, StoreError>> + 'a>>;

/// The indexes of several bands' iterators as one, each once: ascending, or (`rev`) descending.
/// An error from any band is passed on as it comes.
fn merge(
    mut heads: Vec<BandIter<'_>>,
    rev: bool,
) -> impl Iterator<Item = Result<u64, StoreError>> + '_ {
    std::iter::from_fn(move || {
        // The next index among the bands; equal ones are consumed together.
        let mut next: Option<u64> = None;
        for head in heads.iter_mut() {
            match head.peek() {
                Some(Err(_)) => return head.next(),
                Some(Ok(i)) => {
                    next = Some(match next {
                        None => *i,
                        Some(n) if rev => n.max(*i),
                        Some(n) => n.min(*i),
                    });
                }
                None => {}
            }
        }
        let next = next?;
        for head in heads.iter_mut() {
            if matches!(head.peek(), Some(Ok(i)) if *i == next) {
                head.next();
            }
        }
        Some(Ok(next))
    })
}

/// Removes every key of `space`.
fn clear(space: &Space) -> Result<(), StoreError> {
    let mut batch = sled::Batch::default();
    for item in space.range_from(&[]) {
        let (k, _) = item.map_err(sled_err("read index"))?;
        batch.remove(space.key(&k));
    }
    space.apply(batch).map_err(sled_err("clear index"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_cover_own_band_and_the_range_an_update_or_revoke_touches() {
        let draft = |kind: Kind, tlp: Tlp| {
            let d = certnet_protocol::record::sample::incident(1);
            Payload {
                net: "n".into(),
                author: certnet_protocol::keys::AuthorSecret::from_seed(&[1; 32]).public(),
                seq: 1,
                prev: None,
                time: 1,
                kind,
                tlp,
                refs: vec![],
                content: d.content,
            }
        };
        let incident = draft(Kind::Incident, Tlp::Amber);
        assert_eq!(tags(&incident, None), BandSet::one(Tlp::Amber));
        let update = draft(Kind::Update, Tlp::Clear);
        assert_eq!(
            tags(&update, Some(Tlp::Amber)),
            BandSet::of([Tlp::Clear, Tlp::Green, Tlp::Amber])
        );
        assert_eq!(tags(&update, None), BandSet::one(Tlp::Clear));
        let revoke = draft(Kind::Revoke, Tlp::Amber);
        assert_eq!(
            tags(&revoke, Some(Tlp::Green)),
            BandSet::of([Tlp::Clear, Tlp::Green, Tlp::Amber])
        );
        assert_eq!(
            BandSet::of([Tlp::Red, Tlp::Clear])
                .iter()
                .collect::<Vec<_>>(),
            [Tlp::Clear, Tlp::Red]
        );
    }
}
