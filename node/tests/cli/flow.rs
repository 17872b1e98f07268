//! The operator's and the auditor's flow on real processes: init → run → publish → checkpoint →
//! export → verify; every kind of tampering makes verify exit 1 naming the entry; import rebuilds the
//! same log in a fresh node; updates and revocations change a record's view.
// Test-only code, outside `#[test]` functions: a failed unwrap here is a failed test.
#![allow(clippy::unwrap_used)]

use std::fs::{self, File};
use std::io::{BufReader, BufWriter};
use std::path::Path;
use std::time::Instant;

use certnet_node::datadir::roster_file::RosterFile as _;
use certnet_node::membership::{Member, Roster};
use certnet_protocol::chain::EquivocationProof;
use certnet_protocol::export::{ExportHeader, ExportItem, ExportReader, ExportWriter};
use certnet_protocol::keys::AuthorSecret;
use certnet_protocol::record::verify_record;
use rustix::process::Signal;
use serde_json::{Value, json};

use crate::util::{DEADLINE, TestDir, agent, assert_error, read};

/// A realistic incident as a CERT's ticketing system would send it (the README example).
const INCIDENT_JSON: &str = r#"{
  "kind": "incident",
  "tlp": "amber",
  "content": {
    "title": "Credential phishing against ministries impersonating the tax authority",
    "summary": "Since 06:00 UTC mails impersonating the national tax authority link to a credential-harvesting page; a second stage delivers an ISO attachment with a loader. Block the indicators, reset exposed credentials and report sightings.",
    "severity": "high",
    "status": "investigating",
    "categories": ["phishing", "credential-theft"],
    "indicators": [
      {"type": "domain", "value": "tax-refund-portal.example"},
      {"type": "url", "value": "https://tax-refund-portal.example/login"},
      {"type": "ipv4", "value": "203.0.113.7"},
      {"type": "sha256", "value": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}
    ],
    "references": ["https://cert.example/advisories/2026-017"],
    "first_seen": 1767250800000,
    "sectors": ["government"],
    "countries": ["DE", "AT"],
    "labels": ["campaign:taxman"]
  }
}"#;

/// The entries of an export, read with protocol's reader.
struct Export {
    header: ExportHeader,
    entries: Vec<Vec<u8>>,
    forks: Vec<Vec<u8>>,
}

fn read_export(path: &Path) -> Export {
    let (mut reader, header) =
        ExportReader::new(BufReader::new(File::open(path).unwrap())).unwrap();
    let mut export = Export {
        header,
        entries: vec![],
        forks: vec![],
    };
    while let Some(item) = reader.next_item().unwrap() {
        match item {
            ExportItem::Entry(bytes) => export.entries.push(bytes),
            ExportItem::Fork(bytes) => export.forks.push(bytes),
        }
    }
    export
}

fn write_export(path: &Path, export: &Export) {
    let mut writer =
        ExportWriter::new(BufWriter::new(File::create(path).unwrap()), &export.header).unwrap();
    for entry in &export.entries {
        writer.entry(entry).unwrap();
    }
    for fork in &export.forks {
        let proof = EquivocationProof::from_cbor(fork, &export.header.net).unwrap();
        writer.fork(&proof).unwrap();
    }
    writer.finish().unwrap();
}

/// Position of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap()
}

