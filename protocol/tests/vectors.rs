//! Golden test vectors for PROTOCOL.md: regenerates every file under `protocol/tests/vectors/` in memory
//! and compares it byte for byte with the committed file, then runs every vector through the real API.
//!
//! Everything is deterministic: fixed seeds (`AuthorSecret::from_seed`), fixed times, and Ed25519 is
//! deterministic (RFC 8032). After an intended format change, rewrite the files with
//! `CERTNET_BLESS_VECTORS=1 cargo test -p certnet-protocol --test vectors` and review the diff.
//!
//! Expected outcomes (error reasons and messages, decoded fields, roots, audit results) are written
//! here from the inputs, not read back from the code under test.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::path::PathBuf;

use ciborium::Value;

use certnet_protocol::audit::{AuditError, AuditOptions, AuditSummary, audit};
use certnet_protocol::cbor;
use certnet_protocol::chain::{EquivocationProof, ForkError, check_link};
use certnet_protocol::checkpoint::{self, Checkpoint, CheckpointError, VerifierKey};
use certnet_protocol::export::{ExportHeader, ExportItem, ExportReader, export_log, log_origin};
use certnet_protocol::id::{Hash, RecordId, sha256};
use certnet_protocol::keys::{AuthorKey, AuthorSecret};
use certnet_protocol::merkle::{
    MemoryTree, consistency_proof, inclusion_proof, leaf_hash, root, verify_consistency,
    verify_inclusion,
};
use certnet_protocol::record::{
    Advisory, Content, Draft, FeedPosition, Incident, Indicator, IndicatorType, IndicatorValue,
    Kind, MAX_PAYLOAD, Payload, RecordError, Revoke, Severity, Sighting, Status, Tlp, Update,
    VerifiedRecord, cose, sign_record, verify_record,
};
use certnet_protocol::sync::{Head, SyncError, SyncRequest, SyncResponse};

/// The network every vector record belongs to.
const NET: &str = "certnet-vectors";
/// Another network, for the wrong-network vector.
const OTHER_NET: &str = "certnet-other";
/// 2026-11-18T11:06:40Z, ms since the Unix epoch: the time of the first record.
const T0: u64 = 1_795_000_000_000;
const MINUTE: u64 = 60_000;

/// The protected header, written out independently of the crate's constant.
const PROTECTED_HEX: &str =
    "a2012703781f6170706c69636174696f6e2f636572746e65742d7265636f72642b63626f72";

// ---------------------------------------------------------------------------------------------------
// A minimal JSON writer (deterministic: keys in the order given, two-space indent).

enum J {
    Null,
    Bool(bool),
    Int(i128),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(&'static str, J)>),
}

fn s(v: &str) -> J {
    J::Str(v.to_owned())
}

fn h(v: &[u8]) -> J {
    J::Str(hex::encode(v))
}

fn n(v: u64) -> J {
    J::Int(i128::from(v))
}

fn obj(fields: Vec<(&'static str, J)>) -> J {
    J::Obj(fields)
}

fn json_string(v: &str, out: &mut String) {
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_json(v: &J, indent: usize, out: &mut String) {
    let pad = |k: usize| "  ".repeat(k);
    match v {
        J::Null => out.push_str("null"),
        J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        J::Int(i) => out.push_str(&i.to_string()),
        J::Str(t) => json_string(t, out),
        J::Arr(items) if items.is_empty() => out.push_str("[]"),
        J::Arr(items) => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                out.push_str(&pad(indent + 1));
                write_json(item, indent + 1, out);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(indent));
            out.push(']');
        }
        J::Obj(fields) if fields.is_empty() => out.push_str("{}"),
        J::Obj(fields) => {
            out.push_str("{\n");
            for (i, (k, item)) in fields.iter().enumerate() {
                out.push_str(&pad(indent + 1));
                json_string(k, out);
                out.push_str(": ");
                write_json(item, indent + 1, out);
                out.push_str(if i + 1 < fields.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(indent));
            out.push('}');
        }
    }
}

fn json_file(v: &J) -> Vec<u8> {
    let mut out = String::new();
    write_json(v, 0, &mut out);
    out.push('\n');
    out.into_bytes()
}

/// CBOR diagnostic notation (RFC 8949 §8) of a decoded value, on one line.
fn diag(v: &Value) -> String {
    let mut out = String::new();
    diag_into(v, &mut out);
    out
}

fn diag_into(v: &Value, out: &mut String) {
    match v {
        Value::Integer(i) => out.push_str(&i128::from(*i).to_string()),
        Value::Bytes(b) => out.push_str(&format!("h'{}'", hex::encode(b))),
        Value::Text(t) => json_string(t, out),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Null => out.push_str("null"),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                diag_into(item, out);
            }
            out.push(']');
        }
        Value::Map(entries) => {
            out.push('{');
            for (i, (k, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                diag_into(k, out);
                out.push_str(": ");
                diag_into(item, out);
            }
            out.push('}');
        }
        Value::Tag(t, inner) => {
            out.push_str(&format!("{t}("));
            diag_into(inner, out);
            out.push(')');
        }
        other => out.push_str(&format!("{other:?}")),
    }
}

// ---------------------------------------------------------------------------------------------------
// The data set: two authors, a log of seven records (one of every kind), one equivocation.

fn author_a() -> AuthorSecret {
    AuthorSecret::from_seed(&[1; 32])
}

fn author_b() -> AuthorSecret {
    AuthorSecret::from_seed(&[2; 32])
}

/// One valid record and what went into it.
struct Valid {
    name: &'static str,
    description: &'static str,
    author: &'static str,
    net: &'static str,
    expected: Payload,
    record: VerifiedRecord,
}

/// An author's feed while the data set is built.
struct Feed {
    secret: AuthorSecret,
    seq: u64,
    prev: Option<RecordId>,
}

impl Feed {
    fn new(secret: AuthorSecret) -> Self {
        Self {
            secret,
            seq: 0,
            prev: None,
        }
    }

