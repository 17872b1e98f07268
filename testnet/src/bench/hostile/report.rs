//! What a `bench hostile` run yields: per-phase figures, the targets, notes and plots.

use std::collections::HashMap;
use std::time::Duration;

use super::Phase;
use super::attack::Attack;
use crate::bench::Report;
use crate::bench::gossip::{Deliveries, Sent, ms};
use crate::bench::report::{Line, Series};
use crate::bench::stats::{Summary, cdf};

/// Publishes this long after the flood began count as its steady state (the flooder's burst is
/// taken by then).
const STEADY_AFTER: Duration = Duration::from_secs(5);
/// Points per CDF line.
const CDF_POINTS: usize = 300;
/// The memory bound for a sync answer of tiny items.
const TINY_ITEMS_MIB: f64 = 64.0;

/// Figures, targets, notes and plots of a run.
pub(super) fn fill(report: &mut Report, phases: &[Phase], logs: &[HashMap<String, u64>]) {
    let mut quiet: Option<Summary> = None;
    let mut lines = Vec::new();
    let mut timeline = Vec::new();
    for phase in phases {
        let key = phase.key();
        let label = phase.label();
        let acked: Vec<(&Sent, &str)> = phase.load.acked().collect();
        let d = Deliveries::of(&acked, logs);
        let every = Summary::of(&d.every);
        let acks: Vec<f64> = acked
            .iter()
            .map(|(s, _)| ms(s.answered_us, s.sent_us))
            .collect();
        report.figure(
            &format!("{key}_delivery_pct"),
            &format!("{label}: honest records delivered (record × other node)"),
            d.pct(),
            "%",
        );
        if let Some(s) = every {
            report.figure(
                &format!("{key}_every_p50_ms"),
                &format!("{label}: honest publish → every node, p50"),
                s.p50,
                "ms",
            );
            report.figure(
                &format!("{key}_every_p99_ms"),
                &format!("{label}: honest publish → every node, p99"),
                s.p99,
                "ms",
            );
        }
        if let Some(s) = Summary::of(&d.each) {
            report.figure(
                &format!("{key}_each_p99_ms"),
                &format!("{label}: honest publish → each other node, p99"),
                s.p99,
                "ms",
            );
        }
        if let Some(s) = Summary::of(&d.origin) {
            report.figure(
                &format!("{key}_origin_p99_ms"),
                &format!("{label}: stored on the publishing node, p99"),
                s.p99,
                "ms",
            );
        }
        if let Some(s) = Summary::of(&acks) {
            report.figure(
                &format!("{key}_ack_p99_ms"),
                &format!("{label}: publish answered, p99"),
                s.p99,
                "ms",
            );
        }
        let growth = phase
            .rss_growth_mib
            .iter()
            .flatten()
            .copied()
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        if let Some(g) = growth {
            report.figure(
                &format!("{key}_peak_rss_growth_mib"),
                &format!("{label}: largest node peak RSS growth over the phase"),
                g,
                "MiB",
            );
        }
        if let Some(busy) = phase.cpu.machine_busy_pct {
            report.figure(
                &format!("{key}_machine_busy_pct"),
                &format!("{label}: machine CPU busy (all processes, the attacker's included)"),
                busy,
                "%",
            );
        }
        report.figure(
            &format!("{key}_nodes_cpu_cores"),
            &format!("{label}: CPU used by the honest nodes"),
            phase.cpu.process_cpu_s / phase.cpu.wall_s.max(1e-9),
            "cores",
        );
        let failed = phase.load.sent.len() - acked.len();
        if phase.attack.is_some() {
            reaction(report, phase, &key, &label);
        }
        let target_delivery = d.delivered == d.expected && d.expected > 0 && phase.converged;
        report.target(
            &format!("{label}: honest records delivered"),
            "100%",
            format!("{:.3}% ({} of {})", d.pct(), d.delivered, d.expected),
            target_delivery,
        );
        if failed > 0 {
            report.note(format!(
                "{label}: {failed} honest publishes failed, e.g. {}",
                phase.load.errors.join("; ")
            ));
        }
        if let Some(e) = &phase.volume.error {
            report.note(format!("{label}: the attack stopped early: {e}"));
        }
        match phase.attack {
            None => quiet = every,
            Some(Attack::Flood) => {
                if let (Some(q), Some(f)) = (quiet, every) {
                    for (p, qv, fv) in [("p50", q.p50, f.p50), ("p99", q.p99, f.p99)] {
                        let ratio = fv / qv.max(1e-9);
                        report.figure(
                            &format!("flood_vs_quiet_{p}"),
                            &format!("flood / quiet, honest publish → every node {p}"),
                            ratio,
                            "×",
                        );
                        report.target(
                            &format!("honest publish → every node {p}, one member flooding"),
                            "≤ 2× quiet",
                            format!("{ratio:.2}× ({fv:.1} ms vs {qv:.1} ms)"),
                            ratio <= 2.0,
                        );
                    }
                }
                // The same records without those published while every node took the flooder's
                // burst (`[p2p] author_burst`): the flood's steady state.
                let start = d.every_at.iter().map(|(at, _)| *at).min().unwrap_or(0);
                let after: Vec<f64> = d
                    .every_at
                    .iter()
                    .filter(|(at, _)| at - start >= STEADY_AFTER.as_micros() as u64)
                    .map(|(_, l)| *l)
                    .collect();
                if let (Some(q), Some(f)) = (quiet, Summary::of(&after)) {
                    let secs = STEADY_AFTER.as_secs();
                    for (p, qv, fv) in [("p50", q.p50, f.p50), ("p99", q.p99, f.p99)] {
                        report.figure(
                            &format!("flood_steady_vs_quiet_{p}"),
                            &format!(
                                "flood from {secs} s on / quiet, honest publish → every node {p}"
                            ),
                            fv / qv.max(1e-9),
                            "×",
                        );
                    }
                }
            }
            Some(Attack::TinyItems) => {
                if let Some(g) = growth {
                    report.target(
                        "peak RSS growth under 4 MiB answers of tiny items",
                        &format!("< {TINY_ITEMS_MIB} MiB"),
                        format!("{g:.1} MiB"),
                        g < TINY_ITEMS_MIB,
                    );
                }
            }
            Some(Attack::ForgedHeads) => report.target(
                "publishes while a member forges heads",
                "all acknowledged",
                format!("{} of {}", acked.len(), phase.load.sent.len()),
                failed == 0 && !acked.is_empty(),
            ),
            Some(Attack::Garbage) => {
                let banned = phase.nodes_where(|c| c.banned);
                report.target(
                    "garbage flooder banned",
                    "by every node",
                    format!("by {banned} of {}", phase.before.len()),
                    banned == phase.before.len(),
                );
            }
            Some(_) => {}
        }
        let start = d.every_at.iter().map(|(at, _)| *at).min().unwrap_or(0);
        let mut over_time: Vec<(f64, f64)> = d
            .every_at
            .iter()
            .map(|(at, l)| ((at - start) as f64 / 1e6, *l))
            .collect();
        over_time.sort_by(|a, b| a.0.total_cmp(&b.0));
        timeline.push(Line {
            label: label.to_string(),
            points: over_time,
        });
        lines.push(Line {
            label: format!("{label} (n = {})", d.every.len()),
            points: cdf(&d.every, CDF_POINTS)
                .into_iter()
                .map(|p| (p.value, p.fraction))
                .collect(),
        });
    }
    report.series.push(Series {
        name: "hostile-latency-cdf".into(),
        title: "honest publish → every node, per phase".into(),
        x_label: "latency (ms, log scale)".into(),
        y_label: "fraction of records".into(),
        x_log: true,
        lines,
    });
    report.series.push(Series {
        name: "hostile-latency-over-time".into(),
        title: "honest publish → every node, over each phase".into(),
        x_label: "seconds since the phase's first publish".into(),
        y_label: "latency (ms)".into(),
        x_log: false,
        lines: timeline,
    });
    report.note(
        "each attack is made by its own roster member (CERT-EVIL-…), a bare libp2p peer driven by \
         the benchmark, its threads at nice 19 (it stands in for a machine of its own: on one \
         machine it takes the CPU the nodes leave idle; it still sends as fast as it can, see \
         `messages the attacker got out`); the honest load is the same in every phase; latency = the receiving node's \
         added_us minus the time the benchmark sent POST /v1/records (one machine, one clock); \
         peak RSS growth = VmHWM at the phase's end minus VmRSS at its start (peak reset through \
         /proc/PID/clear_refs)",
    );
}