/// Polls `GET path` until `done` holds for its JSON, until the deadline.
fn poll_json(url: &str, done: impl Fn(u16, &Value) -> bool) -> Value {
    let start = Instant::now();
    let agent = agent();
    loop {
        let (status, body) = read(agent.get(url).call().unwrap());
        if done(status, &body) {
            return body;
        }
        assert!(start.elapsed() < DEADLINE, "{url}: still {status} {body}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn publish_export_verify_tamper_import_and_update() {
    let a = TestDir::new();
    a.init("CERT-A");
    // Checkpoints every second, so the periodic task is seen at work.
    let config = fs::read_to_string(a.file("config.toml")).unwrap();
    let config = config.replace(
        "checkpoint_interval_secs = 60",
        "checkpoint_interval_secs = 1",
    );
    assert!(config.contains("checkpoint_interval_secs = 1"), "{config}");
    fs::write(a.file("config.toml"), config).unwrap();
    let keys = a.certnet(&["keys", "--json"]).success().json();
    let key_a = keys["author_key"].as_str().unwrap().to_owned();
    let mut node = a.run_node(&[]);

    // 1. A realistic incident from a file.
    let incident_file = a.path("incident.json");
    fs::write(&incident_file, INCIDENT_JSON).unwrap();
    let id1 = a
        .certnet(&["publish", "--file", incident_file.to_str().unwrap()])
        .success()
        .stdout
        .trim()
        .to_owned();
    assert_eq!(id1.len(), 64, "{id1}");

    // 2. A quick incident from flags.
    let out = a
        .certnet(&[
            "publish",
            "--tlp",
            "green",
            "--title",
            "Ransomware at a regional hospital",
            "--summary",
            "Encrypted file servers; the operators demand payment. Indicators below.",
            "--severity",
            "critical",
            "--status",
            "contained",
            "--indicator",
            "ipv4:198.51.100.23",
            "--indicator",
            "domain:decrypt-files.example",
            "--category",
            "ransomware",
            "--country",
            "NL",
            "--json",
        ])
        .success()
        .json();
    assert_eq!(
        (out["seq"].as_u64(), out["index"].as_u64()),
        (Some(2), Some(1))
    );
    let id2 = out["id"].as_str().unwrap().to_owned();

    // An older checkpoint, kept by an auditor.
    let old_note = a.path("old.note");
    // The node is younger than its checkpoint interval: plain `checkpoint` signs the first note.
    let note = a
        .certnet(&["checkpoint"])
        .success()
        .stderr_has("signed a new checkpoint of 2 entries")
        .stdout;
    fs::write(&old_note, &note).unwrap();
    let old_json = a.certnet(&["checkpoint", "--json"]).success().json();
    assert_eq!(old_json["size"], 2);

    // 3. An indicator.
    let indicator_file = a.path("indicator.json");
    fs::write(
        &indicator_file,
        json!({"kind": "indicator", "tlp": "amber+strict",
               "content": {"type": "domain", "value": "decrypt-files.example",
                           "description": "Ransom negotiation portal", "confidence": 80}})
        .to_string(),
    )
    .unwrap();
    let id3 = a
        .certnet(&["publish", "--file", indicator_file.to_str().unwrap()])
        .success()
        .stdout
        .trim()
        .to_owned();

    // The periodic task checkpoints the grown log without being asked.
    let latest = poll_json(&node.url("/v1/log/checkpoint"), |status, body| {
        status == 200 && body["size"] == 3
    });
    assert!(node.log().contains("checkpoint signed"), "{}", node.log());

    // Reading back: table, JSON, one record, its raw bytes, status.
    a.certnet(&["records"])
        .success()
        .stdout_has("Credential phishing against ministries")
        .stdout_has("Ransomware at a regional hospital")
        .stdout_has("decrypt-files.example")
        .stdout_has("CERT-A");
    let listed = a.certnet(&["records", "--json", "--all"]).success().json();
    let ids: Vec<&str> = listed["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id1.as_str(), id2.as_str(), id3.as_str()]);
    // Page by page (one record each): still one JSON document, and one table with one header.
    let paged = a
        .certnet(&["records", "--json", "--all", "--limit", "1"])
        .success()
        .json();
    assert_eq!(paged["records"].as_array().unwrap().len(), 3, "{paged}");
    assert_eq!(paged["next_cursor"], Value::Null);
    let table = a
        .certnet(&["records", "--all", "--limit", "1"])
        .success()
        .stdout_has("Ransomware at a regional hospital")
        .stdout;
    assert_eq!(table.matches("INDEX").count(), 1, "{table}");
    // Times: an age and RFC 3339; a word is refused naming the forms.
    let recent = a
        .certnet(&["records", "--json", "--since", "1h"])
        .success()
        .json();
    assert_eq!(recent["records"].as_array().unwrap().len(), 3);
    a.certnet(&["records", "--since", "2099-01-01T00:00:00Z"])
        .success()
        .stdout_has("(no records)");
    a.certnet(&["records", "--since", "yesterday"])
        .code(2)
        .stderr_has("RFC 3339");
    // An unknown kind is an error listing the kinds, not an empty list.
    a.certnet(&["records", "--kind", "incidents"])
        .code(2)
        .stderr_has("is not one of incident, indicator");
    // A reader that stops after the first page does not make the CLI panic.
    for _ in 0..10 {
        let (status, stderr) =
            a.certnet_with_closed_stdout(&["records", "--json", "--all", "--limit", "1"]);
        assert_eq!(status.code(), Some(0), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let filtered = a
        .certnet(&["records", "--json", "--tlp", "amber+strict"])
        .success()
        .json();
    assert_eq!(filtered["records"][0]["id"], id3.as_str());
    // The 12 characters the table shows name the record as well as the whole id.
    let by_prefix = a.certnet(&["show", &id1[..12], "--json"]).success().json();
    assert_eq!(by_prefix["id"], id1.as_str());
    a.certnet(&["show", "abc"])
        .code(2)
        .stderr_has("unique prefix of 8 or more");
    let shown = a.certnet(&["show", &id1, "--json"]).success().json();
    assert_eq!(shown["verified"], true);
    assert_eq!(shown["author_name"], "CERT-A");
    assert_eq!(
        shown["content"],
        serde_json::from_str::<Value>(INCIDENT_JSON).unwrap()["content"]
    );
    a.certnet(&["show", &id2])
        .success()
        .stdout_has("verified  yes")
        .stdout_has("\"severity\": \"critical\"");
    let raw = a.certnet(&["show", &id1, "--raw"]).success().stdout_bytes;
    assert_eq!(
        verify_record(&raw, "certnet-dev").unwrap().id().to_string(),
        id1
    );
    let status = a.certnet(&["status", "--json"]).success().json();
    assert_eq!(status["log_size"], 3);
    assert_eq!(status["checkpoint_size"], 3);
    assert_eq!(status["root"], latest["root"]);
    a.certnet(&["status"])
        .success()
        .stdout_has("3 entries, root");

    // Publishing mistakes are refused with the reason.
    a.certnet(&[
        "publish",
        "--tlp",
        "red",
        "--title",
        "t",
        "--summary",
        "s",
        "--severity",
        "low",
    ])
    .code(2)
    .stderr_has("sealed to named recipients")
    .stderr_has("--to");
    a.certnet(&["publish", "--title", "only a title"])
        .code(2)
        .stderr_has("--summary");
    let bad_file = a.path("bad.json");
    fs::write(
        &bad_file,
        INCIDENT_JSON.replace("\"203.0.113.7\"", "\"203.0.113.700\""),
    )
    .unwrap();
    a.certnet(&["publish", "--file", bad_file.to_str().unwrap()])
        .code(1)
        .stderr_has("content.indicators[2].value");

    // Export and verify: exit 0, a summary, consistency with the older checkpoint.
    let export_path = a.path("export.cbor");
    a.certnet(&["export", "--out", export_path.to_str().unwrap()])
        .success()
        .stdout_has("checkpoint of 3 entries");
    let export = export_path.to_str().unwrap();

    // The same log as a STIX 2.1 bundle (validated in CI from $CERTNET_STIX_BUNDLE_DIR).
    let stix_path = a.path("export.stix.json");
    a.certnet(&[
        "export",
        "--format",
        "stix",
        "--out",
        stix_path.to_str().unwrap(),
    ])
    .success()
    .stdout_has("STIX 2.1 bundle");
    let stix: Value = serde_json::from_slice(&fs::read(&stix_path).unwrap()).unwrap();
    assert_eq!(stix["type"], "bundle");
    assert!(
        stix["objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["type"] == "incident")
    );
    // Filtered: only amber objects of incident records (not the amber+strict indicator).
    let clear_path = a.path("export.amber.json");
    a.certnet(&[
        "export",
        "--format",
        "stix",
        "--tlp",
        "amber",
        "--kind",
        "incident",
        "--out",
        clear_path.to_str().unwrap(),
    ])
    .success();
    let amber: Value = serde_json::from_slice(&fs::read(&clear_path).unwrap()).unwrap();
    let objects = amber["objects"].as_array().unwrap();
    assert!(objects.iter().any(|o| o["type"] == "incident"));
    for o in objects {
        if let Some(marking) = o.get("object_marking_refs") {
            assert_eq!(
                marking[0], "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
                "{o}"
            );
        }
    }
    if let Some(dir) = std::env::var_os("CERTNET_STIX_BUNDLE_DIR") {
        fs::create_dir_all(&dir).unwrap();
        fs::copy(&stix_path, Path::new(&dir).join("cli-export.json")).unwrap();
        fs::copy(&clear_path, Path::new(&dir).join("cli-export-amber.json")).unwrap();
    }
    a.certnet(&[
        "export",
        "--tlp",
        "clear",
        "--out",
        stix_path.to_str().unwrap(),
    ])
    .code(2)
    .stderr_has("--format stix");

    a.certnet(&["verify", export])
        .success()
        .stdout_has(&format!(
            "verifies with the key named in the file itself ({key_a}): compare it"
        ))
        .stdout_has("entries      3")
        .stdout_has(&format!(
            "root         {}",
            latest["root"].as_str().unwrap()
        ));
    let summary = a
        .certnet(&[
            "verify",
            export,
            "--checkpoint",
            old_note.to_str().unwrap(),
            "--key",
            &key_a,
            "--json",
        ])
        .success()
        .json();
    assert_eq!(summary["entries"], 3);
    assert_eq!(summary["key_source"], "--key");
    assert_eq!(summary["consistent_with"], 2);
    assert_eq!(summary["authors"][0]["author"], key_a.as_str());
    assert_eq!(summary["authors"][0]["seq"], 3);
    let wrong_key = AuthorSecret::from_seed(&[9; 32]).public().to_string();
    a.certnet(&["verify", export, "--key", &wrong_key])
        .code(1)
        .stderr_has("expected");
    // With the federation's roster: the log's key is a member's, every author a member.
    let roster = a.file("roster.toml");
    let roster = roster.to_str().unwrap();
    a.certnet(&["verify", export, "--roster", roster])
        .success()
        .stdout_has("signed by CERT-A's author key as the roster lists it");
    let by_roster = a
        .certnet(&["verify", export, "--roster", roster, "--json"])
        .success()
        .json();
    assert_eq!(by_roster["key_source"], "--roster");
    assert_eq!(by_roster["member"], "CERT-A");
    // Another federation's roster: exit 1, saying the key is no member's.
    let other = a.path("other-roster.toml");
    std::fs::write(
        &other,
        format!(
            "network = \"certnet-dev\"\n\n[[member]]\nname = \"CERT-Z\"\nauthor_key = \"{wrong_key}\"\n"
        ),
    )
    .unwrap();
    a.certnet(&["verify", export, "--roster", other.to_str().unwrap()])
        .code(1)
        .stderr_has("no member's author key in the roster");
    a.certnet(&["verify", export, "--roster", "/nonexistent/roster.toml"])
        .code(2)
        .stderr_has("--roster");

    // Tampering: each makes verify exit 1 and name the entry.
    let good = read_export(&export_path);
    let who = |seq: u64| format!("(author {key_a}, seq {seq})");
    let tampered = a.path("tampered.cbor");
    let tampered_str = tampered.to_str().unwrap();
    let check = |export: &Export, needles: &[&str]| {
        write_export(&tampered, export);
        let mut out = a.certnet(&["verify", tampered_str]).code(1);
        for needle in needles {
            out = out.stderr_has(needle);
        }
    };

    // One flipped byte in the text of entry 1.
    let mut flipped = read_export(&export_path);
    let at = find(&flipped.entries[1], b"Ransomware");
    flipped.entries[1][at] = b'X';
    check(
        &flipped,
        &[&format!("entry 1 {}", who(2)), "signature does not verify"],
    );

    // Entry 1 dropped.
    let mut dropped = read_export(&export_path);
    dropped.entries.remove(1);
    check(
        &dropped,
        &[
            &format!("entry 1 {}", who(3)),
            "breaks the author's chain: expected seq 2, got seq 3",
        ],
    );

    // Entries 0 and 1 swapped.
    let mut swapped = read_export(&export_path);
    swapped.entries.swap(0, 1);
    check(
        &swapped,
        &[&format!("entry 0 {}", who(2)), "breaks the author's chain"],
    );

    // The signature of entry 2 replaced.
    let mut resigned = read_export(&export_path);
    let len = resigned.entries[2].len();
    resigned.entries[2][len - 64..].copy_from_slice(&[7; 64]);
    check(
        &resigned,
        &[&format!("entry 2 {}", who(3)), "signature does not verify"],
    );

    // The file truncated inside entry 2.
    let bytes = fs::read(&export_path).unwrap();
    fs::write(&tampered, &bytes[..bytes.len() - 10]).unwrap();
    a.certnet(&["verify", tampered_str])
        .code(1)
        .stderr_has("entry 2")
        .stderr_has("truncated");
    // ... and cut after entry 1: fewer entries than the checkpoint covers.
    let mut short = read_export(&export_path);
    short.entries.truncate(2);
    check(&short, &["file ends after 2 entries", "covers 3"]);
    assert_eq!(good.entries.len(), 3);

    // Unreadable input is exit 2, not 1.
    a.certnet(&["verify", a.path("missing.cbor").to_str().unwrap()])
        .code(2)
        .stderr_has("cannot open");
    a.certnet(&[
        "verify",
        export,
        "--checkpoint",
        a.path("nope.note").to_str().unwrap(),
    ])
    .code(2);
    a.certnet(&["verify", export, "--key", "ed25519:nope"])
        .code(2);
    // A --checkpoint file that is not a signed note is the auditor's input error (2), never 1.
    let junk_note = a.path("junk.note");
    fs::write(&junk_note, "this is not a note\n").unwrap();
    a.certnet(&[
        "verify",
        export,
        "--checkpoint",
        junk_note.to_str().unwrap(),
    ])
    .code(2)
    .stderr_has("is not a signed checkpoint note");

    // An update and a revocation change the view of GET /v1/records/{id}.
    let http = agent();
    let mut updated = serde_json::from_str::<Value>(INCIDENT_JSON).unwrap()["content"].clone();
    updated["status"] = json!("resolved");
    let update_file = a.path("update.json");
    fs::write(
        &update_file,
        json!({"kind": "update", "tlp": "green", "refs": [id1],
               "content": {"incident": updated}})
        .to_string(),
    )
    .unwrap();
    let update_id = a
        .certnet(&["publish", "--file", update_file.to_str().unwrap()])
        .success()
        .stdout
        .trim()
        .to_owned();
    let (code, view) = read(
        http.get(node.url(&format!("/v1/records/{id1}")))
            .header("Authorization", node.bearer())
            .call()
            .unwrap(),
    );
    assert_eq!(code, 200, "{view}");
    assert_eq!(view["content"]["status"], "investigating");
    assert_eq!(view["view"]["content"]["status"], "resolved");
    assert_eq!(view["view"]["tlp"], "green");
    assert_eq!(view["view"]["revoked"], false);
    assert_eq!(view["history"][0]["id"], update_id.as_str());
    assert_eq!(view["history"][0]["effect"], "updated");
    // An update that tightens the TLP would be ignored by every node: refused (exit 2), naming
    // the fix, and nothing is signed.
    let tighter_file = a.path("tighter.json");
    fs::write(
        &tighter_file,
        json!({"kind": "update", "tlp": "amber+strict", "refs": [id1],
               "content": {"incident": updated}})
        .to_string(),
    )
    .unwrap();
    a.certnet(&["publish", "--file", tighter_file.to_str().unwrap()])
        .code(2)
        .stderr_has("may not tighten the TLP")
        .stderr_has("revoke the record and publish it anew");
    let revoke_file = a.path("revoke.json");
    fs::write(
        &revoke_file,
        json!({"kind": "revoke", "tlp": "green", "refs": [id1],
               "content": {"reason": "merged into a joint incident report"}})
        .to_string(),
    )
    .unwrap();
    a.certnet(&["publish", "--file", revoke_file.to_str().unwrap()])
        .success();
    let (_, view) = read(
        http.get(node.url(&format!("/v1/records/{id1}")))
            .header("Authorization", node.bearer())
            .call()
            .unwrap(),
    );
    assert_eq!(view["view"]["revoked"], true);
    assert_eq!(
        view["view"]["revoked_reason"],
        "merged into a joint incident report"
    );
    assert_eq!(view["history"][1]["effect"], "revoked");
    a.certnet(&["show", &id1])
        .success()
        .stdout_has("REVOKED   merged into a joint incident report");
    // A second revoke would change nothing either.
    a.certnet(&["publish", "--file", revoke_file.to_str().unwrap()])
        .code(2)
        .stderr_has("already revoked");
    let got = read(http.get(node.url("/v1/records/not-an-id")).call().unwrap());
    assert_error(&got, 400, "bad_id");

    // A clean stop flushes the store.
    let status = node.stop_with(Signal::TERM);
    assert_eq!(status.code(), Some(0), "{}", node.log());
    assert!(node.log().contains("store flushed"), "{}", node.log());

    // Import the export into a fresh node whose roster lists CERT-A.
    let b = TestDir::new();
    b.init("CERT-B");
    // Without the author in the roster nothing is taken: a failure that says why and what to do.
    b.certnet(&["import", export])
        .code(1)
        .stdout_has("not_member    3")
        .stderr_has("nothing was imported (not_member 3)")
        .stderr_has("certnet roster add");
    let roster_path = b.file("roster.toml");
    let mut roster = Roster::load(&roster_path).unwrap();
    roster
        .add_member(Member::new(
            "CERT-A".parse().unwrap(),
            key_a.parse().unwrap(),
            vec![],
            vec![],
        ))
        .unwrap();
    roster.save(&roster_path).unwrap();
    b.certnet(&["import", export])
        .success()
        .stdout_has("imported 3 entries")
        .stdout_has("accepted      3")
        .stdout_has("the export checkpoint's root");
    let again = b.certnet(&["import", export, "--json"]).success().json();
    assert_eq!(again["outcomes"]["duplicate"], 3);
    assert_eq!(again["log_size_after"], 3);
    let tampered_import = b.certnet(&["import", tampered_str]).code(1);
    assert!(tampered_import.stderr.contains("does not verify"));

    let mut node_b = b.run_node(&[]);
    let (_, page) = read(
        http.get(node_b.url("/v1/records"))
            .header("Authorization", node_b.bearer())
            .call()
            .unwrap(),
    );
    let ids_b: Vec<&str> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids_b, [id1.as_str(), id2.as_str(), id3.as_str()]);
    assert_eq!(page["records"][0]["author_name"], "CERT-A");
    let status_b = b.certnet(&["status", "--json"]).success().json();
    assert_eq!(status_b["root"], latest["root"]);
    assert_eq!(status_b["log_size"], 3);
    // Import refuses while the node runs.
    b.certnet(&["import", export])
        .code(1)
        .stderr_has("a node is running");
    assert_eq!(node_b.stop_with(Signal::TERM).code(), Some(0));
}

#[test]
fn the_same_record_twice_is_refused_and_supersede_tightens_a_tlp() {
    let a = TestDir::new();
    a.init("CERT-A");
    let mut node = a.run_node(&[]);
    let file = a.path("incident.json");
    fs::write(&file, INCIDENT_JSON).unwrap();
    let file = file.to_str().unwrap();
    let first = a.certnet(&["publish", "--file", file]).success().stdout;
    let first = first.trim();
    // The same JSON again: refused, naming the live record; --force publishes it anyway.
    a.certnet(&["publish", "--file", file])
        .code(2)
        .stderr_has("409 duplicate")
        .stderr_has(&format!("identical to record {first}"))
        .stderr_has("--force");
    let forced = a
        .certnet(&["publish", "--file", file, "--force"])
        .success()
        .stdout;
    assert_ne!(forced.trim(), first);
    // Tightening by update is refused (exit 2, the rule and the fix); --supersede does it: the new
    // record at amber+strict, the old one revoked at its own TLP.
    let tighter = INCIDENT_JSON.replace("\"tlp\": \"amber\"", "\"tlp\": \"amber+strict\"");
    let tighter_file = a.path("tighter.json");
    fs::write(&tighter_file, &tighter).unwrap();
    let new = a
        .certnet(&[
            "publish",
            "--file",
            tighter_file.to_str().unwrap(),
            "--supersede",
            &first[..12],
        ])
        .success()
        .stderr_has(&format!("{first} revoked: superseded by"))
        .stdout;
    let old = a.certnet(&["show", first, "--json"]).success().json();
    assert_eq!(old["view"]["revoked"], true);
    assert_eq!(
        old["view"]["revoked_reason"],
        format!("superseded by {}", new.trim()).as_str()
    );
    let new = a.certnet(&["show", new.trim(), "--json"]).success().json();
    assert_eq!(new["tlp"], "amber+strict");
    // The revoked record is gone from the list, the forced copy and the new one stay.
    let list = a.certnet(&["records", "--json"]).success().json();
    let ids: Vec<&str> = list["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(!ids.contains(&first), "{ids:?}");
    assert_eq!(
        ids.len(),
        3,
        "forced copy, the new record and the revoke: {ids:?}"
    );
    assert_eq!(node.stop_with(Signal::TERM).code(), Some(0));
}

#[test]
fn import_needs_an_initialised_dir_and_a_readable_file() {
    let dir = TestDir::new();
    dir.certnet(&["import", "whatever.cbor"])
        .code(1)
        .stderr_has("certnet init");
    dir.init("CERT-C");
    dir.certnet(&["import", dir.path("missing.cbor").to_str().unwrap()])
        .code(2)
        .stderr_has("cannot open");
    let junk = dir.path("junk.cbor");
    fs::write(&junk, b"this is not an export").unwrap();
    dir.certnet(&["import", junk.to_str().unwrap()])
        .code(1)
        .stderr_has("does not verify");
}

/// Regression: a second `certnet run` on a running node's directory removed the first one's
/// api.addr on its way out, leaving the CLI unable to find the running node.
#[test]
fn second_run_on_a_busy_data_dir_is_refused_and_leaves_api_addr_alone() {
    let dir = TestDir::new();
    dir.init("CERT-D");
    let _node = dir.run_node(&[]);
    let addr = fs::read_to_string(dir.file("api.addr")).unwrap();
    let second = dir.certnet(&["run"]);
    assert!(!second.status.success(), "{}", second.stderr);
    assert!(
        second.stderr.contains("is another `certnet run`"),
        "{}",
        second.stderr
    );
    assert_eq!(fs::read_to_string(dir.file("api.addr")).unwrap(), addr);
    dir.certnet(&["status"]).success();
    dir.certnet(&["import", "any.cbor"])
        .code(1)
        .stderr_has("a node is running");
}
