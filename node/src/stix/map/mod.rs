//! Records → STIX 2.1 object versions. A record of kind incident, indicator, advisory or sighting (the
//! *target*) gives a group of objects: its main object and the objects derived from its content
//! (indicators or vulnerabilities for embedded observables and CVEs, `related-to` relationships).
//! Each applicable update of the target (PROTOCOL.md §8, decided by `protocol::view`) makes new
//! versions; the revoke makes a last version with `revoked: true`. Every version names the record
//! that made it (`origin`), which is where TAXII places it in the node's log.

use certnet_protocol::id::RecordId;
use certnet_protocol::keys::AuthorKey;
use certnet_protocol::record::{
    Advisory, Content, Incident, Indicator, IndicatorType, IndicatorValue, Kind, Payload, Record,
    Severity, Sighting, Status, Tlp, Update,
};
use certnet_protocol::view::{Effect, current_view};
use serde_json::{Map, Value, json};

use super::ids::{INCIDENT_EXTENSION, marking_id, stix_id, timestamp};

/// One version of one STIX object, and the record whose log entry introduces it.
#[derive(Debug, Clone, PartialEq)]
pub struct StixVersion {
    /// `type--uuid`.
    pub id: String,
    /// The object's version: its `modified` (ms since the epoch, clamped to the year 9999).
    pub version_ms: u64,
    /// The TLP it is marked with; `None` for objects shared in every collection (identities).
    pub tlp: Option<Tlp>,
    /// The record that made this version.
    pub origin: RecordId,
    /// The STIX object.
    pub object: Value,
}

impl StixVersion {
    /// The STIX type (the part of the id before `--`).
    pub fn stix_type(&self) -> &str {
        self.id.split("--").next().unwrap_or("")
    }
}

/// What the mapping needs to know about records other than the ones it maps: kept to facts that are
/// the same on every node holding the same records.
pub trait Lookup {
    /// The id of the STIX domain object a held record maps to (`None` if the record is not held or
    /// maps to no domain object).
    fn sdo_id(&self, id: &RecordId) -> Option<String>;
    /// The id and time of `author`'s first record (seq 1), if held.
    fn first_record(&self, author: &AuthorKey) -> Option<(RecordId, u64)>;
}

/// The id of the STIX domain object `record` maps to, if any (sightings are relationship objects).
pub fn sdo_id(payload: &Payload, id: &RecordId) -> Option<String> {
    let stix_type = match &payload.content {
        Content::Incident(_) => "incident",
        Content::Indicator(c) if c.kind == IndicatorType::Cve => "vulnerability",
        Content::Indicator(_) => "indicator",
        Content::Advisory(_) => "report",
        _ => return None,
    };
    Some(stix_id(stix_type, &format!("record/{id}")))
}

/// The `identity` of an author: named by its key (the roster's names are node-local), created at its
/// first record. `None` if this node does not hold that record.
pub fn identity(author: &AuthorKey, lookup: &dyn Lookup) -> Option<StixVersion> {
    let (first, time) = lookup.first_record(author)?;
    let created = timestamp(time);
    let key = author.to_string();
    Some(StixVersion {
        id: identity_id(author),
        version_ms: time.min(super::ids::MAX_MS),
        tlp: None,
        origin: first,
        object: json!({
            "type": "identity",
            "spec_version": "2.1",
            "id": identity_id(author),
            "created": created,
            "modified": created,
            "name": key,
            "description": "A certnet author (a CERT), named by its Ed25519 author key.",
            "identity_class": "organization",
            "external_references": [{
                "source_name": "certnet",
                "external_id": key,
                "description": "certnet author key",
            }],
        }),
    })
}

/// The identity id of an author.
pub fn identity_id(author: &AuthorKey) -> String {
    stix_id("identity", &format!("author/{author}"))
}

/// One state of the target: the content and TLP after the updates applied so far.
struct State<'a> {
    origin: RecordId,
    time: u64,
    content: Content,
    tlp: Tlp,
    revoked: bool,
    by: &'a str,
}

