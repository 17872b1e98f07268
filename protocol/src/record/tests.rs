//! Record round trips, every rejection rule, and property tests on hostile bytes.

use ciborium::Value;
use proptest::prelude::*;

use super::*;
use crate::cbor;
use crate::keys::AuthorSecret;

const NET: &str = "certnet-test";

fn secret() -> AuthorSecret {
    AuthorSecret::from_seed(&[42; 32])
}

fn first() -> FeedPosition {
    FeedPosition {
        seq: 1,
        prev: None,
        time: 1_795_000_000_000,
    }
}

fn draft(kind: Kind, refs: Vec<RecordId>, content: Content) -> Draft {
    Draft {
        kind,
        tlp: Tlp::Green,
        refs,
        content,
    }
}

/// Signs arbitrary payload bytes as a COSE_Sign1, bypassing validation (to build hostile records).
fn sign_raw(payload: &[u8], secret: &AuthorSecret) -> Vec<u8> {
    cose::encode(payload, &secret.sign(&cose::sig_structure(payload)))
}

fn payload_value(record: &VerifiedRecord) -> Value {
    cbor::decode(record.record().payload_bytes()).unwrap()
}

fn set_field(map: &mut Value, key: &str, value: Value) {
    let entries = map.as_map_mut().unwrap();
    match entries.iter_mut().find(|(k, _)| k.as_text() == Some(key)) {
        Some(entry) => entry.1 = value,
        None => entries.push((Value::Text(key.into()), value)),
    }
}

/// Re-signs a modified payload value (canonicalized) so only the modification is wrong.
fn resign(mut value: Value) -> Vec<u8> {
    cbor::canonicalize(&mut value);
    sign_raw(&cbor::encode(&value), &secret())
}

fn all_kinds() -> Vec<Draft> {
    let target = RecordId::of_payload(b"target");
    let Content::Incident(incident) = sample::incident(1).content else {
        unreachable!()
    };
    vec![
        sample::incident(1),
        draft(
            Kind::Indicator,
            vec![],
            Content::Indicator(Indicator {
                kind: IndicatorType::Domain,
                value: "evil.example".into(),
                description: Some("C2 domain".into()),
                confidence: Some(80),
                valid_from: Some(1),
                valid_until: Some(2),
                labels: vec!["c2".into()],
            }),
        ),
        draft(
            Kind::Advisory,
            vec![],
            Content::Advisory(Advisory {
                title: "Patch XZ now".into(),
                summary: "Backdoored liblzma".into(),
                severity: Some(Severity::Critical),
                cves: vec!["CVE-2024-3094".into()],
                products: vec!["xz-utils 5.6.0".into()],
                references: vec!["https://cert.example/a/1".into()],
                labels: vec![],
            }),
        ),
        draft(
            Kind::Sighting,
            vec![target],
            Content::Sighting(Sighting {
                count: Some(3),
                first_seen: None,
                last_seen: None,
                indicators: vec![],
                sectors: vec!["energy".into()],
                countries: vec!["PL".into()],
                note: Some("seen at two utilities".into()),
            }),
        ),
        draft(
            Kind::Update,
            vec![target],
            Content::Update(Update::Incident(incident)),
        ),
        draft(
            Kind::Revoke,
            vec![target],
            Content::Revoke(Revoke {
                reason: "false positive".into(),
            }),
        ),
        draft(
            Kind::Other("vulnerability-report".into()),
            vec![],
            Content::Other(Value::Map(vec![(
                Value::Text("x".into()),
                Value::Integer(1.into()),
            )])),
        ),
    ]
}

#[test]
fn every_kind_round_trips() {
    for d in all_kinds() {
        let kind = d.kind.clone();
        let signed = sign_record(NET, d, first(), &secret()).unwrap();
        let again = verify_record(signed.bytes(), NET).unwrap();
        assert_eq!(again, signed, "{kind}");
        assert_eq!(
            again.id(),
            RecordId::of_payload(signed.record().payload_bytes())
        );
        assert_eq!(again.payload().kind, kind);
        assert!(signed.bytes().len() <= MAX_RECORD);
    }
}

#[test]
fn sample_incident_is_about_one_kib() {
    let signed = sign_record(NET, sample::incident(7), first(), &secret()).unwrap();
    assert!(
        (900..=1400).contains(&signed.bytes().len()),
        "{}",
        signed.bytes().len()
    );
}

