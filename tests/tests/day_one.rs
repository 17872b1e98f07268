//! Day one for an operator and an auditor (issue 21): the README walked as a new user does, with the
//! `certnet` CLI against a two-member federation of real processes. Each step asserts the exit code and
//! the message: a write takes effect or is refused (exit 2, naming the fix), lists tell the current
//! truth, an indicator published in upper case by both members is found, a 12-character id works,
//! unknown filters are refused, the auditor's routine is trap-free, an import that takes nothing exits 1
//! naming the fix, status and peers say who is missing, and a reader that stops early ends the
//! command quietly.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::Path;
use std::process::{Command, Stdio};

use certnet_testnet::Error;
use serde_json::{Value, json};

use crate::federation::one_at_a_time;
use crate::util::{CONVERGE, TestNet, certnet_bin, certnet_in, ok};

/// The README's sample incident, with its SHA-256 as PowerShell prints it (upper case).
const SHA256: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn readme_incident() -> Value {
    json!({
        "kind": "incident",
        "tlp": "amber",
        "content": {
            "title": "Credential phishing against ministries impersonating the tax authority",
            "summary": "Since 06:00 UTC mails impersonating the national tax authority link to a credential-harvesting page.",
            "severity": "high",
            "status": "investigating",
            "categories": ["phishing", "credential-theft"],
            "indicators": [
                {"type": "domain", "value": "Tax-Refund-Portal.Example."},
                {"type": "url", "value": "hxxps://tax-refund-portal[.]example/login"},
                {"type": "ipv4", "value": "203.0.113.7"},
                {"type": "sha256", "value": SHA256.to_ascii_uppercase()}
            ],
            "countries": ["DE", "AT"]
        }
    })
}

