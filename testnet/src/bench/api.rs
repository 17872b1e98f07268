//! `bench api`: what the node's read side costs on a large log (issue 18). One node holds M
//! pre-signed incidents (imported), almost all TLP:AMBER and a handful TLP:CLEAR. Measured through
//! the real HTTP API with the operator's token:
//! - the peak RSS of the node (`VmHWM`) while it streams a STIX bundle of the whole log, and while it
//!   streams the audit export;
//! - a TAXII poll of the dense AMBER collection: its first page vs the last page (an incremental poll
//!   whose `added_after` is the time of the log's 200th-last entry), median of 5 each;
//! - a poll of the sparse CLEAR collection (a handful of objects in the whole log), median of 5.

use std::io;
use std::time::Instant;

use certnet_protocol::record::{Tlp, sample};
use serde_json::Value;

use super::corpus::{Signers, raw_verify_rate};
use super::cpu::memory_kib;
use super::stats::rate;
use super::{BenchConfig, BenchError, Progress, Report, catchup::SIGNERS, create, import, start};

/// Peak RSS target while streaming (MiB).
const RSS_TARGET_MIB: f64 = 150.0;
/// Last page / first page time target.
const PAGE_RATIO_TARGET: f64 = 2.0;
/// Sparse collection poll target (ms).
const SPARSE_TARGET_MS: f64 = 50.0;
/// Timed repetitions of each poll.
const REPEAT: usize = 5;
/// The console's first feed page target (ms).
const FEED_TARGET_MS: f64 = 200.0;
/// TAXII's media type.
const TAXII: &str = "application/taxii+json;version=2.1";

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// An RFC 3339 UTC timestamp with microseconds, as TAXII's `added_after` takes it.
fn rfc3339_us(us: u64) -> String {
    let secs = us / 1_000_000;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        us % 1_000_000
    )
}

/// The median of `REPEAT` runs of `f`, in ms, and `f`'s last result.
fn median_ms<T>(mut f: impl FnMut() -> Result<T, BenchError>) -> Result<(f64, T), BenchError> {
    let mut times = Vec::with_capacity(REPEAT);
    let mut last = None;
    for _ in 0..REPEAT {
        let start = Instant::now();
        last = Some(f()?);
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let result = last.ok_or_else(|| BenchError::Node("no run".into()))?;
    Ok((times[REPEAT / 2], result))
}

/// The node's client, its errors as benchmark errors.
struct Node<'a>(&'a crate::client::ApiClient);

impl Node<'_> {
    fn get_streamed(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        out: &mut dyn io::Write,
    ) -> Result<(u16, (), u64), BenchError> {
        let (status, _, n) = self.0.get_streamed(path, headers, out).map_err(api_error)?;
        Ok((status, (), n))
    }

    fn post_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, BenchError> {
        self.0.post_json(path, body).map_err(api_error)
    }
}

fn api_error(e: crate::client::ApiError) -> BenchError {
    BenchError::Node(format!("the node's API: {e}"))
}