#[test]
fn wrong_network_and_bad_signature_are_rejected() {
    let signed = sign_record(NET, sample::incident(1), first(), &secret()).unwrap();
    assert!(matches!(
        verify_record(signed.bytes(), "other-net"),
        Err(RecordError::WrongNetwork { .. })
    ));
    let mut bytes = signed.bytes().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    assert_eq!(verify_record(&bytes, NET), Err(RecordError::BadSignature));
    // A valid signature by another key over the same payload.
    let other = AuthorSecret::from_seed(&[1; 32]);
    let forged = sign_raw(signed.record().payload_bytes(), &other);
    assert_eq!(verify_record(&forged, NET), Err(RecordError::BadSignature));
}

#[test]
fn tlp_red_is_refused_when_signing_and_receiving() {
    let mut d = sample::incident(1);
    d.tlp = Tlp::Red;
    assert_eq!(
        sign_record(NET, d, first(), &secret()),
        Err(RecordError::TlpRed)
    );
    let signed = sign_record(NET, sample::incident(1), first(), &secret()).unwrap();
    let mut v = payload_value(&signed);
    set_field(&mut v, "tlp", Value::Text("red".into()));
    assert_eq!(verify_record(&resign(v), NET), Err(RecordError::TlpRed));
}

#[test]
fn non_canonical_payloads_are_rejected_even_when_signed() {
    let signed = sign_record(NET, sample::incident(1), first(), &secret()).unwrap();
    let v = payload_value(&signed);
    // Keys in insertion (wrong) order: reverse the map.
    let mut reversed = v.clone();
    reversed.as_map_mut().unwrap().reverse();
    let bytes = sign_raw(&cbor::encode(&reversed), &secret());
    assert_eq!(
        verify_record(&bytes, NET),
        Err(RecordError::PayloadCbor(cbor::CborError::UnsortedKeys))
    );
    // Non-shortest integer for `v`: 0x18 0x01 instead of 0x01.
    let canonical = signed.record().payload_bytes().to_vec();
    let pos = canonical
        .windows(2)
        .position(|w| w == [0x61, b'v'])
        .unwrap()
        + 2;
    let mut long = canonical[..pos].to_vec();
    long.extend_from_slice(&[0x18, 0x01]);
    long.extend_from_slice(&canonical[pos + 1..]);
    assert_eq!(
        verify_record(&sign_raw(&long, &secret()), NET),
        Err(RecordError::PayloadCbor(cbor::CborError::NotDeterministic))
    );
    // An optional content field present as null.
    let mut with_null = v.clone();
    let content = with_null
        .as_map_mut()
        .unwrap()
        .iter_mut()
        .find(|(k, _)| k.as_text() == Some("content"))
        .unwrap();
    set_field(&mut content.1, "first_seen", Value::Null);
    assert!(matches!(
        verify_record(&resign(with_null), NET),
        Err(RecordError::NonCanonicalContent { .. })
    ));
    // An empty list present as [].
    let mut with_empty = v;
    let content = with_empty
        .as_map_mut()
        .unwrap()
        .iter_mut()
        .find(|(k, _)| k.as_text() == Some("content"))
        .unwrap();
    set_field(&mut content.1, "labels", Value::Array(vec![]));
    assert!(matches!(
        verify_record(&resign(with_empty), NET),
        Err(RecordError::NonCanonicalContent { .. })
    ));
}

#[test]
fn shape_rules_are_enforced() {
    let signed = sign_record(NET, sample::incident(1), first(), &secret()).unwrap();
    let v = payload_value(&signed);
    type Expect = fn(&RecordError) -> bool;
    let cases: Vec<(&str, Value, Expect)> = vec![
        ("v", Value::Integer(2.into()), |e| {
            matches!(e, RecordError::Version(2))
        }),
        (
            "seq",
            Value::Integer(0.into()),
            |e| matches!(e, RecordError::Field(f) if f.field == "seq"),
        ),
        (
            "seq",
            Value::Integer(2.into()),
            |e| matches!(e, RecordError::Field(f) if f.field == "prev"),
        ),
        (
            "net",
            Value::Text("Bad Net".into()),
            |e| matches!(e, RecordError::Field(f) if f.field == "net"),
        ),
        ("author", Value::Bytes(vec![0; 31]), |e| {
            matches!(e, RecordError::Shape(_))
        }),
        ("time", Value::Integer((-1).into()), |e| {
            matches!(e, RecordError::Shape(_))
        }),
        (
            "tlp",
            Value::Text("white".into()),
            |e| matches!(e, RecordError::Field(f) if f.field == "tlp"),
        ),
        (
            "kind",
            Value::Text("Incident".into()),
            |e| matches!(e, RecordError::Field(f) if f.field == "kind"),
        ),
        (
            "extra",
            Value::Null,
            |e| matches!(e, RecordError::Shape(m) if m.contains("extra")),
        ),
        (
            "refs",
            Value::Array(vec![Value::Bytes(vec![1; 32]), Value::Bytes(vec![1; 32])]),
            |e| matches!(e, RecordError::Field(f) if f.field == "refs[1]"),
        ),
    ];
    for (field, value, expected) in cases {
        let mut changed = v.clone();
        set_field(&mut changed, field, value);
        let err = verify_record(&resign(changed), NET).unwrap_err();
        assert!(expected(&err), "{field}: {err:?}");
    }
    let mut missing = v;
    missing
        .as_map_mut()
        .unwrap()
        .retain(|(k, _)| k.as_text() != Some("time"));
    assert!(matches!(
        verify_record(&resign(missing), NET),
        Err(RecordError::Shape(m)) if m.contains("missing field `time`")
    ));
}

