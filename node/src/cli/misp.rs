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
    /// Import the events of a MISP instance through its REST API (`POST /events/restSearch`), then
    /// only those changed since (the cursor is kept in the data directory), once or every N
    /// minutes.
    Pull(PullArgs),
}

#[derive(Debug, Args)]
struct PullArgs {
    /// The MISP instance, such as https://misp.cert.example (default: config.toml [misp] url).
    #[arg(long)]
    url: Option<String>,

    /// A file holding the instance's automation key, sent as `Authorization` (default: config.toml
    /// [misp] key_file).
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,

    /// CA certificates (PEM) to verify the instance's HTTPS certificate with (default: config.toml
    /// [misp] ca_file, else the system's).
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,

    /// Poll again every N minutes, until interrupted (default: once).
    #[arg(long, value_name = "MINUTES", value_parser = clap::value_parser!(u64).range(1..))]
    every: Option<u64>,

    /// Start over: ask for every event, not only those changed since the last pull.
    #[arg(long)]
    all: bool,

    #[command(flatten)]
    map: MapArgs,

    /// Print a JSON report per poll instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// The file or feed directory.
    path: PathBuf,

    #[command(flatten)]
    map: MapArgs,

    /// Print a JSON report instead of text.
    #[arg(long)]
    json: bool,
}

/// How events are mapped, for `import` and `pull` alike.
#[derive(Debug, Args)]
struct MapArgs {
    /// TLP of events without a `tlp:` tag.
    #[arg(long, default_value = "amber", value_parser = ["clear", "green", "amber", "amber+strict"])]
    tlp: String,

    /// Seal TLP:RED and sharing-group events to these roster members (comma-separated or repeated);
    /// without it such events are refused, never widened.
    #[arg(long = "to", value_name = "MEMBER", value_delimiter = ',')]
    to: Vec<String>,
}

impl MapArgs {
    fn options(&self) -> anyhow::Result<MapOptions> {
        Ok(MapOptions {
            default_tlp: Tlp::from_str(&self.tlp).map_err(|e| UsageError(e.to_string()))?,
            to: self.to.clone(),
        })
    }
}

