//! `bench gossip`: N nodes, R records/s for T seconds, published round-robin through the nodes'
//! APIs (each node signs its own records), open loop: record i is due at start + i/R whatever
//! happened to earlier ones. Latency of a record to a node = that node's `added_us` for it minus
//! the time the benchmark sent the publish request (one clock: same machine). Delivery is checked
//! after the load, waiting up to a grace period for stragglers.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::cpu::{CpuSnapshot, CpuUse};
use super::report::{Line, Series};
use super::stats::{Summary, cdf, rate};
use super::{
    BenchConfig, BenchError, Progress, Report, added_times, create, log_size, now_us, start,
    warm_up,
};
use crate::client::ApiClient;
use crate::content;
use crate::federation::Federation;

/// How long after the last send every node may take to hold every acknowledged record.
const GRACE: Duration = Duration::from_secs(60);
/// Points per CDF line in the JSON and the plot.
const CDF_POINTS: usize = 400;

/// One publish request of the load.
#[derive(Debug, Clone)]
pub(super) struct Sent {
    /// Which node it went to.
    pub(super) node: usize,
    /// When the request was sent (µs since the epoch, benchmark clock).
    pub(super) sent_us: u64,
    /// When the answer came (µs since the epoch).
    pub(super) answered_us: u64,
    /// The record id, if the node acknowledged (201).
    pub(super) id: Option<String>,
}

/// The outcome of a load run.
#[derive(Debug, Default)]
pub(super) struct Load {
    /// Every request sent, in no particular order.
    pub(super) sent: Vec<Sent>,
    /// Requests never sent because the run's end came first.
    pub(super) skipped: u64,
    /// The first few errors, for the notes.
    pub(super) errors: Vec<String>,
    /// Seconds from the first due time to the last answer.
    pub(super) seconds: f64,
}

impl Load {
    /// The acknowledged requests.
    pub(super) fn acked(&self) -> impl Iterator<Item = (&Sent, &str)> {
        self.sent
            .iter()
            .filter_map(|s| s.id.as_deref().map(|id| (s, id)))
    }
}

