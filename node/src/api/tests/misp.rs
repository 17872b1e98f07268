//! `POST /v1/misp/events`: the same event twice publishes nothing the second time; a changed event
//! becomes one update; a tightened TLP a new incident superseding the old; new sightings once.

use super::*;
use crate::misp::{Event, MapOptions, events_in, map_event};

const PHISHING: &str = include_str!("../../../tests/fixtures/misp/phishing.json");

fn event() -> Event {
    let events = events_in(serde_json::from_str(PHISHING).unwrap()).unwrap();
    serde_json::from_value(events[0].1.clone()).unwrap()
}

async fn import(h: &Harness, e: &Event) -> Value {
    let mapped = map_event(e, &MapOptions::default()).unwrap();
    let got = h
        .post("/v1/misp/events", &serde_json::to_value(&mapped).unwrap())
        .await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.json);
    got.json
}

#[tokio::test]
async fn importing_again_publishes_only_what_changed() {
    let h = Harness::new(LOOPBACK);
    let mut e = event();
    let first = import(&h, &e).await;
    assert_eq!(first["outcome"], "new");
    assert_eq!(first["sightings"], 1);
    let incident = first["incident"].as_str().unwrap().to_owned();
    let size = h.services.store().log_size();
    assert_eq!(size, 2, "the incident and its sighting");

    let again = import(&h, &e).await;
    assert_eq!(again["outcome"], "unchanged");
    assert_eq!(again["sightings"], 0);
    assert_eq!(again["incident"], incident.as_str());
    assert_eq!(h.services.store().log_size(), size, "nothing published");

    // An attribute deleted in MISP: one update, without it.
    e.attributes[1].deleted = true;
    let changed = import(&h, &e).await;
    assert_eq!(changed["outcome"], "updated");
    assert_eq!(changed["incident"], incident.as_str());
    assert_eq!(h.services.store().log_size(), size + 1);
    let view = h.get(&format!("/v1/records/{incident}")).await;
    let values = view.json["view"]["content"]["indicators"].to_string();
    assert!(!values.contains("203.0.113.7"), "{values}");
    assert!(values.contains("tax-refund-portal.example"), "{values}");

    // A new sighting: published once.
    let mut sighting = e.attributes[0].sightings[0].clone();
    sighting.uuid = "51000000-0000-4000-8000-000000000003".into();
    e.attributes[0].sightings.push(sighting);
    assert_eq!(import(&h, &e).await["sightings"], 1);
    assert_eq!(import(&h, &e).await["sightings"], 0);

    // TLP tightened in MISP (green → amber): a new incident; the old one revoked, naming it.
    e.tags.retain(|t| t.name != "tlp:green");
    e.tags.push(crate::misp::model::Tag {
        name: "tlp:amber".into(),
    });
    let tightened = import(&h, &e).await;
    assert_eq!(tightened["outcome"], "superseded");
    let new = tightened["incident"].as_str().unwrap();
    assert_ne!(new, incident);
    let old = h.get(&format!("/v1/records/{incident}")).await;
    assert_eq!(old.json["view"]["revoked"], true, "{}", old.json);
    assert!(
        old.json["view"]["revoked_reason"]
            .as_str()
            .unwrap()
            .contains(new)
    );
    assert_eq!(import(&h, &e).await["outcome"], "unchanged");
}

#[tokio::test]
async fn a_mapped_event_that_breaks_a_rule_is_refused_and_imports_need_the_token() {
    let h = Harness::new(LOOPBACK);
    let mut mapped = map_event(&event(), &MapOptions::default()).unwrap();
    mapped.incident.title = String::new();
    h.post("/v1/misp/events", &serde_json::to_value(&mapped).unwrap())
        .await
        .error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_record",
            &["MISP event", "title"],
        );
    assert_eq!(h.services.store().log_size(), 0);
    let mut request = request("POST", "/v1/misp/events", None)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_vec(&mapped).unwrap()))
        .unwrap();
    request.extensions_mut().insert(loopback_conn());
    assert_eq!(h.send(request).await.status, StatusCode::UNAUTHORIZED);
}