#[test]
fn content_rules_name_the_field() {
    let mut d = sample::incident(1);
    let Content::Incident(c) = &mut d.content else {
        unreachable!()
    };
    c.indicators[1].value = "999.1.1.1".into();
    let err = sign_record(NET, d, first(), &secret()).unwrap_err();
    assert!(
        matches!(&err, RecordError::Field(f) if f.field == "content.indicators[1].value"),
        "{err}"
    );
    assert!(err.to_string().contains("not a valid ipv4"), "{err}");

    let mut d = sample::incident(1);
    let Content::Incident(c) = &mut d.content else {
        unreachable!()
    };
    c.countries.push("XX".into());
    assert!(
        matches!(sign_record(NET, d, first(), &secret()), Err(RecordError::Field(f)) if f.field == "content.countries[3]")
    );

    let mut d = sample::incident(1);
    let Content::Incident(c) = &mut d.content else {
        unreachable!()
    };
    c.title = "x".repeat(201);
    assert!(
        matches!(sign_record(NET, d, first(), &secret()), Err(RecordError::Field(f)) if f.field == "content.title")
    );

    let d = draft(
        Kind::Revoke,
        vec![],
        Content::Revoke(Revoke {
            reason: "dup".into(),
        }),
    );
    assert!(
        matches!(sign_record(NET, d, first(), &secret()), Err(RecordError::Field(f)) if f.field == "refs")
    );

    let d = draft(
        Kind::Sighting,
        vec![],
        Content::Sighting(Sighting {
            count: None,
            first_seen: None,
            last_seen: None,
            indicators: vec![],
            sectors: vec![],
            countries: vec![],
            note: None,
        }),
    );
    assert!(
        matches!(sign_record(NET, d, first(), &secret()), Err(RecordError::Field(f)) if f.field == "content.indicators")
    );

    let d = draft(
        Kind::Incident,
        vec![],
        Content::Revoke(Revoke { reason: "x".into() }),
    );
    assert!(
        matches!(sign_record(NET, d, first(), &secret()), Err(RecordError::Field(f)) if f.field == "content")
    );
}

#[test]
fn unknown_content_field_of_known_kind_is_rejected() {
    let signed = sign_record(NET, sample::incident(1), first(), &secret()).unwrap();
    let mut v = payload_value(&signed);
    let content = v
        .as_map_mut()
        .unwrap()
        .iter_mut()
        .find(|(k, _)| k.as_text() == Some("content"))
        .unwrap();
    set_field(&mut content.1, "colour", Value::Text("red".into()));
    let err = verify_record(&resign(v), NET).unwrap_err();
    assert!(
        matches!(&err, RecordError::Field(f) if f.field == "content" && f.rule.contains("colour")),
        "{err}"
    );
}