/// The nodes' reaction to one attack.
fn reaction(report: &mut Report, phase: &Phase, key: &str, label: &str) {
    let nodes = phase.before.len() as f64;
    report.figure(
        &format!("{key}_attacker_sent"),
        &format!("{label}: messages (or sockets) the attacker got out"),
        phase.volume.sent as f64,
        if phase.attack == Some(Attack::Connections) {
            "sockets"
        } else {
            "messages"
        },
    );
    report.figure(
        &format!("{key}_banned_by"),
        &format!("{label}: nodes that banned the attacker"),
        phase.nodes_where(|c| c.banned) as f64,
        "nodes",
    );
    report.figure(
        &format!("{key}_offences"),
        &format!("{label}: offences counted (all nodes)"),
        phase.delta(|c| c.offences),
        "offences",
    );
    match phase.attack {
        Some(Attack::Flood) => {
            let honest = phase.load.acked().count() as f64;
            let stored = phase.delta(|c| c.log_size as f64) / nodes - honest;
            report.figure(
                "flood_records_stored",
                "flood: the flooder's records stored, per node",
                stored.max(0.0),
                "records",
            );
            report.figure(
                "flood_dropped",
                "flood: gossip messages dropped at a full intake lane (all nodes)",
                phase.delta(|c| c.dropped),
                "messages",
            );
        }
        Some(Attack::Garbage) => report.figure(
            "garbage_rejected",
            "garbage: records rejected as invalid (all nodes)",
            phase.delta(|c| c.rejected),
            "records",
        ),
        Some(Attack::Orphans) => {
            let held = phase.after.iter().map(|c| c.orphans).max().unwrap_or(0);
            report.figure(
                "orphans_held_max",
                "orphans: most orphans one node holds after the phase",
                held as f64,
                "records",
            );
            report.figure(
                "orphans_over_share",
                "orphans: records ignored as over the author's orphan share (all nodes)",
                phase.delta(|c| c.orphan_limit),
                "records",
            );
        }
        Some(Attack::Connections) => report.figure(
            "connections_denied",
            "connections: connections denied (all nodes)",
            phase.delta(|c| c.denied),
            "connections",
        ),
        _ => {}
    }
}