/// Sends `total` records at `per_second`, record i to node `nodes[i % nodes.len()]`, one thread per
/// node; nothing is sent after `stop_at`.
pub(super) fn send_load(
    clients: &[(usize, ApiClient)],
    total: u64,
    per_second: f64,
    stop_at: Instant,
    first_index: u64,
) -> Load {
    let n = clients.len() as u64;
    let start = Instant::now();
    let results: Vec<(Vec<Sent>, u64, Vec<String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = clients
            .iter()
            .zip(0..)
            .map(|((node, client), k)| {
                scope.spawn(move || {
                    let mut sent = Vec::new();
                    let mut skipped = 0;
                    let mut errors = Vec::new();
                    for i in (k..total).step_by(usize::try_from(n).unwrap_or(1).max(1)) {
                        let due = start + Duration::from_secs_f64(i as f64 / per_second);
                        if due >= stop_at || Instant::now() >= stop_at {
                            skipped += 1;
                            continue;
                        }
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                        let sent_us = now_us();
                        let answer = client.publish(&content::load_record(first_index + i));
                        let answered_us = now_us();
                        let id = match answer {
                            Ok(p) => Some(p.id),
                            Err(err) => {
                                if errors.len() < 5 {
                                    errors.push(format!("node {node}: {err}"));
                                }
                                None
                            }
                        };
                        sent.push(Sent {
                            node: *node,
                            sent_us,
                            answered_us,
                            id,
                        });
                    }
                    (sent, skipped, errors)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut load = Load {
        seconds: start.elapsed().as_secs_f64(),
        ..Load::default()
    };
    for (sent, skipped, errors) in results {
        load.sent.extend(sent);
        load.skipped += skipped;
        for e in errors {
            if load.errors.len() < 5 {
                load.errors.push(e);
            }
        }
    }
    load
}

/// The API clients of `nodes`, paired with their indices.
pub(super) fn clients(fed: &Federation, nodes: &[usize]) -> Vec<(usize, ApiClient)> {
    nodes.iter().map(|&i| (i, fed.client(i).clone())).collect()
}

pub(super) fn run(config: &BenchConfig, progress: Progress<'_>) -> Result<Report, BenchError> {
    let nodes = config.nodes.unwrap_or(5);
    if nodes < 2 {
        return Err(BenchError::Invalid(
            "bench gossip needs at least 2 nodes (--nodes N)".into(),
        ));
    }
    let per_second = config.rate.unwrap_or(200.0);
    let duration = config.duration.unwrap_or(Duration::from_secs(30));
    let total = (per_second * duration.as_secs_f64()).round().max(1.0) as u64;

    let mut report = Report::new("gossip", &config.certnet_bin);
    report.param("nodes", nodes);
    report.param("rate_per_s", per_second);
    report.param("duration_s", duration.as_secs_f64());

    let mut fed = create(config, nodes, Vec::new())?;
    start(&mut fed, progress)?;
    let base = warm_up(&fed, progress)?;

    progress(&format!(
        "load: {total} records at {per_second}/s for {:.0} s, round-robin over {nodes} nodes",
        duration.as_secs_f64()
    ));
    let all: Vec<usize> = (0..nodes).collect();
    let stop_at = Instant::now() + duration + Duration::from_secs(30);
    let pids: Vec<u32> = all.iter().filter_map(|&i| fed.pid(i)).collect();
    let before = CpuSnapshot::take(&pids);
    let load = send_load(&clients(&fed, &all), total, per_second, stop_at, 0);
    let cpu = before.until(&CpuSnapshot::take(&pids));
    let acked: Vec<(&Sent, &str)> = load.acked().collect();
    let acked_count = acked.len() as u64;
    progress(&format!(
        "{acked_count} of {total} acknowledged; waiting up to {} s for every node to hold them",
        GRACE.as_secs()
    ));

    let last_send = Instant::now();
    let want = base + acked_count;
    let converged = fed
        .wait_until(GRACE, "every node to hold every record", |fed| {
            for i in 0..fed.len() {
                if log_size(fed, i)? < want {
                    return Ok(false);
                }
            }
            Ok::<_, crate::Error>(true)
        })
        .ok()
        .map(|_| last_send.elapsed());

    progress("reading every node's log (added_us of each record)");
    let logs = (0..nodes)
        .map(|i| added_times(&fed, i))
        .collect::<Result<Vec<HashMap<String, u64>>, _>>()?;
    fed.down()?;

    fill(&mut report, &load, &acked, &logs, converged, total);
    cpu_figures(&mut report, &cpu, acked_count, nodes);
    if nodes != 10 || (per_second - 200.0).abs() > f64::EPSILON {
        report.note(format!(
            "the issue's targets are stated for 10 nodes at 200 records/s; this run: {nodes} nodes at {per_second} records/s"
        ));
    }
    Ok(report)
}

/// CPU figures of the load phase: how busy the machine was, and the nodes' CPU per record.
pub(super) fn cpu_figures(report: &mut Report, cpu: &CpuUse, acked: u64, nodes: usize) {
    if let Some(busy) = cpu.machine_busy_pct {
        report.figure(
            "machine_cpu_busy_pct",
            "machine CPU busy during the load (all processes)",
            busy,
            "%",
        );
    }
    report.figure(
        "nodes_cpu_cores",
        "CPU used by the nodes during the load",
        cpu.process_cpu_s / cpu.wall_s.max(1e-9),
        "cores",
    );
    if acked > 0 {
        report.figure(
            "node_cpu_per_record_ms",
            "node CPU per record per node (sign or verify, store, gossip, API)",
            1000.0 * cpu.process_cpu_s / (acked as f64 * nodes as f64),
            "ms",
        );
    }
}

/// Where the acknowledged records of a load arrived, in ms after their publish was sent.
#[derive(Debug, Default)]
pub(super) struct Deliveries {
    /// Every (record, other node) pair that arrived.
    pub(super) each: Vec<f64>,
    /// Per record that reached every other node: the slowest of them.
    pub(super) every: Vec<f64>,
    /// `every` with when its publish was sent (µs since the epoch), in the order of `acked`.
    pub(super) every_at: Vec<(u64, f64)>,
    /// Per record: stored on the node that published it.
    pub(super) origin: Vec<f64>,
    /// (record, other node) pairs that arrived.
    pub(super) delivered: u64,
    /// (record, other node) pairs expected.
    pub(super) expected: u64,
}

impl Deliveries {
    /// Reads `acked` against `logs` (node index → record id → `added_us`; `Sent::node` indexes it).
    pub(super) fn of(acked: &[(&Sent, &str)], logs: &[HashMap<String, u64>]) -> Self {
        let mut d = Self::default();
        for (sent, id) in acked {
            let mut worst: Option<f64> = None;
            let mut complete = true;
            for (j, log) in logs.iter().enumerate() {
                let at = log.get(*id).copied();
                if j == sent.node {
                    if let Some(at) = at {
                        d.origin.push(ms(at, sent.sent_us));
                    }
                    continue;
                }
                d.expected += 1;
                match at {
                    Some(at) => {
                        d.delivered += 1;
                        let l = ms(at, sent.sent_us);
                        d.each.push(l);
                        worst = Some(worst.map_or(l, |w: f64| w.max(l)));
                    }
                    None => complete = false,
                }
            }
            if complete && let Some(w) = worst {
                d.every.push(w);
                d.every_at.push((sent.sent_us, w));
            }
        }
        d
    }

    /// Delivered pairs in percent of those expected (0 when none were).
    pub(super) fn pct(&self) -> f64 {
        if self.expected == 0 {
            0.0
        } else {
            100.0 * self.delivered as f64 / self.expected as f64
        }
    }
}

/// Milliseconds from `from` to `us` (µs), 0 if before.
pub(super) fn ms(us: u64, from: u64) -> f64 {
    (us.saturating_sub(from)) as f64 / 1000.0
}

/// Computes the figures, targets, notes and plot series of a gossip run.
fn fill(
    report: &mut Report,
    load: &Load,
    acked: &[(&Sent, &str)],
    logs: &[HashMap<String, u64>],
    converged: Option<Duration>,
    total: u64,
) {
    let deliveries = Deliveries::of(acked, logs);
    let delivery = deliveries.pct();
    let Deliveries {
        each,
        every,
        origin,
        delivered,
        expected,
        ..
    } = deliveries;
    let acks: Vec<f64> = acked
        .iter()
        .map(|(s, _)| ms(s.answered_us, s.sent_us))
        .collect();

    report.figure(
        "records_due",
        "records due (rate × duration)",
        total as f64,
        "records",
    );
    report.figure(
        "records_acked",
        "records acknowledged (201)",
        acked.len() as f64,
        "records",
    );
    report.figure(
        "send_rate",
        "achieved publish rate",
        rate(acked.len() as u64, load.seconds),
        "records/s",
    );
    report.figure(
        "delivery_pct",
        "delivered (record × other node)",
        delivery,
        "%",
    );
    let summaries = [
        (
            "ack",
            "publish answered (sign + flush + HTTP)",
            Summary::of(&acks),
        ),
        (
            "origin",
            "stored on the publishing node",
            Summary::of(&origin),
        ),
        ("each", "publish → each other node", Summary::of(&each)),
        ("every", "publish → every node", Summary::of(&every)),
    ];
    for (key, label, summary) in &summaries {
        if let Some(s) = summary {
            for (p, v) in [
                ("p50", s.p50),
                ("p90", s.p90),
                ("p99", s.p99),
                ("max", s.max),
            ] {
                report.figure(
                    &format!("latency_{key}_{p}_ms"),
                    &format!("{label}, {p}"),
                    v,
                    "ms",
                );
            }
        }
    }
    if let Some(took) = converged {
        report.figure(
            "converged_after_s",
            "all nodes complete after the last send",
            took.as_secs_f64(),
            "s",
        );
    }

    let every_summary = summaries[3].2;
    let fmt = |v: f64| format!("{v:.1} ms");
    match every_summary {
        Some(s) => {
            report.target(
                "publish → every node, p50",
                "< 20 ms",
                fmt(s.p50),
                s.p50 < 20.0,
            );
            report.target(
                "publish → every node, p99",
                "< 100 ms",
                fmt(s.p99),
                s.p99 < 100.0,
            );
        }
        None => report.target(
            "publish → every node",
            "measured",
            "nothing delivered".into(),
            false,
        ),
    }
    report.target(
        "delivered",
        "100%",
        format!("{delivery:.3}% ({delivered} of {expected})"),
        delivered == expected && expected > 0,
    );

    report.note(
        "latency = the receiving node's added_us (when it appended the record to its log) minus the \
         time the benchmark sent POST /v1/records; both read the same machine clock. \"each\" counts \
         every (record, other node) pair; \"every\" is, per record, the slowest of the other nodes",
    );
    if load.skipped > 0 {
        report.note(format!(
            "{} records were not sent: the senders fell more than 30 s behind",
            load.skipped
        ));
    }
    let failed = load.sent.len() - acked.len();
    if failed > 0 {
        report.note(format!(
            "{failed} publishes failed, e.g. {}",
            load.errors.join("; ")
        ));
    }
    if converged.is_none() {
        report.note(format!(
            "not every node held every record {} s after the last send",
            GRACE.as_secs()
        ));
    }
    let line = |label: &str, values: &[f64]| Line {
        label: format!("{label} (n = {})", values.len()),
        points: cdf(values, CDF_POINTS)
            .into_iter()
            .map(|p| (p.value, p.fraction))
            .collect(),
    };
    report.series.push(Series {
        name: "latency-cdf".into(),
        title: format!("publish → delivery latency, {} nodes", logs.len()),
        x_label: "latency (ms, log scale)".into(),
        y_label: "fraction of records".into(),
        x_log: true,
        lines: vec![
            line("to each other node", &each),
            line("to every node (slowest)", &every),
            line("publish answered", &acks),
        ],
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn latencies_and_delivery_are_computed_per_record_and_node() {
        let sent = |node, sent_us, id: &str| Sent {
            node,
            sent_us,
            answered_us: sent_us + 2_000,
            id: Some(id.to_owned()),
        };
        let a = sent(0, 1_000_000, "a");
        let b = sent(1, 2_000_000, "b");
        let load = Load {
            sent: vec![a.clone(), b.clone()],
            seconds: 1.0,
            ..Load::default()
        };
        let acked = vec![(&a, "a"), (&b, "b")];
        // Node 0 published a, node 1 published b; node 2 never got b.
        let logs = vec![
            HashMap::from([("a".to_owned(), 1_001_000), ("b".to_owned(), 2_010_000)]),
            HashMap::from([("a".to_owned(), 1_005_000), ("b".to_owned(), 2_001_000)]),
            HashMap::from([("a".to_owned(), 1_030_000)]),
        ];
        let mut report = Report::new("gossip", std::path::Path::new("certnet"));
        fill(&mut report, &load, &acked, &logs, None, 2);
        // Deliveries to other nodes: a→1 5 ms, a→2 30 ms, b→0 10 ms; b→2 missing.
        assert_eq!(report.value("latency_each_max_ms"), Some(30.0));
        assert_eq!(report.value("latency_each_p50_ms"), Some(10.0));
        // Only a reached every node: its slowest is 30 ms.
        assert_eq!(report.value("latency_every_p50_ms"), Some(30.0));
        assert_eq!(report.value("latency_origin_p50_ms"), Some(1.0));
        assert_eq!(report.value("latency_ack_p99_ms"), Some(2.0));
        assert_eq!(report.value("delivery_pct"), Some(75.0));
        assert!(
            report
                .targets
                .iter()
                .any(|t| t.what == "delivered" && !t.met)
        );
        assert_eq!(report.series[0].lines.len(), 3);
        assert_eq!(report.series[0].lines[0].points.len(), 3);
    }
}
