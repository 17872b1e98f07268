//! MISP event → certnet incident and sightings (node/MISP.md, table by table). Pure: no store, no
//! clock. What cannot be mapped is reported with its JSON path; what must not be widened (an
//! organisation-only or sharing-group event, TLP:RED without recipients) refuses the whole event.

use certnet_protocol::record::content::{
    MAX_INDICATORS, MAX_REFERENCES, MAX_SUMMARY, MAX_TITLE, MAX_TOKEN, MAX_TOKENS,
};
use certnet_protocol::record::indicator::{check_indicator, is_url};
use certnet_protocol::record::normalize::normalize;
use certnet_protocol::record::{
    Incident, IndicatorType, IndicatorValue, Severity, Sighting, Status, Tlp,
};
use serde::{Deserialize, Serialize};

use super::model::{Attribute, Event, MispSighting};

/// How to map what an event does not say itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapOptions {
    /// The TLP of an event without a `tlp:` tag.
    pub default_tlp: Tlp,
    /// Members to seal TLP:RED and sharing-group events to (none: such events are refused).
    pub to: Vec<String>,
}

impl Default for MapOptions {
    fn default() -> Self {
        Self {
            default_tlp: Tlp::Amber,
            to: Vec::new(),
        }
    }
}

/// Something left out of the mapping, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// JSON path inside the event (`Attribute[3]`, `Object[0].Attribute[1]`, `Tag[2]`).
    pub at: String,
    /// Why.
    pub reason: String,
}

/// An event certnet will not publish, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("MISP event {uuid}: {at}: {reason}")]
pub struct Refused {
    /// The event's UUID (empty if it has none).
    pub uuid: String,
    /// JSON path of what refused it.
    pub at: String,
    /// Why, and what to do.
    pub reason: String,
}

/// One MISP sighting as a certnet `sighting` (its refs: the event's incident).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MappedSighting {
    /// The MISP sighting's UUID.
    pub uuid: String,
    /// Its content.
    pub content: Sighting,
}

/// An event as certnet records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mapped {
    /// The event's UUID.
    pub uuid: String,
    /// Its last change, seconds since the epoch.
    pub timestamp: Option<u64>,
    /// The incident's TLP.
    pub tlp: Tlp,
    /// Members to seal it to (TLP:RED and sharing-group events).
    pub to: Vec<String>,
    /// The incident.
    pub incident: Incident,
    /// Its sightings.
    pub sightings: Vec<MappedSighting>,
    /// What was left out, and why.
    pub skipped: Vec<Skipped>,
    /// Where the event came from when that source lists all its events (a feed directory): an
    /// event the source no longer lists is withdrawn (`POST /v1/misp/withdraw`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// Maps one event.
