//! `certnet records` (the log, filtered, as a table or JSON) and `certnet show ID` (one record with
//! its current view and history, as text, JSON or its exact signed bytes).

use std::io::IsTerminal as _;

use anyhow::Context as _;
use certnet_node::api::client::Client;
use certnet_node::api::wire::{MAX_LIMIT, RecordJson, RecordList, RecordView};
use certnet_node::datadir::DataDir;
use certnet_protocol::record::MAX_RECORD;
use clap::Args;
use serde_json::Value;

use super::UsageError;
use super::out::{clip, print_json, print_text, query_value, utc, write_stdout};

#[derive(Debug, Args)]
pub(crate) struct RecordsArgs {
    /// Only records by this author: an ed25519:… key or a member name from roster.toml.
    #[arg(long)]
    author: Option<String>,

    /// Only records of this kind (incident, indicator, advisory, sighting, update, revoke).
    #[arg(long)]
    kind: Option<String>,

    /// Only records with this TLP label as signed (clear, green, amber, amber+strict).
    #[arg(long)]
    tlp: Option<String>,

    /// Only records signed at or after this time: RFC 3339 (2026-12-07T09:00:00Z), an age (90s,
    /// 30m, 2h, 7d) or ms since the Unix epoch.
    #[arg(long, value_name = "TIME", value_parser = parse_since)]
    since: Option<u64>,

    /// Only records signed at or before this time, in the same forms as --since.
    #[arg(long, value_name = "TIME", value_parser = parse_since)]
    until: Option<u64>,

    /// Start at this log index (the `next_cursor` of an earlier page).
    #[arg(long, value_name = "INDEX")]
    cursor: Option<u64>,

    /// Most records per page, 1 to 500.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=MAX_LIMIT as u64))]
    limit: u64,

    /// Follow `next_cursor` to the end of the log instead of stopping after one page.
    #[arg(long)]
    all: bool,

    /// List records their author revoked too (hidden by default; shown as REVOKED).
    #[arg(long)]
    include_revoked: bool,

    /// Print the API's JSON (`{records, next_cursor}`) instead of a table.
    #[arg(long)]
    json: bool,
}

pub(super) fn run_records(dir: &DataDir, args: &RecordsArgs) -> anyhow::Result<()> {
    let client = Client::from_data_dir(dir)?;
    let mut filters = String::new();
    for (name, value) in [
        ("author", args.author.clone()),
        ("kind", args.kind.clone()),
        ("tlp", args.tlp.clone()),
        ("since", args.since.map(|s| s.to_string())),
        ("until", args.until.map(|u| u.to_string())),
    ] {
        if let Some(value) = value {
            filters.push_str(&format!("&{name}={}", query_value(&value)));
        }
    }
    if args.include_revoked {
        filters.push_str("&include_revoked=true");
    }
    // Each page is printed as it arrives (memory stays that of one page, whatever the log holds);
    // with --json the pages make one `{records, next_cursor}` document.
    let mut cursor = args.cursor;
    let mut first = true;
    let next_cursor = loop {
        let cursor_param = cursor.map_or(String::new(), |c| format!("&cursor={c}"));
        let page: RecordList = client.get_json(&format!(
            "/v1/records?limit={}{filters}{cursor_param}",
            args.limit
        ))?;
        let more = page.next_cursor.filter(|_| args.all);
        if args.json {
            let mut text = String::new();
            for r in &page.records {
                text.push_str(if first { "{\n\"records\": [\n" } else { ",\n" });
                text.push_str(&serde_json::to_string(r).context("cannot encode JSON")?);
                first = false;
            }
            if more.is_none() {
                let close =
                    serde_json::to_string(&page.next_cursor).context("cannot encode JSON")?;
                text.push_str(if first { "{\n\"records\": [" } else { "\n" });
                text.push_str(&format!("],\n\"next_cursor\": {close}\n}}"));
            }
            if !text.is_empty() {
                print_text(text.strip_suffix('\n').unwrap_or(&text));
            }
        } else {
            let lines = table(&page.records, first);
            if !lines.is_empty() {
                print_text(&lines);
            }
            first = false;
        }
        match more {
            Some(next) => cursor = Some(next),
            None => break page.next_cursor,
        }
    };
    if !args.json
        && let Some(next) = next_cursor
    {
        eprintln!("more records: pass --cursor {next} (or --all)");
    }
    Ok(())
}

