//! `certnet publish`: have the running node sign and store a record, from a JSON file (the
//! `POST /v1/records` body) or, for a quick incident, from flags. Prints the new record's id.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::Context as _;
use certnet_node::api::client::Client;
use certnet_node::api::wire::{PublishRequest, RecordView};
use certnet_node::datadir::DataDir;
use clap::Args;
use serde_json::{Map, Value, json};

use super::UsageError;
use super::out::{print_json, print_text, query_value};

/// Flags that build the record when no `--file` is given.
const QUICK_FLAGS: [&str; 13] = [
    "kind",
    "tlp",
    "title",
    "summary",
    "severity",
    "status",
    "indicator",
    "category",
    "reference",
    "sector",
    "country",
    "label",
    "refs",
];

#[derive(Debug, Args)]
pub(crate) struct PublishArgs {
    /// JSON file holding the request body `{kind, tlp, refs?, content}` (`-` reads stdin).
    #[arg(long, value_name = "FILE", conflicts_with_all = QUICK_FLAGS)]
    file: Option<PathBuf>,

    /// Kind of a record built from flags: only `incident` has flags (use --file for other kinds).
    #[arg(long, default_value = "incident")]
    kind: String,

    /// TLP label: clear, green, amber, amber+strict, or red (only sealed to named members: with
    /// --to).
    #[arg(long, default_value = "amber", value_parser = ["clear", "green", "amber", "amber+strict", "red"])]
    tlp: String,

    /// Incident title (one line, at most 200 bytes).
    #[arg(long)]
    title: Option<String>,

    /// What happened and what to do (at most 8192 bytes).
    #[arg(long)]
    summary: Option<String>,

    /// Severity of the incident.
    #[arg(long, value_parser = ["low", "medium", "high", "critical"])]
    severity: Option<String>,

    /// Handling status of the incident.
    #[arg(long, default_value = "new", value_parser = ["new", "investigating", "contained", "resolved"])]
    status: String,

    /// Indicator as TYPE:VALUE, such as ipv4:203.0.113.7, domain:evil.example or
    /// sha256:<64 hex>; repeat for several.
    #[arg(long, value_name = "TYPE:VALUE")]
    indicator: Vec<String>,

    /// Category, such as phishing or ransomware; repeat for several.
    #[arg(long)]
    category: Vec<String>,

    /// Reference URL; repeat for several.
    #[arg(long, value_name = "URL")]
    reference: Vec<String>,

    /// Affected sector, such as energy or health; repeat for several.
    #[arg(long)]
    sector: Vec<String>,

    /// Affected country, ISO 3166-1 alpha-2 in upper case (DE, FR); repeat for several.
    #[arg(long)]
    country: Vec<String>,

    /// Free label; repeat for several.
    #[arg(long)]
    label: Vec<String>,

    /// Id of a related record; repeat for several.
    #[arg(long = "ref", id = "refs", value_name = "ID")]
    refs: Vec<String>,

    /// Seal the record to this roster member (a name as `certnet roster list` shows it); repeat,
    /// or separate names with commas. Only they (and this node) can read it; every node relays it.
    /// Needed for `--tlp red`. Works with `--file` too (adds to its `to`).
    #[arg(long = "to", value_name = "MEMBER", value_delimiter = ',')]
    to: Vec<String>,

    /// Publish even if a live record of this node is identical (otherwise refused, exit 2, naming it).
    #[arg(long)]
    force: bool,

    /// Replace record ID: publish this record, then revoke ID ("superseded by <new id>"). The way to
    /// tighten a TLP, which an update may not do (peers may hold the looser version already).
    #[arg(long, value_name = "ID")]
    supersede: Option<String>,

