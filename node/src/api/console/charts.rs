//! The activity page: records per day per CERT over the last 30 days (stacked bars), and how long
//! records took to arrive here over time (a scatter on a log scale), drawn as inline SVG on the
//! server from the log, within the session's bands.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::Response;
use maud::{Markup, html};

use super::super::records::decode_stored;
use super::super::{ApiError, ApiState};
use super::{Signed, duration_ms, error_page, layout};
use crate::services::NodeServices;

const DAY_MS: u64 = 86_400_000;
/// Days the bar chart shows.
const DAYS: u64 = 30;
/// Most log entries the page reads (newest first): each costs a store read and a decode (about
/// 80 µs on a 100k-record log, BENCHMARKS.md), so the page answers in under 2 s.
const MAX_ENTRIES: u64 = 20_000;
/// Points the latency scatter shows (the newest arrivals from other members).
const MAX_POINTS: usize = 2_000;
/// Colours (classes `c0`… in console.css) cycle past this many authors.
const COLOURS: usize = 8;

/// What the charts are drawn from.
#[derive(Debug, Default)]
struct Activity {
    /// (day index from the first shown day, author) → records.
    per_day: BTreeMap<(u64, String), u32>,
    /// (added ms, latency ms) of records from other members.
    arrivals: Vec<(u64, i64)>,
    first_day: u64,
    scanned: u64,
}

fn gather(
    services: &NodeServices,
    readable: crate::store::BandSet,
    sealed: bool,
    now: u64,
) -> Result<Activity, ApiError> {
    let store = services.store();
    let first_day = (now / DAY_MS).saturating_sub(DAYS - 1) * DAY_MS;
    let own = services.author_key();
    let mut a = Activity {
        first_day,
        ..Activity::default()
    };
    let mut index = store.log_size();
    while index > 0 && a.scanned < MAX_ENTRIES {
        index -= 1;
        a.scanned += 1;
        let Some(entry) = store.entry(index)? else {
            continue;
        };
        let record = services.present(decode_stored(&entry.bytes)?);
        let p = record.payload();
        if !readable.contains(p.tlp) || (!sealed && super::super::principal::is_sealed(&record)) {
            continue;
        }
        let added_ms = entry.added_us / 1000;
        if added_ms < first_day && p.time < first_day && a.arrivals.len() >= MAX_POINTS {
            break;
        }
        if p.time >= first_day && p.time <= now + DAY_MS {
            let name = services
                .member_name(&p.author)
                .unwrap_or_else(|| p.author.to_string());
            *a.per_day
                .entry(((p.time - first_day) / DAY_MS, name))
                .or_default() += 1;
        }
        if p.author != own && a.arrivals.len() < MAX_POINTS {
            let latency =
                i64::try_from(added_ms).unwrap_or(i64::MAX) - i64::try_from(p.time).unwrap_or(0);
            a.arrivals.push((added_ms, latency));
        }
    }
    Ok(a)
}

/// `GET /ui/activity`.
pub(super) async fn page(State(state): State<ApiState>, signed: Signed) -> Response {
    let services = state.services.clone();
    let readable = signed.principal().readable();
    let sealed = signed.principal().may_read_sealed();
    let now = crate::services::now_ms();
    let activity = match state
        .blocking(move || gather(&services, readable, sealed, now))
        .await
        .and_then(|r| r)
    {
        Ok(a) => a,
        Err(e) => return error_page(Some(&signed), &e),
    };
    let body = html! {
        h1 { "Activity" }
        section {
            h2 { "Records per day per CERT (last " (DAYS) " days, UTC)" }
            (per_day(&activity))
        }
        section {
            h2 { "Arrival latency: from signing to this node's log" }
            p.hint { "Each dot is a record from another member (the newest " (MAX_POINTS) "): when it arrived here, and how long after its author signed it (log scale). Dots high up arrived late: a partition, a node that was down, or a clock that is off." }
            (latency(&activity))
        }
        p.hint { "Drawn from the newest " (activity.scanned) " log entries this session may read." }
    };
    layout("Activity", Some(&signed), body)
}

const W: f64 = 900.0;
const H: f64 = 260.0;
const LEFT: f64 = 50.0;
const BOTTOM: f64 = 30.0;