/// `--since`: RFC 3339, an age before now (`90s`, `30m`, `2h`, `7d`), or ms since the epoch.
fn parse_since(text: &str) -> Result<u64, String> {
    if let Ok(ms) = text.parse::<u64>() {
        return Ok(ms);
    }
    if let Some(us) = certnet_node::stix::ids::parse_timestamp_us(text) {
        return Ok(us / 1000);
    }
    let unit = |c: char| match c {
        's' => Some(1_000u64),
        'm' => Some(60_000),
        'h' => Some(3_600_000),
        'd' => Some(86_400_000),
        _ => None,
    };
    if let Some(last) = text.chars().last()
        && let Some(ms_per) = unit(last)
        && let Ok(n) = text[..text.len() - 1].parse::<u64>()
    {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        return Ok(now.saturating_sub(n.saturating_mul(ms_per)));
    }
    Err(format!(
        "`{text}` is not a time: use RFC 3339 (2026-12-07T09:00:00Z), an age (90s, 30m, 2h, 7d) or ms since the Unix epoch"
    ))
}

/// One line per record: index, time, author, kind, TLP, severity, status and updates as they stand
/// now, seq, short id, title; the header first when `header`.
fn table(records: &[RecordJson], header: bool) -> String {
    let mut lines = Vec::new();
    if header {
        lines.push(format!(
            "{:>6}  {:<20}  {:<16}  {:<9}  {:<12}  {:<8}  {:<13}  {:>3}  {:>4}  {:<12}  {}",
            "INDEX",
            "TIME (UTC)",
            "AUTHOR",
            "KIND",
            "TLP",
            "SEVERITY",
            "STATUS",
            "UPD",
            "SEQ",
            "ID",
            "TITLE"
        ));
    }
    for r in records {
        let author = r
            .author_name
            .clone()
            .unwrap_or_else(|| r.author.chars().take(16).collect());
        let now = r.current.as_ref();
        let dash = || "-".to_owned();
        let mut title = sealed_headline(r);
        if let Some(content) = now.and_then(|c| c.content.as_ref()) {
            title = headline(content);
        }
        if now.is_some_and(|c| c.revoked) {
            title = format!("REVOKED: {title}");
        }
        lines.push(format!(
            "{:>6}  {:<20}  {:<16}  {:<9}  {:<12}  {:<8}  {:<13}  {:>3}  {:>4}  {:<12}  {}",
            r.index.map_or("-".to_owned(), |i| i.to_string()),
            utc(r.time),
            clip(&author, 16),
            r.kind,
            now.map_or(r.tlp.clone(), |c| c.tlp.clone()),
            now.and_then(|c| c.severity.clone()).unwrap_or_else(dash),
            now.and_then(|c| c.status.clone()).unwrap_or_else(dash),
            now.map_or("-".to_owned(), |c| c.updates.to_string()),
            r.seq,
            &r.id[..12.min(r.id.len())],
            clip(&title, 70),
        ));
    }
    if header && records.is_empty() {
        lines.push("(no records)".to_owned());
    }
    lines.join("\n")
}

/// The headline of a listed record; a sealed one says so, and to whom (or that this node cannot
/// read it).
fn sealed_headline(r: &RecordJson) -> String {
    match (&r.recipients, r.sealed_size, &r.sealed_error) {
        (_, Some(_), Some(error)) => format!("[sealed, addressed here, does NOT open: {error}]"),
        (_, Some(size), None) => format!("[sealed to other members: {size} bytes]"),
        (Some(to), _, _) => format!("[sealed to {}] {}", to.join(", "), headline(&r.content)),
        _ => headline(&r.content),
    }
}

/// The line that best names a record: its title, value, note or reason.
pub(super) fn headline(content: &Value) -> String {
    let inner = match content.as_object() {
        // An update wraps the new content in its kind: {"incident": {...}}.
        Some(map) if map.len() == 1 => map.values().next().filter(|v| v.is_object()),
        _ => None,
    }
    .unwrap_or(content);
    for field in ["title", "value", "note", "reason"] {
        if let Some(text) = inner.get(field).and_then(Value::as_str) {
            return text.to_owned();
        }
    }
    String::new()
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// The record id (64 hex characters, as `publish` prints), or a unique prefix of 8 or more (the
    /// 12 that `records` shows).
    id: String,

    /// Print the API's JSON view.
    #[arg(long, conflicts_with = "raw")]
    json: bool,

    /// Write the exact signed bytes (COSE_Sign1) to stdout; redirect them to a file.
    #[arg(long)]
    raw: bool,
}