pub(super) fn run(dir: &DataDir, args: &MispArgs) -> anyhow::Result<()> {
    match &args.command {
        MispCommand::Import(a) => import(dir, a),
        MispCommand::Pull(a) => pull(dir, a),
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
    /// The newest event `timestamp` seen (the next pull's cursor).
    #[serde(skip_serializing_if = "Option::is_none")]
    newest: Option<u64>,
    events: u64,
    outcomes: BTreeMap<&'static str, u64>,
    /// Events a feed no longer lists: their incidents revoked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    withdrawn: Vec<String>,
    sightings: u64,
    /// Events not published: refused by the mapping's rules or by the node, or unreadable.
    failed: Vec<Problem>,
    /// Parts of published events left out, and why.
    skipped: Vec<Problem>,
}

fn import(dir: &DataDir, args: &ImportArgs) -> anyhow::Result<()> {
    let options = args.map.options()?;
    let (files, feed) = files_of(&args.path)?;
    let client = Client::from_data_dir(dir)?;
    let mut report = Report::default();
    let total = files.len();
    let source = feed.as_ref().map(|(source, _)| source.clone());
    // A bar over the files of a large feed; over the events of a large single file.
    let bar = progress(total, "files");
    for file in &files {
        import_file(
            &client,
            file,
            &options,
            source.as_deref(),
            bar.is_none(),
            &mut report,
        )?;
        if let Some(bar) = &bar {
            bar.inc(1);
        }
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    // A feed lists all its events: one it no longer lists was deleted in MISP. An empty manifest is
    // more likely a feed being rewritten than every event deleted: nothing is withdrawn then.
    if let Some((source, present)) = feed.filter(|(_, present)| !present.is_empty()) {
        let answer: serde_json::Value = client.post_json(
            "/v1/misp/withdraw",
            &serde_json::json!({"source": source, "present": present}),
        )?;
        report.withdrawn = answer["withdrawn"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|u| u.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
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

/// For a feed with a manifest: its name (the directory's absolute path) and the event UUIDs it lists.
type Feed = Option<(String, Vec<String>)>;

/// The files to read: the file itself, or a feed directory's events.
fn files_of(path: &Path) -> anyhow::Result<(Vec<PathBuf>, Feed)> {
    let meta = std::fs::metadata(path)
        .map_err(|e| IoFailure(format!("cannot read {}: {e}", path.display())))?;
    if !meta.is_dir() {
        return Ok((vec![path.to_owned()], None));
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
        let source = std::fs::canonicalize(path)
            .map_err(|e| IoFailure(format!("cannot resolve {}: {e}", path.display())))?
            .display()
            .to_string();
        let files = map
            .keys()
            .map(|uuid| path.join(format!("{uuid}.json")))
            .collect();
        return Ok((files, Some((source, map.keys().cloned().collect()))));
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
    Ok((files, None))
}

fn import_file(
    client: &Client,
    file: &Path,
    options: &MapOptions,
    source: Option<&str>,
    show_progress: bool,
    report: &mut Report,
) -> anyhow::Result<()> {
    let name = file.display().to_string();
    let document = std::fs::read(file)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}")));
    import_document(
        client,
        &name,
        document,
        options,
        source,
        show_progress,
        report,
    )
}

/// A progress bar on a terminal's stderr for `len` items of 100 or more.
fn progress(len: usize, what: &str) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal as _;
    (len >= 100 && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(len as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(&format!(
            "importing [{{bar:40}}] {{pos}}/{{len}} {what} ({{eta}} left)"
        )) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    })
}

/// Imports the events of one MISP JSON document, read from `name`.
fn import_document(
    client: &Client,
    name: &str,
    document: Result<serde_json::Value, String>,
    options: &MapOptions,
    source: Option<&str>,
    show_progress: bool,
    report: &mut Report,
) -> anyhow::Result<()> {
    let problem = |at: &str, event: &str, reason: String| Problem {
        file: name.to_owned(),
        at: at.to_owned(),
        event: event.to_owned(),
        reason,
    };
    let events = match document.and_then(events_in) {
        Ok(events) => events,
        Err(reason) => {
            report.events += 1;
            report.failed.push(problem("$", "", reason));
            return Ok(());
        }
    };
    let bar = if show_progress {
        progress(events.len(), "events")
    } else {
        None
    };
    for (at, value) in events {
        if let Some(bar) = &bar {
            bar.inc(1);
        }
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
        report.newest = report.newest.max(event.timestamp);
        let mapped = match map_event(&event, options) {
            Ok(mut m) => {
                m.source = source.map(str::to_owned);
                m
            }
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
            Err(e) => return Err(e).context(format!("importing from {name}")),
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
    for uuid in &r.withdrawn {
        lines.push(format!(
            "withdrawn: event {uuid} is no longer in the feed: its incident is revoked"
        ));
    }
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

/// Where `misp pull` keeps its cursor: per MISP URL, the newest event timestamp imported.
fn cursor_file(dir: &DataDir) -> PathBuf {
    dir.root().join("misp-pull.json")
}

fn read_cursor(dir: &DataDir, url: &str) -> Option<u64> {
    let text = std::fs::read_to_string(cursor_file(dir)).ok()?;
    let map: BTreeMap<String, u64> = serde_json::from_str(&text).ok()?;
    map.get(url).copied()
}

fn write_cursor(dir: &DataDir, url: &str, newest: u64) -> anyhow::Result<()> {
    let path = cursor_file(dir);
    let mut map: BTreeMap<String, u64> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    map.insert(url.to_owned(), newest);
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&map)?)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| IoFailure(format!("cannot write {}: {e}", path.display())))?;
    Ok(())
}

fn pull(dir: &DataDir, args: &PullArgs) -> anyhow::Result<()> {
    let options = args.map.options()?;
    // Flags first, then config.toml's [misp] (its relative paths: to the data directory).
    let config = certnet_node::datadir::config::NodeConfig::load(&dir.config())?;
    let in_dir = |p: &Path| dir.root().join(p);
    let url = args
        .url
        .clone()
        .or_else(|| config.misp().url.clone())
        .ok_or_else(|| {
            UsageError("no MISP instance: pass --url or set [misp] url in config.toml".into())
        })?;
    let key_file = args
        .key_file
        .clone()
        .or_else(|| config.misp().key_file.as_deref().map(in_dir))
        .ok_or_else(|| {
            UsageError("no MISP key: pass --key-file or set [misp] key_file in config.toml".into())
        })?;
    let ca_file = args
        .ca_file
        .clone()
        .or_else(|| config.misp().ca_file.as_deref().map(in_dir));
    let key = std::fs::read_to_string(&key_file)
        .map_err(|e| {
            IoFailure(format!(
                "cannot read the MISP key in {}: {e}",
                key_file.display()
            ))
        })?
        .trim()
        .to_owned();
    if key.is_empty() {
        return Err(UsageError(format!(
            "{} is empty: put the MISP automation key in it",
            key_file.display()
        ))
        .into());
    }
    let misp = certnet_node::api::misp_client::MispClient::new(&url, key, ca_file.as_deref())
        .map_err(|e| UsageError(e.to_string()))?;
    let client = Client::from_data_dir(dir)?;
    let mut since = if args.all {
        None
    } else {
        read_cursor(dir, misp.url())
    };
    loop {
        let mut report = Report::default();
        let document = misp.search(since)?;
        import_document(
            &client,
            misp.url(),
            Ok(document),
            &options,
            None,
            true,
            &mut report,
        )?;
        if let Some(newest) = report.newest {
            // MISP's `timestamp` filter is inclusive: the newest event comes again next time, and
            // is unchanged then.
            write_cursor(dir, misp.url(), newest)?;
            since = Some(newest);
        }
        if args.json {
            print_json(&report)?;
        } else {
            print_text(&render(&report));
        }
        let Some(minutes) = args.every else {
            if !report.failed.is_empty() {
                anyhow::bail!(
                    "{} of {} events were not imported (listed above)",
                    report.failed.len(),
                    report.events
                );
            }
            return Ok(());
        };
        std::thread::sleep(std::time::Duration::from_secs(minutes * 60));
    }
}