fn per_day(a: &Activity) -> Markup {
    let authors: Vec<&String> = {
        let mut v: Vec<&String> = a.per_day.keys().map(|(_, n)| n).collect();
        v.sort();
        v.dedup();
        v
    };
    let mut totals = [0u32; DAYS as usize];
    for ((day, _), n) in &a.per_day {
        if let Some(t) = totals.get_mut(usize::try_from(*day).unwrap_or(usize::MAX)) {
            *t += n;
        }
    }
    let max = totals.iter().copied().max().unwrap_or(0).max(1);
    let plot_h = H - BOTTOM - 10.0;
    let bar_w = (W - LEFT - 10.0) / DAYS as f64;
    let colour = |name: &String| authors.iter().position(|a| *a == name).unwrap_or(0) % COLOURS;
    html! {
        svg.chart id="per-day" viewBox={ "0 0 " (W) " " (H) } role="img" aria-label="records per day per CERT" {
            line.axis x1=(LEFT) y1=(H - BOTTOM) x2=(W - 10.0) y2=(H - BOTTOM) {}
            text.label x=(LEFT - 6.0) y=(10.0 + 4.0) text-anchor="end" { (max) }
            text.label x=(LEFT - 6.0) y=(H - BOTTOM) text-anchor="end" { "0" }
            @for day in 0..DAYS {
                @let x = LEFT + day as f64 * bar_w;
                @let stack = stack_of(a, day);
                @for (name, n, below) in stack {
                    @let h = plot_h * f64::from(n) / f64::from(max);
                    @let y = H - BOTTOM - plot_h * f64::from(below) / f64::from(max) - h;
                    rect class={ "c" (colour(name)) } x=(format!("{:.1}", x + 1.0)) y=(format!("{y:.1}")) width=(format!("{:.1}", bar_w - 2.0)) height=(format!("{h:.1}")) {
                        title { (name) ": " (n) " on " (day_label(a.first_day + day * DAY_MS)) }
                    }
                }
                @if day % 5 == 0 || day == DAYS - 1 {
                    text.label x=(format!("{:.1}", x + bar_w / 2.0)) y=(H - 10.0) text-anchor="middle" { (day_label(a.first_day + day * DAY_MS).get(5..).unwrap_or("")) }
                }
            }
        }
        ul.legend { @for name in &authors { li { span class={ "swatch c" (colour(name)) } {} " " (name) } } }
    }
}

/// A day's stacked segments: (author, records, records below).
fn stack_of(a: &Activity, day: u64) -> Vec<(&String, u32, u32)> {
    let mut below = 0;
    a.per_day
        .range((day, String::new())..(day + 1, String::new()))
        .map(|((_, name), n)| {
            let seg = (name, *n, below);
            below += n;
            seg
        })
        .collect()
}

fn day_label(ms: u64) -> String {
    crate::stix::ids::timestamp(ms)
        .get(..10)
        .unwrap_or("")
        .to_owned()
}

fn latency(a: &Activity) -> Markup {
    if a.arrivals.is_empty() {
        return html! { p.empty { "No record from another member yet." } };
    }
    let (t0, t1) = a
        .arrivals
        .iter()
        .fold((u64::MAX, 0), |(lo, hi), (t, _)| (lo.min(*t), hi.max(*t)));
    let span = (t1 - t0).max(1) as f64;
    // log10 of ms, from 1 ms to the largest latency (at least 10 s).
    let top = a
        .arrivals
        .iter()
        .map(|(_, l)| *l)
        .max()
        .unwrap_or(1)
        .max(10_000) as f64;
    let top = top.log10().ceil();
    let plot_h = H - BOTTOM - 10.0;
    let plot_w = W - LEFT - 10.0;
    let y_of = |ms: i64| {
        let v = (ms.max(1) as f64).log10().clamp(0.0, top);
        H - BOTTOM - plot_h * v / top
    };
    html! {
        svg.chart id="latency" viewBox={ "0 0 " (W) " " (H) } role="img" aria-label="arrival latency over time" {
            line.axis x1=(LEFT) y1=(H - BOTTOM) x2=(W - 10.0) y2=(H - BOTTOM) {}
            @for decade in 0..=(top as i64) {
                @let ms = 10i64.pow(u32::try_from(decade).unwrap_or(0));
                line.grid x1=(LEFT) x2=(W - 10.0) y1=(format!("{:.1}", y_of(ms))) y2=(format!("{:.1}", y_of(ms))) {}
                text.label x=(LEFT - 6.0) y=(format!("{:.1}", y_of(ms) + 4.0)) text-anchor="end" { (duration_ms(ms)) }
            }
            @for (t, l) in &a.arrivals {
                circle.dot cx=(format!("{:.1}", LEFT + plot_w * (t - t0) as f64 / span)) cy=(format!("{:.1}", y_of(*l))) r="2.5" {
                    title { (duration_ms(*l)) }
                }
            }
            text.label x=(LEFT) y=(H - 10.0) { (crate::stix::ids::timestamp(t0).get(..19).unwrap_or("")) }
            text.label x=(W - 10.0) y=(H - 10.0) text-anchor="end" { (crate::stix::ids::timestamp(t1).get(..19).unwrap_or("")) }
        }
    }
}
