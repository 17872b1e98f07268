//! `certnet search VALUE`: every live record that reports or sighted an indicator, and every member
//! that did, with first and last seen (`GET /v1/indicators/{value}`).

use certnet_node::api::client::Client;
use certnet_node::api::wire::IndicatorReport;
use certnet_node::datadir::DataDir;
use clap::Args;

use super::out::{clip, print_json, print_text, query_value, utc};
use super::records::headline;

#[derive(Debug, Args)]
pub(crate) struct SearchArgs {
    /// The value: an IP address, network, domain, URL, email address, MD5/SHA-1/SHA-256 digest, CVE
    /// id or AS number. Case, a trailing dot and defanging (hxxp, [.], (.)) do not matter.
    value: String,

    /// The value's type when it cannot be told from the value (ipv4, ipv6, cidr, domain, url, email,
    /// sha256, sha1, md5, cve, asn).
    #[arg(long = "type", value_name = "TYPE")]
    kind: Option<String>,

    /// Print the API's JSON instead of tables.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(dir: &DataDir, args: &SearchArgs) -> anyhow::Result<()> {
    let client = Client::from_data_dir(dir)?;
    let kind = args
        .kind
        .as_ref()
        .map_or(String::new(), |k| format!("?type={}", query_value(k)));
    let report: IndicatorReport = client.get_json(&format!(
        "/v1/indicators/{}{kind}",
        query_value(&args.value)
    ))?;
    if args.json {
        return print_json(&report);
    }
    print_text(&render(&report));
    Ok(())
}

fn render(r: &IndicatorReport) -> String {
    let mut lines = Vec::new();
    if r.records.is_empty() {
        lines.push(format!(
            "{} {}: no live record reports or sighted it",
            r.kind, r.value
        ));
        return lines.join("\n");
    }
    let reported = r.reporters.iter().filter(|m| m.reported > 0).count();
    let sighted = r.reporters.iter().filter(|m| m.sighted > 0).count();
    lines.push(format!(
        "{} {}: reported by {reported} member(s), sighted by {sighted}; first seen {}, last seen {}",
        r.kind,
        r.value,
        r.first_seen.map_or("-".to_owned(), utc),
        r.last_seen.map_or("-".to_owned(), utc),
    ));
    lines.push(String::new());
    lines.push(format!(
        "{:<16}  {:>8}  {:>7}  {:<20}  {:<20}",
        "MEMBER", "REPORTED", "SIGHTED", "FIRST SEEN (UTC)", "LAST SEEN (UTC)"
    ));
    for m in &r.reporters {
        let name = m
            .author_name
            .clone()
            .unwrap_or_else(|| m.author.chars().take(16).collect());
        lines.push(format!(
            "{:<16}  {:>8}  {:>7}  {:<20}  {:<20}",
            clip(&name, 16),
            m.reported,
            m.sighted,
            utc(m.first_seen),
            utc(m.last_seen)
        ));
    }
    lines.push(String::new());
    lines.push(format!(
        "{:<12}  {:<8}  {:<16}  {:<9}  {:<12}  {:<20}  {}",
        "ID", "ROLE", "AUTHOR", "KIND", "TLP", "LAST SEEN (UTC)", "TITLE"
    ));
    for hit in &r.records {
        let rec = &hit.record;
        let author = rec
            .author_name
            .clone()
            .unwrap_or_else(|| rec.author.chars().take(16).collect());
        let now = rec.current.as_ref();
        let title = now
            .and_then(|c| c.content.as_ref())
            .map_or_else(|| headline(&rec.content), headline);
        lines.push(format!(
            "{:<12}  {:<8}  {:<16}  {:<9}  {:<12}  {:<20}  {}",
            &rec.id[..12.min(rec.id.len())],
            hit.role,
            clip(&author, 16),
            rec.kind,
            now.map_or(rec.tlp.clone(), |c| c.tlp.clone()),
            utc(hit.last_seen),
            clip(&title, 60)
        ));
    }
    if r.truncated {
        lines.push(
            "(the oldest records were left out: the value is in more than a lookup reads)".into(),
        );
    }
    lines.join("\n")
}
