//! `bench catchup`: the last node is offline while M records enter the federation, then it starts
//! and catches up by sync; measured from its start until its log holds everything.
//!
//! How M records get in fast: they are pre-signed by roster members that run no node
//! ([`super::corpus`]) and fed to every online node with `certnet import` (stop, import, start:
//! the node's own ingest path, the one gossip and sync use). Only the offline node's catch-up is
//! timed; the imports are reported as ingest figures.

use std::time::{Duration, Instant};

use super::corpus::Signers;
use super::report::{Line, Series};
use super::stats::rate;
use super::{
    BenchConfig, BenchError, Progress, Report, corpus_file, create, import, log_size, start,
    wait_log_sizes, warm_up,
};

/// Signers (authors without a node) of the pre-signed records.
pub(super) const SIGNERS: usize = 10;
/// Pause between samples of the catching-up node's log size.
const SAMPLE: Duration = Duration::from_millis(100);

pub(super) fn run(config: &BenchConfig, progress: Progress<'_>) -> Result<Report, BenchError> {
    let nodes = config.nodes.unwrap_or(3);
    if nodes < 2 {
        return Err(BenchError::Invalid(
            "bench catchup needs at least 2 nodes (--nodes N): one to catch up, one to sync from"
                .into(),
        ));
    }
    let m = config.records.unwrap_or(50_000);
    let signers = Signers::new(SIGNERS, config.seed);
    let mut report = Report::new("catchup", &config.certnet_bin);
    report.param("nodes", nodes);
    report.param("records", m);
    report.param("signers", SIGNERS);

    let mut fed = create(config, nodes, signers.roster_members())?;
    start(&mut fed, progress)?;
    let base = warm_up(&fed, progress)?;
    let (records, file) = corpus_file(config, &fed, &signers, m, &mut report, progress)?;
    drop(records);

    let late = nodes - 1;
    progress(&format!(
        "{} goes offline (SIGTERM) while the {m} records enter the federation",
        fed.name(late)
    ));
    fed.stop(late)?;
    for i in 0..late {
        progress(&format!("{}: stop, certnet import, start", fed.name(i)));
        fed.stop(i)?;
        let timed = import(&fed, i, &file)?;
        fed.start(i)?;
        if i == 0 {
            let total = timed.elapsed.as_secs_f64();
            report.figure(
                "import_s",
                "certnet import into an online node (audit + ingest)",
                total,
                "s",
            );
            if let Some(audit) = timed.marker_at {
                let ingest = total - audit.as_secs_f64();
                report.figure(
                    "import_ingest_rate",
                    "import: ingest phase (after the audit)",
                    rate(m, ingest),
                    "records/s",
                );
            }
        }
    }
    let online: Vec<usize> = (0..late).collect();
    let want = base + m;
    if online.len() > 1 {
        fed.wait_mesh(Duration::from_secs(90))?;
    }
    wait_log_sizes(&fed, &online, want, Duration::from_secs(300))?;

    progress(&format!(
        "starting {}: timing until it holds all {want} entries",
        fed.name(late)
    ));
    let t0 = Instant::now();
    fed.start(late)?;
    let ready = t0.elapsed();
    let deadline = Duration::from_secs(120) + Duration::from_secs(m / 500);
    let mut samples = vec![(0.0, base as f64)];
    let mut first_growth = None;
    let mut done = None;
    while t0.elapsed() < deadline {
        if let Ok(size) = log_size(&fed, late) {
            let t = t0.elapsed();
            samples.push((t.as_secs_f64(), size as f64));
            if first_growth.is_none() && size > base {
                first_growth = Some(t);
            }
            if size >= want {
                done = Some(t);
                break;
            }
        }
        std::thread::sleep(SAMPLE);
    }
    let last = samples.last().map_or(0.0, |s| s.1);
    fed.down()?;

    report.figure(
        "ready_s",
        "offline node answering after its start",
        ready.as_secs_f64(),
        "s",
    );
    if let Some(first) = first_growth {
        report.figure(
            "first_record_s",
            "first caught-up record seen (after start)",
            first.as_secs_f64(),
            "s",
        );
    }
    match done {
        Some(took) => {
            let from_ready = (took - ready.min(took)).as_secs_f64();
            report.figure(
                "converge_s",
                "converged (after start)",
                took.as_secs_f64(),
                "s",
            );
            let r_start = rate(m, took.as_secs_f64());
            let r_ready = rate(m, from_ready);
            report.figure(
                "catchup_rate",
                "catch-up rate, from its start",
                r_start,
                "records/s",
            );
            report.figure(
                "catchup_rate_ready",
                "catch-up rate, from its API answering",
                r_ready,
                "records/s",
            );
            report.target(
                "catch-up (from the node's start)",
                "≥ 20,000 records/s",
                format!("{r_start:.0} records/s"),
                r_start >= 20_000.0,
            );
        }
        None => {
            report.figure(
                "caught_up_records",
                "records caught up before the deadline",
                last - base as f64,
                "records",
            );
            report.note(format!(
                "the node had {last} of {want} entries after {} s: not converged",
                deadline.as_secs()
            ));
            report.target(
                "catch-up",
                "≥ 20,000 records/s",
                "did not converge".into(),
                false,
            );
        }
    }
    report.note(format!(
        "method: {m} incidents pre-signed by {SIGNERS} roster members that run no node, written as an \
         export file and fed to each online node with `certnet import` (stopped node, full audit, \
         then the node's ingest path); the last node was offline meanwhile and is timed from its \
         start until its log size reaches {want} (sampled every {} ms)",
        SAMPLE.as_millis()
    ));
    report.series.push(Series {
        name: "convergence".into(),
        title: format!("catch-up of a node that missed {m} records"),
        x_label: "seconds since the node started".into(),
        y_label: "log entries".into(),
        x_log: false,
        lines: vec![
            Line {
                label: "catching-up node".into(),
                points: samples.clone(),
            },
            Line {
                label: "federation".into(),
                points: vec![
                    (0.0, want as f64),
                    (samples.last().map_or(1.0, |s| s.0), want as f64),
                ],
            },
        ],
    });
    Ok(report)
}
