//! Tests of the STIX mapping: ids, versions, markings and patterns, against records signed here.
use certnet_protocol::keys::AuthorSecret;
use certnet_protocol::record::{Draft, FeedPosition, Revoke, sign_record};

use super::*;

struct Nothing;

impl Lookup for Nothing {
    fn sdo_id(&self, _: &RecordId) -> Option<String> {
        None
    }
    fn first_record(&self, _: &AuthorKey) -> Option<(RecordId, u64)> {
        None
    }
}

fn sign(
    secret: &AuthorSecret,
    seq: u64,
    prev: Option<RecordId>,
    time: u64,
    draft: Draft,
) -> Record {
    let at = FeedPosition { seq, prev, time };
    sign_record("certnet-dev", draft, at, secret)
        .unwrap()
        .record()
        .clone()
}

fn indicator(kind: IndicatorType, value: &str) -> Indicator {
    Indicator {
        kind,
        value: value.into(),
        description: None,
        confidence: None,
        valid_from: None,
        valid_until: None,
        labels: vec![],
    }
}

#[test]
fn a_dropped_observable_is_revoked_under_its_own_marking() {
    let a = AuthorSecret::from_seed(&[6; 32]);
    let draft = certnet_protocol::record::sample::incident(1); // amber, 5 observables
    let Content::Incident(mut loosened) = draft.content.clone() else {
        unreachable!()
    };
    let dropped = loosened.indicators.remove(0);
    let target = sign(&a, 1, None, 1_000, draft);
    let update = sign(
        &a,
        2,
        Some(target.id()),
        2_000,
        Draft {
            kind: Kind::Update,
            tlp: Tlp::Green,
            refs: vec![target.id()],
            content: Content::Update(Update::Incident(loosened)),
        },
    );
    let versions = record_versions(&target, std::slice::from_ref(&update), &Nothing);
    let name = format!(
        "record/{}/observable/{}/{}",
        target.id(),
        dropped.kind.as_str(),
        dropped.value
    );
    let gone: Vec<&StixVersion> = versions
        .iter()
        .filter(|v| v.id == stix_id("indicator", &name))
        .collect();
    assert_eq!(gone.len(), 2, "{versions:#?}");
    assert_eq!(gone[1].object["revoked"], true);
    assert_eq!(gone[1].origin, update.id());
    // Amber content never lands in the green collection, even revoked.
    assert_eq!(gone[1].tlp, Some(Tlp::Amber));
    // Kept observables get a green version; every version's TLP matches its marking.
    assert!(versions.iter().any(|v| v.origin == update.id()
        && v.stix_type() == "indicator"
        && v.tlp == Some(Tlp::Green)));
    for v in &versions {
        assert_eq!(
            v.object["object_marking_refs"][0],
            marking_id(v.tlp.unwrap()),
            "{v:#?}"
        );
    }
}

#[test]
fn versions_follow_updates_keep_modified_increasing_and_end_revoked() {
    let a = AuthorSecret::from_seed(&[4; 32]);
    let target = sign(
        &a,
        1,
        None,
        5_000,
        Draft {
            kind: Kind::Indicator,
            tlp: Tlp::Amber,
            refs: vec![],
            content: Content::Indicator(indicator(IndicatorType::Domain, "evil.example")),
        },
    );
    // The author's clock went backwards: the update's modified is still later.
    let update = sign(
        &a,
        2,
        Some(target.id()),
        1_000,
        Draft {
            kind: Kind::Update,
            tlp: Tlp::Green,
            refs: vec![target.id()],
            content: Content::Update(Update::Indicator(indicator(
                IndicatorType::Domain,
                "evil2.example",
            ))),
        },
    );
    // An update to a CVE cannot keep the indicator's type: the object ends, revoked.
    let to_cve = sign(
        &a,
        3,
        Some(update.id()),
        9_000,
        Draft {
            kind: Kind::Update,
            tlp: Tlp::Green,
            refs: vec![target.id()],
            content: Content::Update(Update::Indicator(indicator(
                IndicatorType::Cve,
                "CVE-2024-3094",
            ))),
        },
    );
    let revoke = sign(
        &a,
        4,
        Some(to_cve.id()),
        9_500,
        Draft {
            kind: Kind::Revoke,
            tlp: Tlp::Green,
            refs: vec![target.id()],
            content: Content::Revoke(Revoke { reason: "x".into() }),
        },
    );
    let referrers = [revoke.clone(), to_cve.clone(), update.clone()];
    let versions = record_versions(&target, &referrers, &Nothing);
    assert_eq!(versions.len(), 3, "{versions:#?}");
    assert!(
        versions
            .iter()
            .all(|v| v.id == versions[0].id && v.stix_type() == "indicator")
    );
    assert_eq!(versions[0].version_ms, 5_000);
    assert_eq!(versions[1].version_ms, 5_001);
    assert_eq!(versions[2].version_ms, 9_000);
    assert_eq!(versions[1].tlp, Some(Tlp::Green));
    assert_eq!(versions[2].object["revoked"], true);
    assert_eq!(
        versions[2].object["pattern"],
        "[domain-name:value = 'evil2.example']"
    );
    assert_eq!(
        [versions[0].origin, versions[1].origin, versions[2].origin],
        [target.id(), update.id(), to_cve.id()]
    );
    // The same records in another order give the same versions.
    let again = record_versions(&target, &[update, to_cve, revoke], &Nothing);
    assert_eq!(again, versions);
}

#[test]
fn patterns_escape_quotes_and_backslashes() {
    let v = IndicatorValue {
        kind: IndicatorType::Url,
        value: r"https://evil.example/a'b\c".into(),
    };
    assert_eq!(pattern(&v), r"[url:value = 'https://evil.example/a\'b\\c']");
    let asn = IndicatorValue {
        kind: IndicatorType::Asn,
        value: "AS64496".into(),
    };
    assert_eq!(pattern(&asn), "[autonomous-system:number = 64496]");
    let sha = IndicatorValue {
        kind: IndicatorType::Sha256,
        value: "ab".repeat(32),
    };
    assert!(pattern(&sha).starts_with("[file:hashes.'SHA-256' = 'abab"));
}
