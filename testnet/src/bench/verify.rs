//! `bench verify`: an export of M records made by a real node (`certnet export`), verified offline
//! with `certnet verify`, compared with raw `verify_strict` of the same records on all cores in the
//! same run (the target: verify at ≥ 50% of raw).

use super::corpus::{Signers, raw_verify_rate};
use super::stats::rate;
use super::{
    BenchConfig, BenchError, Progress, Report, catchup::SIGNERS, corpus_file, create, import,
    run_timed, start,
};

pub(super) fn run(config: &BenchConfig, progress: Progress<'_>) -> Result<Report, BenchError> {
    if config.nodes.is_some_and(|n| n != 1) {
        return Err(BenchError::Invalid(
            "bench verify runs one node: leave out --nodes".into(),
        ));
    }
    let m = config.records.unwrap_or(50_000);
    let signers = Signers::new(SIGNERS, config.seed);
    let mut report = Report::new("verify", &config.certnet_bin);
    report.param("records", m);

    let mut fed = create(config, 1, signers.roster_members())?;
    let (records, file) = corpus_file(config, &fed, &signers, m, &mut report, progress)?;
    progress(&format!("loading {m} records into a node (certnet import)"));
    import(&fed, 0, &file)?;
    start(&mut fed, progress)?;
    let export = config.work_dir.join("export.cbor");
    let data = fed.node(0).data_dir.display().to_string();
    let out = export.display().to_string();
    progress("certnet export (the node signs a checkpoint for its log)");
    let args = ["--data-dir", data.as_str(), "export", "--out", out.as_str()];
    let exported =
        run_timed(fed.certnet_bin(), &args, None)?.check(format!("certnet {}", args.join(" ")))?;
    fed.down()?;

    progress("certnet verify (offline, no node running)");
    let args = ["verify", out.as_str(), "--json"];
    let verified =
        run_timed(fed.certnet_bin(), &args, None)?.check(format!("certnet {}", args.join(" ")))?;
    let summary: serde_json::Value = serde_json::from_str(&verified.stdout)
        .map_err(|e| BenchError::Node(format!("certnet verify --json printed no JSON ({e})")))?;
    let entries = summary["entries"].as_u64().unwrap_or(0);
    if summary["ok"] != true || entries != m {
        return Err(BenchError::Node(format!(
            "certnet verify reported {summary} for an export of {m} records"
        )));
    }
    progress("raw all-core verify_strict of the same records");
    let (raw, all_ok) = raw_verify_rate(&records)?;
    if !all_ok {
        return Err(BenchError::Node("raw verification failed (a bug)".into()));
    }
    let secs = verified.elapsed.as_secs_f64();
    let verify_rate = rate(m, secs);
    let bytes = std::fs::metadata(&export).map(|m| m.len()).unwrap_or(0);
    report.figure(
        "export_s",
        "certnet export (download)",
        exported.elapsed.as_secs_f64(),
        "s",
    );
    report.figure(
        "export_mib",
        "export file",
        bytes as f64 / (1024.0 * 1024.0),
        "MiB",
    );
    report.figure("verify_s", "certnet verify", secs, "s");
    report.figure(
        "verify_rate",
        "certnet verify rate",
        verify_rate,
        "records/s",
    );
    report.figure(
        "raw_verify_rate",
        "raw verify_strict, all cores",
        raw,
        "records/s",
    );
    let pct = 100.0 * verify_rate / raw;
    report.figure("verify_pct_of_raw", "verify rate / raw rate", pct, "%");
    report.target(
        "certnet verify vs raw all-core verify_strict",
        "≥ 50%",
        format!("{pct:.0}%"),
        pct >= 50.0,
    );
    report.note(
        "verify time is the whole `certnet verify FILE --json` process (start, read, every \
         signature, every chain, Merkle root vs the signed checkpoint); raw = bare verify_strict \
         over the same records' Sig_structures on all cores (rayon), measured in this run",
    );
    Ok(report)
}
