//! Indicator lookup: typed forms normalised on publish and on lookup, records of two members, sightings,
//! the current view (an update that drops the value, a revoke), and mistakes answered with a 400.

use super::*;

const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

#[tokio::test]
async fn lookup_finds_live_records_and_sightings_in_any_typed_form() {
    let h = Harness::new(LOOPBACK);
    // Published as an analyst pastes it: upper-case hash, domain with a trailing dot, defanged URL.
    let mut body = incident_body("Loader on ministry laptops");
    body["content"]["indicators"] = json!([
        {"type": "sha256", "value": SHA.to_ascii_uppercase()},
        {"type": "domain", "value": "Loader-Cdn.Example."},
        {"type": "url", "value": "hxxps://loader-cdn[.]example/stage2.bin"}
    ]);
    let ours = h.publish(&body).await;
    let shown = h.get(&format!("/v1/records/{ours}")).await;
    assert_eq!(
        shown.json["content"]["indicators"],
        json!([
            {"type": "sha256", "value": SHA},
            {"type": "domain", "value": "loader-cdn.example"},
            {"type": "url", "value": "https://loader-cdn.example/stage2.bin"}
        ]),
        "signed in canonical form"
    );
    // The other member reports the same hash.
    let mut draft = sample::incident(5);
    if let certnet_protocol::record::Content::Incident(c) = &mut draft.content {
        c.indicators[3].value = SHA.to_owned();
    }
    let at = FeedPosition {
        seq: 1,
        prev: None,
        time: 1_767_225_600_000,
    };
    let theirs = sign_record(NetworkId::dev().as_str(), draft, at, &other()).unwrap();
    assert!(matches!(h.ingest(&theirs), Ingest::Appended { .. }));

    let found = h
        .get(&format!("/v1/indicators/{}", SHA.to_ascii_uppercase()))
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.json);
    assert_eq!(found.json["type"], "sha256");
    assert_eq!(found.json["value"], SHA);
    let names: Vec<&str> = found.json["reporters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["author_name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(
        names.contains(&"CERT-T") && names.contains(&"CERT-B"),
        "{names:?}"
    );
    assert_eq!(found.json["records"].as_array().unwrap().len(), 2);
    assert_eq!(found.json["truncated"], false);

    // Defanged and unencoded forms of the URL find the record; so does the domain in another case.
    for uri in [
        "/v1/indicators/hxxps%3A%2F%2Floader-cdn%5B.%5Dexample%2Fstage2.bin",
        "/v1/indicators/https://loader-cdn.example/stage2.bin",
        "/v1/indicators/LOADER-CDN.example.",
    ] {
        let got = h.get(uri).await;
        assert_eq!(got.status, StatusCode::OK, "{uri}: {}", got.json);
        let ids: Vec<&str> = got.json["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["record"]["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [ours.to_string()], "{uri}");
        assert_eq!(got.json["records"][0]["role"], "reported");
    }

    // A sighting of our incident counts as a sighting of its values.
    let sighting = h
        .publish(&json!({
            "kind": "sighting", "tlp": "amber", "refs": [ours.to_string()],
            "content": {"count": 3, "first_seen": 1_767_225_000_000u64, "last_seen": 1_767_225_900_000u64}
        }))
        .await;
    let got = h.get("/v1/indicators/loader-cdn.example").await;
    let roles: Vec<(&str, &str)> = got.json["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["record"]["id"].as_str().unwrap(),
                r["role"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        roles.contains(&(&sighting.to_string(), "sighted")),
        "{roles:?}"
    );
    assert_eq!(got.json["reporters"][0]["sighted"], 1);
    assert_eq!(got.json["reporters"][0]["reported"], 1);

    // An update that drops the domain takes the record out of the domain's answer, not the hash's.
    let mut updated = body["content"].clone();
    updated["indicators"] = json!([{"type": "sha256", "value": SHA}]);
    h.publish(&json!({
        "kind": "update", "tlp": "amber", "refs": [ours.to_string()],
        "content": {"incident": updated}
    }))
    .await;
    let got = h.get("/v1/indicators/loader-cdn.example").await;
    assert_eq!(got.json["records"], json!([]), "{}", got.json);
    let got = h.get(&format!("/v1/indicators/{SHA}")).await;
    assert_eq!(
        got.json["records"].as_array().unwrap().len(),
        3,
        "both incidents and the sighting: {}",
        got.json
    );

    // A revoked record is no longer reported, nor are the sightings of it.
    h.publish(&json!({
        "kind": "revoke", "tlp": "amber", "refs": [ours.to_string()],
        "content": {"reason": "false positive: our own update server"}
    }))
    .await;
    let got = h.get(&format!("/v1/indicators/{SHA}")).await;
    let ids: Vec<&str> = got.json["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["record"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [theirs.id().to_string()]);
    assert_eq!(got.json["reporters"][0]["author_name"], "CERT-B");

    // Nothing found is an empty answer, not an error.
    let got = h.get("/v1/indicators/198.51.100.99").await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.json["type"], "ipv4");
    assert_eq!(got.json["records"], json!([]));
    assert_eq!(got.json["first_seen"], Value::Null);
}

#[tokio::test]
async fn lookup_mistakes_say_what_to_send() {
    let h = Harness::new(LOOPBACK);
    h.get("/v1/indicators/hello").await.error(
        StatusCode::BAD_REQUEST,
        "bad_indicator",
        &["cannot tell", "CVE"],
    );
    h.get("/v1/indicators/192.168.001.001").await.error(
        StatusCode::BAD_REQUEST,
        "bad_indicator",
        &["ipv4", "dotted quad"],
    );
    h.get("/v1/indicators/evil.example?type=hostname")
        .await
        .error(
            StatusCode::BAD_REQUEST,
            "bad_indicator",
            &["hostname", "domain"],
        );
    h.get("/v1/indicators/evil.example?limit=0").await.error(
        StatusCode::BAD_REQUEST,
        "bad_query",
        &["limit"],
    );
    h.get("/v1/indicators/evil.example?colour=red").await.error(
        StatusCode::BAD_REQUEST,
        "bad_query",
        &["colour"],
    );
    // A caller on another host without credentials is told to bring them.
    assert_eq!(
        h.get_remote("/v1/indicators/evil.example").await.status,
        StatusCode::UNAUTHORIZED
    );
    // The same value typed with its type works too.
    let got = h.get("/v1/indicators/AS64496?type=asn").await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.json);
    assert_eq!(got.json["value"], "AS64496");
}
