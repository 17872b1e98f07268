//! `certnet misp import FILE|DIR`: MISP events into the federation, through the running node
//! (node/MISP.md). Each event is read and mapped here, so every problem is reported with its file and
//! JSON path; the node publishes it idempotently (`POST /v1/misp/events`). One bad event is reported
//! and the import goes on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::Context as _;
use certnet_node::api::client::Client;
use certnet_node::api::wire::MispImportResponse;
use certnet_node::datadir::DataDir;
use certnet_node::misp::{Event, MapOptions, events_in, map_event};
use certnet_protocol::record::Tlp;
use clap::{Args, Subcommand};
use serde::Serialize;

use super::out::{print_json, print_text};
use super::{IoFailure, UsageError};

#[derive(Debug, Args)]
pub(crate) struct MispArgs {
    #[command(subcommand)]
    command: MispCommand,
}

#[derive(Debug, Subcommand)]
enum MispCommand {
    /// Import MISP events: a MISP event JSON file (`{"Event": …}`, a list of events, or
    /// `{"response": […]}` from /events/restSearch), or a MISP feed directory (manifest.json and
    /// one UUID.json per event; without a manifest, every .json file in it). Importing again
    /// publishes only what changed.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// The file or feed directory.
    path: PathBuf,

    /// TLP of events without a `tlp:` tag.
    #[arg(long, default_value = "amber", value_parser = ["clear", "green", "amber", "amber+strict"])]
    tlp: String,

    /// Seal TLP:RED and sharing-group events to these roster members (comma-separated or repeated);
    /// without it such events are refused, never widened.
    #[arg(long = "to", value_name = "MEMBER", value_delimiter = ',')]
    to: Vec<String>,

    /// Print a JSON report instead of text.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(dir: &DataDir, args: &MispArgs) -> anyhow::Result<()> {
    match &args.command {
        MispCommand::Import(a) => import(dir, a),
    }
}

/// One problem, where it is.
#[derive(Debug, Serialize)]
struct Problem {
    file: String,
    at: String,
    event: String,
    reason: String,
}

#[derive(Debug, Default, Serialize)]
struct Report {
    events: u64,
    outcomes: BTreeMap<&'static str, u64>,
    sightings: u64,
    /// Events not published: refused by the mapping's rules or by the node, or unreadable.
    failed: Vec<Problem>,
    /// Parts of published events left out, and why.
    skipped: Vec<Problem>,
}

fn import(dir: &DataDir, args: &ImportArgs) -> anyhow::Result<()> {
    let options = MapOptions {
        default_tlp: Tlp::from_str(&args.tlp).map_err(|e| UsageError(e.to_string()))?,
        to: args.to.clone(),
    };
    let files = files_of(&args.path)?;
    let client = Client::from_data_dir(dir)?;
    let mut report = Report::default();
    let total = files.len();
    for (n, file) in files.iter().enumerate() {
        if total > 20 && n > 0 && n % 1000 == 0 {
            eprintln!("{n} of {total} files imported");
        }
        import_file(&client, file, &options, &mut report)?;
    }
    if args.json {
        print_json(&report)?;
    } else {
        print_text(&render(&report));
    }
    if !report.failed.is_empty() {
        anyhow::bail!(
            "{} of {} events were not imported (listed above with file and JSON path)",
            report.failed.len(),
            report.events
        );
    }
    Ok(())
}

/// The files to read: the file itself, or a feed directory's events.
fn files_of(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(path)
        .map_err(|e| IoFailure(format!("cannot read {}: {e}", path.display())))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let manifest = path.join("manifest.json");
    if manifest.is_file() {
        let text = std::fs::read(&manifest)
            .map_err(|e| IoFailure(format!("cannot read {}: {e}", manifest.display())))?;
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&text)
            .map_err(|e| {
                IoFailure(format!(
                    "{} is not a MISP feed manifest (a JSON object of event UUIDs): {e}",
                    manifest.display()
                ))
            })?;
        return Ok(map
            .keys()
            .map(|uuid| path.join(format!("{uuid}.json")))
            .collect());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| IoFailure(format!("cannot list {}: {e}", path.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(UsageError(format!(
            "{} holds no manifest.json and no .json file: give a MISP event file or feed directory",
            path.display()
        ))
        .into());
    }
    Ok(files)
}

fn import_file(
    client: &Client,
    file: &Path,
    options: &MapOptions,
    report: &mut Report,
) -> anyhow::Result<()> {
    let name = file.display().to_string();
    let problem = |at: &str, event: &str, reason: String| Problem {
        file: name.clone(),
        at: at.to_owned(),
        event: event.to_owned(),
        reason,
    };
    let document = std::fs::read(file)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}")))
        .and_then(events_in);
    let events = match document {
        Ok(events) => events,
        Err(reason) => {
            report.events += 1;
            report.failed.push(problem("$", "", reason));
            return Ok(());
        }
    };
    for (at, value) in events {
        report.events += 1;
        let uuid = value
            .get("uuid")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .to_owned();
        let event: Event = match serde_path_to_error::deserialize(value) {
            Ok(e) => e,
            Err(e) => {
                let inner = e.path().to_string();
                let reason = e.into_inner().to_string();
                report
                    .failed
                    .push(problem(&format!("{at}.{inner}"), &uuid, reason));
                continue;
            }
        };
        let mapped = match map_event(&event, options) {
            Ok(m) => m,
            Err(refused) => {
                report.failed.push(problem(
                    &format!("{at}.{}", refused.at),
                    &uuid,
                    refused.reason,
                ));
                continue;
            }
        };
        for s in &mapped.skipped {
            report
                .skipped
                .push(problem(&format!("{at}.{}", s.at), &uuid, s.reason.clone()));
        }
        match client.post_json::<_, MispImportResponse>("/v1/misp/events", &mapped) {
            Ok(answer) => {
                let label = match answer.outcome {
                    certnet_node::services::EventOutcome::New => "new",
                    certnet_node::services::EventOutcome::Updated => "updated",
                    certnet_node::services::EventOutcome::Superseded => "superseded",
                    certnet_node::services::EventOutcome::Unchanged => "unchanged",
                };
                *report.outcomes.entry(label).or_default() += 1;
                report.sightings += u64::from(answer.sightings);
            }
            Err(e @ certnet_node::api::client::ClientError::Api { .. }) => {
                report.failed.push(problem(&at, &uuid, e.to_string()));
            }
            Err(e) => return Err(e).context(format!("importing {name}")),
        }
    }
    Ok(())
}

fn render(r: &Report) -> String {
    let count = |k: &str| r.outcomes.get(k).copied().unwrap_or(0);
    let mut lines = vec![format!(
        "{} events: {} new, {} updated, {} superseded (TLP tightened), {} unchanged, {} not imported; {} sightings published",
        r.events,
        count("new"),
        count("updated"),
        count("superseded"),
        count("unchanged"),
        r.failed.len(),
        r.sightings
    )];
    for p in &r.failed {
        lines.push(format!(
            "not imported: {} {} (event {}): {}",
            p.file, p.at, p.event, p.reason
        ));
    }
    for p in &r.skipped {
        lines.push(format!(
            "left out: {} {} (event {}): {}",
            p.file, p.at, p.event, p.reason
        ));
    }
    lines.join("\n")
}