/// Every version of every object of the group of `target`, given the records referring to it (in any
/// order; only the target author's applicable updates and revoke count, as `protocol::view` decides).
/// Versions come in the order of the records that make them. Empty for kinds with no STIX form.
pub fn record_versions(
    target: &Record,
    referrers: &[Record],
    lookup: &dyn Lookup,
) -> Vec<StixVersion> {
    let p = target.payload();
    // RED exists only in sealed records this node opened: mapped like any other, served under the
    // access rule (the operator's token; never a consumer, never a default bundle).
    if !matches!(
        p.kind,
        Kind::Incident | Kind::Indicator | Kind::Advisory | Kind::Sighting
    ) {
        return vec![];
    }
    let pairs: Vec<(RecordId, &Payload)> =
        referrers.iter().map(|r| (r.id(), r.payload())).collect();
    let view = current_view(p, &pairs);
    let mut states = vec![State {
        origin: target.id(),
        time: p.time,
        content: p.content.clone(),
        tlp: p.tlp,
        revoked: false,
        by: "",
    }];
    for entry in &view.history {
        let Some(r) = referrers.iter().find(|r| r.id() == entry.id) else {
            continue;
        };
        let rp = r.payload();
        let last = states.last().map(|s| (s.content.clone(), s.tlp));
        let Some((content, tlp)) = last else { break };
        match (&entry.effect, &rp.content) {
            (Effect::Updated, Content::Update(update)) => states.push(State {
                origin: r.id(),
                time: rp.time,
                content: unwrap_update(update),
                tlp: rp.tlp,
                revoked: false,
                by: "update",
            }),
            (Effect::Revoked, _) => states.push(State {
                origin: r.id(),
                time: rp.time,
                content,
                tlp,
                revoked: true,
                by: "revoke",
            }),
            _ => {}
        }
    }
    Group::new(target, lookup).run(&states)
}

fn unwrap_update(update: &Update) -> Content {
    match update {
        Update::Incident(c) => Content::Incident(c.clone()),
        Update::Indicator(c) => Content::Indicator(c.clone()),
        Update::Advisory(c) => Content::Advisory(c.clone()),
        Update::Sighting(c) => Content::Sighting(c.clone()),
    }
}

/// A derived object seen so far: its body (without version fields), created time, and whether revoked.
struct Derived {
    key: String,
    body: Value,
    created: u64,
    revoked: bool,
}

struct Group<'a> {
    target: &'a Record,
    lookup: &'a dyn Lookup,
    main_id: Option<String>,
    creator: String,
}

impl<'a> Group<'a> {
    fn new(target: &'a Record, lookup: &'a dyn Lookup) -> Self {
        let p = target.payload();
        let main_id = match &p.content {
            Content::Sighting(_) => Some(stix_id("sighting", &format!("record/{}", target.id()))),
            _ => sdo_id(p, &target.id()),
        };
        Self {
            target,
            lookup,
            main_id,
            creator: identity_id(&p.author),
        }
    }