pub fn map_event(event: &Event, options: &MapOptions) -> Result<Mapped, Refused> {
    let refuse = |at: &str, reason: String| Refused {
        uuid: event.uuid.clone(),
        at: at.to_owned(),
        reason,
    };
    if event.uuid.trim().is_empty() {
        return Err(refuse(
            "uuid",
            "the event has no uuid: a re-import could not recognise it".into(),
        ));
    }
    let mut skipped = Vec::new();
    let mut to = Vec::new();
    match event.distribution {
        Some(0) => {
            return Err(refuse(
                "distribution",
                "distribution 0 (your organisation only) is not shared with the federation: change it in MISP to share it".into(),
            ));
        }
        Some(4) => {
            let group = event.sharing_group.as_ref().map_or("", |g| g.name.as_str());
            if options.to.is_empty() {
                return Err(refuse(
                    "distribution",
                    format!(
                        "distribution 4 (sharing group `{group}`) is never widened to the federation: import it with --to MEMBER,… to seal it to the members that group stands for"
                    ),
                ));
            }
            to.clone_from(&options.to);
        }
        _ => {}
    }

    // TLP: the tightest `tlp:` tag; other tags become labels.
    let mut tlp: Option<Tlp> = None;
    let mut labels: Vec<String> = Vec::new();
    for (i, tag) in event.tags.iter().enumerate() {
        match tlp_of(&tag.name) {
            // `Tlp` orders from least to most restrictive: the tightest tag wins.
            Some(Ok(t)) => tlp = Some(tlp.map_or(t, |old| old.max(t))),
            Some(Err(())) => skipped.push(Skipped {
                at: format!("Tag[{i}]"),
                reason: format!("unknown TLP tag `{}`: ignored", tag.name),
            }),
            None => add_label(&mut labels, &mut skipped, &format!("Tag[{i}]"), &tag.name),
        }
    }
    for (g, galaxy) in event.galaxies.iter().enumerate() {
        for (c, cluster) in galaxy.clusters.iter().enumerate() {
            let name = if cluster.tag_name.is_empty() {
                format!("misp-galaxy:{}=\"{}\"", galaxy.name, cluster.value)
            } else {
                cluster.tag_name.clone()
            };
            add_label(
                &mut labels,
                &mut skipped,
                &format!("Galaxy[{g}].GalaxyCluster[{c}]"),
                &name,
            );
        }
    }
    let tlp = tlp.unwrap_or(options.default_tlp);
    if tlp == Tlp::Red {
        if options.to.is_empty() {
            return Err(refuse(
                "Tag",
                "TLP:RED is shared only sealed to named members: import it with --to MEMBER,…"
                    .into(),
            ));
        }
        to.clone_from(&options.to);
    }

    // Attributes (outside and inside objects): indicators, references, or context.
    let mut acc = Accumulator::default();
    for (i, a) in event.attributes.iter().enumerate() {
        acc.attribute(a, &format!("Attribute[{i}]"), None, tlp, &mut skipped);
    }
    for (o, object) in event.objects.iter().enumerate() {
        let at = format!("Object[{o}]");
        if object.deleted {
            continue;
        }
        if let Some(reason) = not_shared(object.distribution) {
            skipped.push(Skipped { at, reason });
            continue;
        }
        for (i, a) in object.attributes.iter().enumerate() {
            acc.attribute(
                a,
                &format!("{at}.Attribute[{i}]"),
                Some(&object.name),
                tlp,
                &mut skipped,
            );
        }
    }
    if acc.indicators.len() > MAX_INDICATORS {
        return Err(refuse(
            "Attribute",
            format!(
                "{} detection attributes, but a record holds at most {MAX_INDICATORS} indicators: split the event in MISP",
                acc.indicators.len()
            ),
        ));
    }

    // Sightings: attribute-level, then event-level (naming their attribute).
    let mut sightings = Vec::new();
    for (i, a) in event.attributes.iter().enumerate() {
        for (s, sighting) in a.sightings.iter().enumerate() {
            acc.sighting(
                sighting,
                a,
                &format!("Attribute[{i}].Sighting[{s}]"),
                &mut sightings,
                &mut skipped,
            );
        }
    }
    for (o, object) in event.objects.iter().enumerate() {
        for (i, a) in object.attributes.iter().enumerate() {
            for (s, sighting) in a.sightings.iter().enumerate() {
                let at = format!("Object[{o}].Attribute[{i}].Sighting[{s}]");
                acc.sighting(sighting, a, &at, &mut sightings, &mut skipped);
            }
        }
    }
    for (s, sighting) in event.sightings.iter().enumerate() {
        let at = format!("Sighting[{s}]");
        let attribute = sighting.attribute_uuid.as_deref().and_then(|u| {
            event
                .attributes
                .iter()
                .chain(event.objects.iter().flat_map(|o| o.attributes.iter()))
                .find(|a| a.uuid == u)
        });
        match attribute {
            Some(a) => acc.sighting(sighting, a, &at, &mut sightings, &mut skipped),
            None => skipped.push(Skipped {
                at,
                reason: "names no attribute of this event".into(),
            }),
        }
    }

    let org = event
        .orgc
        .as_ref()
        .map_or("an unnamed organisation", |o| o.name.as_str());
    let info = event.info.trim();
    let title = if info.is_empty() {
        format!("MISP event {}", event.uuid)
    } else {
        clip(info.lines().next().unwrap_or(info), MAX_TITLE)
    };
    let mut summary = format!(
        "{}\n\nImported from MISP event {} by {org}{}.",
        if info.is_empty() {
            "(no description)"
        } else {
            info
        },
        event.uuid,
        event
            .date
            .as_deref()
            .map_or(String::new(), |d| format!(", dated {d}"))
    );
    if !acc.context.is_empty() {
        summary.push_str("\n\nContext kept from MISP (not for detection):");
        let total = acc.context.len();
        for (n, line) in acc.context.iter().enumerate() {
            let tail = format!("\n… and {} more in the MISP event", total - n);
            if summary.len() + 1 + line.len() + tail.len() > MAX_SUMMARY {
                summary.push_str(&tail);
                skipped.push(Skipped {
                    at: "Attribute".into(),
                    reason: format!(
                        "{} context line(s) beyond the summary's {MAX_SUMMARY} bytes: left in MISP",
                        total - n
                    ),
                });
                break;
            }
            summary.push('\n');
            summary.push_str(line);
        }
    }
    let incident = Incident {
        title,
        summary: clip(&summary, MAX_SUMMARY),
        severity: match event.threat_level_id {
            Some(1) => Severity::High,
            Some(3) => Severity::Low,
            _ => Severity::Medium,
        },
        status: match event.analysis {
            Some(1) => Status::Investigating,
            Some(2) => Status::Resolved,
            _ => Status::New,
        },
        categories: Vec::new(),
        indicators: acc.indicators,
        references: acc.references,
        first_seen: event.date.as_deref().and_then(date_ms),
        last_seen: None,
        labels,
        sectors: Vec::new(),
        countries: Vec::new(),
    };
    incident
        .validate("content")
        .map_err(|e| refuse(&e.field, format!("{} (after mapping)", e.rule)))?;
    Ok(Mapped {
        uuid: event.uuid.clone(),
        timestamp: event.timestamp,
        tlp,
        to,
        incident,
        sightings,
        skipped,
        source: None,
    })
}