pub(super) fn run(config: &BenchConfig, progress: Progress<'_>) -> Result<Report, BenchError> {
    if config.nodes.is_some_and(|n| n != 1) {
        return Err(BenchError::Invalid(
            "bench api runs one node: leave out --nodes".into(),
        ));
    }
    let m = config.records.unwrap_or(100_000);
    // About ten CLEAR records in the whole log, spread over it.
    let clear_every = (m / 10).max(1);
    let signers = Signers::new(SIGNERS, config.seed);
    let mut report = Report::new("api", &config.certnet_bin);
    report.param("records", m);
    report.param("clear_every", clear_every);

    let mut fed = create(config, 1, signers.roster_members())?;
    progress(&format!(
        "signing {m} incidents (TLP:AMBER, one in {clear_every} TLP:CLEAR) on all cores"
    ));
    let draft = move |n: u64| {
        let mut d = sample::incident(n);
        if n % clear_every == clear_every / 2 {
            d.tlp = Tlp::Clear;
        }
        d
    };
    let records = signers.sign_drafts(fed.network(), m, super::now_us() / 1000, &draft)?;
    let file = config.work_dir.join("corpus.cbor");
    signers.write_export(&file, fed.network(), &records)?;
    progress("raw all-core verify_strict of the same records (reference)");
    let (raw, _) = raw_verify_rate(&records)?;
    drop(records);
    report.figure(
        "raw_verify_rate",
        "raw verify_strict, all cores",
        raw,
        "records/s",
    );
    progress(&format!("certnet import of {m} records"));
    import(&fed, 0, &file)?;
    start(&mut fed, progress)?;
    let pid = fed
        .pid(0)
        .ok_or_else(|| BenchError::Node("the node has no pid".into()))?;
    let node = fed.client(0).clone();
    let client = Node(&node);
    let memory = || {
        memory_kib(pid).ok_or_else(|| BenchError::Node(format!("cannot read /proc/{pid}/status")))
    };
    let (rss_start, _) = memory()?;
    report.figure(
        "rss_idle_mib",
        "node RSS before the reads",
        mib(rss_start),
        "MiB",
    );

    progress("GET /v1/stix?tlp=amber (the whole log as one STIX bundle), streamed");
    let started = Instant::now();
    let (status, _, bundle_bytes) =
        client.get_streamed("/v1/stix?tlp=amber", &[], &mut io::sink())?;
    let bundle_s = started.elapsed().as_secs_f64();
    if status != 200 {
        return Err(BenchError::Node(format!("GET /v1/stix answered {status}")));
    }
    let (_, hwm_bundle) = memory()?;
    report.figure(
        "bundle_mib",
        "STIX bundle size",
        mib(bundle_bytes / 1024),
        "MiB",
    );
    report.figure("bundle_s", "STIX bundle streamed in", bundle_s, "s");
    report.figure("bundle_rate", "  records/s", rate(m, bundle_s), "records/s");
    report.figure(
        "bundle_peak_rss_mib",
        "node peak RSS (VmHWM) after the bundle",
        mib(hwm_bundle),
        "MiB",
    );

    progress("POST /v1/log/checkpoint, GET /v1/export (the audit export), streamed");
    client.post_json::<Value>("/v1/log/checkpoint", None)?;
    let started = Instant::now();
    let (status, _, export_bytes) = client.get_streamed("/v1/export", &[], &mut io::sink())?;
    let export_s = started.elapsed().as_secs_f64();
    if status != 200 {
        return Err(BenchError::Node(format!(
            "GET /v1/export answered {status}"
        )));
    }
    let (_, hwm_export) = memory()?;
    report.figure("export_mib", "export size", mib(export_bytes / 1024), "MiB");
    report.figure("export_s", "export streamed in", export_s, "s");
    report.figure(
        "export_peak_rss_mib",
        "node peak RSS (VmHWM) after the export",
        mib(hwm_export),
        "MiB",
    );
    let peak = mib(hwm_bundle.max(hwm_export));
    report.target(
        "peak RSS while streaming the bundle and the export",
        &format!("< {RSS_TARGET_MIB} MiB"),
        format!("{peak:.0} MiB"),
        peak < RSS_TARGET_MIB,
    );

    // The collections' ids, from the node itself.
    let mut listing = Vec::new();
    client.get_streamed(
        "/taxii2/certnet/collections/",
        &[("accept", TAXII)],
        &mut listing,
    )?;
    let listing: Value = serde_json::from_slice(&listing)
        .map_err(|e| BenchError::Node(format!("collections: {e}")))?;
    let id_of = |title: &str| {
        listing["collections"]
            .as_array()
            .and_then(|l| l.iter().find(|c| c["title"] == title))
            .and_then(|c| c["id"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| BenchError::Node(format!("no {title} collection")))
    };
    let amber = id_of("TLP:AMBER")?;
    let clear = id_of("TLP:CLEAR")?;
    let poll = |collection: &str, query: &str| -> Result<usize, BenchError> {
        let mut body = Vec::new();
        let path = format!("/taxii2/certnet/collections/{collection}/objects/?{query}");
        let (status, _, _) = client.get_streamed(&path, &[("accept", TAXII)], &mut body)?;
        if status != 200 {
            return Err(BenchError::Node(format!("GET {path} answered {status}")));
        }
        let page: Value =
            serde_json::from_slice(&body).map_err(|e| BenchError::Node(format!("{path}: {e}")))?;
        Ok(page["objects"].as_array().map_or(0, Vec::len))
    };

    progress("TAXII: first page of the AMBER collection (limit 1000)");
    let (first_ms, first_n) = median_ms(|| poll(&amber, "limit=1000"))?;
    // The last page: an incremental poll from the 200th-last entry's added time.
    let tail = m.saturating_sub(200);
    let mut entry = Vec::new();
    client.get_streamed(
        &format!("/v1/records?cursor={tail}&limit=1"),
        &[],
        &mut entry,
    )?;
    let entry: Value =
        serde_json::from_slice(&entry).map_err(|e| BenchError::Node(format!("records: {e}")))?;
    let added = entry["records"][0]["added_us"]
        .as_u64()
        .ok_or_else(|| BenchError::Node("no added_us in the record list".into()))?;
    let after = rfc3339_us(added);
    progress(&format!(
        "TAXII: last page of the AMBER collection (added_after={after})"
    ));
    let (last_ms, last_n) = median_ms(|| poll(&amber, &format!("limit=1000&added_after={after}")))?;
    report.figure(
        "first_page_ms",
        &format!("TAXII AMBER first page ({first_n} objects)"),
        first_ms,
        "ms",
    );
    report.figure(
        "last_page_ms",
        &format!("TAXII AMBER last page ({last_n} objects)"),
        last_ms,
        "ms",
    );
    let ratio = last_ms / first_ms.max(f64::MIN_POSITIVE);
    report.target(
        "TAXII last page / first page",
        &format!("< {PAGE_RATIO_TARGET}"),
        format!("{ratio:.2}"),
        ratio < PAGE_RATIO_TARGET,
    );
    progress("TAXII: the sparse CLEAR collection (a handful of objects in the whole log)");
    let (sparse_ms, sparse_n) = median_ms(|| poll(&clear, "limit=1000"))?;
    report.figure(
        "sparse_poll_ms",
        &format!("TAXII CLEAR poll ({sparse_n} objects)"),
        sparse_ms,
        "ms",
    );
    report.target(
        "poll of a collection of a handful of objects",
        &format!("< {SPARSE_TARGET_MS} ms"),
        format!("{sparse_ms:.1} ms"),
        sparse_ms < SPARSE_TARGET_MS,
    );
    console(&node, &mut report, &mut *progress)?;
    fed.down()?;
    report.note(
        "method: M incidents pre-signed by roster members that run no node (one in M/10 TLP:CLEAR, the \
         rest TLP:AMBER) imported with `certnet import`; then, through the node's HTTP API with its \
         token: GET /v1/stix?tlp=amber and GET /v1/export streamed to /dev/null (peak RSS is the \
         node's VmHWM after each), and TAXII polls of the AMBER collection (first page; last page \
         by added_after of the 200th-last entry) and of the CLEAR collection, each the median of 5; \
         the console signed in with the token (a session cookie, as a browser) and its pages \
         fetched whole, each the median of 5",
    );
    Ok(report)
}

/// The console's pages on the same log: the feed's first page, a filtered page, a record page
/// with its verified inclusion proof, the activity charts.
fn console(
    node: &crate::client::ApiClient,
    report: &mut Report,
    progress: Progress<'_>,
) -> Result<(), BenchError> {
    let cookie = node.console_session().map_err(api_error)?;
    let fetch = |path: &str| -> Result<Vec<u8>, BenchError> {
        let (status, body) = node.console_get(&cookie, path).map_err(api_error)?;
        if status == 200 {
            Ok(body)
        } else {
            Err(BenchError::Node(format!("GET {path} answered {status}")))
        }
    };
    progress("console: the feed's first page (50 newest rows)");
    let (feed_ms, feed) = median_ms(|| fetch("/ui/"))?;
    let rows = String::from_utf8_lossy(&feed)
        .matches(" data-id=\"")
        .count();
    report.figure(
        "console_feed_ms",
        &format!("console feed, first page ({rows} rows)"),
        feed_ms,
        "ms",
    );
    report.target(
        "console feed first page",
        &format!("< {FEED_TARGET_MS} ms"),
        format!("{feed_ms:.1} ms"),
        feed_ms < FEED_TARGET_MS,
    );
    progress("console: the feed filtered to TLP:CLEAR (sparse: pages scan at most 20,000 entries)");
    let (sparse_ms, _) = median_ms(|| fetch("/ui/?tlp=clear"))?;
    report.figure(
        "console_sparse_ms",
        "console feed, TLP:CLEAR filter (one scan step)",
        sparse_ms,
        "ms",
    );
    let html = String::from_utf8_lossy(&feed).into_owned();
    let id = html
        .split(" data-id=\"")
        .nth(1)
        .and_then(|rest| rest.get(..64))
        .ok_or_else(|| BenchError::Node("the feed page lists no record".into()))?
        .to_owned();
    progress("console: a record page (its inclusion proof verified by the node)");
    let (record_ms, page) = median_ms(|| fetch(&format!("/ui/records/{id}")))?;
    if !String::from_utf8_lossy(&page).contains("Inclusion proof verified") {
        return Err(BenchError::Node(
            "the record page did not verify an inclusion proof".into(),
        ));
    }
    report.figure("console_record_ms", "console record page", record_ms, "ms");
    progress("console: the activity charts (reads up to 20,000 entries)");
    let (activity_ms, _) = median_ms(|| fetch("/ui/activity"))?;
    report.figure(
        "console_activity_ms",
        "console activity charts",
        activity_ms,
        "ms",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn timestamps_are_rfc3339_with_microseconds() {
        assert_eq!(rfc3339_us(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            rfc3339_us(1_767_225_600_000_001),
            "2026-01-01T00:00:00.000001Z"
        );
        assert_eq!(
            rfc3339_us(951_782_400_500_000),
            "2000-02-29T00:00:00.500000Z"
        );
    }
}
