//! MISP in, end to end (issue 13): events made by PyMISP (node/tests/fixtures/misp/pymisp, written
//! by make_fixtures.py; CI regenerates them and checks they are unchanged) imported with
//! `certnet misp import` on one node of three. Importing again publishes nothing; the changed event
//! publishes exactly one update; a restSearch answer and a feed directory are read; the incidents and
//! updates reach every node; the log's STIX bundle is written for CI's `stix2_validator --strict`.

use std::path::PathBuf;

use certnet_testnet::Error;
use serde_json::Value;

use crate::federation::one_at_a_time;
use crate::util::{CONVERGE, TestNet, certnet_in, ok};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../node/tests/fixtures/misp/pymisp")
}

fn fixture(name: &str) -> String {
    fixtures().join(name).to_str().unwrap().to_owned()
}

#[test]
fn pymisp_events_are_imported_once_updated_when_changed_and_reach_every_node() {
    let _serial = one_at_a_time();
    let net = TestNet::started(3);
    let a = net.node(0).data_dir.clone();
    let size = |net: &TestNet| {
        ok(net.client(0).status()).extra["log_size"]
            .as_u64()
            .unwrap()
    };

    let first = certnet_in(&a, &["misp", "import", &fixture("event.json"), "--json"])
        .success()
        .json();
    assert_eq!(first["events"], 1, "{first}");
    assert_eq!(first["outcomes"]["new"], 1, "{first}");
    assert_eq!(
        first["sightings"], 1,
        "the false positive is left out: {first}"
    );
    let skipped = first["skipped"].to_string();
    for needle in ["false-positive", "distribution 0"] {
        assert!(skipped.contains(needle), "{needle} not in {skipped}");
    }
    let after_first = size(&net);
    assert_eq!(after_first, 2, "the incident and one sighting");

    // The same file again: nothing published.
    certnet_in(&a, &["misp", "import", &fixture("event.json")])
        .success()
        .stdout_has("1 events: 0 new, 0 updated, 0 superseded (TLP tightened), 1 unchanged");
    assert_eq!(size(&net), after_first);

    // The analyst deleted an attribute and removed a tag: exactly one update.
    certnet_in(&a, &["misp", "import", &fixture("event-changed.json")])
        .success()
        .stdout_has("1 updated");
    assert_eq!(size(&net), after_first + 1);

    // A restSearch answer: the first event as before the change (an update back) and a new one.
    certnet_in(&a, &["misp", "import", &fixture("search.json")])
        .success()
        .stdout_has("2 events: 1 new, 1 updated");
    // A feed directory holding both: the mapping of a feed's event is the same, so nothing changes.
    let feed_dir = net.dir().join("feed");
    std::fs::create_dir_all(&feed_dir).unwrap();
    for entry in std::fs::read_dir(fixtures().join("feed")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), feed_dir.join(entry.file_name())).unwrap();
    }
    let feed_path = feed_dir.to_str().unwrap();
    let feed = certnet_in(&a, &["misp", "import", feed_path, "--json"])
        .success()
        .json();
    assert_eq!(feed["events"], 2, "{feed}");
    assert_eq!(feed["outcomes"]["unchanged"], 2, "{feed}");
    // The second event is deleted in MISP: the feed no longer lists it, and its incident is revoked.
    let manifest_path = feed_dir.join("manifest.json");
    let mut manifest: Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    let gone = "6a1c3d4f-9b2e-4d4c-8c2f-4d5e6f7a8b92";
    manifest.as_object_mut().unwrap().remove(gone);
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    std::fs::remove_file(feed_dir.join(format!("{gone}.json"))).unwrap();
    let before = size(&net);
    let withdrawn = certnet_in(&a, &["misp", "import", feed_path, "--json"])
        .success()
        .json();
    assert_eq!(
        withdrawn["withdrawn"],
        serde_json::json!([gone]),
        "{withdrawn}"
    );
    assert_eq!(size(&net), before + 1, "one revoke");
    let again = certnet_in(&a, &["misp", "import", feed_path, "--json"])
        .success()
        .json();
    assert!(again.get("withdrawn").is_none(), "withdrawn once: {again}");

    // Every incident and update reaches the other nodes.
    let records: Value = ok(net.client(0).get_json(
        "/v1/records",
        &[("limit", "100".into()), ("include_revoked", "true".into())],
    ));
    let ids: Vec<String> = records["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len() as u64, size(&net), "{records}");
    for i in [1, 2] {
        ok(
            net.wait_until(CONVERGE, "the MISP records on every node", |fed| {
                Ok::<_, Error>(ids.iter().all(|id| fed.client(i).record(id).is_ok()))
            }),
        );
    }
    // The incident as every node reads it now: the update applied (203.0.113.7 back in).
    let incident = &records["records"][0];
    assert_eq!(incident["kind"], "incident");
    let withdrawn_incident = records["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["content"]["title"] == "Ransomware at a regional hospital")
        .unwrap();
    assert_eq!(withdrawn_incident["current"]["revoked"], true);
    let view = ok(net.client(2).record(incident["id"].as_str().unwrap()));
    assert_eq!(view["view"]["tlp"], "green");
    let labels = view["view"]["content"]["labels"].to_string();
    for label in [
        r#"misp-galaxy:threat-actor=\"Sofacy\""#,
        r#"misp-galaxy:tool=\"X-Agent\""#,
    ] {
        assert!(labels.contains(label), "{label} not in {labels}");
    }
    assert!(
        view["view"]["content"].to_string().contains("203.0.113.7"),
        "{view}"
    );

    // A malformed file is reported with its path; the import goes on and exits 1.
    let bad = net.dir().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"Event": {"uuid": "x", "info": "x", "threat_level_id": "high"}}"#,
    )
    .unwrap();
    certnet_in(&a, &["misp", "import", bad.to_str().unwrap()])
        .code(1)
        .stdout_has("$.Event.threat_level_id");

    // The STIX bundle of the imported records, for CI's stix2_validator --strict.
    if let Some(dir) = std::env::var_os("CERTNET_STIX_BUNDLE_DIR") {
        let out = PathBuf::from(dir).join("misp-import.json");
        certnet_in(
            &a,
            &[
                "export",
                "--format",
                "stix",
                "--tlp",
                "clear,green,amber",
                "--out",
                out.to_str().unwrap(),
            ],
        )
        .success();
    }
}

