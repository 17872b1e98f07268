//! STIX bundles and the TAXII 2.1 endpoint: media types, headers, exact paging over many objects with
//! one `date_added`, every filter, credentials and TLP gating, and the mapping's determinism.
//!
//! Every bundle these tests export is also written to `$CERTNET_STIX_BUNDLE_DIR` when it is set, so
//! CI validates them with `stix2_validator --strict` (.ci/run).

use base64::Engine as _;
use certnet_protocol::record::Tlp;
use sha2::{Digest as _, Sha256};

use super::*;
use crate::api::taxii::{
    API_ROOT, DATE_ADDED_FIRST, DATE_ADDED_LAST, TAXII_MEDIA_TYPE, collection_id,
};
use crate::datadir::config::{
    ApiConfig, PasswordHash, Reach, TaxiiConfig, TaxiiConsumer, TaxiiCredential,
};

const SIEM_TOKEN: &str = "siem-token-0123456789";
pub(super) const MISP_USER: &str = "misp";
pub(super) const MISP_PASSWORD: &str = "misp-password-9876";

fn sha(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Consumers: a SIEM reading CLEAR and GREEN by bearer token, a MISP reading CLEAR, GREEN and AMBER by
/// HTTP Basic (an Argon2id hash); with `public_clear`, anonymous callers read CLEAR from anywhere.
pub(super) fn consumers(public_clear: bool) -> (ApiConfig, TaxiiConfig) {
    let reach = if public_clear {
        Reach::Anywhere
    } else {
        Reach::Loopback
    };
    let api = ApiConfig::default().with_anonymous(reach, Reach::Loopback);
    let taxii = TaxiiConfig::new(vec![
        TaxiiConsumer::new(
            "siem",
            vec![Tlp::Clear, Tlp::Green],
            false,
            TaxiiCredential::Bearer {
                token_sha256: sha(SIEM_TOKEN),
            },
        ),
        TaxiiConsumer::new(
            "misp",
            vec![Tlp::Clear, Tlp::Green, Tlp::Amber],
            false,
            TaxiiCredential::Basic {
                username: MISP_USER.into(),
                password: PasswordHash::Argon2id(
                    crate::api::hash_password(MISP_PASSWORD.as_bytes()).unwrap(),
                ),
            },
        ),
    ]);
    (api, taxii)
}

/// Writes an exported bundle where CI validates it.
fn save_bundle(name: &str, bytes: &[u8]) {
    if let Some(dir) = std::env::var_os("CERTNET_STIX_BUNDLE_DIR") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.json")), bytes).unwrap();
    }
}

#[derive(Clone, Copy)]
enum Cred<'a> {
    None,
    Bearer(&'a str),
    Basic(&'a str, &'a str),
}

async fn taxii(h: &Harness, method: &str, uri: &str, cred: Cred<'_>) -> Answer {
    let builder = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, LOOPBACK)
        .header(header::ACCEPT, TAXII_MEDIA_TYPE);
    let builder = match cred {
        Cred::None => builder,
        Cred::Bearer(t) => builder.header(header::AUTHORIZATION, format!("Bearer {t}")),
        Cred::Basic(u, p) => builder.header(
            header::AUTHORIZATION,
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            ),
        ),
    };
    h.send(builder.body(Body::empty()).unwrap()).await
}

fn col(tlp: Tlp) -> String {
    format!("{API_ROOT}collections/{}/", collection_id(tlp))
}