pub(super) fn run_show(dir: &DataDir, args: &ShowArgs) -> anyhow::Result<()> {
    let client = Client::from_data_dir(dir)?;
    let id = query_value(&args.id);
    if args.raw {
        if std::io::stdout().is_terminal() {
            return Err(UsageError(
                "refusing to write binary COSE bytes to a terminal: redirect stdout to a file (certnet show ID --raw > record.cose)"
                    .into(),
            )
            .into());
        }
        let bytes = client.get_bytes(&format!("/v1/records/{id}/raw"), MAX_RECORD as u64)?;
        return write_stdout(&bytes);
    }
    let view: RecordView = client.get_json(&format!("/v1/records/{id}"))?;
    if args.json {
        return print_json(&view);
    }
    print_text(&render(&view)?);
    Ok(())
}

fn render(v: &RecordView) -> anyhow::Result<String> {
    let r = &v.record;
    let author = match &r.author_name {
        Some(name) => format!("{name} ({})", r.author),
        None => format!("{} (not in roster)", r.author),
    };
    let mut lines = vec![
        format!("id        {}", r.id),
        format!(
            "index     {}",
            r.index.map_or("-".to_owned(), |i| i.to_string())
        ),
        format!("author    {author}"),
        format!(
            "seq       {}{}",
            r.seq,
            r.prev
                .as_ref()
                .map_or(String::new(), |p| format!("  (prev {p})"))
        ),
        format!(
            "time      {}{}",
            utc(r.time),
            if v.time_ahead_of_clock {
                "  (AHEAD of this node's clock)"
            } else {
                ""
            }
        ),
        format!("kind      {}", r.kind),
    ];
    match (&r.recipients, r.sealed_size, &r.sealed_error) {
        (Some(to), _, _) => lines.push(format!(
            "sealed    to {} (opened here; every other node holds only ciphertext)",
            to.join(", ")
        )),
        (_, Some(size), Some(error)) => lines.push(format!(
            "sealed    addressed to this node but does NOT open: {error} ({size} bytes; kept in the log)"
        )),
        (_, Some(size), None) => lines.push(format!(
            "sealed    to other members; this node cannot read it ({size} bytes of ciphertext)"
        )),
        _ => {}
    }
    if v.view.tlp == r.tlp {
        lines.push(format!("tlp       {}", r.tlp));
    } else {
        lines.push(format!(
            "tlp       {} (signed {}, loosened by an update)",
            v.view.tlp, r.tlp
        ));
    }
    if !r.refs.is_empty() {
        lines.push(format!("refs      {}", r.refs.join(", ")));
    }
    lines.push(match &v.verify_error {
        None => "verified  yes (signature and rules checked on this read)".to_owned(),
        Some(e) => format!("verified  NO: {e}"),
    });
    if v.view.revoked {
        lines.push(format!(
            "REVOKED   {}",
            v.view.revoked_reason.as_deref().unwrap_or("")
        ));
    }
    let updated = v.history.iter().any(|h| h.effect == "updated");
    lines.push(if updated {
        "content (current, after updates):".to_owned()
    } else {
        "content:".to_owned()
    });
    let content =
        serde_json::to_string_pretty(&v.view.content).context("cannot encode the content")?;
    lines.extend(content.lines().map(|l| format!("  {l}")));
    if !v.history.is_empty() {
        lines.push("history:".to_owned());
        for h in &v.history {
            lines.push(format!(
                "  {}  seq {:<4} {:<9} {:<10} {}{}",
                utc(h.time),
                h.seq,
                h.kind,
                h.effect,
                h.id,
                h.reason
                    .as_ref()
                    .map_or(String::new(), |why| format!("  ({why})"))
            ));
        }
    }
    Ok(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn headlines() {
        assert_eq!(
            headline(&json!({"title": "Phish", "summary": "x"})),
            "Phish"
        );
        assert_eq!(headline(&json!({"incident": {"title": "New"}})), "New");
        assert_eq!(
            headline(&json!({"type": "ipv4", "value": "192.0.2.1"})),
            "192.0.2.1"
        );
        assert_eq!(headline(&json!({"reason": "dup"})), "dup");
        assert_eq!(headline(&json!({"count": 3})), "");
    }
}