/// A stand-in for a MISP instance's REST API (the real MISP is a PHP/MySQL stack that does not run
/// here): answers `POST /events/restSearch` with PyMISP's restSearch fixture when the key matches, 401
/// otherwise, and keeps each request's `Authorization` and body.
struct FakeMisp {
    url: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>,
}

impl FakeMisp {
    fn start(key: &'static str) -> Self {
        use std::io::{BufRead as _, BufReader, Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let answer = std::fs::read(fixtures().join("search.json")).unwrap();
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let (mut auth, mut length, mut line) = (String::new(), 0usize, String::new());
                reader.read_line(&mut line).unwrap();
                let path_ok = line.starts_with("POST /events/restSearch ");
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).unwrap();
                    let header = header.trim_end();
                    if header.is_empty() {
                        break;
                    }
                    let (name, value) = header.split_once(':').unwrap();
                    match name.to_ascii_lowercase().as_str() {
                        "authorization" => auth = value.trim().to_owned(),
                        "content-length" => length = value.trim().parse().unwrap(),
                        _ => {}
                    }
                }
                let mut body = vec![0u8; length];
                reader.read_exact(&mut body).unwrap();
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let ok = path_ok && auth == key;
                seen.lock().unwrap().push((auth, body));
                let (status, payload): (&str, &[u8]) = if ok {
                    ("200 OK", &answer)
                } else {
                    (
                        "401 Unauthorized",
                        br#"{"message": "Authentication failed."}"#,
                    )
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    payload.len()
                );
                stream.write_all(head.as_bytes()).unwrap();
                stream.write_all(payload).unwrap();
            }
        });
        Self { url, requests }
    }
}

#[test]
fn misp_pull_reads_a_rest_api_then_only_what_changed_since() {
    let _serial = one_at_a_time();
    let net = TestNet::started(1);
    let a = net.node(0).data_dir.clone();
    let misp = FakeMisp::start("k3y-of-the-automation-user");
    let key = net.dir().join("misp.key");
    std::fs::write(&key, "k3y-of-the-automation-user\n").unwrap();
    let key = key.to_str().unwrap();

    let first = certnet_in(
        &a,
        &[
            "misp",
            "pull",
            "--url",
            &misp.url,
            "--key-file",
            key,
            "--json",
        ],
    )
    .success()
    .json();
    assert_eq!(first["events"], 2, "{first}");
    assert_eq!(first["outcomes"]["new"], 2, "{first}");
    // Again: only events changed since the newest seen are asked for, and nothing is published.
    certnet_in(&a, &["misp", "pull", "--url", &misp.url, "--key-file", key])
        .success()
        .stdout_has("2 unchanged");
    let requests = misp.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].0, "k3y-of-the-automation-user");
    assert_eq!(requests[0].1["returnFormat"], "json");
    assert!(
        requests[0].1.get("timestamp").is_none(),
        "{:?}",
        requests[0].1
    );
    assert!(
        requests[1].1["timestamp"].as_u64().is_some(),
        "{:?}",
        requests[1].1
    );

    // The instance and key named in config.toml's [misp] (the last table of the file).
    let config = a.join("config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "url = \"{}\"\nkey_file = \"../misp.key\"\n",
        misp.url
    ));
    std::fs::write(&config, text).unwrap();
    certnet_in(&a, &["misp", "pull"])
        .success()
        .stdout_has("2 unchanged");

    // A wrong key is refused by MISP, and said so.
    let wrong = net.dir().join("wrong.key");
    std::fs::write(&wrong, "nope").unwrap();
    certnet_in(
        &a,
        &[
            "misp",
            "pull",
            "--url",
            &misp.url,
            "--key-file",
            wrong.to_str().unwrap(),
        ],
    )
    .code(1)
    .stderr_has("automation key was refused");
    certnet_in(&a, &["misp", "pull", "--url", "ftp://x", "--key-file", key])
        .code(2)
        .stderr_has("not an http:// or https:// URL");
}
