//! The feed: the log newest first, filtered (author, kind, TLP, text, indicator value, time range),
//! paged by log index, and live: the first page subscribes to `/ui/stream`, which sends each record
//! the node adds (published here, gossiped, synced) as a rendered row within the same rules.

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::State;
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use certnet_protocol::keys::AuthorKey;
use certnet_protocol::record::{Kind, Record, Tlp};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::super::principal::Principal;
use super::super::records::{Filter, current, decode_stored, record_json};
use super::super::wire::RecordJson;
use super::super::{ApiError, ApiQuery, ApiState, stream};
use super::{Signed, duration_ms, error_page, layout, time, tlp_badge};
use crate::services::NodeServices;
use crate::store::{BandSet, StoreError};

/// Rows on one page.
pub(crate) const PAGE_ROWS: usize = 50;
/// Most log entries one page looks at; past it the page ends with a link to go on.
pub(crate) const MAX_SCAN: u64 = 20_000;
/// Most index entries an indicator filter reads.
const INDICATOR_ENTRIES: usize = 1_000;

/// The feed's filters, as the form sends them (empty fields mean "any").
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FeedQuery {
    #[serde(default)]
    author: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    tlp: String,
    /// Text in the content or the author's name.
    #[serde(default)]
    q: String,
    /// An indicator value (any form the lookup takes).
    #[serde(default)]
    indicator: String,
    /// `YYYY-MM-DD` (UTC), inclusive.
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    /// Log index to page back from (exclusive).
    before: Option<u64>,
    /// For the live stream: the log size when the page was read (rows from there on are sent, so
    /// none added between the page and the stream's start is missed).
    from: Option<u64>,
}

impl FeedQuery {
    fn any(&self) -> bool {
        [
            &self.author,
            &self.kind,
            &self.tlp,
            &self.q,
            &self.indicator,
            &self.since,
            &self.until,
        ]
        .iter()
        .any(|f| !f.trim().is_empty())
    }

    /// The query string for the same filters (for paging and the live stream).
    fn filters_query(&self) -> String {
        let pairs: Vec<(&str, &str)> = [
            ("author", &self.author),
            ("kind", &self.kind),
            ("tlp", &self.tlp),
            ("q", &self.q),
            ("indicator", &self.indicator),
            ("since", &self.since),
            ("until", &self.until),
        ]
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| (k, v.as_str()))
        .collect();
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

/// The checked filters of a feed request.
pub(crate) struct Selection {
    filter: Filter,
    text: Option<String>,
    indicator: Option<String>,
}

impl Selection {
    fn parse(
        services: &NodeServices,
        principal: &Principal,
        q: &FeedQuery,
    ) -> Result<Self, ApiError> {
        let bad = |m: String| ApiError::bad_request("bad_filter", m);
        let some = |s: &str| Some(s.trim()).filter(|s| !s.is_empty()).map(str::to_owned);
        let author = match some(&q.author) {
            None => None,
            Some(text) => Some(match AuthorKey::from_str(&text) {
                Ok(key) => key,
                Err(_) => *services
                    .roster()
                    .member_by_name(&text)
                    .ok_or_else(|| {
                        bad(format!(
                            "author `{text}` is neither a member name nor an ed25519:… key"
                        ))
                    })?
                    .author_key(),
            }),
        };
        let kind = some(&q.kind)
            .map(|k| match Kind::from_str(&k) {
                Ok(Kind::Other(name)) => Err(bad(format!("kind `{name}` is not a record kind"))),
                other => other.map_err(|e| bad(e.to_string())),
            })
            .transpose()?;
        let tlp = some(&q.tlp)
            .map(|t| Tlp::from_str(&t).map_err(|e| bad(e.to_string())))
            .transpose()?;
        let day = |field: &str, text: Option<String>, end: bool| -> Result<Option<u64>, ApiError> {
            let Some(text) = text else { return Ok(None) };
            let us = crate::stix::ids::parse_timestamp_us(&format!("{text}T00:00:00Z"))
                .ok_or_else(|| bad(format!("{field} must be a date, YYYY-MM-DD")))?;
            let ms = us / 1000;
            Ok(Some(if end { ms + 86_400_000 - 1 } else { ms }))
        };
        Ok(Self {
            filter: Filter {
                author,
                kind,
                tlp,
                since: day("since", some(&q.since), false)?,
                until: day("until", some(&q.until), true)?,
                readable: principal.readable(),
                include_revoked: true,
                sealed: principal.may_read_sealed(),
            },
            text: some(&q.q).map(|t| t.to_lowercase()),
            indicator: some(&q.indicator),
        })
    }

