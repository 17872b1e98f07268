//! Sealed records end to end (issue 10), on five real processes: A publishes a TLP:RED incident
//! sealed to B and C. B and C read it through the API and TAXII; D and E hold the same signed record,
//! verify and relay it (E reaches the federation only through D), and show it only as sealed; the
//! title's bytes appear nowhere in D's or E's data directory or in any node's log. A's update reaches
//! B and C. An auditor verifies D's export without any key, opens the record with B's encryption key,
//! and is told "not a recipient" with D's.

use std::path::Path;
use std::process::Command;

use certnet_testnet::Error;
use serde_json::{Value, json};

use crate::federation::one_at_a_time;
use crate::util::{CONVERGE, TestNet, certnet_bin, ok};

const TITLE: &str = "Ministry VPN intrusion sealed-e2e-7f3a91c2";
const INDICATOR: &str = "198.51.100.77";
const TAXII: &str = "application/taxii+json;version=2.1";

fn record(net: &TestNet, i: usize, id: &str) -> Value {
    ok(net.client(i).record(id))
}

/// Waits until node `i` serves record `id` and `check` holds on its JSON view.
fn wait_record(net: &TestNet, i: usize, id: &str, what: &str, check: impl Fn(&Value) -> bool) {
    let what = format!("{} to {what}", net.name(i));
    ok(
        net.wait_until(CONVERGE, &what, |fed| match fed.client(i).record(id) {
            Ok(v) => Ok::<_, Error>(check(&v)),
            Err(e) if e.is_not_found() => Ok(false),
            Err(source) => Err(Error::Api {
                node: fed.name(i).to_owned(),
                source,
            }),
        }),
    );
}

/// Every file under `dir`, read, searched for `needle`: the paths holding it.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                hits.push(path.display().to_string());
            }
        }
    }
    hits
}

/// The objects of node `i`'s TAXII TLP:RED collection, as text ("" when it has no such collection).
fn taxii_red_objects(net: &TestNet, i: usize) -> String {
    let client = net.client(i);
    let get = |path: &str| {
        let mut body = Vec::new();
        let (status, _, _) = ok(client.get_streamed(path, &[("Accept", TAXII)], &mut body));
        assert_eq!(
            status,
            200,
            "GET {path}: {}",
            String::from_utf8_lossy(&body)
        );
        serde_json::from_slice::<Value>(&body).unwrap()
    };
    let collections = get("/taxii2/certnet/collections/");
    let Some(red) = collections["collections"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["title"] == "TLP:RED"))
    else {
        return String::new();
    };
    let id = red["id"].as_str().unwrap();
    get(&format!("/taxii2/certnet/collections/{id}/objects/")).to_string()
}

/// An error with all its causes.
fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(&format!(": {s}"));
        source = s.source();
    }
    out
}

