//! Indicator search: a value (IP, domain, hash, URL, … in any form the lookup takes) across the log,
//! and its correlation: every record and every CERT that reported or sighted it, with first and last
//! seen. The page renders the API's lookup (`GET /v1/indicators/{value}`) for the session.

use axum::extract::State;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use super::super::indicators::{LookupQuery, lookup};
use super::super::{ApiPath, ApiQuery, ApiState};
use super::{Signed, id_link, layout, time, tlp_badge};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SearchQuery {
    #[serde(default)]
    value: String,
    #[serde(default, rename = "type")]
    kind: String,
}

const TYPES: [&str; 11] = [
    "ipv4", "ipv6", "cidr", "domain", "url", "email", "sha256", "sha1", "md5", "cve", "asn",
];

/// `GET /ui/indicators?value=…&type=…`.
pub(super) async fn page(
    State(state): State<ApiState>,
    signed: Signed,
    ApiQuery(query): ApiQuery<SearchQuery>,
) -> Response {
    let value = query.value.trim().to_owned();
    let answer = if value.is_empty() {
        None
    } else {
        let kind = Some(query.kind.trim().to_owned()).filter(|k| !k.is_empty());
        Some(
            lookup(
                State(state.clone()),
                signed.principal().clone(),
                ApiPath(value.clone()),
                ApiQuery(LookupQuery { kind, limit: None }),
            )
            .await
            .map(|json| json.0),
        )
    };
    let body = html! {
        h1 { "Indicators" }
        form.search method="get" action="/ui/indicators" {
            label { "Value" input type="search" name="value" value=(query.value) placeholder="198.51.100.7, evil.example, hxxp://evil[.]example/x, a hash…" autofocus; }
            label { "Type" select name="type" {
                option value="" { "tell from the value" }
                @for t in TYPES { option value=(t) selected[t == query.kind] { (t) } }
            } }
            button type="submit" { "Search" }
        }
        @match &answer {
            None => p.hint { "Values are brought to their canonical form first: hashes and domains in any case, a trailing dot, defanged forms (hxxp, [.], [at])." },
            Some(Err(e)) => p.error id="search-error" data-code=(e.code()) { (e.message()) },
            Some(Ok(report)) => {
                section.report id="report" {
                    h2 { span.kind { (report.kind) } " " code { (report.value) } }
                    @if report.records.is_empty() {
                        p.empty { "No live record this session may read reports or sighted it." }
                    } @else {
                        p {
                            (report.records.len()) " record(s) from " (report.reporters.len()) " CERT(s); first seen "
                            @if let Some(t) = report.first_seen { (time(t)) } ", last seen "
                            @if let Some(t) = report.last_seen { (time(t)) }
                            @if report.truncated { " (the oldest entries were left out)" }
                        }
                        h3 { "Who" }
                        table.reporters {
                            thead { tr { th { "CERT" } th { "Reported" } th { "Sighted" } th { "First seen" } th { "Last seen" } } }
                            tbody { @for r in &report.reporters { tr {
                                td.author { (r.author_name.as_deref().unwrap_or(&r.author)) }
                                td { (r.reported) } td { (r.sighted) }
                                td { (time(r.first_seen)) } td { (time(r.last_seen)) }
                            } } }
                        }
                        h3 { "Records" }
                        table.records {
                            thead { tr { th { "Role" } th { "TLP" } th { "Author" } th { "Kind" } th { "Title" } th { "Last seen" } th { "Record" } } }
                            tbody { @for r in &report.records { tr {
                                td { (r.role) }
                                td { (tlp_badge(&r.record.tlp)) }
                                td.author { (r.record.author_name.as_deref().unwrap_or(&r.record.author)) }
                                td { (r.record.kind) }
                                td { (super::feed::title_of(&r.record)) }
                                td { (time(r.last_seen)) }
                                td { (id_link(&r.record.id)) }
                            } } }
                        }
                    }
                }
            }
        }
    };
    layout("Indicators", Some(&signed), body)
}