/// Asserts a TAXII error answer.
fn taxii_error(a: &Answer, status: StatusCode) {
    assert_eq!(a.status, status, "{}", a.json);
    assert_eq!(a.content_type(), TAXII_MEDIA_TYPE);
    assert_eq!(a.json["http_status"], status.as_str(), "{}", a.json);
    assert!(a.json["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(
        a.json["description"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
}

fn ids(a: &Answer) -> Vec<String> {
    a.json["objects"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|o| o["id"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn body(kind: &str, tlp: &str, refs: &[RecordId], content: Value) -> Value {
    json!({
        "kind": kind,
        "tlp": tlp,
        "refs": refs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "content": content,
    })
}

fn incident(title: &str, status: &str) -> Value {
    json!({
        "title": title,
        "summary": "Credential phishing against ministries.",
        "severity": "high",
        "status": status,
        "categories": ["phishing"],
        "indicators": [
            {"type": "domain", "value": "tax-refund.example"},
            {"type": "ipv4", "value": "203.0.113.7"},
            {"type": "url", "value": "https://tax-refund.example/a'b\\c"},
            {"type": "sha256", "value": "ab".repeat(32)},
            {"type": "cve", "value": "CVE-2024-3094"}
        ],
        "first_seen": 1_795_000_000_000u64,
        "last_seen": 1_795_000_360_000u64,
        "countries": ["DE"],
        "references": ["https://cert.example/a/1"]
    })
}

/// A log with every kind, an update (loosening amber → green) and a revoke, TLP bands spread out.
async fn populated(h: &Harness) -> (RecordId, RecordId, RecordId) {
    let inc = h
        .publish(&body(
            "incident",
            "amber",
            &[],
            incident("Tax phishing", "investigating"),
        ))
        .await;
    let ind = h
        .publish(&body(
            "indicator",
            "green",
            &[inc],
            json!({"type": "email", "value": "o'brien\\x@evil.example", "confidence": 80,
                   "valid_from": 1_795_000_000_000u64, "valid_until": 1_795_000_000_000u64}),
        ))
        .await;
    h.publish(&body(
        "indicator",
        "clear",
        &[],
        json!({"type": "asn", "value": "AS64496", "description": "bulletproof hosting"}),
    ))
    .await;
    h.publish(&body(
        "advisory",
        "clear",
        &[inc],
        json!({"title": "Patch xz", "summary": "Update liblzma.", "cves": ["CVE-2024-3094"],
               "severity": "critical", "products": ["xz-utils"]}),
    ))
    .await;
    h.publish(&body(
        "advisory",
        "green",
        &[],
        json!({"title": "Phishing awareness", "summary": "Remind staff."}),
    ))
    .await;
    h.publish(&body(
        "sighting",
        "green",
        &[ind],
        json!({"count": 3, "note": "seen at two ministries", "first_seen": 1_795_000_000_000u64}),
    ))
    .await;
    h.publish(&body(
        "sighting",
        "amber+strict",
        &[],
        json!({"indicators": [{"type": "cidr", "value": "2001:db8::/32"}, {"type": "md5", "value": "d41d8cd98f00b204e9800998ecf8427e"}]}),
    ))
    .await;
    let update = h
        .publish(&body(
            "update",
            "green",
            &[inc],
            json!({"incident": incident("Tax phishing (contained)", "contained")}),
        ))
        .await;
    let revoke = h
        .publish(&body(
            "revoke",
            "green",
            &[ind],
            json!({"reason": "false positive"}),
        ))
        .await;
    (inc, update, revoke)
}

#[tokio::test]
async fn record_bundles_are_deterministic_versioned_and_valid() {
    let h = Harness::new(LOOPBACK);
    let (inc, _update, _revoke) = populated(&h).await;
    let got = h.get(&format!("/v1/records/{inc}/stix")).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.json);
    assert_eq!(got.content_type(), "application/stix+json;version=2.1");
    let short = inc.to_string()[..12].to_owned();
    let by_prefix = h.get(&format!("/v1/records/{short}/stix")).await;
    assert_eq!(
        by_prefix.bytes, got.bytes,
        "a unique id prefix names the same record"
    );
    save_bundle("record-incident", &got.bytes);
    let objects = got.json["objects"].as_array().unwrap();
    let main: Vec<&Value> = objects.iter().filter(|o| o["type"] == "incident").collect();
    assert_eq!(main.len(), 2, "an update makes a second version");
    assert_eq!(main[0]["id"], main[1]["id"]);
    assert!(main[0]["modified"].as_str() < main[1]["modified"].as_str());
    assert_eq!(main[0]["created"], main[1]["created"]);
    assert_eq!(
        main[0]["object_marking_refs"],
        json!(["marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"])
    );
    assert_eq!(
        main[1]["object_marking_refs"],
        json!(["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"])
    );
    let ext = &main[1]["extensions"]["extension-definition--ef765651-680c-498d-9894-99799f2fa126"];
    assert_eq!(ext["extension_type"], "property-extension");
    assert_eq!(ext["determination"], "confirmed");
    assert_eq!(
        main[0]["external_references"][0]["external_id"],
        inc.to_string()
    );
    // Both markings used and the author identity are in the bundle.
    for id in [
        "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
        "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    ] {
        assert!(objects.iter().any(|o| o["id"] == id), "{id} missing");
    }
    let identity = objects.iter().find(|o| o["type"] == "identity").unwrap();
    assert_eq!(identity["identity_class"], "organization");
    assert_eq!(main[0]["created_by_ref"], identity["id"]);
    // The escaped pattern of the URL with a quote and a backslash.
    assert!(
        objects
            .iter()
            .any(|o| o["pattern"] == json!(r"[url:value = 'https://tax-refund.example/a\'b\\c']"))
    );
    // Every timestamp has milliseconds.
    for o in objects {
        for key in ["created", "modified"] {
            if let Some(t) = o[key].as_str() {
                assert_eq!(t.len(), 24, "{t}");
                assert!(t.ends_with('Z'));
            }
        }
    }

    // A second store holding the same records exports the same bytes.
    let other = Harness::new(LOOPBACK);
    for entry in h.services.store().log_iter(0) {
        let entry = entry.unwrap();
        let verified = verify_record(&entry.bytes, other.services.net()).unwrap();
        other.services.store().ingest(verified).unwrap();
    }
    let again = other.get(&format!("/v1/records/{inc}/stix")).await;
    assert_eq!(again.bytes, got.bytes);
    let whole = h.get("/v1/stix").await;
    let whole_again = other.get("/v1/stix").await;
    assert_eq!(whole.status, StatusCode::OK);
    assert_eq!(whole.bytes, whole_again.bytes);
    save_bundle("log-all", &whole.bytes);
}

#[tokio::test]
async fn revoke_sets_revoked_and_bundles_filter() {
    let h = Harness::new(LOOPBACK);
    let (_inc, _update, revoke) = populated(&h).await;
    // The revoke's bundle is the indicator's: its last version is revoked.
    let got = h.get(&format!("/v1/records/{revoke}/stix")).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.json);
    save_bundle("record-revoked-indicator", &got.bytes);
    let versions: Vec<&Value> = got.json["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["type"] == "indicator")
        .collect();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0].get("revoked"), None);
    assert_eq!(versions[1]["revoked"], true);
    // valid_until equal to valid_from is left out (STIX needs it later).
    assert_eq!(versions[0].get("valid_until"), None);
    assert_eq!(
        versions[0]["pattern"],
        r"[email-addr:value = 'o\'brien\\x@evil.example']"
    );

    let clear = h.get("/v1/stix?tlp=clear").await;
    assert_eq!(clear.status, StatusCode::OK);
    save_bundle("log-clear", &clear.bytes);
    for o in clear.json["objects"].as_array().unwrap() {
        if let Some(refs) = o.get("object_marking_refs") {
            assert_eq!(
                refs,
                &json!(["marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"])
            );
        }
    }
    let sightings = h.get("/v1/stix?kind=sighting").await;
    save_bundle("log-sightings", &sightings.bytes);
    let types: std::collections::BTreeSet<&str> = sightings.json["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["type"].as_str().unwrap())
        .collect();
    assert!(
        types.contains("sighting") && !types.contains("incident"),
        "{types:?}"
    );
    // A sighting of a record this node does not hold, naming no observable, has no STIX form.
    let unknown: RecordId = "ab".repeat(32).parse().unwrap();
    let lone = h
        .publish(&body("sighting", "green", &[unknown], json!({"count": 1})))
        .await;
    h.get(&format!("/v1/records/{lone}/stix")).await.error(
        StatusCode::NOT_FOUND,
        "not_found",
        &["no STIX form"],
    );
    h.get("/v1/stix?tlp=red").await.error(
        StatusCode::BAD_REQUEST,
        "bad_query",
        &["never exported"],
    );
    h.get("/v1/stix?kind=revoke").await.error(
        StatusCode::BAD_REQUEST,
        "bad_query",
        &["no STIX form"],
    );
    h.get("/v1/records/00/stix")
        .await
        .error(StatusCode::BAD_REQUEST, "bad_id", &[]);
    h.get(&format!("/v1/records/{}/stix", "0".repeat(64)))
        .await
        .error(StatusCode::NOT_FOUND, "not_found", &[]);
}

#[tokio::test]
async fn discovery_root_and_collections_follow_the_caller() {
    let h = Harness::with_access(LOOPBACK, consumers(false));
    let token = h.t().to_owned();
    let got = taxii(&h, "GET", "/taxii2/", Cred::Bearer(SIEM_TOKEN)).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.content_type(), TAXII_MEDIA_TYPE);
    assert!(
        got.json["api_roots"][0]
            .as_str()
            .unwrap()
            .ends_with(API_ROOT)
    );
    let got = taxii(&h, "GET", API_ROOT, Cred::Bearer(SIEM_TOKEN)).await;
    assert_eq!(got.json["versions"], json!([TAXII_MEDIA_TYPE]));
    assert!(got.json["max_content_length"].as_u64().is_some());

    let titles = |a: &Answer| -> Vec<String> {
        a.json["collections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                assert_eq!(c["can_write"], false);
                assert_eq!(c["can_read"], true);
                assert_eq!(
                    c["media_types"],
                    json!(["application/stix+json;version=2.1"])
                );
                c["title"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    let uri = format!("{API_ROOT}collections/");
    let siem = taxii(&h, "GET", &uri, Cred::Bearer(SIEM_TOKEN)).await;
    assert_eq!(titles(&siem), ["TLP:CLEAR", "TLP:GREEN"]);
    let misp = taxii(&h, "GET", &uri, Cred::Basic(MISP_USER, MISP_PASSWORD)).await;
    assert_eq!(titles(&misp), ["TLP:CLEAR", "TLP:GREEN", "TLP:AMBER"]);
    let own = taxii(&h, "GET", &uri, Cred::Bearer(&token)).await;
    // The operator also sees TLP:RED: the sealed records this node opened (never a consumer).
    assert_eq!(
        titles(&own),
        [
            "TLP:CLEAR",
            "TLP:GREEN",
            "TLP:AMBER",
            "TLP:AMBER+STRICT",
            "TLP:RED"
        ]
    );
    let one = taxii(&h, "GET", &col(Tlp::Green), Cred::Bearer(SIEM_TOKEN)).await;
    assert_eq!(one.json["id"], collection_id(Tlp::Green));

    // Media types: a client that accepts only JSON is refused.
    let got = h
        .send(
            Request::builder()
                .uri("/taxii2/")
                .header(header::HOST, LOOPBACK)
                .header(header::ACCEPT, "application/json")
                .header(header::AUTHORIZATION, format!("Bearer {SIEM_TOKEN}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    taxii_error(&got, StatusCode::NOT_ACCEPTABLE);
    // Status resources exist only for writes.
    let got = taxii(
        &h,
        "GET",
        &format!("{API_ROOT}status/x/"),
        Cred::Bearer(SIEM_TOKEN),
    )
    .await;
    taxii_error(&got, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn credentials_are_checked_and_reveal_nothing() {
    let h = Harness::with_access(EVERYWHERE, consumers(false));
    populated(&h).await;
    let amber_objects = format!("{}objects/", col(Tlp::Amber));
    let nowhere = format!(
        "{API_ROOT}collections/{}/objects/",
        "0".repeat(8) + "-0000-4000-8000-000000000000"
    );
    for cred in [
        Cred::None,
        Cred::Bearer("wrong"),
        Cred::Basic(MISP_USER, "wrong"),
        Cred::Basic("nobody", MISP_PASSWORD),
    ] {
        for uri in ["/taxii2/", amber_objects.as_str(), nowhere.as_str()] {
            let got = taxii(&h, "GET", uri, cred).await;
            taxii_error(&got, StatusCode::UNAUTHORIZED);
            assert!(
                got.headers[header::WWW_AUTHENTICATE]
                    .to_str()
                    .unwrap()
                    .contains("Basic")
            );
            assert_eq!(
                got.json["description"],
                taxii(&h, "GET", "/taxii2/", Cred::None).await.json["description"]
            );
        }
    }
    let bad_basic = h
        .send(
            Request::builder()
                .uri("/taxii2/")
                .header(header::HOST, LOOPBACK)
                .header(header::AUTHORIZATION, "Basic !!!")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    taxii_error(&bad_basic, StatusCode::UNAUTHORIZED);
    // A collection the caller may not read answers exactly like one that does not exist.
    let forbidden = taxii(&h, "GET", &amber_objects, Cred::Bearer(SIEM_TOKEN)).await;
    let missing = taxii(&h, "GET", &nowhere, Cred::Bearer(SIEM_TOKEN)).await;
    taxii_error(&forbidden, StatusCode::NOT_FOUND);
    assert_eq!(forbidden.bytes, missing.bytes);
    let strict = taxii(
        &h,
        "GET",
        &col(Tlp::AmberStrict),
        Cred::Basic(MISP_USER, MISP_PASSWORD),
    )
    .await;
    taxii_error(&strict, StatusCode::NOT_FOUND);
    let strict = taxii(&h, "GET", &col(Tlp::AmberStrict), Cred::Bearer(h.t())).await;
    assert_eq!(strict.status, StatusCode::OK);
}

#[tokio::test]
async fn tlp_gating_puts_each_version_in_its_band() {
    let h = Harness::with_access(LOOPBACK, consumers(true));
    let (inc, ..) = populated(&h).await;
    let token = h.t().to_owned();
    let mut seen = std::collections::BTreeMap::new();
    for tlp in [Tlp::Clear, Tlp::Green, Tlp::Amber, Tlp::AmberStrict] {
        let got = taxii(
            &h,
            "GET",
            &format!("{}objects/?match[version]=all", col(tlp)),
            Cred::Bearer(&token),
        )
        .await;
        assert_eq!(got.status, StatusCode::OK, "{}", got.json);
        let bundle = json!({
            "type": "bundle",
            "id": format!("bundle--{}", crate::stix::ids::uuid_from_name(&format!("test/{tlp}"))),
            "objects": got.json["objects"],
        });
        save_bundle(
            &format!("taxii-{}", tlp.as_str().replace('+', "-")),
            bundle.to_string().as_bytes(),
        );
        for o in got.json["objects"].as_array().unwrap() {
            if let Some(refs) = o.get("object_marking_refs") {
                assert_eq!(refs, &json!([crate::stix::marking_id(tlp)]), "{o}");
            }
        }
        seen.insert(tlp, ids(&got));
    }
    // The incident was amber, then green after its update.
    let incident_id = h.get(&format!("/v1/records/{inc}/stix")).await.json["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["type"] == "incident")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(seen[&Tlp::Amber].contains(&incident_id));
    assert!(seen[&Tlp::Green].contains(&incident_id));
    assert!(!seen[&Tlp::Clear].contains(&incident_id));
    assert!(
        seen[&Tlp::AmberStrict]
            .iter()
            .any(|id| id.starts_with("sighting--"))
    );
    // Anonymous callers read CLEAR when it is public, and nothing else.
    let anon = taxii(
        &h,
        "GET",
        &format!("{}objects/", col(Tlp::Clear)),
        Cred::None,
    )
    .await;
    assert_eq!(anon.status, StatusCode::OK);
    let anon = taxii(
        &h,
        "GET",
        &format!("{}objects/", col(Tlp::Green)),
        Cred::None,
    )
    .await;
    taxii_error(&anon, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn pages_are_exact_with_one_date_added_and_headers_carry_microseconds() {
    let h = Harness::with_access(LOOPBACK, consumers(false));
    // One record whose objects all share one date_added: 1 marking + 1 identity + incident + 5
    // observables + 5 relationships = 13 objects.
    h.publish(&body(
        "incident",
        "green",
        &[],
        incident("Many objects", "new"),
    ))
    .await;
    let base = format!("{}objects/", col(Tlp::Green));
    let all = taxii(&h, "GET", &base, Cred::Bearer(SIEM_TOKEN)).await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(all.json["more"], false);
    assert_eq!(all.json.get("next"), None);
    let everything = ids(&all);
    assert_eq!(everything.len(), 13, "{}", all.json);
    let first = all.headers[DATE_ADDED_FIRST].to_str().unwrap().to_owned();
    assert_eq!(first, all.headers[DATE_ADDED_LAST].to_str().unwrap());
    assert_eq!(first.len(), "2026-11-18T11:06:40.000000Z".len(), "{first}");

    let mut paged = Vec::new();
    let mut next: Option<String> = None;
    let mut pages = 0;
    loop {
        let uri = match &next {
            None => format!("{base}?limit=3"),
            Some(n) => format!("{base}?limit=3&next={n}"),
        };
        let got = taxii(&h, "GET", &uri, Cred::Bearer(SIEM_TOKEN)).await;
        assert_eq!(got.status, StatusCode::OK, "{}", got.json);
        assert_eq!(got.headers[DATE_ADDED_FIRST], first.as_str());
        paged.extend(ids(&got));
        pages += 1;
        if got.json["more"] == true {
            next = Some(got.json["next"].as_str().unwrap().to_owned());
        } else {
            assert_eq!(got.json.get("next"), None);
            break;
        }
    }
    assert_eq!(pages, 5);
    assert_eq!(paged, everything, "pages skip or repeat nothing");

    // A manifest page lists the same ids with microsecond date_added.
    let manifest = taxii(
        &h,
        "GET",
        &format!("{}manifest/?limit=4", col(Tlp::Green)),
        Cred::Bearer(SIEM_TOKEN),
    )
    .await;
    assert_eq!(manifest.json["more"], true);
    let entries = manifest.json["objects"].as_array().unwrap();
    assert_eq!(entries.len(), 4);
    for (e, id) in entries.iter().zip(&everything) {
        assert_eq!(&e["id"], id);
        assert_eq!(e["date_added"], first.as_str());
        assert_eq!(e["media_type"], "application/stix+json;version=2.1");
        assert_eq!(e["version"].as_str().unwrap().len(), 24);
    }
    // A next from the manifest does not continue an objects query.
    let stolen = manifest.json["next"].as_str().unwrap();
    let got = taxii(
        &h,
        "GET",
        &format!("{base}?next={stolen}"),
        Cred::Bearer(SIEM_TOKEN),
    )
    .await;
    taxii_error(&got, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn every_filter_narrows_the_answer() {
    let h = Harness::with_access(LOOPBACK, consumers(false));
    let (inc, ..) = populated(&h).await;
    let token = h.t().to_owned();
    let green = format!("{}objects/", col(Tlp::Green));
    let get = |q: String| {
        let h = &h;
        let token = token.clone();
        async move { taxii(h, "GET", &q, Cred::Bearer(&token)).await }
    };
    let all = get(format!("{green}?match[version]=all")).await;
    let all_ids = ids(&all);
    assert!(all_ids.len() > 5);

    let indicators = get(format!("{green}?match[type]=indicator,relationship")).await;
    assert!(!ids(&indicators).is_empty());
    assert!(
        ids(&indicators)
            .iter()
            .all(|i| i.starts_with("indicator--") || i.starts_with("relationship--"))
    );

    let one = &all_ids[all_ids.len() - 1];
    let by_id = get(format!("{green}?match[id]={one}&match[version]=all")).await;
    assert!(!ids(&by_id).is_empty() && ids(&by_id).iter().all(|i| i == one));

    let spec = get(format!("{green}?match[spec_version]=2.1")).await;
    assert!(!ids(&spec).is_empty());
    let old = get(format!("{green}?match[spec_version]=2.0")).await;
    assert_eq!(old.json, json!({"more": false}));
    assert!(old.headers.get(DATE_ADDED_FIRST).is_none());

    // The indicator was revoked: first and last versions differ, all has both.
    let ind_green = format!("{green}?match[type]=indicator");
    let last = get(format!("{ind_green}&match[version]=last")).await;
    let first = get(format!("{ind_green}&match[version]=first")).await;
    let revoked_last = last.json["objects"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["revoked"] == true);
    assert!(revoked_last);
    assert!(
        first.json["objects"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o.get("revoked").is_none())
    );
    let stamp = first.json["objects"][0]["modified"]
        .as_str()
        .unwrap()
        .to_owned();
    let at = get(format!("{ind_green}&match[version]={stamp}")).await;
    assert!(!ids(&at).is_empty());
    assert!(
        at.json["objects"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["modified"] == stamp.as_str())
    );

    // added_after: nothing after the last page's last date_added; everything after the first
    // entry's time but the objects of that entry.
    let last_added = all.headers[DATE_ADDED_LAST].to_str().unwrap().to_owned();
    let none = get(format!("{green}?added_after={last_added}")).await;
    assert_eq!(none.json, json!({"more": false}));
    let first_added = all.headers[DATE_ADDED_FIRST].to_str().unwrap().to_owned();
    let later = get(format!(
        "{green}?added_after={first_added}&match[version]=all"
    ))
    .await;
    assert!(ids(&later).len() < all_ids.len());

    // Single object and versions.
    let incident_id = h.get(&format!("/v1/records/{inc}/stix")).await.json["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["type"] == "incident")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let amber = col(Tlp::Amber);
    let versions = get(format!("{amber}objects/{incident_id}/versions/")).await;
    assert_eq!(versions.status, StatusCode::OK, "{}", versions.json);
    assert_eq!(versions.json["versions"].as_array().unwrap().len(), 1);
    let versions = get(format!("{green}{incident_id}/versions/")).await;
    assert_eq!(versions.json["versions"].as_array().unwrap().len(), 1);
    let object = get(format!("{green}{incident_id}/")).await;
    assert_eq!(ids(&object), std::slice::from_ref(&incident_id));
    assert!(object.headers.get(DATE_ADDED_LAST).is_some());
    let missing = get(format!(
        "{green}incident--00000000-0000-4000-8000-000000000000/"
    ))
    .await;
    taxii_error(&missing, StatusCode::NOT_FOUND);
    let filtered_out = get(format!("{green}{incident_id}/?match[spec_version]=2.0")).await;
    assert_eq!(filtered_out.json, json!({"more": false}));
    let missing = get(format!(
        "{green}incident--00000000-0000-4000-8000-000000000000/versions/"
    ))
    .await;
    taxii_error(&missing, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_queries_are_taxii_400s_and_writes_are_refused() {
    let h = Harness::with_access(LOOPBACK, consumers(false));
    populated(&h).await;
    let before = h.services.store().log_size();
    let green = format!("{}objects/", col(Tlp::Green));
    for q in [
        "limit=0",
        "limit=x",
        "added_after=yesterday",
        "added_after=2026-11-18T11:06:40",
        "match[id]=indicator--1",
        "match[type]=Indicator",
        "match[version]=newest",
        "match[spec_version]=two",
        "next=garbage",
        "next=0-0-0000000000000000",
        "colour=green",
        "limit=1&limit=2",
    ] {
        let got = taxii(&h, "GET", &format!("{green}?{q}"), Cred::Bearer(SIEM_TOKEN)).await;
        taxii_error(&got, StatusCode::BAD_REQUEST);
    }
    let versions = format!(
        "{green}indicator--00000000-0000-4000-8000-000000000000/versions/?match[version]=all"
    );
    taxii_error(
        &taxii(&h, "GET", &versions, Cred::Bearer(SIEM_TOKEN)).await,
        StatusCode::BAD_REQUEST,
    );

    let post = taxii(&h, "POST", &green, Cred::Bearer(SIEM_TOKEN)).await;
    taxii_error(&post, StatusCode::FORBIDDEN);
    let delete = taxii(
        &h,
        "DELETE",
        &format!("{green}indicator--00000000-0000-4000-8000-000000000000/"),
        Cred::Bearer(SIEM_TOKEN),
    )
    .await;
    taxii_error(&delete, StatusCode::FORBIDDEN);
    let post = taxii(
        &h,
        "POST",
        &format!("{}objects/", col(Tlp::Amber)),
        Cred::Bearer(SIEM_TOKEN),
    )
    .await;
    taxii_error(&post, StatusCode::NOT_FOUND);
    let post = taxii(&h, "POST", &green, Cred::None).await;
    taxii_error(&post, StatusCode::UNAUTHORIZED);
    // Paths without their trailing slash and other methods are TAXII errors too.
    let got = taxii(&h, "GET", "/taxii2", Cred::Bearer(SIEM_TOKEN)).await;
    taxii_error(&got, StatusCode::NOT_FOUND);
    let got = taxii(&h, "GET", "/taxii2/certnet/nothing/", Cred::None).await;
    taxii_error(&got, StatusCode::UNAUTHORIZED);
    let got = taxii(&h, "PUT", &green, Cred::Bearer(SIEM_TOKEN)).await;
    taxii_error(&got, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        h.services.store().log_size(),
        before,
        "nothing stored changes"
    );
}
