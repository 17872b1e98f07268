//! One page of a collection: the entries of the collection's band from the query's position (the
//! store's band index), so a poll costs what its page holds, not what the log holds.

use certnet_protocol::record::Tlp;

use super::TaxiiError;
use super::query::Query;
use crate::stix::log::{LogItem, StixLogError, StoreLookup, entry_items};
use crate::store::BandSet;

/// One page: the matching items from the query's start, and where the next page starts.
pub(super) struct Page {
    pub(super) items: Vec<LogItem>,
    pub(super) next: Option<(u64, u32)>,
}

/// Scans the collection of `band` from the query's start (or the first entry added after its
/// `added_after`) for one page.
pub(super) fn scan(lookup: StoreLookup<'_>, band: Tlp, query: &Query) -> Result<Page, TaxiiError> {
    let store = lookup.store;
    let bands = BandSet::one(band);
    // The collection's marking-definition opens it, at the band's first entry.
    let first = store
        .band_entries(bands, 0)
        .next()
        .transpose()
        .map_err(StixLogError::from)?;
    let mut from = query.start.0;
    if let Some(t) = query.added_after {
        from = from.max(store.first_added_after(t).map_err(StixLogError::from)?);
    }
    let mut items = Vec::new();
    for index in store.band_entries(bands, from) {
        let index = index.map_err(StixLogError::from)?;
        let Some(entry) = store.entry(index).map_err(StixLogError::from)? else {
            break;
        };
        let record = lookup.decode(&entry.bytes)?;
        let opens = first == Some(index);
        for item in entry_items(&lookup, index, entry.added_us, &record, band, opens)? {
            if (item.index, item.sub) < query.start || !query.matches(&item) {
                continue;
            }
            if items.len() == query.limit {
                return Ok(Page {
                    items,
                    next: Some((item.index, item.sub)),
                });
            }
            items.push(item);
        }
    }
    Ok(Page { items, next: None })
}
