//! The mapping on an event as MISP exports it (node/tests/fixtures/misp/phishing.json): every row of
//! node/MISP.md that the fixture exercises, and the refusals.

use certnet_protocol::record::{IndicatorType, Severity, Status, Tlp};

use super::*;

const PHISHING: &str = include_str!("../../tests/fixtures/misp/phishing.json");

fn phishing() -> Event {
    let events = events_in(serde_json::from_str(PHISHING).unwrap()).unwrap();
    assert_eq!(events.len(), 1);
    serde_json::from_value(events[0].1.clone()).unwrap()
}

#[test]
fn an_exported_event_maps_to_an_incident_with_its_sightings() {
    let m = map_event(&phishing(), &MapOptions::default()).unwrap();
    assert_eq!(m.uuid, "5f0b2c3e-8a1d-4c3b-9b1e-3c4d5e6f7a80");
    assert_eq!(m.tlp, Tlp::Green, "from the tlp:green tag");
    assert!(m.to.is_empty());
    let i = &m.incident;
    assert_eq!(i.title, "Phishing campaign impersonating the tax authority");
    assert_eq!(i.severity, Severity::High);
    assert_eq!(i.status, Status::Investigating);
    assert_eq!(
        i.first_seen,
        Some(1_795_996_800_000),
        "2026-11-30 00:00 UTC"
    );
    let values: Vec<(IndicatorType, &str)> = i
        .indicators
        .iter()
        .map(|v| (v.kind, v.value.as_str()))
        .collect();
    assert_eq!(
        values,
        [
            (IndicatorType::Domain, "tax-refund-portal.example"),
            (IndicatorType::Ipv4, "203.0.113.7"),
            (
                IndicatorType::Url,
                "https://tax-refund-portal.example/login"
            ),
            (IndicatorType::Cve, "CVE-2024-3094"),
            (
                IndicatorType::Sha256,
                "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
            ),
        ],
        "normalised; deleted, organisation-only and malformed values are not indicators"
    );
    assert_eq!(i.references, ["https://cert-x.example/advisories/2026-17"]);
    assert_eq!(
        i.labels,
        ["type:OSINT", "misp-galaxy:threat-actor=\"Sofacy\""]
    );
    // Context is kept: the user agent, the file name, the malformed address.
    for needle in [
        "Imported from MISP event 5f0b2c3e-8a1d-4c3b-9b1e-3c4d5e6f7a80 by CERT-X, dated 2026-11-30.",
        "- Network activity / user-agent: Mozilla/5.0 (TaxBot)",
        "- object file/filename: Steuererstattung.iso",
        "- Network activity / ip-src: 192.168.001.001 — typo in the source report",
    ] {
        assert!(
            i.summary.contains(needle),
            "{needle:?} not in {}",
            i.summary
        );
    }
    assert!(
        !i.summary.contains("cdn.example"),
        "deleted attributes are gone"
    );
    assert!(
        !i.summary.contains("honeypot"),
        "organisation-only attributes are not shared"
    );
    // Sightings: the true one; the false positive is reported.
    assert_eq!(m.sightings.len(), 1);
    let s = &m.sightings[0];
    assert_eq!(s.uuid, "51000000-0000-4000-8000-000000000001");
    assert_eq!(s.content.first_seen, Some(1_764_590_400_000));
    assert_eq!(s.content.indicators[0].value, "tax-refund-portal.example");
    assert!(
        s.content
            .note
            .as_deref()
            .unwrap()
            .contains("by CERT-X (proxy logs)")
    );
    let reasons: Vec<String> = m
        .skipped
        .iter()
        .map(|s| format!("{}: {}", s.at, s.reason))
        .collect();
    for needle in [
        "Attribute[3].value: `192.168.001.001` (ip-src) is not a valid ipv4",
        "Attribute[6]: distribution 0",
        "Attribute[0].Sighting[1]: a false-positive sighting",
    ] {
        assert!(
            reasons.iter().any(|r| r.starts_with(needle)),
            "{needle:?} not in {reasons:#?}"
        );
    }
}