    /// Whether a listed record passes the filters the log's entries do not answer alone.
    fn shows(&self, json: &RecordJson) -> bool {
        match &self.text {
            None => true,
            Some(text) => {
                json.content.to_string().to_lowercase().contains(text)
                    || json
                        .author_name
                        .as_deref()
                        .is_some_and(|n| n.to_lowercase().contains(text))
                    || json
                        .current
                        .as_ref()
                        .and_then(|c| c.content.as_ref())
                        .is_some_and(|c| c.to_string().to_lowercase().contains(text))
            }
        }
    }

    /// The record as a row, if the filters show it.
    fn row_json(
        &self,
        services: &NodeServices,
        record: &Record,
        logged: (u64, u64),
    ) -> Result<Option<RecordJson>, ApiError> {
        if !self.filter.shows(record) {
            return Ok(None);
        }
        let mut json = record_json(services, record, Some(logged));
        json.current = current(services, record, self.filter.readable, self.filter.sealed)?;
        Ok(self.shows(&json).then_some(json))
    }
}

/// One page of the feed.
pub(crate) struct FeedPage {
    pub(crate) rows: Vec<RecordJson>,
    /// Where the next (older) page starts, if there is one.
    pub(crate) older: Option<u64>,
    /// Authors frozen for equivocation.
    pub(crate) frozen: HashSet<String>,
    /// The log's size when the page was read.
    pub(crate) size: u64,
}

/// The newest entries before `before` that the selection shows, at most [`PAGE_ROWS`], looking at
/// most at [`MAX_SCAN`] entries.
pub(crate) fn newest(
    services: &NodeServices,
    principal: &Principal,
    sel: &Selection,
    before: Option<u64>,
) -> Result<FeedPage, ApiError> {
    let store = services.store();
    let frozen = store
        .frozen()
        .into_iter()
        .map(|(a, _)| a.to_string())
        .collect();
    let size = store.log_size();
    if let Some(value) = &sel.indicator {
        return by_indicator(services, principal, sel, value, frozen, size);
    }
    let start = before.unwrap_or(u64::MAX).min(size);
    // A filter on bands pages back through the band index, never reading other bands' entries.
    let bands = sel.filter.bands();
    let indexes: Box<dyn Iterator<Item = Result<u64, StoreError>> + '_> = if bands == BandSet::ALL {
        Box::new((0..start).rev().map(Ok))
    } else {
        Box::new(store.band_entries_rev(bands, start))
    };
    let mut rows = Vec::new();
    let mut last = start;
    let mut older = None;
    for (scanned, index) in (0..).zip(indexes) {
        if rows.len() == PAGE_ROWS || scanned == MAX_SCAN {
            older = Some(last);
            break;
        }
        let index = index?;
        last = index;
        let Some(entry) = store.entry(index)? else {
            continue;
        };
        let record = services.present(decode_stored(&entry.bytes)?);
        if let Some(json) = sel.row_json(services, &record, (index, entry.added_us))? {
            rows.push(json);
        }
    }
    Ok(FeedPage {
        rows,
        older: older.filter(|o| *o > 0),
        frozen,
        size,
    })
}

