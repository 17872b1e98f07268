//! `bench ingest`: one node, M pre-signed records fed with `certnet import` into its fresh store —
//! the real binary's path for records from others (full audit of the file, then `ingest_batch`:
//! parallel `verify_strict`, roster filter, store append, one flush per batch). The import's audit
//! phase ends when it prints "importing"; the rest is ingest.

use super::corpus::{Signers, raw_verify_rate};
use super::stats::rate;
use super::{
    BenchConfig, BenchError, Progress, Report, catchup::SIGNERS, corpus_file, create, import,
    log_size, start,
};

pub(super) fn run(config: &BenchConfig, progress: Progress<'_>) -> Result<Report, BenchError> {
    if config.nodes.is_some_and(|n| n != 1) {
        return Err(BenchError::Invalid(
            "bench ingest runs one node: leave out --nodes".into(),
        ));
    }
    let m = config.records.unwrap_or(20_000);
    let signers = Signers::new(SIGNERS, config.seed);
    let mut report = Report::new("ingest", &config.certnet_bin);
    report.param("records", m);
    report.param("signers", SIGNERS);

    let mut fed = create(config, 1, signers.roster_members())?;
    let (records, file) = corpus_file(config, &fed, &signers, m, &mut report, progress)?;
    progress("raw all-core verify_strict of the same records (reference)");
    let (raw, all_ok) = raw_verify_rate(&records)?;
    drop(records);
    if !all_ok {
        return Err(BenchError::Node(
            "a pre-signed record failed raw verification (a bug)".into(),
        ));
    }
    progress(&format!("certnet import of {m} records into a fresh store"));
    let timed = import(&fed, 0, &file)?;
    let total = timed.elapsed.as_secs_f64();
    start(&mut fed, progress)?;
    let size = log_size(&fed, 0)?;
    let disk = fed
        .status(0)?
        .extra
        .get("store_bytes")
        .and_then(serde_json::Value::as_u64);
    fed.down()?;
    if size != m {
        return Err(BenchError::Node(format!(
            "after importing {m} records the node's log holds {size} entries"
        )));
    }
    report.figure(
        "raw_verify_rate",
        "raw verify_strict, all cores",
        raw,
        "records/s",
    );
    report.figure("import_s", "certnet import, total", total, "s");
    report.figure(
        "import_rate",
        "certnet import, overall",
        rate(m, total),
        "records/s",
    );
    if let Some(audit) = timed.marker_at {
        let audit = audit.as_secs_f64();
        let ingest_rate = rate(m, total - audit);
        report.figure("audit_s", "  audit phase (verify the file)", audit, "s");
        report.figure("ingest_s", "  ingest phase (store)", total - audit, "s");
        report.figure("ingest_rate", "ingest phase rate", ingest_rate, "records/s");
        report.figure(
            "ingest_pct_of_raw",
            "ingest phase rate / raw verify rate",
            100.0 * ingest_rate / raw,
            "%",
        );
    }
    if let Some(bytes) = disk {
        report.figure(
            "store_mib",
            "store on disk after the import",
            bytes as f64 / (1024.0 * 1024.0),
            "MiB",
        );
    }
    report.note(
        "method: records pre-signed by roster members that run no node, written as an export file, \
         imported with `certnet import --json` into a stopped node with an empty store; the audit \
         phase ends when import prints \"importing\" on stderr; the log size is checked afterwards",
    );
    Ok(report)
}