    /// Signs the next record and returns it with the payload it must decode to.
    fn next(&mut self, net: &str, draft: Draft, time: u64) -> (Payload, VerifiedRecord) {
        let at = FeedPosition {
            seq: self.seq + 1,
            prev: self.prev,
            time,
        };
        let expected = Payload {
            net: net.to_owned(),
            author: self.secret.public(),
            seq: at.seq,
            prev: at.prev,
            time,
            kind: draft.kind.clone(),
            tlp: draft.tlp,
            refs: draft.refs.clone(),
            content: draft.content.clone(),
        };
        let record = sign_record(net, draft, at, &self.secret).unwrap();
        self.seq += 1;
        self.prev = Some(record.id());
        (expected, record)
    }
}

fn iv(kind: IndicatorType, value: &str) -> IndicatorValue {
    IndicatorValue {
        kind,
        value: value.to_owned(),
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| (*x).to_owned()).collect()
}

fn incident_content(status: Status) -> Incident {
    Incident {
        title: "Credential phishing against ministries".into(),
        summary:
            "Mails impersonating the national tax authority lead to a credential-harvesting page.\n\
                  Reset exposed passwords and block the indicators."
                .into(),
        severity: Severity::High,
        status,
        categories: strings(&["phishing", "credential-theft"]),
        indicators: vec![
            iv(IndicatorType::Domain, "tax-refund.example"),
            iv(IndicatorType::Ipv4, "203.0.113.7"),
            iv(IndicatorType::Url, "https://tax-refund.example/login"),
            iv(
                IndicatorType::Sha256,
                "5f2b4e1c9a0d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f",
            ),
        ],
        references: strings(&["https://cert-a.example/advisories/2026-117"]),
        first_seen: Some(T0 - 60 * MINUTE),
        last_seen: Some(T0 - MINUTE),
        labels: strings(&["campaign:taxman"]),
        sectors: strings(&["government"]),
        countries: strings(&["DE", "FR"]),
    }
}

/// Content of the unknown kind, already in deterministic key order (the signer sorts maps, but a
/// `Content::Other` keeps the order it was given, so the expected payload must be sorted too).
fn unknown_content(score: i64) -> Value {
    let t = |x: &str| Value::Text(x.to_owned());
    Value::Map(vec![
        (t("cve"), t("CVE-2026-0001")),
        (
            t("details"),
            Value::Map(vec![(t("auth-required"), Value::Bool(false))]),
        ),
        (t("vendors"), Value::Array(vec![t("acme")])),
        (t("score-x10"), Value::Integer(score.into())),
    ])
}

struct Data {
    /// The log of the node of author A, in arrival order (one record of every kind).
    log: Vec<Valid>,
    /// B's second record at seq 2, equivocating with `log[4]`.
    fork: Valid,
    /// A valid record of another network (A's first record there).
    other_net: Valid,
}

fn data() -> Data {
    let mut a = Feed::new(author_a());
    let mut b = Feed::new(author_b());
    let draft = |kind: Kind, tlp: Tlp, refs: Vec<RecordId>, content: Content| Draft {
        kind,
        tlp,
        refs,
        content,
    };
    let valid = |name, description, author, (expected, record)| Valid {
        name,
        description,
        author,
        net: NET,
        expected,
        record,
    };

    let incident = valid(
        "incident",
        "A's seq 1: an incident using every incident field (tlp amber).",
        "A",
        a.next(
            NET,
            draft(
                Kind::Incident,
                Tlp::Amber,
                vec![],
                Content::Incident(incident_content(Status::Investigating)),
            ),
            T0,
        ),
    );
    let indicator = valid(
        "indicator",
        "A's seq 2: an indicator using every indicator field (tlp green).",
        "A",
        a.next(
            NET,
            draft(
                Kind::Indicator,
                Tlp::Green,
                vec![],
                Content::Indicator(Indicator {
                    kind: IndicatorType::Ipv6,
                    value: "2001:db8::53".into(),
                    description: Some("Resolver abused for DNS tunnelling".into()),
                    confidence: Some(80),
                    valid_from: Some(T0),
                    valid_until: Some(T0 + 30 * 24 * 60 * MINUTE),
                    labels: strings(&["c2", "dns-tunnel"]),
                }),
            ),
            T0 + MINUTE,
        ),
    );
    let sighting = valid(
        "sighting",
        "B's seq 1: a sighting of A's incident using every sighting field (tlp amber+strict).",
        "B",
        b.next(
            NET,
            draft(
                Kind::Sighting,
                Tlp::AmberStrict,
                vec![incident.record.id()],
                Content::Sighting(Sighting {
                    count: Some(3),
                    first_seen: Some(T0 - 30 * MINUTE),
                    last_seen: Some(T0 + MINUTE),
                    indicators: vec![iv(IndicatorType::Email, "refunds@tax-refund.example")],
                    sectors: strings(&["health"]),
                    countries: strings(&["NL"]),
                    note: Some("Seen at two hospitals".into()),
                }),
            ),
            T0 + 2 * MINUTE,
        ),
    );
    let advisory = valid(
        "advisory",
        "A's seq 3: an advisory using every advisory field (tlp clear).",
        "A",
        a.next(
            NET,
            draft(
                Kind::Advisory,
                Tlp::Clear,
                vec![],
                Content::Advisory(Advisory {
                    title: "Patch xz-utils now".into(),
                    summary:
                        "Releases 5.6.0 and 5.6.1 carry a backdoor in liblzma. Downgrade to 5.4.6."
                            .into(),
                    severity: Some(Severity::Critical),
                    cves: strings(&["CVE-2024-3094"]),
                    products: strings(&["xz-utils 5.6.0", "xz-utils 5.6.1"]),
                    references: strings(&["https://cert-a.example/advisories/2026-118"]),
                    labels: strings(&["supply-chain"]),
                }),
            ),
            T0 + 3 * MINUTE,
        ),
    );
    let b_seq2 = |score: i64| {
        draft(
            Kind::Other("vulnerability-report".into()),
            Tlp::Green,
            vec![],
            Content::Other(unknown_content(score)),
        )
    };
    let mut b_fork = Feed {
        secret: author_b(),
        seq: b.seq,
        prev: b.prev,
    };
    let unknown = valid(
        "unknown-kind",
        "B's seq 2: kind `vulnerability-report`, unknown to v1: header validated, content kept as is.",
        "B",
        b.next(NET, b_seq2(98), T0 + 4 * MINUTE),
    );
    let fork = valid(
        "unknown-kind-equivocation",
        "B's other seq 2 (same prev, different content): with `unknown-kind` it proves B equivocated.",
        "B",
        b_fork.next(NET, b_seq2(75), T0 + 4 * MINUTE + 1),
    );
    let update = valid(
        "update",
        "A's seq 4: an update of A's incident (refs = [incident]): full new content, status resolved, tlp loosened from amber to green.",
        "A",
        a.next(
            NET,
            draft(
                Kind::Update,
                Tlp::Green,
                vec![incident.record.id()],
                Content::Update(Update::Incident(incident_content(Status::Resolved))),
            ),
            T0 + 5 * MINUTE,
        ),
    );
    let revoke = valid(
        "revoke",
        "A's seq 5: a revocation of A's indicator (refs = [indicator]).",
        "A",
        a.next(
            NET,
            draft(
                Kind::Revoke,
                Tlp::Green,
                vec![indicator.record.id()],
                Content::Revoke(Revoke {
                    reason: "False positive: a public resolver".into(),
                }),
            ),
            T0 + 6 * MINUTE,
        ),
    );
    let other_net = valid(
        "other-network",
        "A's seq 1 on network `certnet-other`: valid there, wrong network here.",
        "A",
        Feed::new(author_a()).next(OTHER_NET, small_indicator_draft(), T0),
    );
    let other_net = Valid {
        net: OTHER_NET,
        ..other_net
    };
    Data {
        log: vec![
            incident, indicator, sighting, advisory, unknown, update, revoke,
        ],
        fork,
        other_net,
    }
}

fn small_indicator_draft() -> Draft {
    Draft {
        kind: Kind::Indicator,
        tlp: Tlp::Green,
        refs: vec![],
        content: Content::Indicator(Indicator {
            kind: IndicatorType::Domain,
            value: "evil.example".into(),
            description: None,
            confidence: None,
            valid_from: None,
            valid_until: None,
            labels: vec![],
        }),
    }
}

fn author_key(name: &str) -> AuthorKey {
    match name {
        "A" => author_a().public(),
        _ => author_b().public(),
    }
}

// ---------------------------------------------------------------------------------------------------
// Invalid records.

/// An invalid record and the one rule it breaks.
struct Invalid {
    name: &'static str,
    description: &'static str,
    record: Vec<u8>,
    /// `RecordError::reason()`.
    reason: &'static str,
    /// The full error message (or, for messages quoting the CBOR library, its start).
    error: &'static str,
    error_is_prefix: bool,
}

/// Signs arbitrary payload bytes with the certnet envelope, bypassing every check.
fn sign_raw(payload: &[u8], secret: &AuthorSecret) -> Vec<u8> {
    cose::encode(payload, &secret.sign(&cose::sig_structure(payload)))
}

fn payload_value(r: &VerifiedRecord) -> Value {
    cbor::decode(r.record().payload_bytes()).unwrap()
}

fn field<'a>(map: &'a mut Value, key: &str) -> &'a mut Value {
    let entries = map.as_map_mut().unwrap();
    let i = match entries.iter().position(|(k, _)| k.as_text() == Some(key)) {
        Some(i) => i,
        None => {
            entries.push((Value::Text(key.to_owned()), Value::Null));
            entries.len() - 1
        }
    };
    &mut entries[i].1
}

/// Edits the payload of `base` as a value, re-encodes it deterministically and signs it with A, so the
/// signature and the encoding are right and only the edit is wrong.
fn mutate(base: &VerifiedRecord, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v = payload_value(base);
    edit(&mut v);
    cbor::canonicalize(&mut v);
    sign_raw(&cbor::encode(&v), &author_a())
}

/// Replaces the first occurrence of `from` in `bytes` with `to`.
fn splice(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = bytes.windows(from.len()).position(|w| w == from).unwrap();
    [&bytes[..at], to, &bytes[at + from.len()..]].concat()
}

fn t(x: &str) -> Value {
    Value::Text(x.to_owned())
}