#[test]
fn unknown_kind_content_is_held_to_the_receivers_rules_when_signing() {
    let other = |content: Value| draft(Kind::Other("x".into()), vec![], Content::Other(content));
    let not_a_map = sign_record(NET, other(Value::Integer(1.into())), first(), &secret());
    assert!(
        matches!(not_a_map, Err(RecordError::Shape(_))),
        "{not_a_map:?}"
    );
    let float = Value::Map(vec![(Value::Text("score".into()), Value::Float(7.5))]);
    assert_eq!(
        sign_record(NET, other(float), first(), &secret()),
        Err(RecordError::PayloadCbor(cbor::CborError::Float))
    );
    let tag = Value::Map(vec![(
        Value::Text("t".into()),
        Value::Tag(1, Box::new(Value::Integer(0.into()))),
    )]);
    assert_eq!(
        sign_record(NET, other(tag), first(), &secret()),
        Err(RecordError::PayloadCbor(cbor::CborError::Tag(1)))
    );
    // Content given out of order is signed sorted, and the result equals what receivers decode.
    let unsorted = Value::Map(vec![
        (Value::Text("zz".into()), Value::Text("1".into())),
        (Value::Text("a".into()), Value::Text("2".into())),
    ]);
    let signed = sign_record(NET, other(unsorted), first(), &secret()).unwrap();
    assert_eq!(verify_record(signed.bytes(), NET).unwrap(), signed);
}

#[test]
fn oversize_is_rejected_before_decoding() {
    let big = vec![0u8; MAX_RECORD + 1];
    assert!(matches!(
        verify_record(&big, NET),
        Err(RecordError::Oversize { .. })
    ));
    let big_content = Content::Other(Value::Map(vec![(
        Value::Text("x".into()),
        Value::Bytes(vec![0; MAX_PAYLOAD]),
    )]));
    let d = draft(Kind::Other("blob".into()), vec![], big_content);
    assert!(matches!(
        sign_record(NET, d, first(), &secret()),
        Err(RecordError::Oversize { .. })
    ));
}

#[test]
fn envelope_must_be_exact() {
    let signed = sign_record(NET, sample::incident(1), first(), &secret()).unwrap();
    // Untagged COSE_Sign1.
    assert!(matches!(
        verify_record(&signed.bytes()[1..], NET),
        Err(RecordError::Envelope(_))
    ));
    // A different (valid CBOR) protected header: {1: -8}.
    let payload = signed.record().payload_bytes();
    let mut other = vec![0xd2, 0x84, 0x43, 0xa1, 0x01, 0x27, 0xa0];
    other.extend_from_slice(&cose::bstr_head(payload.len()));
    other.extend_from_slice(payload);
    other.extend_from_slice(&[0x58, 0x40]);
    other.extend_from_slice(&[0; 64]);
    assert!(
        matches!(verify_record(&other, NET), Err(RecordError::Envelope(m)) if m.contains("protected"))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        prop_assert!(verify_record(&bytes, NET).is_err());
    }

    #[test]
    fn any_flipped_byte_fails(n in 0u64..50, pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let signed = sign_record(NET, sample::incident(n), first(), &secret()).unwrap();
        let mut bytes = signed.bytes().to_vec();
        let i = pos.index(bytes.len());
        bytes[i] ^= 1 << bit;
        prop_assert!(verify_record(&bytes, NET).is_err());
    }

    #[test]
    fn any_truncation_fails(n in 0u64..50, cut in any::<prop::sample::Index>()) {
        let signed = sign_record(NET, sample::incident(n), first(), &secret()).unwrap();
        let bytes = signed.bytes();
        let len = cut.index(bytes.len());
        prop_assert!(verify_record(&bytes[..len], NET).is_err());
    }

    #[test]
    fn payload_round_trips(n in any::<u64>(), seq in 2u64..u64::MAX, time in any::<u64>()) {
        let d = sample::incident(n);
        let at = FeedPosition { seq, prev: Some(RecordId::of_payload(&n.to_be_bytes())), time };
        let signed = sign_record(NET, d, at, &secret()).unwrap();
        let decoded = Payload::from_cbor(signed.record().payload_bytes()).unwrap();
        prop_assert_eq!(&decoded, signed.payload());
        prop_assert_eq!(decoded.to_cbor(), signed.record().payload_bytes().to_vec());
    }
}

#[test]
fn peek_author_reads_the_claimed_author_only() {
    let secret = crate::keys::AuthorSecret::from_seed(&[9; 32]);
    let at = FeedPosition {
        seq: 1,
        prev: None,
        time: 1,
    };
    let record = sign_record("n", sample::incident(1), at, &secret).unwrap();
    assert_eq!(peek_author(record.bytes()), Some(secret.public()));
    // Anything that is not a COSE_Sign1 record peeks as nothing, and never panics.
    assert_eq!(peek_author(b"garbage"), None);
    assert_eq!(peek_author(&record.bytes()[..40]), None);
    for i in 0..record.bytes().len() {
        let mut flipped = record.bytes().to_vec();
        flipped[i] ^= 0x55;
        let _ = peek_author(&flipped);
    }
}
