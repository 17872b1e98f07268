//! The STIX objects of the node's log, entry by entry: what each log entry adds, read through the
//! store's public read API. The order (log index, then position within the entry) is what TAXII
//! pages through; it never depends on a query's filters.

use certnet_protocol::id::RecordId;
use certnet_protocol::keys::AuthorKey;
use certnet_protocol::record::{Kind, Record, Tlp};
use serde_json::Value;

use super::ids::{marking_definition, marking_id};
use super::map::{Lookup, StixVersion, identity, record_versions, sdo_id};
use crate::membership::Roster;
use crate::sealed::Keyring;
use crate::services::NodeServices;
use crate::store::{BandSet, Store, StoreError};

/// Why the log's STIX could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StixLogError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored record no longer decodes.
    #[error(
        "a stored record (bytes sha256 {sha256}) no longer decodes: {reason} (the store is damaged)"
    )]
    Corrupt {
        /// SHA-256 of the stored bytes.
        sha256: String,
        /// The decode error.
        reason: String,
    },
}

/// Looks records up in the store, as this node reads them: sealed records addressed to it opened
/// (their bodies map like clear records), others as they are (no STIX form).
#[derive(Clone, Copy)]
pub struct StoreLookup<'a> {
    /// The store.
    pub store: &'a Store,
    keys: Option<(&'a Keyring, &'a Roster)>,
}

impl<'a> StoreLookup<'a> {
    /// Reads `store` opening nothing (sealed records have no STIX form).
    pub fn plain(store: &'a Store) -> Self {
        Self { store, keys: None }
    }

    /// Reads `store` as `services`' node does, opening what is sealed to it; `roster` is the
    /// roster as the caller holds it.
    pub fn reading(services: &'a NodeServices, roster: &'a Roster) -> Self {
        Self {
            store: services.store(),
            keys: Some((services.keyring(), roster)),
        }
    }

    /// Decodes stored bytes and opens them if sealed to this node.
    pub fn decode(&self, bytes: &[u8]) -> Result<Record, StixLogError> {
        let record = decode(bytes)?;
        Ok(match self.keys {
            Some((keyring, roster)) => keyring.present(roster, record),
            None => record,
        })
    }

    /// A held record, decoded.
    pub fn record(&self, id: &RecordId) -> Result<Option<Record>, StixLogError> {
        match self.store.get(id)? {
            None => Ok(None),
            Some(bytes) => self.decode(&bytes).map(Some),
        }
    }

    /// The records that refer to `id` (the opened sealed ones included), decoded.
    pub fn referrers(&self, id: &RecordId) -> Result<Vec<Record>, StixLogError> {
        let mut bytes = self.store.referrers(id)?;
        if self.keys.is_some() {
            bytes.extend(self.store.sealed_referrers(id)?);
        }
        bytes.iter().map(|b| self.decode(b)).collect()
    }
}

impl Lookup for StoreLookup<'_> {
    fn sdo_id(&self, id: &RecordId) -> Option<String> {
        let record = self.record(id).ok()??;
        sdo_id(record.payload(), id)
    }

    fn first_record(&self, author: &AuthorKey) -> Option<(RecordId, u64)> {
        let bytes = self
            .store
            .range(author, 1, 1, usize::MAX)
            .ok()?
            .into_iter()
            .next()?;
        let record = self.decode(&bytes).ok()?;
        (record.payload().seq == 1).then(|| (record.id(), record.payload().time))
    }
}

/// Decodes bytes the store holds.
pub fn decode(bytes: &[u8]) -> Result<Record, StixLogError> {
    Record::decode(bytes).map_err(|e| StixLogError::Corrupt {
        sha256: hex::encode(certnet_protocol::id::sha256(bytes)),
        reason: e.to_string(),
    })
}