fn by_indicator(
    services: &NodeServices,
    principal: &Principal,
    sel: &Selection,
    value: &str,
    frozen: HashSet<String>,
    size: u64,
) -> Result<FeedPage, ApiError> {
    let wanted = super::super::indicators::parse(value, None)?;
    let visible = |r: &Record| principal.may_read_record(r);
    let found = services.lookup_indicator(
        &wanted,
        INDICATOR_ENTRIES,
        principal.may_read_sealed(),
        visible,
    )?;
    let store = services.store();
    let mut rows = Vec::new();
    for hit in found.hits {
        let id = hit.record.id();
        let Some(index) = store.position(&id)? else {
            continue;
        };
        let added = store.added_us(index)?.unwrap_or(0);
        if let Some(json) = sel.row_json(services, &hit.record, (index, added))? {
            rows.push(json);
        }
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.index));
    rows.truncate(PAGE_ROWS * 4);
    Ok(FeedPage {
        rows,
        older: None,
        frozen,
        size,
    })
}

/// `GET /ui/`.
pub(super) async fn page(
    State(state): State<ApiState>,
    signed: Signed,
    ApiQuery(query): ApiQuery<FeedQuery>,
) -> Response {
    let principal = signed.principal().clone();
    let services = state.services.clone();
    let q = query.clone();
    let result = state
        .blocking(move || -> Result<_, ApiError> {
            let sel = Selection::parse(&services, &principal, &q)?;
            let page = newest(&services, &principal, &sel, q.before)?;
            let authors: Vec<String> = services
                .roster()
                .members()
                .iter()
                .map(|m| m.name().to_string())
                .collect();
            Ok((page, authors))
        })
        .await
        .and_then(|r| r);
    let (feed, authors) = match result {
        Ok(r) => r,
        Err(e) => return error_page(Some(&signed), &e),
    };
    let live = query.before.is_none() && query.indicator.trim().is_empty();
    let filters = query.filters_query();
    let stream_url = if filters.is_empty() {
        format!("/ui/stream?from={}", feed.size)
    } else {
        format!("/ui/stream?{filters}&from={}", feed.size)
    };
    let body = html! {
        h1 { "Feed" }
        form.filters method="get" action="/ui/" {
            label { "Author" select name="author" {
                option value="" { "any" }
                @for a in &authors { option value=(a) selected[*a == query.author] { (a) } }
            } }
            label { "Kind" select name="kind" {
                option value="" { "any" }
                @for k in ["incident", "indicator", "advisory", "sighting", "update", "revoke", "sealed"] {
                    option value=(k) selected[k == query.kind] { (k) }
                }
            } }
            label { "TLP" select name="tlp" {
                option value="" { "any" }
                @for t in super::readable_tlps(signed.principal()) {
                    option value=(t.as_str()) selected[t.as_str() == query.tlp] { (t.as_str().to_ascii_uppercase()) }
                }
            } }
            label { "Text" input type="search" name="q" value=(query.q); }
            label { "Indicator" input type="search" name="indicator" value=(query.indicator) placeholder="IP, domain, hash, URL"; }
            label { "From" input type="date" name="since" value=(query.since); }
            label { "To" input type="date" name="until" value=(query.until); }
            button type="submit" { "Filter" }
            @if query.any() { a href="/ui/" { "Clear" } }
        }
        p.live-status {
            @if live { span id="live" data-stream=(stream_url) { "live" } } @else { "not live (an older page or an indicator filter)" }
        }
        table.feed {
            thead { tr {
                th { "TLP" } th { "Author" } th { "Kind" } th { "Title" } th { "Time" } th { "Signature" } th { "Arrived" }
            } }
            tbody id="feed-rows" {
                @for r in &feed.rows { (row(r, &feed.frozen)) }
            }
        }
        @if feed.rows.is_empty() { p.empty id="feed-empty" { "No record matches." } }
        @if let Some(older) = feed.older {
            p.paging { a id="older" href={ "/ui/?" (filters) @if !filters.is_empty() { "&" } "before=" (older) } { "Older records →" } }
        }
    };
    layout("Feed", Some(&signed), body)
}

