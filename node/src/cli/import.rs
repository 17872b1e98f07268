//! `certnet import FILE`: audit an export file completely, then add its records to this data
//! directory's store through the same ingest path gossip and sync use. Offline: refuses while a node
//! runs on the directory (the store allows one user at a time).

use std::io::IsTerminal as _;
use std::path::PathBuf;

use anyhow::Context as _;
use certnet_node::api::client::Client;
use certnet_node::datadir::DataDir;
use certnet_node::datadir::load;
use certnet_node::import::{ImportReport, import_export};
use certnet_node::runtime;
use certnet_protocol::audit::AuditOptions;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::out::{print_json, print_text};
use super::verify::audit_file;

/// Every outcome label, in the order printed.
const LABELS: [&str; 8] = [
    "accepted",
    "duplicate",
    "orphan",
    "orphan_limit",
    "fork",
    "frozen",
    "rejected",
    "not_member",
];

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The export file to import (it is verified completely before anything is stored).
    file: PathBuf,

    /// Print the counts as JSON.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(dir: &DataDir, args: &ImportArgs) -> anyhow::Result<()> {
    let node = load::load(dir)?;
    if dir.api_addr().exists()
        && let Ok(client) = Client::from_data_dir(dir)
        && client.status().is_ok()
    {
        anyhow::bail!(
            "a node is running on {} (API at {}): stop it first; import writes to the store directly",
            dir.root().display(),
            client.addr()
        );
    }
    let store = runtime::open_store(&node)?;
    let summary = audit_file(&args.file, &AuditOptions::default(), "verifying")?;
    eprintln!(
        "{} verifies: {} entries, {} fork proofs, checkpoint of {} entries; importing",
        args.file.display(),
        summary.entries,
        summary.forks.len(),
        summary.checkpoint.size()
    );
    let bar = (summary.entries >= 10_000 && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(summary.entries);
        if let Ok(style) =
            ProgressStyle::with_template("importing [{bar:40}] {pos}/{len} entries ({eta} left)")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    });
    let report = import_export(
        &store,
        node.roster(),
        node.author().public(),
        &args.file,
        &summary,
        |done, _| {
            if let Some(bar) = &bar {
                bar.set_position(done);
            }
        },
    )
    .with_context(|| format!("import of {} stopped", args.file.display()))?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    store.flush().context("the store failed its final flush")?;
    if args.json {
        print_json(&ReportJson::new(&report, summary.checkpoint.size()))?;
    } else {
        print_text(&render(dir, &report, summary.checkpoint.size()));
    }
    nothing_taken(&report)
}

/// An import that stored nothing while some records were refused is a failure (exit 1), with the
/// reasons and what to do; one that found every record already stored is not.
fn nothing_taken(report: &ImportReport) -> anyhow::Result<()> {
    if count(&report.outcomes, "accepted") > 0 {
        return Ok(());
    }
    let refused: Vec<String> = LABELS
        .iter()
        .filter(|label| !matches!(**label, "accepted" | "duplicate"))
        .filter_map(|label| {
            let n = count(&report.outcomes, label);
            (n > 0).then(|| format!("{label} {n}"))
        })
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    let fix = if count(&report.outcomes, "not_member") > 0 {
        "add the authors to roster.toml (`certnet roster add`) and import again"
    } else if count(&report.outcomes, "rejected") > 0 {
        "the records are invalid here: check that the export comes from this federation's network"
    } else if count(&report.outcomes, "orphan") + count(&report.outcomes, "orphan_limit") > 0 {
        "the export lacks earlier records of these authors: import an export that holds them first"
    } else {
        "these authors are frozen after a fork (`certnet status` lists them)"
    };
    anyhow::bail!("nothing was imported ({}): {fix}", refused.join(", "))
}

fn count(map: &std::collections::BTreeMap<&'static str, u64>, label: &str) -> u64 {
    map.get(label).copied().unwrap_or(0)
}

fn render(dir: &DataDir, r: &ImportReport, checkpoint_size: u64) -> String {
    let mut lines = vec![format!(
        "imported {} entries into {}:",
        r.entries,
        runtime::store_path(dir).display()
    )];
    for label in LABELS {
        lines.push(format!("  {label:<13} {}", count(&r.outcomes, label)));
    }
    if r.fork_proofs > 0 {
        let outcomes: Vec<String> = r
            .fork_outcomes
            .iter()
            .map(|(label, n)| format!("{label} {n}"))
            .collect();
        lines.push(format!(
            "  fork proofs   {} ({})",
            r.fork_proofs,
            outcomes.join(", ")
        ));
    }
    lines.push(format!(
        "log size {} -> {}",
        r.log_size_before, r.log_size_after
    ));
    if r.root_matches {
        lines.push(format!(
            "the first {checkpoint_size} entries of the log now have the export checkpoint's root{}",
            if r.checkpoint_kept {
                " (this node's own checkpoint, kept)"
            } else {
                ""
            }
        ));
    } else {
        lines.push(format!(
            "the log's first {checkpoint_size} entries differ from the export's (the store held other records first, or some were skipped): its root differs"
        ));
    }
    if !r.not_members.is_empty() {
        let keys: Vec<String> = r.not_members.iter().map(ToString::to_string).collect();
        lines.push(format!(
            "skipped the records of {} author(s) not in roster.toml: {} (add them as members and import again to keep them)",
            keys.len(),
            keys.join(", ")
        ));
    }
    lines.join("\n")
}

/// `certnet import --json`.
#[derive(Debug, Serialize)]
struct ReportJson {
    entries: u64,
    outcomes: std::collections::BTreeMap<&'static str, u64>,
    fork_proofs: u64,
    fork_outcomes: std::collections::BTreeMap<&'static str, u64>,
    not_members: Vec<String>,
    log_size_before: u64,
    log_size_after: u64,
    checkpoint_size: u64,
    root_matches: bool,
    checkpoint_kept: bool,
}

impl ReportJson {
    fn new(r: &ImportReport, checkpoint_size: u64) -> Self {
        let mut outcomes = r.outcomes.clone();
        for label in LABELS {
            outcomes.entry(label).or_insert(0);
        }
        Self {
            entries: r.entries,
            outcomes,
            fork_proofs: r.fork_proofs,
            fork_outcomes: r.fork_outcomes.clone(),
            not_members: r.not_members.iter().map(ToString::to_string).collect(),
            log_size_before: r.log_size_before,
            log_size_after: r.log_size_after,
            checkpoint_size,
            root_matches: r.root_matches,
            checkpoint_kept: r.checkpoint_kept,
        }
    }
}