/// What the attributes give.
#[derive(Default)]
struct Accumulator {
    indicators: Vec<IndicatorValue>,
    references: Vec<String>,
    context: Vec<String>,
}

impl Accumulator {
    fn attribute(
        &mut self,
        a: &Attribute,
        at: &str,
        object: Option<&str>,
        event_tlp: Tlp,
        skipped: &mut Vec<Skipped>,
    ) {
        if a.deleted {
            return;
        }
        if let Some(reason) = not_shared(a.distribution) {
            skipped.push(Skipped {
                at: at.to_owned(),
                reason,
            });
            return;
        }
        if let Some(t) = a
            .tags
            .iter()
            .find_map(|t| tlp_of(&t.name).and_then(Result::ok))
            && t > event_tlp
        {
            skipped.push(Skipped {
                at: at.to_owned(),
                reason: format!(
                    "tagged TLP:{}, tighter than the event's TLP:{}: never widened, left out",
                    t.as_str().to_ascii_uppercase(),
                    event_tlp.as_str().to_ascii_uppercase()
                ),
            });
            return;
        }
        if a.kind == "link" && is_url(&a.value) {
            if self.references.len() < MAX_REFERENCES && !self.references.contains(&a.value) {
                self.references.push(a.value.clone());
            }
            return;
        }
        let mapped = if a.to_ids {
            indicators_of(&a.kind, &a.value)
        } else {
            None
        };
        match mapped {
            Some(Ok(values)) => {
                for v in values {
                    if !self.indicators.contains(&v) {
                        self.indicators.push(v);
                    }
                }
            }
            Some(Err(rule)) => {
                skipped.push(Skipped {
                    at: format!("{at}.value"),
                    reason: format!("`{}` ({}) {rule}: kept as context", a.value, a.kind),
                });
                self.context.push(context_line(a, object));
            }
            None if a.to_ids => {
                skipped.push(Skipped {
                    at: at.to_owned(),
                    reason: format!(
                        "type `{}` is for detection in MISP but certnet has no indicator type for it: kept as context",
                        a.kind
                    ),
                });
                self.context.push(context_line(a, object));
            }
            None => self.context.push(context_line(a, object)),
        }
    }