fn invalid_records(d: &Data) -> Vec<Invalid> {
    let a = author_a();
    let base = sign_record(
        NET,
        small_indicator_draft(),
        FeedPosition {
            seq: 1,
            prev: None,
            time: T0,
        },
        &a,
    )
    .unwrap();
    let base_payload = base.record().payload_bytes().to_vec();
    let nc_content = "content of kind `indicator` is not canonical: optional fields must be absent rather than null, and empty lists absent rather than []";
    let not_det = "payload: not deterministically encoded (non-shortest integer or length, indefinite length, or undefined)";
    let mut out = vec![];
    let mut add = |name, description, record, reason, error| {
        out.push(Invalid {
            name,
            description,
            record,
            reason,
            error,
            error_is_prefix: false,
        })
    };

    add(
        "base-valid",
        "The valid record the invalid ones below are derived from (A's seq 1, a domain indicator).",
        base.bytes().to_vec(),
        "",
        "",
    );
    let mut flipped = base.bytes().to_vec();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x01;
    add(
        "bad-signature",
        "base-valid with the last signature byte xored with 0x01.",
        flipped,
        "bad_signature",
        "signature does not verify with the author key",
    );
    add(
        "bad-signature-other-key",
        "base-valid's payload (author A) signed by B: a valid Ed25519 signature, by the wrong key.",
        sign_raw(&base_payload, &author_b()),
        "bad_signature",
        "signature does not verify with the author key",
    );
    add(
        "wrong-network",
        "A valid record of network `certnet-other` (the other-network record of records.json), checked on `certnet-vectors`.",
        d.other_net.record.bytes().to_vec(),
        "wrong_network",
        "record is for network `certnet-other`, this is `certnet-vectors`",
    );
    let mut reversed = payload_value(&base);
    reversed.as_map_mut().unwrap().reverse();
    add(
        "unsorted-keys",
        "base-valid's payload map written in reverse key order, then signed by A.",
        sign_raw(&cbor::encode(&reversed), &a),
        "non_canonical",
        "payload: map keys are not in deterministic order (rfc 8949 §4.2.1)",
    );
    // The payload starts aa 61 76 01: map(10), "v", 1.
    assert_eq!(&base_payload[..4], [0xaa, 0x61, 0x76, 0x01]);
    add(
        "non-shortest-integer",
        "base-valid's payload with `v` encoded as 18 01 (one-byte argument) instead of 01, then signed by A.",
        sign_raw(
            &splice(
                &base_payload,
                &[0x61, 0x76, 0x01],
                &[0x61, 0x76, 0x18, 0x01],
            ),
            &a,
        ),
        "non_canonical",
        not_det,
    );
    add(
        "indefinite-length",
        "base-valid's payload with `refs` encoded as the indefinite-length array 9f ff instead of 80, then signed by A.",
        sign_raw(
            &splice(&base_payload, b"\x64refs\x80", b"\x64refs\x9f\xff"),
            &a,
        ),
        "non_canonical",
        not_det,
    );
    let mut dup = payload_value(&base);
    let entries = dup.as_map_mut().unwrap();
    let at = entries
        .iter()
        .position(|(k, _)| k.as_text() == Some("tlp"))
        .unwrap();
    entries.insert(at + 1, (t("tlp"), t("green")));
    add(
        "duplicate-key",
        "base-valid's payload with the `tlp` entry written twice, then signed by A.",
        sign_raw(&cbor::encode(&dup), &a),
        "non_canonical",
        "payload: map has a duplicate key",
    );
    let mut trailing = base.bytes().to_vec();
    trailing.push(0x00);
    add(
        "trailing-bytes",
        "base-valid followed by one byte 00.",
        trailing,
        "non_canonical",
        "envelope: 1 trailing bytes after the cbor item",
    );
    add(
        "null-optional-field",
        "base-valid with `description: null` in the content (absent, not null).",
        mutate(&base, |v| {
            *field(field(v, "content"), "description") = Value::Null
        }),
        "non_canonical",
        nc_content,
    );
    add(
        "empty-list-field",
        "base-valid with `labels: []` in the content (absent, not []).",
        mutate(&base, |v| {
            *field(field(v, "content"), "labels") = Value::Array(vec![])
        }),
        "non_canonical",
        nc_content,
    );
    let unknown = &d.log[4].record;
    add(
        "float",
        "The unknown-kind record with `score-x10` as the float 9.8 (f9/fa/fb are never allowed), signed by A.",
        {
            let mut v = payload_value(unknown);
            *field(field(&mut v, "content"), "score-x10") = Value::Float(9.8);
            *field(&mut v, "author") = Value::Bytes(a.public().as_bytes().to_vec());
            cbor::canonicalize(&mut v);
            sign_raw(&cbor::encode(&v), &a)
        },
        "non_canonical",
        "payload: floating-point values are not allowed",
    );
    add(
        "tag",
        "base-valid with `time` wrapped in tag 1 (epoch time): tags are never allowed in a payload.",
        mutate(&base, |v| {
            let time = field(v, "time").clone();
            *field(v, "time") = Value::Tag(1, Box::new(time));
        }),
        "non_canonical",
        "payload: cbor tag 1 is not allowed here",
    );
    add(
        "tlp-red",
        "base-valid with tlp `red`, signed by A: red never travels in clear, only sealed (kind `sealed`).",
        mutate(&base, |v| *field(v, "tlp") = t("red")),
        "tlp_red",
        "tlp red records are sealed to named recipients: name them with `to` (CLI: --to), roster member names, or use amber+strict",
    );
    add(
        "tlp-unknown",
        "base-valid with tlp `white` (TLP 1.0; v1 uses TLP 2.0 labels).",
        mutate(&base, |v| *field(v, "tlp") = t("white")),
        "invalid_content",
        "tlp must be clear, green, amber, amber+strict or red",
    );
    add(
        "prev-on-seq-1",
        "base-valid with `prev` set (to the id of the incident record) although seq is 1.",
        mutate(&base, |v| {
            *field(v, "prev") = Value::Bytes(d.log[0].record.id().as_bytes().to_vec())
        }),
        "invalid_content",
        "prev must be null exactly when seq is 1",
    );
    add(
        "null-prev-on-seq-2",
        "base-valid with seq 2 and `prev` still null.",
        mutate(&base, |v| *field(v, "seq") = Value::Integer(2.into())),
        "invalid_content",
        "prev must be null exactly when seq is 1",
    );
    add(
        "seq-0",
        "base-valid with seq 0 (feeds start at 1).",
        mutate(&base, |v| *field(v, "seq") = Value::Integer(0.into())),
        "invalid_content",
        "seq must be at least 1",
    );
    add(
        "bad-indicator-syntax",
        "base-valid with the domain `Evil.example` (domains are lowercase).",
        mutate(&base, |v| {
            *field(field(v, "content"), "value") = t("Evil.example")
        }),
        "invalid_content",
        "content.value is not a valid domain: expected a lowercase dns name such as evil.example",
    );
    add(
        "kind-uppercase",
        "base-valid with kind `Indicator` (kinds are lowercase [a-z0-9-]).",
        mutate(&base, |v| *field(v, "kind") = t("Indicator")),
        "invalid_content",
        "kind must be incident, indicator, advisory, sighting, update or revoke (or a lowercase [a-z0-9-] name of at most 32 bytes)",
    );
    add(
        "bad-network-syntax",
        "base-valid with net `Certnet Vectors` (network ids are 1 to 64 bytes of [a-z0-9-]).",
        mutate(&base, |v| *field(v, "net") = t("Certnet Vectors")),
        "invalid_content",
        "net must be 1 to 64 bytes of [a-z0-9-]",
    );
    add(
        "duplicate-ref",
        "base-valid with refs = [x, x].",
        mutate(&base, |v| {
            let x = Value::Bytes(d.log[0].record.id().as_bytes().to_vec());
            *field(v, "refs") = Value::Array(vec![x.clone(), x]);
        }),
        "invalid_content",
        "refs[1] repeats an earlier entry",
    );
    let update = &d.log[5].record;
    add(
        "update-two-refs",
        "The update record with refs = [incident, indicator], re-signed by A (update and revoke name exactly one target).",
        mutate(update, |v| {
            *field(v, "refs") = Value::Array(vec![
                Value::Bytes(d.log[0].record.id().as_bytes().to_vec()),
                Value::Bytes(d.log[1].record.id().as_bytes().to_vec()),
            ])
        }),
        "invalid_content",
        "refs must name exactly one target record for kind `update`",
    );
    add(
        "sighting-without-target",
        "The sighting record with refs = [] and no indicators, signed by A: it names nothing sighted.",
        {
            let mut v = payload_value(&d.log[2].record);
            *field(&mut v, "refs") = Value::Array(vec![]);
            field(&mut v, "content")
                .as_map_mut()
                .unwrap()
                .retain(|(k, _)| k.as_text() != Some("indicators"));
            *field(&mut v, "author") = Value::Bytes(a.public().as_bytes().to_vec());
            cbor::canonicalize(&mut v);
            sign_raw(&cbor::encode(&v), &a)
        },
        "invalid_content",
        "content.indicators must not be empty when the sighting has no refs (name what was sighted)",
    );
    add(
        "unknown-payload-field",
        "base-valid with an extra payload field `extra: null`.",
        mutate(&base, |v| *field(v, "extra") = Value::Null),
        "malformed",
        "payload: unknown field `extra`",
    );
    add(
        "missing-payload-field",
        "base-valid without `time`.",
        mutate(&base, |v| {
            v.as_map_mut()
                .unwrap()
                .retain(|(k, _)| k.as_text() != Some("time"))
        }),
        "malformed",
        "payload: missing field `time`",
    );
    add(
        "version-2",
        "base-valid with v = 2.",
        mutate(&base, |v| *field(v, "v") = Value::Integer(2.into())),
        "version",
        "payload: unsupported format version 2 (this node reads version 1)",
    );
    add(
        "small-order-author",
        "base-valid with author = 01 00 .. 00 (the identity point, of small order), signed by A.",
        mutate(&base, |v| {
            let mut identity = vec![0u8; 32];
            identity[0] = 1;
            *field(v, "author") = Value::Bytes(identity);
        }),
        "malformed",
        "payload: `author`: public key is not a valid Ed25519 point",
    );
    // A COSE_Sign1 any COSE library accepts, with the protected header {1: -8} only: certnet accepts
    // exactly one protected header.
    let alg_only = [0xa1, 0x01, 0x27];
    let mut sig_structure = vec![0x84, 0x6a];
    sig_structure.extend_from_slice(b"Signature1");
    sig_structure.push(0x43);
    sig_structure.extend_from_slice(&alg_only);
    sig_structure.push(0x40);
    sig_structure.extend_from_slice(&cose_bstr_head(base_payload.len()));
    sig_structure.extend_from_slice(&base_payload);
    let mut alg_only_record = vec![0xd2, 0x84, 0x43];
    alg_only_record.extend_from_slice(&alg_only);
    alg_only_record.push(0xa0);
    alg_only_record.extend_from_slice(&cose_bstr_head(base_payload.len()));
    alg_only_record.extend_from_slice(&base_payload);
    alg_only_record.extend_from_slice(&[0x58, 0x40]);
    alg_only_record.extend_from_slice(&a.sign(&sig_structure));
    add(
        "other-protected-header",
        "base-valid's payload in a COSE_Sign1 whose protected header is {1: -8} (no content type), correctly signed over its own Sig_structure: valid COSE, not a certnet record.",
        alg_only_record,
        "malformed",
        "envelope: protected header must be exactly {1: -8 (EdDSA), 3: \"application/certnet-record+cbor\"}",
    );
    add(
        "untagged",
        "base-valid without the leading d2 (tag 18): an untagged COSE_Sign1.",
        base.bytes()[1..].to_vec(),
        "malformed",
        "envelope: expected a COSE_Sign1 (cbor tag 18)",
    );
    out.push(Invalid {
        name: "unknown-content-field",
        description: "base-valid with an extra content field `colour: \"red\"` (known kinds have a closed set of fields).",
        record: mutate(&base, |v| *field(field(v, "content"), "colour") = t("red")),
        reason: "invalid_content",
        error: "content does not fit kind `indicator`: ",
        error_is_prefix: true,
    });
    out
}