    /// Print the node's JSON answer `{id, seq, index}` instead of the id alone.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(dir: &DataDir, args: PublishArgs) -> anyhow::Result<()> {
    let mut request = match &args.file {
        Some(path) => read_request(path)?,
        None => quick_incident(&args)?,
    };
    if !args.to.is_empty() {
        request
            .to
            .get_or_insert_with(Vec::new)
            .extend(args.to.iter().cloned());
    }
    request.force |= args.force;
    let client = Client::from_data_dir(dir)?;
    // The record to replace, read first: a typo must not leave a new record published. Its revoke
    // goes out at its current TLP, so everyone who could read it learns it is withdrawn.
    let superseded = match &args.supersede {
        Some(old) => {
            Some(client.get_json::<RecordView>(&format!("/v1/records/{}", query_value(old)))?)
        }
        None => None,
    };
    let published = say_if_slow(|| client.publish(&request))?;
    if let Some(view) = superseded {
        // The new record first: if the revoke then fails, nothing is lost, and the message says
        // what to run.
        let old = view.record.id;
        let revoke = PublishRequest {
            kind: "revoke".to_owned(),
            tlp: view.view.tlp,
            refs: vec![old.clone()],
            content: json!({"reason": format!("superseded by {}", published.id)}),
            to: None,
            force: false,
        };
        client.publish(&revoke).with_context(|| {
            format!(
                "published {} but could not revoke {old}: revoke it with a record {{\"kind\": \"revoke\", \"refs\": [\"{old}\"], ...}}",
                published.id
            )
        })?;
        eprintln!("{old} revoked: superseded by {}", published.id);
    }
    if args.json {
        print_json(&published)?;
    } else {
        print_text(&published.id);
    }
    Ok(())
}

/// Runs `publish`, telling the operator on stderr why it waits if it takes more than a second (the
/// first publish after a start waits, up to 5 s, for a peer to confirm the node's own feed).
fn say_if_slow<T>(publish: impl FnOnce() -> T) -> T {
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let notice = std::thread::spawn(move || {
        if wait.recv_timeout(std::time::Duration::from_secs(1))
            == Err(std::sync::mpsc::RecvTimeoutError::Timeout)
        {
            eprintln!(
                "waiting: the node checks with its peers that its own feed is current before it signs (up to 5 s after a start)"
            );
        }
    });
    let out = publish();
    let _ = done.send(());
    let _ = notice.join();
    out
}

/// Reads a publish request from a JSON file, or stdin for `-`.
fn read_request(path: &PathBuf) -> anyhow::Result<PublishRequest> {
    let text = if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the request from stdin")?;
        text
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?
    };
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a publish request: expected a JSON object with kind, tlp, content and optionally refs and to",
            path.display()
        )
    })
}

/// The request for an incident described by flags.
fn quick_incident(args: &PublishArgs) -> anyhow::Result<PublishRequest> {
    if args.kind != "incident" {
        return Err(UsageError(format!(
            "only incidents can be published from flags, not `{}`: write the record to a JSON file and pass --file",
            args.kind
        ))
        .into());
    }
    let (Some(title), Some(summary), Some(severity)) = (&args.title, &args.summary, &args.severity)
    else {
        return Err(UsageError(
            "an incident needs --title, --summary and --severity (or pass the whole record with --file)"
                .into(),
        )
        .into());
    };
    let mut content = Map::new();
    content.insert("title".into(), json!(title));
    content.insert("summary".into(), json!(summary));
    content.insert("severity".into(), json!(severity));
    content.insert("status".into(), json!(args.status));
    let indicators = args
        .indicator
        .iter()
        .map(|text| {
            let (kind, value) = text.split_once(':').ok_or_else(|| {
                UsageError(format!(
                    "--indicator `{text}` must be TYPE:VALUE, such as ipv4:203.0.113.7"
                ))
            })?;
            Ok(json!({ "type": kind, "value": value }))
        })
        .collect::<Result<Vec<_>, UsageError>>()?;
    let lists: [(&str, Vec<Value>); 6] = [
        ("indicators", indicators),
        ("categories", strings(&args.category)),
        ("references", strings(&args.reference)),
        ("sectors", strings(&args.sector)),
        ("countries", strings(&args.country)),
        ("labels", strings(&args.label)),
    ];
    for (name, list) in lists {
        if !list.is_empty() {
            content.insert(name.into(), Value::Array(list));
        }
    }
    Ok(PublishRequest {
        kind: args.kind.clone(),
        tlp: args.tlp.clone(),
        refs: args.refs.clone(),
        content: Value::Object(content),
        to: None,
        force: false,
    })
}

fn strings(items: &[String]) -> Vec<Value> {
    items.iter().map(|s| json!(s)).collect()
}