    fn run(&self, states: &[State<'_>]) -> Vec<StixVersion> {
        let Some(main_id) = self.main_id.clone() else {
            return vec![];
        };
        let mut out = Vec::new();
        let mut derived: Vec<Derived> = Vec::new();
        let mut modified = 0u64;
        let mut created = 0u64;
        let mut last_main: Option<Value> = None;
        for (i, state) in states.iter().enumerate() {
            let time = state.time.min(super::ids::MAX_MS);
            if i == 0 {
                modified = time;
                created = time;
            } else {
                let next = time.max(modified.saturating_add(1)).min(super::ids::MAX_MS);
                if next <= modified {
                    // Clamped at the year 9999: no later version can be shown.
                    break;
                }
                modified = next;
            }
            let built = if state.revoked {
                None
            } else {
                self.build(&main_id, state, created)
            };
            let main_body = match (&built, &last_main) {
                (Some((body, _)), _) => body.clone(),
                (None, Some(last)) => last.clone(),
                // The target itself has no STIX form (a sighting naming nothing this node holds).
                (None, None) => return vec![],
            };
            // A revoke, or content that needs another STIX type than the object has (an indicator
            // updated from an observable to a CVE): the object ends as revoked.
            let revoked = built.is_none();
            out.push(self.version(
                &main_id,
                main_body.clone(),
                created,
                modified,
                revoked,
                state,
            ));
            last_main = Some(main_body);
            let current: Vec<(String, Value)> =
                built.map(|(_, derived)| derived).unwrap_or_default();
            for d in derived.iter_mut().filter(|d| !d.revoked) {
                let now = current.iter().find(|(k, _)| *k == d.key);
                match now {
                    Some((_, body)) if !revoked => {
                        if *body != d.body {
                            d.body = body.clone();
                            let id = body_id(body);
                            out.push(self.version(
                                &id,
                                body.clone(),
                                d.created,
                                modified,
                                false,
                                state,
                            ));
                        }
                    }
                    _ => {
                        d.revoked = true;
                        let id = body_id(&d.body);
                        out.push(self.version(
                            &id,
                            d.body.clone(),
                            d.created,
                            modified,
                            true,
                            state,
                        ));
                    }
                }
            }
            if revoked {
                break;
            }
            for (key, body) in current {
                if derived.iter().any(|d| d.key == key) {
                    continue;
                }
                let id = body_id(&body);
                out.push(self.version(&id, body.clone(), modified, modified, false, state));
                derived.push(Derived {
                    key,
                    body,
                    created: modified,
                    revoked: false,
                });
            }
        }
        out
    }

    /// Adds the version fields and provenance to a body.
    fn version(
        &self,
        id: &str,
        body: Value,
        created: u64,
        modified: u64,
        revoked: bool,
        state: &State<'_>,
    ) -> StixVersion {
        let mut object = match body {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        object.insert("created".into(), json!(timestamp(created)));
        object.insert("modified".into(), json!(timestamp(modified)));
        if revoked {
            object.insert("revoked".into(), json!(true));
        }
        let target = self.target.id();
        let mut refs = vec![json!({
            "source_name": "certnet",
            "external_id": target.to_string(),
            "description": format!("signed certnet record: GET /v1/records/{target}/raw on a certnet node"),
        })];
        if state.origin != target {
            refs.push(json!({
                "source_name": "certnet",
                "external_id": state.origin.to_string(),
                "description": format!("signed certnet {} record: GET /v1/records/{}/raw on a certnet node", state.by, state.origin),
            }));
        }
        if let Some(Value::Array(existing)) = object.remove("external_references") {
            refs.extend(existing);
        }
        object.insert("external_references".into(), Value::Array(refs));
        // The version is served under the marking its body carries: a revoked version repeats an
        // earlier body, which may be marked tighter than the state that revokes it.
        let tlp = object
            .get("object_marking_refs")
            .and_then(|m| m.get(0))
            .and_then(Value::as_str)
            .and_then(super::ids::tlp_of_marking)
            .unwrap_or(state.tlp);
        StixVersion {
            id: id.to_owned(),
            version_ms: modified,
            tlp: Some(tlp),
            origin: state.origin,
            object: Value::Object(object),
        }
    }

    /// The main body and the derived bodies (by key) of one state; `None` if the content cannot be
    /// shown as an object of the main object's type.
    fn build(
        &self,
        main_id: &str,
        state: &State<'_>,
        created: u64,
    ) -> Option<(Value, Vec<(String, Value)>)> {
        let marking = marking_id(state.tlp);
        let mut derived = Vec::new();
        let main = match &state.content {
            Content::Incident(c) => {
                self.observables(&c.indicators, main_id, marking, created, &mut derived);
                self.related_refs(main_id, marking, &mut derived);
                self.incident(main_id, c, marking)
            }
            Content::Indicator(c) => {
                let body = self.indicator_body(main_id, c, marking, created)?;
                self.related_refs(main_id, marking, &mut derived);
                body
            }
            Content::Advisory(c) => self.report(main_id, c, marking, created, &mut derived),
            Content::Sighting(c) => {
                let ids = self.observables(&c.indicators, main_id, marking, created, &mut derived);
                self.sighting(main_id, c, marking, ids)?
            }
            _ => return None,
        };
        // The object's type is fixed by the target's first content (it is part of the id).
        let stix_type = main["type"].as_str().unwrap_or_default();
        if !main_id.starts_with(&format!("{stix_type}--")) {
            return None;
        }
        Some((main, derived))
    }

    fn base(&self, stix_type: &str, id: &str, marking: &str) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("type".into(), json!(stix_type));
        m.insert("spec_version".into(), json!("2.1"));
        m.insert("id".into(), json!(id));
        m.insert("created_by_ref".into(), json!(self.creator));
        m.insert("object_marking_refs".into(), json!([marking]));
        m
    }

    fn incident(&self, id: &str, c: &Incident, marking: &str) -> Value {
        let mut m = self.base("incident", id, marking);
        m.insert("name".into(), json!(c.title));
        let mut description = c.summary.clone();
        let mut facts = vec![
            format!("Severity: {}", severity(c.severity)),
            format!("Status: {}", status(c.status)),
        ];
        if let Some(t) = c.first_seen {
            facts.push(format!("First seen: {}", timestamp(t)));
        }
        if let Some(t) = c.last_seen {
            facts.push(format!("Last seen: {}", timestamp(t)));
        }
        if !c.sectors.is_empty() {
            facts.push(format!("Sectors: {}", c.sectors.join(", ")));
        }
        if !c.countries.is_empty() {
            facts.push(format!("Countries: {}", c.countries.join(", ")));
        }
        description.push_str("\n\n");
        description.push_str(&facts.join("\n"));
        m.insert("description".into(), json!(description));
        if !c.labels.is_empty() {
            m.insert("labels".into(), json!(c.labels));
        }
        let (investigation_status, determination) = match c.status {
            Status::New => ("new", "suspected"),
            Status::Investigating => ("open", "suspected"),
            Status::Contained => ("open", "confirmed"),
            Status::Resolved => ("closed", "confirmed"),
        };
        let mut ext = Map::new();
        ext.insert("extension_type".into(), json!("property-extension"));
        ext.insert("determination".into(), json!(determination));
        ext.insert("investigation_status".into(), json!(investigation_status));
        ext.insert("criticality".into(), json!(criticality(c.severity)));
        if !c.categories.is_empty() {
            ext.insert("incident_types".into(), json!(c.categories));
        }
        m.insert(
            "extensions".into(),
            json!({ INCIDENT_EXTENSION: Value::Object(ext) }),
        );
        if !c.references.is_empty() {
            m.insert("external_references".into(), url_refs(&c.references));
        }
        Value::Object(m)
    }

    fn indicator_body(
        &self,
        id: &str,
        c: &Indicator,
        marking: &str,
        created: u64,
    ) -> Option<Value> {
        let value = IndicatorValue {
            kind: c.kind,
            value: c.value.clone(),
        };
        let mut body = self.observable(id, &value, marking, created, c.valid_from)?;
        let m = body.as_object_mut()?;
        if let Some(d) = &c.description {
            m.insert("description".into(), json!(d));
        }
        if let Some(conf) = c.confidence {
            m.insert("confidence".into(), json!(conf));
        }
        if !c.labels.is_empty() {
            m.insert("labels".into(), json!(c.labels));
        }
        if let Some(until) = c.valid_until
            && m.get("type") == Some(&json!("indicator"))
        {
            let from = c.valid_from.unwrap_or(created).min(super::ids::MAX_MS);
            // STIX requires valid_until > valid_from; certnet allows them equal: then it is left out.
            if until.min(super::ids::MAX_MS) > from {
                m.insert("valid_until".into(), json!(timestamp(until)));
            }
        }
        Some(body)
    }

    /// An `indicator` (or, for a CVE, a `vulnerability`) for one observable, with id `id`.
    fn observable(
        &self,
        id: &str,
        value: &IndicatorValue,
        marking: &str,
        created: u64,
        valid_from: Option<u64>,
    ) -> Option<Value> {
        let label = value.kind.as_str();
        if value.kind == IndicatorType::Cve {
            let mut m = self.base("vulnerability", id, marking);
            m.insert("name".into(), json!(value.value));
            m.insert(
                "external_references".into(),
                json!([{ "source_name": "cve", "external_id": value.value }]),
            );
            return Some(Value::Object(m));
        }
        let mut m = self.base("indicator", id, marking);
        m.insert("name".into(), json!(format!("{label} {}", value.value)));
        m.insert(
            "description".into(),
            json!(format!("{label} {} reported through certnet", value.value)),
        );
        m.insert("indicator_types".into(), json!(["malicious-activity"]));
        m.insert("pattern".into(), json!(pattern(value)));
        m.insert("pattern_type".into(), json!("stix"));
        m.insert("pattern_version".into(), json!("2.1"));
        m.insert(
            "valid_from".into(),
            json!(timestamp(valid_from.unwrap_or(created))),
        );
        Some(Value::Object(m))
    }

    /// Derived objects for embedded observables, each `related-to` the main object; returns their ids.
    fn observables(
        &self,
        values: &[IndicatorValue],
        main_id: &str,
        marking: &str,
        created: u64,
        derived: &mut Vec<(String, Value)>,
    ) -> Vec<String> {
        let target = self.target.id();
        let mut ids = Vec::new();
        for v in values {
            let key = format!("observable/{}/{}", v.kind.as_str(), v.value);
            let stix_type = if v.kind == IndicatorType::Cve {
                "vulnerability"
            } else {
                "indicator"
            };
            let id = stix_id(stix_type, &format!("record/{target}/{key}"));
            let Some(body) = self.observable(&id, v, marking, created, None) else {
                continue;
            };
            derived.push((key.clone(), body));
            // A relationship cannot point at a sighting (a relationship object itself): a sighting's
            // observables are named by its sighting_of_ref and by their external references.
            if !main_id.starts_with("sighting--") {
                derived.push((
                    format!("related/{key}"),
                    self.relationship(&format!("{key}/related-to"), &id, main_id, marking),
                ));
            }
            ids.push(id);
        }
        ids
    }

    /// `related-to` relationships from the main object to the domain objects its refs name.
    fn related_refs(&self, main_id: &str, marking: &str, derived: &mut Vec<(String, Value)>) {
        for r in &self.target.payload().refs {
            if let Some(to) = self.lookup.sdo_id(r) {
                derived.push((
                    format!("ref/{r}"),
                    self.relationship(&format!("ref/{r}/related-to"), main_id, &to, marking),
                ));
            }
        }
    }

    fn relationship(&self, name: &str, from: &str, to: &str, marking: &str) -> Value {
        let id = stix_id(
            "relationship",
            &format!("record/{}/{name}", self.target.id()),
        );
        let mut m = self.base("relationship", &id, marking);
        m.insert("relationship_type".into(), json!("related-to"));
        m.insert("source_ref".into(), json!(from));
        m.insert("target_ref".into(), json!(to));
        Value::Object(m)
    }

    fn report(
        &self,
        id: &str,
        c: &Advisory,
        marking: &str,
        created: u64,
        derived: &mut Vec<(String, Value)>,
    ) -> Value {
        let target = self.target.id();
        let mut refs = Vec::new();
        for cve in &c.cves {
            let key = format!("cve/{cve}");
            let vid = stix_id("vulnerability", &format!("record/{target}/{key}"));
            let value = IndicatorValue {
                kind: IndicatorType::Cve,
                value: cve.clone(),
            };
            if let Some(body) = self.observable(&vid, &value, marking, created, None) {
                derived.push((key, body));
                refs.push(vid);
            }
        }
        for r in &self.target.payload().refs {
            if let Some(to) = self.lookup.sdo_id(r)
                && !refs.contains(&to)
            {
                refs.push(to);
            }
        }
        if refs.is_empty() {
            // A report must name at least one object: an advisory naming nothing is about its author.
            refs.push(self.creator.clone());
        }
        let mut m = self.base("report", id, marking);
        m.insert("name".into(), json!(c.title));
        let mut description = c.summary.clone();
        let mut facts = Vec::new();
        if let Some(s) = c.severity {
            facts.push(format!("Severity: {}", severity(s)));
        }
        if !c.products.is_empty() {
            facts.push(format!("Products: {}", c.products.join(", ")));
        }
        if !facts.is_empty() {
            description.push_str("\n\n");
            description.push_str(&facts.join("\n"));
        }
        m.insert("description".into(), json!(description));
        let report_type = if c.cves.is_empty() {
            "threat-report"
        } else {
            "vulnerability"
        };
        m.insert("report_types".into(), json!([report_type]));
        m.insert("published".into(), json!(timestamp(created)));
        m.insert("object_refs".into(), json!(refs));
        if !c.labels.is_empty() {
            m.insert("labels".into(), json!(c.labels));
        }
        if !c.references.is_empty() {
            m.insert("external_references".into(), url_refs(&c.references));
        }
        Value::Object(m)
    }

    fn sighting(
        &self,
        id: &str,
        c: &Sighting,
        marking: &str,
        observables: Vec<String>,
    ) -> Option<Value> {
        let sighted = self
            .target
            .payload()
            .refs
            .iter()
            .find_map(|r| self.lookup.sdo_id(r))
            .or_else(|| observables.into_iter().next())?;
        let mut m = self.base("sighting", id, marking);
        m.insert("sighting_of_ref".into(), json!(sighted));
        m.insert("where_sighted_refs".into(), json!([self.creator]));
        if let Some(n) = c.count {
            m.insert("count".into(), json!(n.min(999_999_999)));
        }
        if let Some(t) = c.first_seen {
            m.insert("first_seen".into(), json!(timestamp(t)));
        }
        if let Some(t) = c.last_seen {
            m.insert("last_seen".into(), json!(timestamp(t)));
        }
        let mut facts = Vec::new();
        if let Some(note) = &c.note {
            facts.push(note.clone());
        }
        if !c.sectors.is_empty() {
            facts.push(format!("Sectors: {}", c.sectors.join(", ")));
        }
        if !c.countries.is_empty() {
            facts.push(format!("Countries: {}", c.countries.join(", ")));
        }
        if !facts.is_empty() {
            m.insert("description".into(), json!(facts.join("\n\n")));
        }
        Some(Value::Object(m))
    }
}

fn body_id(body: &Value) -> String {
    body["id"].as_str().unwrap_or_default().to_owned()
}

/// Reference URLs. STIX says an external reference with a `url` SHOULD carry the `hashes` of what it
/// points to, which certnet cannot know (strict validation refuses it): the URL goes in `description`.
fn url_refs(urls: &[String]) -> Value {
    Value::Array(
        urls.iter()
            .map(|u| json!({ "source_name": "reference", "description": u }))
            .collect(),
    )
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Low => "low",
        Severity::Medium => "medium",
        Severity::High => "high",
        Severity::Critical => "critical",
    }
}

