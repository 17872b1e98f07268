//! A STIX 2.1 bundle of the log, written as it is read: memory stays flat however long the log.
//!
//! The bundle holds every object version of the chosen bands (and record kinds), in log order, each
//! author's identity before its first object and each TLP marking-definition before its first use.
//! Its id is derived, as [`super::bundle`]'s is, from the ids and versions it holds, so it is written
//! last (`{"type":"bundle","objects":[...],"id":"bundle--..."}`; JSON objects are unordered).

use std::collections::HashSet;
use std::io::{self, Write};

use certnet_protocol::keys::AuthorKey;
use certnet_protocol::record::{Kind, Tlp};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::ids::{self, marking_definition};
use super::log::{StixLogError, StoreLookup, group_of};
use super::map::identity;
use crate::store::BandSet;

/// Why a streamed bundle stopped.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Reading the log failed.
    #[error(transparent)]
    Log(#[from] StixLogError),
    /// Writing failed (the client went away).
    #[error("writing the bundle: {0}")]
    Io(#[from] io::Error),
}

/// Writes objects into the bundle's `objects` array and hashes what the id is derived from.
struct Writer<'a, W: Write + ?Sized> {
    out: &'a mut W,
    hash: Sha256,
    written: u64,
    markings: HashSet<Tlp>,
    authors: HashSet<AuthorKey>,
}

impl<W: Write + ?Sized> Writer<'_, W> {
    fn object(&mut self, object: &Value) -> io::Result<()> {
        for key in ["id", "modified", "created"] {
            if let Some(v) = object.get(key).and_then(Value::as_str) {
                self.hash.update(v.as_bytes());
            }
            self.hash.update([0]);
        }
        self.out.write_all(if self.written == 0 {
            b",\"objects\":["
        } else {
            b","
        })?;
        serde_json::to_writer(&mut *self.out, object)?;
        self.written += 1;
        Ok(())
    }

    /// Writes the marking-definitions `object` references that were not written yet.
    fn markings_of(&mut self, object: &Value) -> io::Result<()> {
        let refs = object
            .get("object_marking_refs")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for r in refs {
            if let Some(tlp) = r.as_str().and_then(ids::tlp_of_marking)
                && self.markings.insert(tlp)
            {
                self.object(&marking_definition(tlp))?;
            }
        }
        Ok(())
    }
}

/// Writes the bundle of every object version marked with a band of `bands` whose record kind (a
/// target's, for updates and revokes) is in `kinds` (empty: any). Returns the objects written.
pub fn write_bundle<W: Write + ?Sized>(
    lookup: StoreLookup<'_>,
    bands: BandSet,
    kinds: &[Kind],
    out: &mut W,
) -> Result<u64, BundleError> {
    let store = lookup.store;
    out.write_all(b"{\"type\":\"bundle\"")?;
    let mut w = Writer {
        out,
        hash: Sha256::new(),
        written: 0,
        markings: HashSet::new(),
        authors: HashSet::new(),
    };
    for index in store.band_entries(bands, 0) {
        let index = index.map_err(StixLogError::from)?;
        let Some(entry) = store.entry(index).map_err(StixLogError::from)? else {
            break;
        };
        let record = lookup.decode(&entry.bytes)?;
        let p = record.payload();
        let kind = match p.kind {
            Kind::Update | Kind::Revoke => p
                .refs
                .first()
                .and_then(|t| lookup.record(t).ok().flatten())
                .map(|t| t.payload().kind.clone()),
            ref k => Some(k.clone()),
        };
        if !kinds.is_empty() && kind.as_ref().is_none_or(|k| !kinds.contains(k)) {
            continue;
        }
        for v in group_of(&lookup, &record)? {
            if v.origin != record.id() || !v.tlp.is_some_and(|t| bands.contains(t)) {
                continue;
            }
            if w.authors.insert(p.author)
                && let Some(id) = identity(&p.author, &lookup)
            {
                w.object(&id.object)?;
            }
            w.markings_of(&v.object)?;
            w.object(&v.object)?;
        }
    }
    let id = format!(
        "bundle--{}",
        ids::uuid_from_name(&format!(
            "bundle/{}",
            hex::encode(std::mem::replace(&mut w.hash, Sha256::new()).finalize())
        ))
    );
    if w.written > 0 {
        w.out.write_all(b"]")?;
    }
    write!(w.out, ",\"id\":\"{id}\"}}")?;
    w.out.flush()?;
    Ok(w.written)
}