/// A record's one-line title: its title, value, reason or note.
pub(crate) fn title_of(r: &RecordJson) -> String {
    if r.sealed && r.content.as_object().is_none_or(|o| o.is_empty()) {
        return match &r.sealed_error {
            Some(e) => format!("sealed record this node cannot open ({e})"),
            None => "sealed record (not addressed to this node)".to_owned(),
        };
    }
    let content = r
        .current
        .as_ref()
        .and_then(|c| c.content.as_ref())
        .unwrap_or(&r.content);
    let content = match r.kind.as_str() {
        // An update holds `{kind: content}`.
        "update" => content
            .as_object()
            .and_then(|o| o.values().next())
            .unwrap_or(content),
        _ => content,
    };
    for field in ["title", "value", "reason", "note"] {
        if let Some(Value::String(s)) = content.get(field) {
            return s.clone();
        }
    }
    String::new()
}

/// One feed row.
pub(crate) fn row(r: &RecordJson, frozen: &HashSet<String>) -> Markup {
    let revoked = r.current.as_ref().is_some_and(|c| c.revoked);
    let arrived = r.added_us.map(|us| {
        i64::try_from(us / 1000).unwrap_or(i64::MAX) - i64::try_from(r.time).unwrap_or(0)
    });
    let tlp = r
        .current
        .as_ref()
        .map_or(r.tlp.as_str(), |c| c.tlp.as_str());
    html! {
        tr data-id=(r.id) data-index=[r.index] class=[revoked.then_some("revoked")] {
            td { (tlp_badge(tlp)) @if r.sealed { " " span.sealed title="sealed to named recipients" { "sealed" } } }
            td.author { (r.author_name.as_deref().unwrap_or(&r.author)) }
            td.kind { (r.kind) }
            td.title {
                a href={ "/ui/records/" (r.id) } { (title_of(r)) }
                @if revoked { " " span.badge.revoked { "revoked" } }
                @if r.current.as_ref().is_some_and(|c| c.updates > 0) { " " span.badge { "updated" } }
            }
            td.time { (time(r.time)) }
            td.sig {
                @if frozen.contains(&r.author) {
                    span.bad title="this author signed two records at one seq: see Federation" { "⚠ fork" }
                } @else {
                    span.ok title="signature verified and linked to the author's previous record when stored" { "✓ signed · #" (r.seq) }
                }
            }
            td.arrived { @if let Some(ms) = arrived { (duration_ms(ms)) } }
        }
    }
}

/// `GET /ui/stream`: the rows the feed shows, live.
pub(super) async fn stream(
    State(state): State<ApiState>,
    signed: Signed,
    headers: axum::http::HeaderMap,
    ApiQuery(query): ApiQuery<FeedQuery>,
) -> Response {
    // A reconnecting EventSource resumes after the last row it got.
    let from = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|last| last.saturating_add(1))
        .or(query.from);
    let principal = signed.principal().clone();
    let sel = match Selection::parse(&state.services, &principal, &query) {
        Ok(s) => Arc::new(s),
        Err(e) => return e.into_response(),
    };
    let readable = principal.readable();
    // A session signed out or expired while its stream is open gets no more rows.
    let sessions = state.console.clone();
    let key = signed.0.key;
    let render: stream::Render = Arc::new(move |services, record, index, added_us| {
        if !sessions.is_live(&key) {
            return None;
        }
        let json = sel.row_json(services, record, (index, added_us)).ok()??;
        let frozen = services
            .store()
            .frozen()
            .into_iter()
            .map(|(a, _)| a.to_string())
            .collect();
        let markup = row(&json, &frozen);
        Some(
            Event::default()
                .event("row")
                .id(index.to_string())
                .data(markup.into_string()),
        )
    });
    match stream::open(state, readable, from, render) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}