fn criticality(s: Severity) -> u8 {
    match s {
        Severity::Low => 25,
        Severity::Medium => 50,
        Severity::High => 75,
        Severity::Critical => 100,
    }
}

fn status(s: Status) -> &'static str {
    match s {
        Status::New => "new",
        Status::Investigating => "investigating",
        Status::Contained => "contained",
        Status::Resolved => "resolved",
    }
}

/// A STIX pattern string literal: single-quoted, `\` and `'` escaped with a backslash.
fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\\' || c == '\'' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// The STIX pattern matching one observable (not for CVEs, which are vulnerabilities).
pub fn pattern(v: &IndicatorValue) -> String {
    let value = &v.value;
    match v.kind {
        IndicatorType::Ipv4 => format!("[ipv4-addr:value = {}]", quoted(value)),
        IndicatorType::Ipv6 => format!("[ipv6-addr:value = {}]", quoted(value)),
        IndicatorType::Cidr if value.contains(':') => {
            format!("[ipv6-addr:value ISSUBSET {}]", quoted(value))
        }
        IndicatorType::Cidr => format!("[ipv4-addr:value ISSUBSET {}]", quoted(value)),
        IndicatorType::Domain => format!("[domain-name:value = {}]", quoted(value)),
        IndicatorType::Url => format!("[url:value = {}]", quoted(value)),
        IndicatorType::Email => format!("[email-addr:value = {}]", quoted(value)),
        IndicatorType::Sha256 => format!("[file:hashes.'SHA-256' = {}]", quoted(value)),
        IndicatorType::Sha1 => format!("[file:hashes.'SHA-1' = {}]", quoted(value)),
        IndicatorType::Md5 => format!("[file:hashes.MD5 = {}]", quoted(value)),
        IndicatorType::Asn => format!(
            "[autonomous-system:number = {}]",
            value.trim_start_matches("AS")
        ),
        IndicatorType::Cve => format!("[software:name = {}]", quoted(value)),
    }
}

#[cfg(test)]
mod tests;
