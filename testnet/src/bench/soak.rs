//! `bench soak`: load (R records/s round-robin over the nodes) while a fault schedule, random from
//! the seed, kills nodes (SIGKILL), restarts them, partitions the federation (block lists) and heals
//! it, for T seconds; then every node is started, the partition healed, and the run waits for every
//! node to hold every acknowledged record. Zero loss = no record the API acknowledged (201, flushed)
//! is missing from any node at the end.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::gossip::{Load, clients, send_load};
use super::report::{Line, Series};
use super::stats::SplitMix64;
use super::{
    BenchConfig, BenchError, Progress, Report, added_times, create, log_size, now_us, start,
    warm_up,
};
use crate::client::ApiClient;
use crate::federation::Federation;

/// Pause between faults.
const FAULT_EVERY: Duration = Duration::from_secs(3);
/// Pause between samples of every node's log size.
const SAMPLE: Duration = Duration::from_millis(250);
/// How long after the faults every node may take to hold every acknowledged record.
const CONVERGE: Duration = Duration::from_secs(180);

/// What the fault schedule did.
#[derive(Debug, Default)]
struct Faults {
    kills: u64,
    restarts: u64,
    partitions: u64,
    heals: u64,
    events: Vec<String>,
}

pub(super) fn run(config: &BenchConfig, progress: Progress<'_>) -> Result<Report, BenchError> {
    let nodes = config.nodes.unwrap_or(5);
    if nodes < 3 {
        return Err(BenchError::Invalid(
            "bench soak needs at least 3 nodes (--nodes N) to kill and partition".into(),
        ));
    }
    let per_second = config.rate.unwrap_or(20.0);
    let duration = config.duration.unwrap_or(Duration::from_secs(60));
    let total = (per_second * duration.as_secs_f64()).round().max(1.0) as u64;
    let mut report = Report::new("soak", &config.certnet_bin);
    report.param("nodes", nodes);
    report.param("rate_per_s", per_second);
    report.param("duration_s", duration.as_secs_f64());
    report.param("seed", config.seed);
    report.param("fault_every_s", FAULT_EVERY.as_secs_f64());

    let mut fed = create(config, nodes, Vec::new())?;
    start(&mut fed, progress)?;
    let base = warm_up(&fed, progress)?;
    let all: Vec<usize> = (0..nodes).collect();
    let load_clients = clients(&fed, &all);
    let sample_clients: Vec<ApiClient> = load_clients.iter().map(|(_, c)| c.clone()).collect();
    let mut rng = SplitMix64::new(config.seed);
    let sampling = AtomicBool::new(true);
    let t0 = Instant::now();
    let t0_us = now_us();

    progress(&format!(
        "soak: {total} records at {per_second}/s for {:.0} s with a fault every {} s (seed {})",
        duration.as_secs_f64(),
        FAULT_EVERY.as_secs(),
        config.seed
    ));
    let (load, samples, faults, converged) = std::thread::scope(|scope| {
        let sampler = scope.spawn(|| sample(&sample_clients, t0, &sampling));
        let loader = scope.spawn(|| send_load(&load_clients, total, per_second, t0 + duration, 0));
        let faults = fault_schedule(&mut fed, t0, duration, &mut rng, progress);
        let load = loader.join().unwrap_or_default();
        let settled = faults.and_then(|faults| {
            progress("faults over: healing, starting every node, waiting for convergence");
            fed.heal()?;
            fed.start_all()?;
            fed.wait_mesh(Duration::from_secs(90))?;
            let converged = converge(&fed, &load, base)?;
            Ok::<_, BenchError>((faults, converged))
        });
        sampling.store(false, Ordering::Relaxed);
        let samples = sampler.join().unwrap_or_default();
        settled.map(|(faults, converged)| (load, samples, faults, converged))
    })?;
    let (converge_s, missing) = converged;
    fed.down()?;

    let acked = load.acked().count() as u64;
    report.figure("records_due", "records due", total as f64, "records");
    report.figure(
        "records_acked",
        "records acknowledged (201)",
        acked as f64,
        "records",
    );
    report.figure(
        "records_failed",
        "publishes refused or unanswered (node down)",
        (load.sent.len() as u64 - acked) as f64,
        "records",
    );
    report.figure(
        "kills",
        "nodes killed (SIGKILL)",
        faults.kills as f64,
        "faults",
    );
    report.figure(
        "restarts",
        "nodes restarted",
        faults.restarts as f64,
        "faults",
    );
    report.figure(
        "partitions",
        "partitions",
        faults.partitions as f64,
        "faults",
    );
    report.figure("heals", "heals", faults.heals as f64, "faults");
    if let Some(s) = converge_s {
        report.figure(
            "converge_s",
            "converged after the faults ended (all nodes started, healed)",
            s,
            "s",
        );
    }
    report.figure(
        "lost",
        "acknowledged records missing on some node",
        missing as f64,
        "records",
    );
    report.target(
        "acknowledged records lost",
        "0",
        missing.to_string(),
        missing == 0 && converge_s.is_some(),
    );
    report.note(format!(
        "zero-loss check: every record whose publish was answered 201 (flushed before the answer) \
         must be listed by GET /v1/records on every node within {} s after the faults end",
        CONVERGE.as_secs()
    ));
    if !load.errors.is_empty() {
        report.note(format!(
            "refused publishes are expected while a node is down, e.g. {}",
            load.errors.first().cloned().unwrap_or_default()
        ));
    }
    for e in &faults.events {
        report.note(e.clone());
    }
    report.series.push(convergence_series(
        &fed, &samples, &load, base, t0_us, nodes,
    ));
    Ok(report)
}

