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
    let feed = certnet_in(&a, &["misp", "import", &fixture("feed"), "--json"])
        .success()
        .json();
    assert_eq!(feed["events"], 2, "{feed}");
    assert_eq!(feed["outcomes"]["unchanged"], 2, "{feed}");

    // Every incident and update reaches the other nodes.
    let records: Value = ok(net
        .client(0)
        .get_json("/v1/records", &[("limit", "100".into())]));
    let ids: Vec<String> = records["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len() as u64, size(&net));
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
    let view = ok(net.client(2).record(incident["id"].as_str().unwrap()));
    assert_eq!(view["view"]["tlp"], "green");
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