/// Shortest CBOR byte-string head, written independently of the crate.
fn cose_bstr_head(len: usize) -> Vec<u8> {
    match len {
        0..=23 => vec![0x40 | len as u8],
        24..=0xff => vec![0x58, len as u8],
        0x100..=0xffff => [&[0x59][..], &(len as u16).to_be_bytes()].concat(),
        _ => [&[0x5a][..], &(len as u32).to_be_bytes()].concat(),
    }
}

/// A signed payload of `MAX_PAYLOAD + 1` bytes (kind `blob`, content `{"data": h'00..'}`).
fn oversize_record() -> Vec<u8> {
    let mut content_len = MAX_PAYLOAD - 200;
    loop {
        let p = Payload {
            net: NET.into(),
            author: author_a().public(),
            seq: 1,
            prev: None,
            time: T0,
            kind: Kind::Other("blob".into()),
            tlp: Tlp::Clear,
            refs: vec![],
            content: Content::Other(Value::Map(vec![(
                t("data"),
                Value::Bytes(vec![0; content_len]),
            )])),
        };
        let bytes = p.to_cbor();
        match bytes.len().cmp(&(MAX_PAYLOAD + 1)) {
            std::cmp::Ordering::Equal => return sign_raw(&bytes, &author_a()),
            std::cmp::Ordering::Less => content_len += MAX_PAYLOAD + 1 - bytes.len(),
            std::cmp::Ordering::Greater => content_len -= bytes.len() - (MAX_PAYLOAD + 1),
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Merkle, checkpoint, export, sync.

fn leaves(d: &Data) -> Vec<Vec<u8>> {
    d.log.iter().map(|v| v.record.bytes().to_vec()).collect()
}

fn tree(d: &Data) -> MemoryTree {
    MemoryTree::from_leaves(leaves(d).iter().map(|l| leaf_hash(l)))
}

/// Inclusion proofs in the files: (index, size).
const INCLUSIONS: [(u64, u64); 9] = [
    (0, 7),
    (1, 7),
    (2, 7),
    (3, 7),
    (4, 7),
    (5, 7),
    (6, 7),
    (3, 4),
    (0, 1),
];
/// Consistency proofs in the files: (old size, new size).
const CONSISTENCIES: [(u64, u64); 7] = [(1, 7), (3, 7), (4, 7), (6, 7), (2, 5), (0, 7), (7, 7)];

fn origin() -> String {
    log_origin(NET, &author_a().public())
}

/// The signed checkpoint of the first `size` entries of A's log.
fn checkpoint_note(d: &Data, size: u64) -> (Checkpoint, String) {
    let cp = Checkpoint::new(origin(), size, root(&tree(d), size).unwrap()).unwrap();
    let note = checkpoint::sign(&cp, &origin(), &author_a()).unwrap();
    (cp, note)
}

fn fork_proof(d: &Data) -> EquivocationProof {
    EquivocationProof::new(d.log[4].record.clone(), d.fork.record.clone()).unwrap()
}

fn export_file(d: &Data) -> Vec<u8> {
    export_log(Vec::new(), NET, &author_a(), &leaves(d), &[fork_proof(d)])
        .unwrap()
        .0
}

/// The export with entry 2's signature replaced by 64 bytes 07.
fn export_bad_file(d: &Data) -> Vec<u8> {
    let mut entries = leaves(d);
    let n = entries[2].len();
    entries[2][n - 64..].copy_from_slice(&[7; 64]);
    let file = export_file(d);
    let (_, header) = ExportReader::new(file.as_slice()).unwrap();
    let mut w = certnet_protocol::export::ExportWriter::new(Vec::new(), &header).unwrap();
    for e in &entries {
        w.entry(e).unwrap();
    }
    w.fork(&fork_proof(d)).unwrap();
    w.finish().unwrap()
}

fn heads(d: &Data) -> Vec<Head> {
    let mut heads = vec![
        Head {
            author: author_a().public(),
            seq: 5,
            id: d.log[6].record.id(),
        },
        Head {
            author: author_b().public(),
            seq: 2,
            id: d.log[4].record.id(),
        },
    ];
    heads.sort_by_key(|h| h.author);
    heads
}

fn frame(message: &[u8]) -> Vec<u8> {
    let mut out = (message.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(message);
    out
}

// ---------------------------------------------------------------------------------------------------
// The files.

fn keys_json() -> J {
    let key = |name: &str, seed: u8, role: &str| {
        let secret = AuthorSecret::from_seed(&[seed; 32]);
        let public = secret.public();
        obj(vec![
            ("name", s(name)),
            ("role", s(role)),
            ("seed", h(&[seed; 32])),
            ("public", h(public.as_bytes())),
            ("text", s(&public.to_string())),
        ])
    };
    obj(vec![
        (
            "about",
            s(
                "Author keys of the vectors: Ed25519 (RFC 8032) seeds, public keys, and the certnet text form `ed25519:` + unpadded base64url.",
            ),
        ),
        (
            "keys",
            J::Arr(vec![
                key(
                    "A",
                    1,
                    "author of the incident, indicator, advisory, update and revoke records; its node keeps the log, signs the checkpoints and writes the export",
                ),
                key(
                    "B",
                    2,
                    "author of the sighting and unknown-kind records; equivocates at seq 2",
                ),
            ]),
        ),
    ])
}

fn record_json(v: &Valid) -> J {
    let r = &v.record;
    let p = r.payload();
    let payload = r.record().payload_bytes();
    let signature = &r.bytes()[r.bytes().len() - 64..];
    let value = cbor::decode(payload).unwrap();
    let content = value
        .as_map()
        .unwrap()
        .iter()
        .find(|(k, _)| k.as_text() == Some("content"))
        .unwrap()
        .1
        .clone();
    obj(vec![
        ("name", s(v.name)),
        ("description", s(v.description)),
        ("net", s(v.net)),
        ("author", s(v.author)),
        ("author_key", h(p.author.as_bytes())),
        ("record", h(r.bytes())),
        ("payload", h(payload)),
        ("sig_structure", h(&cose::sig_structure(payload))),
        ("signature", h(signature)),
        ("id", s(&r.id().to_string())),
        (
            "decoded",
            obj(vec![
                ("v", n(1)),
                ("net", s(&p.net)),
                ("seq", n(p.seq)),
                ("tlp", s(p.tlp.as_str())),
                ("kind", s(p.kind.as_str())),
                ("prev", p.prev.map_or(J::Null, |x| s(&x.to_string()))),
                (
                    "refs",
                    J::Arr(p.refs.iter().map(|x| s(&x.to_string())).collect()),
                ),
                ("time", n(p.time)),
                ("author", s(&p.author.to_string())),
                ("content", s(&diag(&content))),
            ]),
        ),
    ])
}

fn records_json(d: &Data) -> J {
    let mut all: Vec<J> = d.log.iter().map(record_json).collect();
    all.push(record_json(&d.other_net));
    obj(vec![
        (
            "about",
            s(
                "Valid records: one of every kind, in the order they enter A's log (log index = position), plus one record of another network. `decoded.content` is CBOR diagnostic notation (RFC 8949 §8); ids are lowercase hex.",
            ),
        ),
        ("records", J::Arr(all)),
    ])
}

fn invalid_json(invalid: &[Invalid]) -> J {
    obj(vec![
        (
            "about",
            s(
                "Invalid records, checked on network `certnet-vectors`. Each breaks one rule and is otherwise valid and signed by A (unless the rule is about the signature). `reason` is the stable rejection reason; `error` the message of the reference implementation (a prefix when `error_is_prefix`).",
            ),
        ),
        (
            "records",
            J::Arr(
                invalid
                    .iter()
                    .map(|v| {
                        obj(vec![
                            ("name", s(v.name)),
                            ("description", s(v.description)),
                            ("record", h(&v.record)),
                            ("valid", J::Bool(v.reason.is_empty())),
                            ("reason", s(v.reason)),
                            ("error", s(v.error)),
                            ("error_is_prefix", J::Bool(v.error_is_prefix)),
                        ])
                    })
                    .collect(),
            ),
        ),
    ])
}

fn oversize_json(record: &[u8]) -> J {
    obj(vec![
        (
            "about",
            s(
                "A record whose payload is 65537 bytes (one more than the limit), otherwise valid and correctly signed by A: kind `blob`, content {\"data\": h'00...'}. The envelope (65650 bytes) is within the record limit of 65664 bytes; the payload is not.",
            ),
        ),
        ("record", h(record)),
        ("record_bytes", n(record.len() as u64)),
        ("payload_bytes", n(MAX_PAYLOAD as u64 + 1)),
        ("reason", s("oversize")),
        ("error", s("payload is 65537 bytes, the limit is 65536")),
    ])
}

fn fork_json(d: &Data) -> J {
    let proof = fork_proof(d);
    let [lo, hi] = proof.records();
    let reversed = cbor::encode(&Value::Array(vec![
        Value::Bytes(hi.bytes().to_vec()),
        Value::Bytes(lo.bytes().to_vec()),
    ]));
    obj(vec![
        (
            "about",
            s(
                "Equivocation proof: B signed two different records at seq 2. Encoding: CBOR array of the two COSE_Sign1 records as byte strings, lower record id first.",
            ),
        ),
        ("author", s(&author_b().public().to_string())),
        ("seq", n(2)),
        (
            "ids",
            J::Arr(vec![s(&lo.id().to_string()), s(&hi.id().to_string())]),
        ),
        ("records", J::Arr(vec![h(lo.bytes()), h(hi.bytes())])),
        ("proof", h(&proof.to_cbor())),
        (
            "invalid",
            J::Arr(vec![obj(vec![
                ("name", s("reversed-order")),
                ("proof", h(&reversed)),
                ("error", s("the two records must be ordered by id")),
            ])]),
        ),
    ])
}

fn merkle_json(d: &Data) -> J {
    let tree = tree(d);
    let leaves = leaves(d);
    let hashes = |v: Vec<Hash>| J::Arr(v.iter().map(|x| h(x)).collect());
    obj(vec![
        (
            "about",
            s(
                "RFC 9162 Merkle tree over A's log: leaf i = the COSE_Sign1 bytes of records.json record i. leaf_hash = SHA-256(00 || leaf), node = SHA-256(01 || left || right); roots[k] is the root of the first k leaves (roots[0] = SHA-256 of nothing). Proof paths are lists of hashes in RFC 9162 order.",
            ),
        ),
        (
            "leaves",
            J::Arr(
                leaves
                    .iter()
                    .zip(&d.log)
                    .map(|(l, v)| {
                        obj(vec![
                            ("record", s(v.name)),
                            ("leaf", h(l)),
                            ("leaf_hash", h(&leaf_hash(l))),
                        ])
                    })
                    .collect(),
            ),
        ),
        (
            "roots",
            J::Arr((0..=7).map(|k| h(&root(&tree, k).unwrap())).collect()),
        ),
        (
            "inclusion",
            J::Arr(
                INCLUSIONS
                    .iter()
                    .map(|&(index, size)| {
                        obj(vec![
                            ("index", n(index)),
                            ("size", n(size)),
                            ("leaf_hash", h(&leaf_hash(&leaves[index as usize]))),
                            ("root", h(&root(&tree, size).unwrap())),
                            ("path", hashes(inclusion_proof(&tree, index, size).unwrap())),
                        ])
                    })
                    .collect(),
            ),
        ),
        (
            "consistency",
            J::Arr(
                CONSISTENCIES
                    .iter()
                    .map(|&(old, new)| {
                        obj(vec![
                            ("old_size", n(old)),
                            ("new_size", n(new)),
                            ("old_root", h(&root(&tree, old).unwrap())),
                            ("new_root", h(&root(&tree, new).unwrap())),
                            ("path", hashes(consistency_proof(&tree, old, new).unwrap())),
                        ])
                    })
                    .collect(),
            ),
        ),
    ])
}

fn checkpoint_entry(d: &Data, size: u64) -> J {
    let (cp, note) = checkpoint_note(d, size);
    let sig_line = note.lines().last().unwrap().to_owned();
    obj(vec![
        ("size", n(size)),
        ("root", h(cp.root())),
        ("body", s(&cp.body())),
        ("signature_line", s(&sig_line)),
        ("note", s(&note)),
    ])
}

fn checkpoint_json(d: &Data) -> J {
    let vkey = VerifierKey::new(origin(), author_a().public()).unwrap();
    obj(vec![
        (
            "about",
            s(
                "Checkpoints of A's log (C2SP tlog-checkpoint body, C2SP signed note by A's author key). Key name = origin = certnet/<net>/<A's key text>. key_id = first 4 bytes of SHA-256(key name || 0a || 01 || public key). The signature line holds base64(key_id || Ed25519 signature over the body).",
            ),
        ),
        ("origin", s(&origin())),
        ("key", h(author_a().public().as_bytes())),
        ("key_id", s(&format!("{:08x}", vkey.key_id()))),
        ("vkey", s(&vkey.to_string())),
        (
            "checkpoints",
            J::Arr(vec![checkpoint_entry(d, 7), checkpoint_entry(d, 4)]),
        ),
    ])
}

fn sync_json(d: &Data) -> J {
    let range = SyncRequest::Range {
        author: author_a().public(),
        from_seq: 2,
        max: 100,
    };
    let heads_resp = SyncResponse::Heads(heads(d));
    let records_resp = SyncResponse::Records(vec![
        d.log[1].record.bytes().to_vec(),
        d.log[3].record.bytes().to_vec(),
    ]);
    let msg = |name: &str, what: &str, bytes: Vec<u8>| {
        obj(vec![
            ("name", s(name)),
            ("description", s(what)),
            ("message", h(&bytes)),
            ("frame", h(&frame(&bytes))),
        ])
    };
    let bad = |name: &str, side: &str, bytes: Vec<u8>, error: &str| {
        obj(vec![
            ("name", s(name)),
            ("side", s(side)),
            ("message", h(&bytes)),
            ("error", s(error)),
        ])
    };
    let key_a = author_a().public();
    let range_raw = |from: u64, max: u64| {
        cbor::encode(&Value::Array(vec![
            Value::Integer(1.into()),
            Value::Bytes(key_a.as_bytes().to_vec()),
            Value::Integer(from.into()),
            Value::Integer(max.into()),
        ]))
    };
    let mut reversed = heads(d);
    reversed.reverse();
    obj(vec![
        (
            "about",
            s(
                "Sync messages of /certnet/certnet-vectors/sync/1. `message` is the deterministic CBOR; `frame` is what goes on the stream: 4-byte big-endian length, then the message.",
            ),
        ),
        ("protocol", s(&format!("/certnet/{NET}/sync/1"))),
        (
            "requests",
            J::Arr(vec![
                msg("heads", "Heads: [0]", SyncRequest::Heads.to_cbor()),
                msg(
                    "range",
                    "Range of A's feed from seq 2, at most 100 records: [1, author, 2, 100]",
                    range.to_cbor(),
                ),
            ]),
        ),
        (
            "responses",
            J::Arr(vec![
                msg(
                    "heads",
                    "Heads of A's node after the whole log: [0, [[author, seq, id], ...]] sorted by author bytes (A: seq 5 = revoke, B: seq 2 = unknown-kind)",
                    heads_resp.to_cbor(),
                ),
                msg(
                    "records",
                    "Answer to the range request, cut to two records by the responder: [1, [indicator, advisory]]",
                    records_resp.to_cbor(),
                ),
                msg(
                    "records-empty",
                    "Nothing held from from_seq: [1, []]",
                    SyncResponse::Records(vec![]).to_cbor(),
                ),
            ]),
        ),
        (
            "invalid",
            J::Arr(vec![
                bad(
                    "range-from-seq-0",
                    "request",
                    range_raw(0, 100),
                    "message: range from_seq must be at least 1",
                ),
                bad(
                    "range-max-0",
                    "request",
                    range_raw(2, 0),
                    "message: range max must be 1 to 1024",
                ),
                bad(
                    "range-max-1025",
                    "request",
                    range_raw(2, 1025),
                    "message: range max must be 1 to 1024",
                ),
                bad(
                    "unknown-request-type",
                    "request",
                    vec![0x81, 0x02],
                    "message: unknown request type",
                ),
                bad(
                    "request-too-large",
                    "request",
                    vec![0; 1025],
                    "message is 1025 bytes, the limit is 1024",
                ),
                bad(
                    "heads-unsorted",
                    "response",
                    SyncResponse::Heads(reversed).to_cbor(),
                    "message: heads must be sorted by author, without repeats",
                ),
                bad(
                    "non-canonical",
                    "request",
                    vec![0x81, 0x18, 0x00],
                    "message: not deterministically encoded (non-shortest integer or length, indefinite length, or undefined)",
                ),
            ]),
        ),
    ])
}

fn gossip_json(d: &Data) -> J {
    let r = &d.log[0].record;
    obj(vec![
        (
            "about",
            s(
                "Gossipsub: the message is the signed record's bytes, unchanged; the message id is SHA-256 of the message bytes (not the record id, which hashes the payload only).",
            ),
        ),
        ("topic", s(&format!("/certnet/{NET}/records/1"))),
        ("record", s(d.log[0].name)),
        ("message", h(r.bytes())),
        ("message_id", h(&sha256(r.bytes()))),
        ("record_id", s(&r.id().to_string())),
        ("max_transmit_size", n(256 * 1024)),
    ])
}

fn export_json(d: &Data) -> J {
    let file = export_file(d);
    let bad = export_bad_file(d);
    let (_, note4) = checkpoint_note(d, 4);
    let header_len = {
        let (mut reader, _) = ExportReader::new(file.as_slice()).unwrap();
        let mut rest = 0;
        while let Some(item) = reader.next_item().unwrap() {
            rest += match item {
                ExportItem::Entry(e) => cose_bstr_head(e.len()).len() + e.len(),
                ExportItem::Fork(f) => f.len(),
            };
        }
        file.len() - rest
    };
    let heads = heads(d)
        .iter()
        .map(|hd| {
            obj(vec![
                ("author", s(&hd.author.to_string())),
                ("seq", n(hd.seq)),
                ("id", s(&hd.id.to_string())),
            ])
        })
        .collect();
    obj(vec![
        (
            "about",
            s(
                "export.cbor: A's node's export (CBOR sequence: header map, 7 entries = records.json records 0..6 as byte strings, 1 fork proof = fork.json). export-bad-signature.cbor: the same with entry 2's signature replaced by 64 bytes 07.",
            ),
        ),
        ("file", s("export.cbor")),
        ("file_bytes", n(file.len() as u64)),
        ("file_sha256", h(&sha256(&file))),
        ("header", h(&file[..header_len])),
        (
            "header_fields",
            obj(vec![
                ("format", s("certnet-export")),
                ("version", n(1)),
                ("net", s(NET)),
                ("origin", s(&origin())),
                ("key", h(author_a().public().as_bytes())),
                ("checkpoint", s(&checkpoint_note(d, 7).1)),
            ]),
        ),
        ("entries", n(7)),
        ("forks", n(1)),
        ("root", h(&root(&tree(d), 7).unwrap())),
        (
            "audit",
            obj(vec![
                ("entries", n(7)),
                ("checkpoint_size", n(7)),
                ("heads", J::Arr(heads)),
                (
                    "forks",
                    J::Arr(vec![obj(vec![
                        ("author", s(&author_b().public().to_string())),
                        ("seq", n(2)),
                    ])]),
                ),
            ]),
        ),
        (
            "audit_with_old_checkpoint",
            obj(vec![
                ("old_checkpoint", s(&note4)),
                ("consistent_with", n(4)),
            ]),
        ),
        (
            "bad_file",
            obj(vec![
                ("file", s("export-bad-signature.cbor")),
                ("file_sha256", h(&sha256(&bad))),
                ("index", n(2)),
                ("author", s(&author_b().public().to_string())),
                ("seq", n(1)),
                (
                    "error",
                    s(&format!(
                        "entry 2 (author {}, seq 1): signature does not verify with the author key",
                        author_b().public()
                    )),
                ),
            ]),
        ),
    ])
}

/// Every generated file: (name under protocol/tests/vectors/, bytes).
fn files() -> Vec<(&'static str, Vec<u8>)> {
    let d = data();
    vec![
        ("keys.json", json_file(&keys_json())),
        ("records.json", json_file(&records_json(&d))),
        (
            "invalid.json",
            json_file(&invalid_json(&invalid_records(&d))),
        ),
        (
            "oversize.json",
            json_file(&oversize_json(&oversize_record())),
        ),
        ("fork.json", json_file(&fork_json(&d))),
        ("merkle.json", json_file(&merkle_json(&d))),
        ("checkpoint.json", json_file(&checkpoint_json(&d))),
        ("sync.json", json_file(&sync_json(&d))),
        ("gossip.json", json_file(&gossip_json(&d))),
        ("export.json", json_file(&export_json(&d))),
        ("export.cbor", export_file(&d)),
        ("export-bad-signature.cbor", export_bad_file(&d)),
    ]
}

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

// ---------------------------------------------------------------------------------------------------
// The tests.

#[test]
fn committed_vectors_match_the_generator() {
    let dir = vectors_dir();
    let files = files();
    if std::env::var_os("CERTNET_BLESS_VECTORS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in &files {
            std::fs::write(dir.join(name), bytes).unwrap();
            eprintln!("wrote {}", dir.join(name).display());
        }
    }
    let mut stale = vec![];
    for (name, bytes) in &files {
        let path = dir.join(name);
        let committed = std::fs::read(&path).unwrap_or_default();
        if &committed != bytes {
            stale.push(*name);
        }
    }
    assert!(
        stale.is_empty(),
        "vector files differ from what the code produces: {stale:?}\n\
         if the format change is intended, run CERTNET_BLESS_VECTORS=1 cargo test -p certnet-protocol --test vectors \
         and update PROTOCOL.md"
    );
    // No leftover vector files the generators no longer write (sealed.json: tests/sealed_vectors.rs).
    let mut known: BTreeSet<&str> = files.iter().map(|(n, _)| *n).collect();
    known.insert("sealed.json");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let generated = name.ends_with(".json") || name.ends_with(".cbor");
        assert!(
            !generated || known.contains(name.as_str()),
            "stale vector file {name}"
        );
    }
}

#[test]
fn valid_records_verify_and_decode_to_their_inputs() {
    let d = data();
    let protected = hex::decode(PROTECTED_HEX).unwrap();
    assert_eq!(protected, cose::PROTECTED);
    let mut all: Vec<&Valid> = d.log.iter().collect();
    all.push(&d.fork);
    all.push(&d.other_net);
    let mut kinds = BTreeSet::new();
    for v in all {
        let bytes = v.record.bytes();
        let ok = verify_record(bytes, v.net).unwrap();
        assert_eq!(ok.payload(), &v.expected, "{}", v.name);
        assert_eq!(ok.author(), author_key(v.author), "{}", v.name);
        kinds.insert(ok.payload().kind.as_str().to_owned());
        // The envelope layout, checked by offsets: d2 84 58 25 <protected> a0 <bstr payload> 58 40 <sig>.
        let payload = ok.record().payload_bytes();
        let head = cose_bstr_head(payload.len());
        let mut expected = vec![0xd2, 0x84, 0x58, 0x25];
        expected.extend_from_slice(&protected);
        expected.push(0xa0);
        expected.extend_from_slice(&head);
        expected.extend_from_slice(payload);
        expected.extend_from_slice(&[0x58, 0x40]);
        expected.extend_from_slice(&bytes[bytes.len() - 64..]);
        assert_eq!(bytes, expected.as_slice(), "{}", v.name);
        // Sig_structure = ["Signature1", protected, h'', payload].
        let mut sig_structure = vec![0x84, 0x6a];
        sig_structure.extend_from_slice(b"Signature1");
        sig_structure.extend_from_slice(&[0x58, 0x25]);
        sig_structure.extend_from_slice(&protected);
        sig_structure.push(0x40);
        sig_structure.extend_from_slice(&head);
        sig_structure.extend_from_slice(payload);
        assert_eq!(cose::sig_structure(payload), sig_structure, "{}", v.name);
        let sig: [u8; 64] = bytes[bytes.len() - 64..].try_into().unwrap();
        assert!(
            ok.author().verify_strict(&sig_structure, &sig),
            "{}",
            v.name
        );
        // Record id = SHA-256(payload bytes); canonical: decode then re-encode gives the same bytes.
        assert_eq!(ok.id(), RecordId::of_payload(payload));
        assert_eq!(*ok.id().as_bytes(), sha256(payload));
        assert_eq!(Payload::from_cbor(payload).unwrap().to_cbor(), payload);
    }
    let expected: BTreeSet<String> = [
        "incident",
        "indicator",
        "advisory",
        "sighting",
        "update",
        "revoke",
        "vulnerability-report",
    ]
    .iter()
    .map(|k| (*k).to_owned())
    .collect();
    assert_eq!(kinds, expected);
    assert!(matches!(
        d.log[4].record.payload().content,
        Content::Other(_)
    ));
    assert_eq!(
        AuthorKey::from_bytes(*author_a().public().as_bytes()).unwrap(),
        author_a().public()
    );
    assert_eq!(
        author_a().public().to_string().parse::<AuthorKey>(),
        Ok(author_a().public())
    );
}

#[test]
fn per_author_chains_link() {
    let d = data();
    let mut heads: std::collections::HashMap<AuthorKey, (u64, RecordId)> = Default::default();
    for v in &d.log {
        let r = &v.record;
        assert_eq!(
            check_link(heads.get(&r.author()).copied(), r),
            Ok(()),
            "{}",
            v.name
        );
        heads.insert(r.author(), (r.seq(), r.id()));
    }
    assert_eq!(heads[&author_a().public()], (5, d.log[6].record.id()));
    assert_eq!(heads[&author_b().public()], (2, d.log[4].record.id()));
    // The equivocating record links to the same head as the logged one: the chain cannot tell them
    // apart, only the pair can.
    let b_head = (1, d.log[2].record.id());
    assert_eq!(check_link(Some(b_head), &d.fork.record), Ok(()));
}

#[test]
fn invalid_records_fail_with_their_reason() {
    let d = data();
    let cases = invalid_records(&d);
    assert!(cases.len() >= 30);
    for case in cases {
        let result = verify_record(&case.record, NET);
        if case.reason.is_empty() {
            assert!(result.is_ok(), "{}: {result:?}", case.name);
            continue;
        }
        let err = result.unwrap_err();
        assert_eq!(err.reason(), case.reason, "{}: {err}", case.name);
        if case.error_is_prefix {
            assert!(
                err.to_string().starts_with(case.error),
                "{}: {err}",
                case.name
            );
        } else {
            assert_eq!(err.to_string(), case.error, "{}", case.name);
        }
    }
    let big = oversize_record();
    assert_eq!(big.len(), 65_650);
    assert_eq!(
        verify_record(&big, NET),
        Err(RecordError::Oversize {
            what: "payload",
            size: MAX_PAYLOAD + 1,
            max: MAX_PAYLOAD
        })
    );
    // Anything longer than a record is refused before decoding.
    assert_eq!(
        verify_record(&vec![0; 65_665], NET),
        Err(RecordError::Oversize {
            what: "record",
            size: 65_665,
            max: 65_664
        })
    );
}

#[test]
fn equivocation_proof_verifies_standalone() {
    let d = data();
    let proof = fork_proof(&d);
    let bytes = proof.to_cbor();
    let back = EquivocationProof::from_cbor(&bytes, NET).unwrap();
    assert_eq!(back.author(), author_b().public());
    assert_eq!(back.seq(), 2);
    let [lo, hi] = back.records();
    assert!(lo.id() < hi.id());
    let mut ids = [d.log[4].record.id(), d.fork.record.id()];
    ids.sort();
    assert_eq!([lo.id(), hi.id()], ids);
    // Layout: 82, then the two records as byte strings.
    let mut expected = vec![0x82];
    for r in [lo, hi] {
        expected.extend_from_slice(&cose_bstr_head(r.bytes().len()));
        expected.extend_from_slice(r.bytes());
    }
    assert_eq!(bytes, expected);
    let reversed = cbor::encode(&Value::Array(vec![
        Value::Bytes(hi.bytes().to_vec()),
        Value::Bytes(lo.bytes().to_vec()),
    ]));
    assert_eq!(
        EquivocationProof::from_cbor(&reversed, NET),
        Err(ForkError::Unordered)
    );
    assert!(matches!(
        EquivocationProof::from_cbor(&bytes, OTHER_NET),
        Err(ForkError::Record { which: 0, .. })
    ));
}

#[test]
fn merkle_proofs_verify() {
    let d = data();
    let leaves = leaves(&d);
    let tree = tree(&d);
    // Independent root: the RFC 9162 MTH computed recursively from the leaves.
    fn mth(leaves: &[Vec<u8>]) -> Hash {
        match leaves.len() {
            0 => sha256(&[]),
            1 => sha256(&[&[0u8][..], &leaves[0]].concat()),
            n => {
                let k = 1 << (usize::BITS - 1 - (n - 1).leading_zeros());
                let (l, r) = (mth(&leaves[..k]), mth(&leaves[k..]));
                sha256(&[&[1u8][..], &l, &r].concat())
            }
        }
    }
    for size in 0..=7u64 {
        assert_eq!(
            root(&tree, size).unwrap(),
            mth(&leaves[..size as usize]),
            "{size}"
        );
    }
    for (index, size) in INCLUSIONS {
        let path = inclusion_proof(&tree, index, size).unwrap();
        let r = mth(&leaves[..size as usize]);
        let leaf = leaf_hash(&leaves[index as usize]);
        assert_eq!(verify_inclusion(&leaf, index, size, &path, &r), Ok(()));
        if let Some(first) = path.first() {
            let mut bad = path.clone();
            bad[0] = sha256(first);
            assert!(verify_inclusion(&leaf, index, size, &bad, &r).is_err());
        }
    }
    for (old, new) in CONSISTENCIES {
        let path = consistency_proof(&tree, old, new).unwrap();
        let (r1, r2) = (mth(&leaves[..old as usize]), mth(&leaves[..new as usize]));
        assert_eq!(verify_consistency(old, new, &r1, &r2, &path), Ok(()));
        assert!(verify_consistency(old, new, &r2, &r1, &path).is_err() || r1 == r2);
    }
}

#[test]
fn checkpoints_open_with_the_vkey() {
    let d = data();
    let vkey_text = VerifierKey::new(origin(), author_a().public())
        .unwrap()
        .to_string();
    let vkey: VerifierKey = vkey_text.parse().unwrap();
    assert_eq!(vkey.name(), origin());
    // key id = SHA-256(name || 0a || 01 || key)[..4].
    let digest = sha256(
        &[
            origin().as_bytes(),
            b"\n\x01",
            author_a().public().as_bytes(),
        ]
        .concat(),
    );
    assert_eq!(vkey.key_id().to_be_bytes(), digest[..4]);
    for size in [7, 4] {
        let (cp, note) = checkpoint_note(&d, size);
        let opened = checkpoint::open(note.as_bytes(), &vkey).unwrap();
        assert_eq!(opened, cp);
        assert_eq!(opened.size(), size);
        assert_eq!(
            opened.origin(),
            format!("certnet/{NET}/{}", author_a().public())
        );
        // Body, blank line, signature line.
        let body = format!(
            "{}\n{size}\n{}\n",
            origin(),
            base64_std(&root(&tree(&d), size).unwrap())
        );
        assert!(note.starts_with(&format!("{body}\n\u{2014} {} ", origin())));
        let mut tampered = note.clone().into_bytes();
        let at = origin().len() + 1;
        tampered[at] = b'8'; // the size line
        assert!(matches!(
            checkpoint::open(&tampered, &vkey),
            Err(CheckpointError::BadSignature { .. })
        ));
        let other = VerifierKey::new(origin(), author_b().public()).unwrap();
        assert!(matches!(
            checkpoint::open(note.as_bytes(), &other),
            Err(CheckpointError::NoSignature { .. })
        ));
    }
}

/// Standard padded base64, written out independently of the crate.
fn base64_std(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((v >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn sync_messages_decode() {
    let d = data();
    assert_eq!(SyncRequest::Heads.to_cbor(), [0x81, 0x00]);
    assert_eq!(
        SyncRequest::from_cbor(&[0x81, 0x00]),
        Ok(SyncRequest::Heads)
    );
    let range = SyncRequest::Range {
        author: author_a().public(),
        from_seq: 2,
        max: 100,
    };
    let mut expected = vec![0x84, 0x01, 0x58, 0x20];
    expected.extend_from_slice(author_a().public().as_bytes());
    expected.extend_from_slice(&[0x02, 0x18, 0x64]);
    assert_eq!(range.to_cbor(), expected);
    assert_eq!(SyncRequest::from_cbor(&expected), Ok(range));
    assert_eq!(frame(&[0x81, 0x00]), [0, 0, 0, 2, 0x81, 0x00]);

    let heads = heads(&d);
    assert!(heads[0].author < heads[1].author);
    let resp = SyncResponse::Heads(heads.clone());
    assert_eq!(SyncResponse::from_cbor(&resp.to_cbor()), Ok(resp));
    let records = vec![
        d.log[1].record.bytes().to_vec(),
        d.log[3].record.bytes().to_vec(),
    ];
    let resp = SyncResponse::Records(records.clone());
    let back = SyncResponse::from_cbor(&resp.to_cbor()).unwrap();
    let SyncResponse::Records(got) = back else {
        panic!("not records")
    };
    for (r, want) in got.iter().zip([2, 3]) {
        let ok = verify_record(r, NET).unwrap();
        assert_eq!((ok.author(), ok.seq()), (author_a().public(), want));
    }
    assert_eq!(SyncResponse::Records(vec![]).to_cbor(), [0x82, 0x01, 0x80]);

    let key_a = author_a().public();
    let range_raw = |from: u64, max: u64| {
        cbor::encode(&Value::Array(vec![
            Value::Integer(1.into()),
            Value::Bytes(key_a.as_bytes().to_vec()),
            Value::Integer(from.into()),
            Value::Integer(max.into()),
        ]))
    };
    for (bytes, want) in [
        (range_raw(0, 100), "range from_seq must be at least 1"),
        (range_raw(2, 0), "range max must be 1 to 1024"),
        (range_raw(2, 1025), "range max must be 1 to 1024"),
        (vec![0x81, 0x02], "unknown request type"),
    ] {
        assert_eq!(SyncRequest::from_cbor(&bytes), Err(SyncError::Shape(want)));
    }
    assert_eq!(
        SyncRequest::from_cbor(&[0; 1025]),
        Err(SyncError::TooLarge {
            size: 1025,
            max: 1024
        })
    );
    assert!(SyncRequest::from_cbor(&range_raw(2, 1024)).is_ok());
    assert_eq!(
        SyncRequest::from_cbor(&[0x81, 0x18, 0x00]),
        Err(SyncError::Cbor(cbor::CborError::NotDeterministic))
    );
    let mut reversed = heads;
    reversed.reverse();
    assert_eq!(
        SyncResponse::from_cbor(&SyncResponse::Heads(reversed).to_cbor()),
        Err(SyncError::Shape(
            "heads must be sorted by author, without repeats"
        ))
    );
}

#[test]
fn gossip_message_id_is_sha256_of_the_record_bytes() {
    let d = data();
    let r = &d.log[0].record;
    assert_eq!(sha256(r.bytes()), sha256(r.record().bytes()));
    assert_ne!(sha256(r.bytes()), *r.id().as_bytes());
    assert!(r.bytes().len() <= 256 * 1024);
}

fn expected_summary_check(s: &AuditSummary, d: &Data) {
    assert_eq!(s.entries, 7);
    assert_eq!(s.checkpoint.size(), 7);
    assert_eq!(*s.checkpoint.root(), root(&tree(d), 7).unwrap());
    assert_eq!(
        s.header,
        ExportHeader {
            net: NET.into(),
            origin: origin(),
            key: author_a().public(),
            checkpoint: checkpoint_note(d, 7).1,
        }
    );
    let want: Vec<_> = heads(d).iter().map(|h| (h.author, h.seq, h.id)).collect();
    assert_eq!(s.heads, want);
    assert_eq!(s.forks, vec![(author_b().public(), 2)]);
}

#[test]
fn export_audits() {
    let d = data();
    let file = export_file(&d);
    let s = audit(file.as_slice(), &AuditOptions::default(), |_, _| {}).unwrap();
    expected_summary_check(&s, &d);
    assert_eq!(s.consistent_with, None);

    let s = audit(
        file.as_slice(),
        &AuditOptions {
            expected_key: Some(author_a().public()),
            old_checkpoint: Some(checkpoint_note(&d, 4).1),
        },
        |_, _| {},
    )
    .unwrap();
    expected_summary_check(&s, &d);
    assert_eq!(s.consistent_with, Some(4));

    // The file layout: header map, then each entry as a byte string, then the fork proof.
    let (mut reader, header) = ExportReader::new(file.as_slice()).unwrap();
    assert_eq!(header.origin, origin());
    let mut items = vec![];
    while let Some(item) = reader.next_item().unwrap() {
        items.push(item);
    }
    let mut want: Vec<ExportItem> = leaves(&d).into_iter().map(ExportItem::Entry).collect();
    want.push(ExportItem::Fork(fork_proof(&d).to_cbor()));
    assert_eq!(items, want);

    let err = audit(
        export_bad_file(&d).as_slice(),
        &AuditOptions::default(),
        |_, _| {},
    )
    .unwrap_err();
    assert!(
        matches!(
            &err,
            AuditError::Entry { index: 2, author: Some(a), seq: Some(1), .. } if *a == author_b().public()
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "entry 2 (author {}, seq 1): signature does not verify with the author key",
            author_b().public()
        )
    );
}