/// Every node's log size every [`SAMPLE`] until `running` turns false: (seconds, node, size).
fn sample(clients: &[ApiClient], t0: Instant, running: &AtomicBool) -> Vec<(f64, usize, u64)> {
    let mut out = Vec::new();
    while running.load(Ordering::Relaxed) {
        for (i, c) in clients.iter().enumerate() {
            if let Ok(status) = c.status()
                && let Some(size) = status
                    .extra
                    .get("log_size")
                    .and_then(serde_json::Value::as_u64)
            {
                out.push((t0.elapsed().as_secs_f64(), i, size));
            }
        }
        std::thread::sleep(SAMPLE);
    }
    out
}

/// Random faults every [`FAULT_EVERY`] until `duration` has passed since `t0`.
fn fault_schedule(
    fed: &mut Federation,
    t0: Instant,
    duration: Duration,
    rng: &mut SplitMix64,
    progress: Progress<'_>,
) -> Result<Faults, BenchError> {
    let mut faults = Faults::default();
    let mut partitioned = false;
    let mut next = t0 + FAULT_EVERY;
    while next < t0 + duration {
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        next += FAULT_EVERY;
        let stopped: Vec<usize> = (0..fed.len()).filter(|&i| !fed.is_running(i)).collect();
        let running = fed.running();
        let event = if !stopped.is_empty() && rng.below(2) == 0 {
            let i = stopped[rng.below(stopped.len())];
            fed.start(i)?;
            faults.restarts += 1;
            format!("restart {}", fed.name(i))
        } else {
            match rng.below(3) {
                0 if running.len() > 2 => {
                    let i = running[rng.below(running.len())];
                    fed.kill(i)?;
                    faults.kills += 1;
                    format!("kill -9 {}", fed.name(i))
                }
                1 if partitioned => {
                    fed.heal()?;
                    partitioned = false;
                    faults.heals += 1;
                    "heal".to_owned()
                }
                _ => {
                    let groups = split(fed.len(), rng);
                    fed.partition(&groups)?;
                    partitioned = true;
                    faults.partitions += 1;
                    let names: Vec<String> = groups
                        .iter()
                        .map(|g| {
                            g.iter()
                                .map(|&i| fed.name(i).to_owned())
                                .collect::<Vec<_>>()
                                .join(",")
                        })
                        .collect();
                    format!("partition {}", names.join(" | "))
                }
            }
        };
        let line = format!("t={:.1}s {event}", t0.elapsed().as_secs_f64());
        progress(&line);
        faults.events.push(line);
    }
    Ok(faults)
}

/// A random split of `n` nodes into two non-empty groups.
fn split(n: usize, rng: &mut SplitMix64) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.below(i + 1));
    }
    let cut = 1 + rng.below(n.saturating_sub(1).max(1));
    let (a, b) = order.split_at(cut.min(n - 1));
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_unstable();
    b.sort_unstable();
    vec![a, b]
}

/// Waits until every node lists every acknowledged record; (seconds it took, or None on timeout;
/// acknowledged records missing from at least one node at the end).
fn converge(fed: &Federation, load: &Load, base: u64) -> Result<(Option<f64>, u64), BenchError> {
    let start = Instant::now();
    let acked: Vec<&str> = load.acked().map(|(_, id)| id).collect();
    let want = base + acked.len() as u64;
    loop {
        let sizes: Vec<u64> = (0..fed.len())
            .map(|i| log_size(fed, i))
            .collect::<Result<_, _>>()?;
        let timed_out = start.elapsed() >= CONVERGE;
        if sizes.iter().all(|&s| s >= want) || timed_out {
            let mut missing = 0;
            for i in 0..fed.len() {
                let log = added_times(fed, i)?;
                missing += acked.iter().filter(|id| !log.contains_key(**id)).count() as u64;
            }
            let same = sizes.windows(2).all(|w| w[0] == w[1]);
            if missing == 0 && same {
                return Ok((Some(start.elapsed().as_secs_f64()), 0));
            }
            if timed_out {
                return Ok((None, missing));
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Log size of every node over time, and the acknowledged count.
fn convergence_series(
    fed: &Federation,
    samples: &[(f64, usize, u64)],
    load: &Load,
    base: u64,
    t0_us: u64,
    nodes: usize,
) -> Series {
    let mut lines: Vec<Line> = (0..nodes)
        .map(|i| Line {
            label: fed.name(i).to_owned(),
            points: samples
                .iter()
                .filter(|s| s.1 == i)
                .map(|s| (s.0, s.2 as f64))
                .collect(),
        })
        .collect();
    let mut acks: Vec<f64> = load
        .acked()
        .map(|(s, _)| s.answered_us.saturating_sub(t0_us) as f64 / 1e6)
        .collect();
    acks.sort_by(f64::total_cmp);
    let mut points = vec![(0.0, base as f64)];
    points.extend(
        acks.iter()
            .enumerate()
            .map(|(k, &t)| (t, (base + k as u64 + 1) as f64)),
    );
    lines.push(Line {
        label: "acknowledged (+ warm-up)".into(),
        points,
    });
    Series {
        name: "convergence".into(),
        title: format!("soak: log size of each of {nodes} nodes under faults"),
        x_label: "seconds since the load started".into(),
        y_label: "log entries".into(),
        x_log: false,
        lines,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn splits_are_two_non_empty_groups_covering_every_node() {
        let mut rng = SplitMix64::new(3);
        for n in 2..8 {
            for _ in 0..20 {
                let groups = split(n, &mut rng);
                assert_eq!(groups.len(), 2);
                assert!(groups.iter().all(|g| !g.is_empty()));
                let mut all: Vec<usize> = groups.concat();
                all.sort_unstable();
                assert_eq!(all, (0..n).collect::<Vec<_>>());
            }
        }
    }
}