    fn sighting(
        &mut self,
        s: &MispSighting,
        a: &Attribute,
        at: &str,
        out: &mut Vec<MappedSighting>,
        skipped: &mut Vec<Skipped>,
    ) {
        let reason = match s.kind {
            Some(1) => Some("a false-positive sighting: certnet has no such record; left out"),
            Some(2) => Some("an expiration sighting: left out"),
            _ if s.uuid.is_empty() => {
                Some("a sighting without uuid: a re-import could not recognise it")
            }
            _ if a.deleted => Some("a sighting of a deleted attribute: left out"),
            _ => None,
        };
        if let Some(reason) = reason {
            skipped.push(Skipped {
                at: at.to_owned(),
                reason: reason.into(),
            });
            return;
        }
        let when = s.date_sighting.map(|secs| secs.saturating_mul(1000));
        let indicators = match indicators_of(&a.kind, &a.value) {
            Some(Ok(values)) if a.to_ids => values,
            _ => Vec::new(),
        };
        let who = s
            .organisation
            .as_ref()
            .map(|o| o.name.as_str())
            .filter(|n| !n.is_empty());
        let mut note = format!("MISP sighting of {} `{}`", a.kind, clip(&a.value, 200));
        if let Some(who) = who {
            note.push_str(&format!(" by {who}"));
        }
        if let Some(source) = s.source.as_deref().filter(|x| !x.is_empty()) {
            note.push_str(&format!(" ({})", clip(source, 200)));
        }
        out.push(MappedSighting {
            uuid: s.uuid.clone(),
            content: Sighting {
                count: Some(1),
                first_seen: when,
                last_seen: when,
                indicators,
                sectors: Vec::new(),
                countries: Vec::new(),
                note: Some(clip(&note, certnet_protocol::record::content::MAX_NOTE)),
            },
        });
    }
}

/// The indicators a detection attribute of MISP type `kind` gives: `None` for a type certnet has no
/// indicator for (kept as context), `Err(rule)` for a value that breaks certnet's syntax.
pub fn indicators_of(kind: &str, value: &str) -> Option<Result<Vec<IndicatorValue>, String>> {
    let one = |t: IndicatorType, v: &str| -> Result<IndicatorValue, String> {
        let value = normalize(t, v);
        check_indicator(t, &value)?;
        Ok(IndicatorValue { kind: t, value })
    };
    let ip = |v: &str| -> Result<IndicatorValue, String> {
        let v = v.trim();
        let t = if v.contains('/') {
            IndicatorType::Cidr
        } else if v.contains(':') {
            IndicatorType::Ipv6
        } else {
            IndicatorType::Ipv4
        };
        one(t, v)
    };
    let first = |v: &str| v.split('|').next().unwrap_or(v).to_owned();
    let second = |v: &str| {
        v.split_once('|')
            .map_or(String::new(), |(_, b)| b.to_owned())
    };
    let out = match kind {
        "ip-src" | "ip-dst" => vec![ip(value)],
        "ip-src|port" | "ip-dst|port" => vec![ip(&first(value))],
        "domain" | "hostname" => vec![one(IndicatorType::Domain, value)],
        "hostname|port" => vec![one(IndicatorType::Domain, &first(value))],
        "domain|ip" => vec![
            one(IndicatorType::Domain, &first(value)),
            ip(&second(value)),
        ],
        "url" => vec![one(IndicatorType::Url, value)],
        "email" | "email-src" | "email-dst" => vec![one(IndicatorType::Email, value)],
        "md5" => vec![one(IndicatorType::Md5, value)],
        "sha1" => vec![one(IndicatorType::Sha1, value)],
        "sha256" => vec![one(IndicatorType::Sha256, value)],
        "filename|md5" => vec![one(IndicatorType::Md5, &second(value))],
        "filename|sha1" => vec![one(IndicatorType::Sha1, &second(value))],
        "filename|sha256" => vec![one(IndicatorType::Sha256, &second(value))],
        "vulnerability" => vec![one(IndicatorType::Cve, value)],
        "AS" => vec![one(IndicatorType::Asn, value)],
        _ => return None,
    };
    Some(out.into_iter().collect())
}