#[test]
fn what_must_not_be_widened_is_refused_or_sealed() {
    let mut e = phishing();
    e.distribution = Some(0);
    let refused = map_event(&e, &MapOptions::default()).unwrap_err();
    assert_eq!(refused.at, "distribution");
    assert!(refused.reason.contains("organisation only"), "{refused}");

    let mut e = phishing();
    e.distribution = Some(4);
    let refused = map_event(&e, &MapOptions::default()).unwrap_err();
    assert!(refused.reason.contains("--to"), "{refused}");
    let with_to = MapOptions {
        to: vec!["CERT-EU".into()],
        ..MapOptions::default()
    };
    assert_eq!(map_event(&e, &with_to).unwrap().to, ["CERT-EU"]);

    let mut e = phishing();
    e.tags.push(model::Tag {
        name: "TLP:RED".into(),
    });
    let refused = map_event(&e, &MapOptions::default()).unwrap_err();
    assert!(refused.reason.contains("sealed"), "{refused}");
    let m = map_event(&e, &with_to).unwrap();
    assert_eq!(
        (m.tlp, m.to.as_slice()),
        (Tlp::Red, &["CERT-EU".to_owned()][..])
    );

    // An attribute tagged tighter than the event is left out, not widened.
    let mut e = phishing();
    e.attributes[1].tags.push(model::Tag {
        name: "tlp:amber".into(),
    });
    let m = map_event(&e, &MapOptions::default()).unwrap();
    assert!(
        !m.incident
            .indicators
            .iter()
            .any(|v| v.value == "203.0.113.7")
    );
    assert!(
        m.skipped
            .iter()
            .any(|s| s.at == "Attribute[1]" && s.reason.contains("never widened"))
    );

    // Without a TLP tag: the default.
    let mut e = phishing();
    e.tags.retain(|t| !t.name.starts_with("tlp:"));
    assert_eq!(
        map_event(&e, &MapOptions::default()).unwrap().tlp,
        Tlp::Amber
    );
}

#[test]
fn documents_of_every_shape_are_read_and_bad_ones_named() {
    let event: serde_json::Value = serde_json::from_str(PHISHING).unwrap();
    let list = serde_json::json!([event.clone(), event["Event"].clone()]);
    assert_eq!(events_in(list).unwrap().len(), 2);
    let search = serde_json::json!({"response": [event.clone()]});
    let found = events_in(search).unwrap();
    assert_eq!(found[0].0, "$.response[0]");
    assert!(found[0].1.get("uuid").is_some());
    let err = events_in(serde_json::json!({"name": "not MISP"})).unwrap_err();
    assert!(err.contains("restSearch"), "{err}");
    // A number where MISP never writes one names the field.
    let mut bad = event["Event"].clone();
    bad["threat_level_id"] = serde_json::json!("high");
    let err = serde_path_to_error::deserialize::<_, Event>(bad).unwrap_err();
    assert_eq!(err.path().to_string(), "threat_level_id");
}

#[test]
fn too_many_detection_attributes_refuse_the_event() {
    let mut e = phishing();
    let template = e.attributes[1].clone();
    e.attributes = (0..300u32)
        .map(|n| {
            let mut a = template.clone();
            a.value = format!("198.51.{}.{}", n / 250, n % 250 + 1);
            a
        })
        .collect();
    let refused = map_event(&e, &MapOptions::default()).unwrap_err();
    assert!(refused.reason.contains("split the event"), "{refused}");
}

#[test]
fn a_detection_attribute_certnet_has_no_type_for_is_kept_as_context_and_reported() {
    let mut e = phishing();
    let mut a = e.attributes[1].clone();
    a.kind = "sha512".into();
    a.value = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce".into();
    e.attributes.push(a);
    let m = map_event(&e, &MapOptions::default()).unwrap();
    let at = format!("Attribute[{}]", e.attributes.len() - 1);
    assert!(
        m.skipped
            .iter()
            .any(|s| s.at == at && s.reason.contains("no indicator type")),
        "{:#?}",
        m.skipped
    );
    assert!(m.incident.summary.contains("/ sha512: cf83e1357eef"));
}
