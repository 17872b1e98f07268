//! Indicator lookup: every live record that reports an observable, every sighting of it, and who
//! reported or sighted it when — from the store's indicator index, checked against each record's
//! current view (an update that drops the value, or a revoke, takes the record out).

use std::collections::{BTreeMap, HashSet};

use certnet_protocol::id::RecordId;
use certnet_protocol::keys::AuthorKey;
use certnet_protocol::record::{Content, IndicatorValue, Kind, Record};
use certnet_protocol::view::View;

use super::NodeServices;
use crate::store::{StoreError, lookup_values};
use certnet_protocol::record::normalize::normalize;

/// How a record relates to the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// It reports the value (an incident, indicator or advisory naming it).
    Reported,
    /// It is a sighting: of the value itself, or of a record that reports it.
    Sighted,
}

impl Role {
    /// `reported` or `sighted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reported => "reported",
            Role::Sighted => "sighted",
        }
    }
}

/// One live record in a lookup's answer, as this node reads it now.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The record as signed (opened if sealed to this node).
    pub record: Record,
    /// Its current view (updates applied).
    pub view: View,
    /// How it relates to the value.
    pub role: Role,
    /// First and last seen (ms): the content's `first_seen`/`last_seen`, else the record's time.
    pub seen: (u64, u64),
}

/// One member's part in a lookup's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reporter {
    /// The author.
    pub author: AuthorKey,
    /// Records of it that report the value.
    pub reported: u32,
    /// Sightings of it.
    pub sighted: u32,
    /// Earliest first seen among them (ms).
    pub first_seen: u64,
    /// Latest last seen among them (ms).
    pub last_seen: u64,
}

/// What a lookup found.
#[derive(Debug, Clone)]
pub struct Lookup {
    /// The value looked up, canonical.
    pub value: IndicatorValue,
    /// The live records that report or sighted it and the caller may read, newest last seen first.
    pub hits: Vec<Hit>,
    /// The authors of `hits`, earliest first seen first.
    pub reporters: Vec<Reporter>,
    /// The index held more entries than a lookup reads: the oldest were left out.
    pub truncated: bool,
}

impl NodeServices {
    /// The records reporting or sighting `value` (canonical), reading at most `max` index entries.
    /// `visible` says whether the caller may see a record (as this node reads it); without `sealed`
    /// `read_sealed` (a reader who may not read sealed records) views are built from clear referrers only, so a
    /// sealed update or revoke neither shows nor hides anything.
    pub fn lookup_indicator(
        &self,
        value: &IndicatorValue,
        max: usize,
        read_sealed: bool,
        visible: impl Fn(&Record) -> bool,
    ) -> Result<Lookup, StoreError> {
        // The opened sealed records' index is read only for a reader who may see them.
        let sealed = read_sealed
            .then(|| self.keyring.index_digest(&value.value))
            .flatten();
        let found = self.store.indicator_entries(&value.value, sealed, max)?;
        // The records the value is reported in: an update stands for its target.
        let mut subjects: Vec<RecordId> = Vec::new();
        for index in found.indexes {
            let Some(entry) = self.store.entry(index)? else {
                continue;
            };
            let record = self.read_stored(&entry.bytes)?;
            let p = record.payload();
            if !lookup_values(p).contains(&value.value) {
                continue; // a digest shared with another value
            }
            let subject = match (&p.kind, p.refs.first()) {
                (Kind::Update, Some(target)) => *target,
                _ => record.id(),
            };
            if !subjects.contains(&subject) {
                subjects.push(subject);
            }
        }
        let mut hits = Vec::new();
        let mut seen_ids = HashSet::new();
        for id in subjects {
            let Some(bytes) = self.store.get(&id)? else {
                continue;
            };
            let record = self.read_stored(&bytes)?;
            let view = self.current_of_as(&record, read_sealed)?;
            let reports = view
                .content
                .observables()
                .into_iter()
                .any(|(kind, v)| normalize(kind, v) == value.value);
            if view.revoked.is_some() || !reports || !visible(&record) {
                continue;
            }
            // Sightings that name this record count as sightings of the value.
            for referrer in self.referrers_as(&id, read_sealed)? {
                if referrer.payload().kind != Kind::Sighting
                    || seen_ids.contains(&referrer.id())
                    || !visible(&referrer)
                {
                    continue;
                }
                let sighting_view = self.current_of_as(&referrer, read_sealed)?;
                if sighting_view.revoked.is_none() {
                    seen_ids.insert(referrer.id());
                    hits.push(hit(referrer, sighting_view));
                }
            }
            if seen_ids.insert(id) {
                hits.push(hit(record, view));
            }
        }
        hits.sort_by_key(|h| std::cmp::Reverse(h.seen.1));
        Ok(Lookup {
            value: value.clone(),
            reporters: reporters(&hits),
            hits,
            truncated: found.truncated,
        })
    }

    /// `record`'s current view: its referrers (as this node reads them) applied.
    pub fn current_of(&self, record: &Record) -> Result<View, StoreError> {
        self.current_of_as(record, true)
    }

    /// [`NodeServices::current_of`] for a reader who may (`sealed`) or may not read sealed records.
    pub fn current_of_as(&self, record: &Record, sealed: bool) -> Result<View, StoreError> {
        let referrers = self.referrers_as(&record.id(), sealed)?;
        let pairs: Vec<_> = referrers.iter().map(|r| (r.id(), r.payload())).collect();
        Ok(certnet_protocol::view::current_view(
            record.payload(),
            &pairs,
        ))
    }
}

fn hit(record: Record, view: View) -> Hit {
    let role = if record.payload().kind == Kind::Sighting {
        Role::Sighted
    } else {
        Role::Reported
    };
    let time = record.payload().time;
    let (first, last) = match &view.content {
        Content::Incident(c) => (c.first_seen, c.last_seen),
        Content::Sighting(c) => (c.first_seen, c.last_seen),
        Content::Indicator(c) => (c.valid_from, None),
        _ => (None, None),
    };
    let first = first.unwrap_or(time);
    Hit {
        record,
        view,
        role,
        seen: (first, last.unwrap_or(time).max(first)),
    }
}

fn reporters(hits: &[Hit]) -> Vec<Reporter> {
    let mut by: BTreeMap<[u8; 32], Reporter> = BTreeMap::new();
    for h in hits {
        let author = h.record.payload().author;
        let r = by.entry(*author.as_bytes()).or_insert(Reporter {
            author,
            reported: 0,
            sighted: 0,
            first_seen: h.seen.0,
            last_seen: h.seen.1,
        });
        match h.role {
            Role::Reported => r.reported += 1,
            Role::Sighted => r.sighted += 1,
        }
        r.first_seen = r.first_seen.min(h.seen.0);
        r.last_seen = r.last_seen.max(h.seen.1);
    }
    let mut out: Vec<Reporter> = by.into_values().collect();
    out.sort_by_key(|r| r.first_seen);
    out
}