fn write_json(path: &Path, value: &Value) -> String {
    std::fs::write(path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn an_operator_and_an_auditor_follow_the_readme_and_every_command_does_what_it_says_or_refuses() {
    let _serial = one_at_a_time();
    let net = TestNet::started(2);
    let (a, b) = (net.node(0).data_dir.clone(), net.node(1).data_dir.clone());
    let work = net.dir().join("work");
    std::fs::create_dir_all(&work).unwrap();

    // `keys` on an empty data directory names `init`.
    certnet_in(&work.join("empty"), &["keys"])
        .code(1)
        .stderr_has("certnet init");

    // Status shows who is connected of the members expected.
    ok(net.wait_until(CONVERGE, "A connected to B", |fed| {
        Ok::<_, Error>(fed.connected_peers(0)?.contains(fed.peer_id(1)))
    }));
    certnet_in(&a, &["status"])
        .success()
        .stdout_has("members     1 of 1 others connected");
    certnet_in(&a, &["peers", "--all"])
        .success()
        .stdout_has("CERT-02")
        .stdout_has("connected");

    // Publish the README's incident, typed as analysts paste it; it is signed in canonical form.
    let file = write_json(&work.join("incident.json"), &readme_incident());
    let id = certnet_in(&a, &["publish", "--file", &file])
        .success()
        .stdout;
    let id = id.trim().to_owned();
    assert_eq!(id.len(), 64, "{id}");
    let shown = certnet_in(&a, &["show", &id[..12], "--json"])
        .success()
        .json();
    assert_eq!(shown["id"], id.as_str(), "a 12-character id is shown");
    let values: Vec<&str> = shown["content"]["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        values,
        [
            "tax-refund-portal.example",
            "https://tax-refund-portal.example/login",
            "203.0.113.7",
            SHA256
        ]
    );
    // The table prints the 12 characters `show` takes.
    certnet_in(&a, &["records"]).success().stdout_has(&id[..12]);

    // The same JSON again is refused, naming the live record.
    certnet_in(&a, &["publish", "--file", &file])
        .code(2)
        .stderr_has("duplicate")
        .stderr_has(&id);

    // An update that tightens the TLP is refused with the rule and the fix; --supersede does it.
    let mut tighter = readme_incident();
    tighter["tlp"] = json!("amber+strict");
    let update = json!({
        "kind": "update", "tlp": "amber+strict", "refs": [id],
        "content": {"incident": tighter["content"]}
    });
    let update_file = write_json(&work.join("tighten.json"), &update);
    certnet_in(&a, &["publish", "--file", &update_file])
        .code(2)
        .stderr_has("may not tighten the TLP")
        .stderr_has("revoke the record and publish it anew");
    let tighter_file = write_json(&work.join("tighter.json"), &tighter);
    let new_id = certnet_in(
        &a,
        &["publish", "--file", &tighter_file, "--supersede", &id[..12]],
    )
    .success()
    .stderr_has("revoked: superseded by")
    .stdout;
    let new_id = new_id.trim().to_owned();

    // Lists tell the current truth: the superseded record is hidden, or marked REVOKED on request.
    let listed = certnet_in(&a, &["records"]).success().stdout;
    assert!(!listed.contains(&id[..12]), "{listed}");
    assert!(listed.contains(&new_id[..12]), "{listed}");
    certnet_in(&a, &["records", "--include-revoked"])
        .success()
        .stdout_has("REVOKED: Credential phishing");

    // Filters refuse what they do not know, listing what is valid; relative times work.
    certnet_in(&a, &["records", "--kind", "incidents"])
        .code(2)
        .stderr_has("incident, indicator, advisory");
    certnet_in(&a, &["records", "--tlp", "purple"]).code(2);
    certnet_in(&a, &["records", "--since", "2h"])
        .success()
        .stdout_has(&new_id[..12]);

    // B reports the same hash, in upper case, from flags; `search` on A finds both members' records.
    let b_id = certnet_in(
        &b,
        &[
            "publish",
            "--title",
            "Loader dropped by ISO attachments",
            "--summary",
            "Same loader as in the tax phishing wave.",
            "--severity",
            "medium",
            "--tlp",
            "green",
            "--indicator",
            &format!("sha256:{}", SHA256.to_ascii_uppercase()),
        ],
    )
    .success()
    .stdout;
    let b_id = b_id.trim().to_owned();
    ok(net.wait_until(CONVERGE, "B's record on A", |fed| {
        Ok::<_, Error>(fed.client(0).record(&b_id).is_ok())
    }));
    let found = certnet_in(&a, &["search", &SHA256.to_ascii_uppercase()])
        .success()
        .stdout_has("reported by 2 member(s)")
        .stdout_has("CERT-01")
        .stdout_has("CERT-02")
        .stdout;
    assert!(
        found.contains(&new_id[..12]) && found.contains(&b_id[..12]),
        "{found}"
    );
    assert!(
        !found.contains(&id[..12]),
        "the revoked record is not reported: {found}"
    );
    let as_json = certnet_in(
        &a,
        &[
            "search",
            "hxxps://tax-refund-portal[.]example/login",
            "--json",
        ],
    )
    .success()
    .json();
    assert_eq!(as_json["type"], "url");
    assert_eq!(as_json["records"][0]["record"]["id"], new_id.as_str());
    certnet_in(&a, &["search", "not an indicator"])
        .code(2)
        .stderr_has("cannot tell what kind of indicator");

    // The auditor: a checkpoint is always printed (the first is signed on demand) ...
    let note = certnet_in(&a, &["checkpoint"]).success().stdout;
    assert!(note.contains("\n\u{2014} "), "a signed note: {note}");
    let monday = work.join("monday.note");
    std::fs::write(&monday, &note).unwrap();
    // ... an export verifies, saying where the key came from when none was given ...
    let export = work.join("log.cbor");
    let export_s = export.to_str().unwrap();
    certnet_in(&a, &["export", "--out", export_s]).success();
    certnet_in(
        &a,
        &["verify", export_s, "--checkpoint", monday.to_str().unwrap()],
    )
    .success()
    .stdout_has("key named in the file itself");
    let roster = a.join("roster.toml");
    certnet_in(
        &a,
        &["verify", export_s, "--roster", roster.to_str().unwrap()],
    )
    .success()
    .stdout_has("as the roster lists it");
    // ... and a malformed input file is exit 2 (an error), never 1 (does not verify).
    let bad_note = work.join("bad.note");
    std::fs::write(&bad_note, "not a note\n").unwrap();
    certnet_in(
        &a,
        &[
            "verify",
            export_s,
            "--checkpoint",
            bad_note.to_str().unwrap(),
        ],
    )
    .code(2);

    // An import that takes nothing exits 1, with the reason and the fix.
    let network = certnet_in(&a, &["status", "--json"]).success().json()["network"]
        .as_str()
        .unwrap()
        .to_owned();
    let fresh = work.join("fresh");
    certnet_in(
        &fresh,
        &[
            "init",
            "--name",
            "CERT-NEW",
            "--network",
            &network,
            "--api",
            "127.0.0.1:0",
        ],
    )
    .success();
    certnet_in(&fresh, &["import", export_s])
        .code(1)
        .stderr_has("not_member")
        .stderr_has("roster add");

    // Member names work where PeerIds do.
    certnet_in(&a, &["peers", "block", "CERT-02"]).success();
    certnet_in(&a, &["peers", "unblock", "CERT-02"]).success();

    // A reader that stops after one line ends the command quietly, every time, over many pages.
    for n in 0..120 {
        let mut r = readme_incident();
        r["content"]["title"] = json!(format!("Bulk sighting report {n}"));
        ok(net.publish(0, &r));
    }
    for run in 0..50 {
        let mut child = Command::new(certnet_bin())
            .arg("--data-dir")
            .arg(&a)
            .args(["records", "--all", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert_eq!(first.trim(), "{", "run {run}");
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "run {run}: {stderr}");
        assert!(!stderr.contains("panicked"), "run {run}: {stderr}");
    }
}