/// One object version in the log's order, with the facts TAXII filters on.
#[derive(Debug, Clone)]
pub struct LogItem {
    /// The log entry that added it.
    pub index: u64,
    /// Its position among the objects that entry adds to its collection.
    pub sub: u32,
    /// When this node added the entry (µs since the epoch): TAXII's `date_added`.
    pub added_us: u64,
    /// The object version.
    pub version: StixVersion,
    /// No earlier version of this object is in the collection.
    pub first: bool,
    /// No later version of this object is in the collection.
    pub last: bool,
}

/// The group (all versions of all objects) a record belongs to: its own if it is a target, its
/// target's if it is an applicable update or revoke. Empty if none.
pub fn group_of(
    lookup: &StoreLookup<'_>,
    record: &Record,
) -> Result<Vec<StixVersion>, StixLogError> {
    let p = record.payload();
    let target = match p.kind {
        Kind::Incident | Kind::Indicator | Kind::Advisory | Kind::Sighting => record.clone(),
        Kind::Update | Kind::Revoke => match p.refs.first() {
            Some(t) => match lookup.record(t)? {
                Some(target) if target.payload().author == p.author => target,
                _ => return Ok(vec![]),
            },
            None => return Ok(vec![]),
        },
        // A sealed record this node cannot open makes no STIX object (an opened one arrives as its body).
        Kind::Sealed | Kind::Other(_) => return Ok(vec![]),
    };
    let referrers = lookup.referrers(&target.id())?;
    Ok(record_versions(&target, &referrers, lookup))
}

/// The objects log entry `index` (record `record`, added at `added_us`) adds to the collection of
/// `band`: the band's marking-definition if the entry `opens` the collection, the author's identity
/// at the author's first entry of that band (so an identity never shows in a band its author has
/// published nothing in), and the versions the record makes in that band.
pub fn entry_items(
    lookup: &StoreLookup<'_>,
    index: u64,
    added_us: u64,
    record: &Record,
    band: Tlp,
    opens: bool,
) -> Result<Vec<LogItem>, StixLogError> {
    let mut found: Vec<(StixVersion, bool, bool)> = Vec::new();
    if opens {
        found.push((marking_version(band, record.id()), true, true));
    }
    let author = record.payload().author;
    if lookup.store.first_in_band(band, &author)? == Some(index)
        && let Some(id) = identity(&author, lookup)
    {
        found.push((id, true, true));
    }
    let group = group_of(lookup, record)?;
    let in_band = |v: &StixVersion| v.tlp == Some(band);
    for (i, v) in group.iter().enumerate() {
        if v.origin != record.id() || !in_band(v) {
            continue;
        }
        let first = !group[..i].iter().any(|o| o.id == v.id && in_band(o));
        let last = !group[i + 1..].iter().any(|o| o.id == v.id && in_band(o));
        found.push((v.clone(), first, last));
    }
    Ok(found
        .into_iter()
        .zip(0u32..)
        .map(|((version, first, last), sub)| LogItem {
            index,
            sub,
            added_us,
            version,
            first,
            last,
        })
        .collect())
}

/// A marking-definition as a version, placed at the collection's first entry.
fn marking_version(tlp: Tlp, origin: RecordId) -> StixVersion {
    StixVersion {
        id: marking_id(tlp).to_owned(),
        version_ms: 1_664_582_400_000,
        tlp: None,
        origin,
        object: marking_definition(tlp),
    }
}

/// The bundle objects of one record: every version of its group marked with a band of `bands`,
/// and its author's identity.
pub fn record_objects(
    lookup: &StoreLookup<'_>,
    record: &Record,
    bands: BandSet,
) -> Result<Vec<Value>, StixLogError> {
    let group = group_of(lookup, record)?;
    let mut out = Vec::with_capacity(group.len() + 1);
    if let Some(id) = identity(&record.payload().author, lookup) {
        out.push(id.object);
    }
    out.extend(
        group
            .into_iter()
            .filter(|v| v.tlp.is_none_or(|t| bands.contains(t)))
            .map(|v| v.object),
    );
    if out.len() == 1 {
        out.clear();
    }
    Ok(out)
}