fn certnet(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(certnet_bin()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_red_incident_sealed_to_two_members_is_read_by_them_and_relayed_blind_by_the_others() {
    let _serial = one_at_a_time();
    let mut net = TestNet::started(5);
    let (a, b, c, d, e) = (0, 1, 2, 3, 4);
    // E reaches the federation only through D.
    for i in [a, b, c] {
        ok(net.block(e, i));
        ok(net.block(i, e));
    }
    ok(net.wait_until(CONVERGE, "E connected to D alone", |fed| {
        let peers = fed.connected_peers(e)?;
        Ok::<_, Error>(peers.len() == 1 && peers.contains(fed.peer_id(d)))
    }));

    // A red incident without an audience is refused, naming the fix; so is an unknown member.
    let mut incident = json!({
        "kind": "incident",
        "tlp": "red",
        "content": {
            "title": TITLE,
            "summary": "Operator access to the ministry VPN concentrator; shared with two partners only.",
            "severity": "critical",
            "status": "investigating",
            "indicators": [{"type": "ipv4", "value": INDICATOR}]
        }
    });
    let refused = chain(&net.publish(a, &incident).unwrap_err());
    assert!(
        refused.contains("tlp_red") && refused.contains("`to`"),
        "{refused}"
    );
    incident["to"] = json!(["CERT-NOBODY"]);
    let refused = chain(&net.publish(a, &incident).unwrap_err());
    assert!(
        refused.contains("CERT-NOBODY") && refused.contains("roster"),
        "{refused}"
    );

    incident["to"] = json!([net.name(b), net.name(c)]);
    let id = ok(net.publish(a, &incident));

    // B and C read the incident, marked sealed, with its audience.
    for i in [b, c] {
        wait_record(&net, i, &id, "open the sealed incident", |v| {
            v["content"]["title"] == TITLE
        });
        let v = record(&net, i, &id);
        let r = &v;
        assert_eq!(r["kind"], "incident", "{v}");
        assert_eq!(r["tlp"], "red");
        assert_eq!(r["sealed"], true);
        let mut to: Vec<&str> = r["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        to.sort();
        assert_eq!(to, vec![net.name(a), net.name(b), net.name(c)]);
        assert_eq!(r["content"]["indicators"][0]["value"], INDICATOR);
        assert_eq!(v["verified"], true);
        let taxii = taxii_red_objects(&net, i);
        assert!(
            taxii.contains(TITLE) && taxii.contains(INDICATOR),
            "{taxii}"
        );
    }
    // D and E hold the same signed record, verified, and see only that it is sealed.
    let raw = |i: usize| {
        let mut bytes = Vec::new();
        ok(net
            .client(i)
            .get_streamed(&format!("/v1/records/{id}/raw"), &[], &mut bytes));
        bytes
    };
    for i in [d, e] {
        wait_record(&net, i, &id, "hold the sealed record", |_| true);
        let v = record(&net, i, &id);
        let r = &v;
        assert_eq!(r["kind"], "sealed", "{v}");
        assert_eq!(r["tlp"], "red");
        assert_eq!(r["sealed"], true);
        assert_eq!(r["content"], json!({}));
        assert!(r["sealed_size"].as_u64().unwrap() > 0);
        assert!(r.get("recipients").is_none());
        assert_eq!(
            v["verified"], true,
            "the signature verifies without any key"
        );
        assert!(!v.to_string().contains(TITLE));
        assert!(!taxii_red_objects(&net, i).contains(TITLE));
        assert_eq!(raw(i), raw(a), "{} holds other bytes than A", net.name(i));
    }

    // The indicator lookup finds the sealed incident on its recipients (once opened), nowhere else.
    let lookup = |fed: &certnet_testnet::Federation, i: usize| -> Result<Value, Error> {
        fed.client(i)
            .get_json::<Value>(&format!("/v1/indicators/{INDICATOR}"), &[])
            .map_err(|source| Error::Api {
                node: fed.name(i).to_owned(),
                source,
            })
    };
    let finds = |v: &Value| {
        v["records"]
            .as_array()
            .is_some_and(|rs| rs.iter().any(|r| r["record"]["id"] == id.as_str()))
    };
    for i in [b, c] {
        ok(
            net.wait_until(CONVERGE, "the lookup on a recipient to find it", |fed| {
                Ok::<_, Error>(finds(&lookup(fed, i)?))
            }),
        );
    }
    for i in [d, e] {
        let v = ok(lookup(&net, i));
        assert!(
            !finds(&v),
            "{} finds a record it cannot read: {v}",
            net.name(i)
        );
    }

    // A's update (no `to`: it goes to the incident's audience) reaches B and C.
    let update = json!({
        "kind": "update",
        "tlp": "red",
        "refs": [id],
        "content": {"incident": {
            "title": TITLE,
            "summary": "Contained: the concentrator was rebuilt, credentials rotated.",
            "severity": "critical",
            "status": "contained",
            "indicators": [{"type": "ipv4", "value": INDICATOR}]
        }}
    });
    let update_id = ok(net.publish(a, &update));
    for i in [b, c] {
        wait_record(&net, i, &id, "apply the sealed update", |v| {
            v["view"]["content"]["status"] == "contained"
        });
    }
    for i in [d, e] {
        wait_record(&net, i, &update_id, "hold the sealed update", |v| {
            v["kind"] == "sealed"
        });
    }

    // The auditor: D's export verifies without a key; B's key opens the record; D's does not.
    let export = net.dir().join("d-export.cbor");
    std::fs::write(&export, ok(net.client(d).export())).unwrap();
    let export = export.to_str().unwrap();
    let (code, out, err) = certnet(&["verify", export]);
    assert_eq!(code, 0, "{out}{err}");
    let key_of = |i: usize| net.node(i).data_dir.join("encryption.key");
    let b_key = key_of(b);
    let (code, out, err) = certnet(&["verify", export, "--open-with", b_key.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("opened: incident (red)") && out.contains(TITLE),
        "{out}"
    );
    let d_key = key_of(d);
    let (code, out, err) = certnet(&["verify", export, "--open-with", d_key.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("not a recipient") && !out.contains(TITLE),
        "{out}"
    );

    // Stopped (stores flushed and closed), D's and E's directories hold no plaintext; no log does.
    ok(net.stop(d));
    ok(net.stop(e));
    for needle in [TITLE.as_bytes(), b"Contained: the concentrator"] {
        for i in [d, e] {
            let hits = files_holding(&net.node(i).data_dir, needle);
            assert!(hits.is_empty(), "plaintext on {}: {hits:?}", net.name(i));
        }
        for i in 0..5 {
            let log = std::fs::read(&net.node(i).log).unwrap_or_default();
            assert!(
                !log.windows(needle.len()).any(|w| w == needle),
                "plaintext in {}'s log",
                net.name(i)
            );
        }
    }
}