/// Why an attribute or object of this distribution is not shared, if it is not.
fn not_shared(distribution: Option<u64>) -> Option<String> {
    match distribution {
        Some(0) => Some("distribution 0 (your organisation only): not shared, left out".into()),
        Some(4) => Some(
            "distribution 4 (a sharing group): never widened to the event's audience, left out"
                .into(),
        ),
        _ => None,
    }
}

/// `Some(Ok(tlp))` for a TLP tag, `Some(Err)` for an unknown `tlp:` tag, `None` for another tag.
fn tlp_of(tag: &str) -> Option<Result<Tlp, ()>> {
    let lower = tag.trim().to_ascii_lowercase();
    let name = lower.strip_prefix("tlp:")?;
    Some(match name {
        "clear" | "white" => Ok(Tlp::Clear),
        "green" => Ok(Tlp::Green),
        "amber" => Ok(Tlp::Amber),
        "amber+strict" => Ok(Tlp::AmberStrict),
        "red" => Ok(Tlp::Red),
        _ => Err(()),
    })
}

fn add_label(labels: &mut Vec<String>, skipped: &mut Vec<Skipped>, at: &str, name: &str) {
    let name = name.trim();
    if labels.iter().any(|l| l == name) {
        return;
    }
    let reason = if name.is_empty()
        || name.len() > MAX_TOKEN
        || name.contains("  ")
        || name
            .chars()
            .any(|c| c != ' ' && (c.is_whitespace() || c.is_control()))
    {
        Some(format!(
            "tag `{}` is not a label certnet can carry (1 to {MAX_TOKEN} bytes, no control characters): left out",
            clip(name, 80)
        ))
    } else if labels.len() == MAX_TOKENS {
        Some(format!(
            "more than {MAX_TOKENS} tags and galaxy clusters: `{name}` left out"
        ))
    } else {
        None
    };
    match reason {
        Some(reason) => skipped.push(Skipped {
            at: at.to_owned(),
            reason,
        }),
        None => labels.push(name.to_owned()),
    }
}

fn context_line(a: &Attribute, object: Option<&str>) -> String {
    let relation = a
        .object_relation
        .as_deref()
        .map_or(String::new(), |r| format!("/{r}"));
    let place = match object {
        Some(o) => format!("object {o}{relation}"),
        None => format!("{} / {}", a.category, a.kind),
    };
    let comment = if a.comment.trim().is_empty() {
        String::new()
    } else {
        format!(" — {}", a.comment.trim())
    };
    clip(
        &format!("- {place}: {}{comment}", a.value.replace(['\n', '\r'], " ")),
        512,
    )
}

/// `text` cut to at most `max` bytes at a character boundary, with `…` when cut.
fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// `YYYY-MM-DD` → ms since the epoch at 00:00 UTC.
fn date_ms(date: &str) -> Option<u64> {
    crate::stix::ids::parse_timestamp_us(&format!("{}T00:00:00Z", date.trim())).map(|us| us / 1000)
}
