use super::*;
use crate::keys::AuthorSecret;
use crate::record::{FeedPosition, VerifiedRecord, sample, sign_record, verify_record};
use seeded::SeededRng;

const NET: &str = "certnet-test";

struct Member {
    author: AuthorSecret,
    enc: EncryptionSecret,
}

fn member(n: u8) -> Member {
    Member {
        author: AuthorSecret::from_seed(&[n; 32]),
        enc: EncryptionSecret::from_bytes([n.wrapping_add(100); 32]),
    }
}

/// `m` as a recipient of records sealed by `from`.
fn recipient(m: &Member, from: &Member) -> Recipient {
    Recipient::new(m.author.public(), m.enc.public(), &from.enc)
}

/// `from` seals a red incident to `to` (plus itself) at seq 1 and signs it.
fn sealed_record(from: &Member, to: &[&Member]) -> VerifiedRecord {
    let mut body = sample::incident(7);
    body.tlp = Tlp::Red;
    let mut audience = vec![recipient(from, from)];
    audience.extend(to.iter().map(|m| recipient(m, from)));
    let author = from.author.public();
    let ctx = SealContext {
        net: NET,
        author: &author,
        seq: 1,
    };
    let sealed = seal(&body, &audience, &ctx, &mut SeededRng::new([9; 32])).unwrap();
    let draft = Draft::sealed(Tlp::Red, sealed);
    let at = FeedPosition {
        seq: 1,
        prev: None,
        time: 1_795_000_000_000,
    };
    sign_record(NET, draft, at, &from.author).unwrap()
}

fn hints(own: &Member, author: &Member) -> Vec<HintKey> {
    HintKey::new(&own.enc, &author.enc.public())
        .into_iter()
        .collect()
}

fn open_as(record: &VerifiedRecord, reader: &Member, author: &Member) -> Result<Opened, OpenError> {
    let hints = hints(reader, author);
    open(
        record.payload(),
        OpenKeys {
            secrets: std::slice::from_ref(&reader.enc),
            hints: Some(&hints),
        },
    )
}

#[test]
fn recipients_open_the_body_others_are_not_recipients() {
    let (a, b, c, d) = (member(1), member(2), member(3), member(4));
    let record = sealed_record(&a, &[&b, &c]);
    // Every node accepts the signed record without any key.
    let again = verify_record(record.bytes(), NET).unwrap();
    assert_eq!(again.payload().kind, Kind::Sealed);
    assert_eq!(again.payload().tlp, Tlp::Red);
    for reader in [&a, &b, &c] {
        let opened = open_as(&record, reader, &a).unwrap();
        assert_eq!(opened.payload.kind, Kind::Incident);
        assert_eq!(opened.payload.tlp, Tlp::Red);
        assert_eq!(opened.payload.content, sample::incident(7).content);
        assert_eq!(opened.payload.seq, 1);
        let mut want = vec![
            *a.author.public().as_bytes(),
            *b.author.public().as_bytes(),
            *c.author.public().as_bytes(),
        ];
        want.sort();
        assert_eq!(opened.to, want);
    }
    assert_eq!(open_as(&record, &d, &a), Err(OpenError::NotRecipient));
    // Without hint keys (the author's encryption keys unknown), every entry is tried: same result.
    let trial = |m: &Member| {
        open(
            record.payload(),
            OpenKeys {
                secrets: std::slice::from_ref(&m.enc),
                hints: None,
            },
        )
    };
    assert!(trial(&b).is_ok());
    assert_eq!(trial(&d), Err(OpenError::NotRecipient));
}

#[test]
fn an_old_secret_still_opens_what_was_sealed_to_it() {
    let (a, b) = (member(1), member(2));
    let record = sealed_record(&a, &[&b]);
    let rotated = EncryptionSecret::from_bytes([42; 32]);
    let secrets = [rotated, b.enc.clone()];
    let hints = hints(&b, &a);
    let opened = open(
        record.payload(),
        OpenKeys {
            secrets: &secrets,
            hints: Some(&hints),
        },
    );
    assert!(opened.is_ok());
}

#[test]
fn the_recipient_count_is_padded_to_a_bucket() {
    let a = member(1);
    let others: Vec<Member> = (2..=6).map(member).collect();
    let refs: Vec<&Member> = others.iter().collect();
    for (n, padded) in [(0, 4), (3, 4), (5, 8)] {
        let record = sealed_record(&a, &refs[..n]);
        let Content::Sealed(s) = &record.payload().content else {
            panic!("not sealed")
        };
        assert_eq!(s.envelope().clone().recipients.len(), padded, "{n} others");
    }
}

#[test]
fn changed_or_moved_ciphertext_is_a_typed_error() {
    let (a, b, e) = (member(1), member(2), member(5));
    let record = sealed_record(&a, &[&b]);
    let Content::Sealed(sealed) = &record.payload().content else {
        panic!("not sealed")
    };
    // One bit of the content ciphertext flipped.
    let mut envelope = sealed.envelope().clone();
    envelope.ciphertext[3] ^= 1;
    let mut tampered = record.payload().clone();
    tampered.content = Content::Sealed(Sealed::from_bytes(envelope.to_cbor()).unwrap());
    assert_eq!(
        open_as_payload(&tampered, &b, &a),
        Err(OpenError::Tampered("the content does not decrypt"))
    );
    // The same ciphertext inside another author's record (E signs it as its own): the AAD binds it to
    // A's record, so it never opens there. B tries every entry when it has no hint keys...
    let mut moved = record.payload().clone();
    moved.author = e.author.public();
    let trial = open(
        &moved,
        OpenKeys {
            secrets: std::slice::from_ref(&b.enc),
            hints: None,
        },
    );
    assert_eq!(
        trial,
        Err(OpenError::Tampered("the content does not decrypt"))
    );
    // ... and with hint keys for E, A's hints do not match: not addressed to B in E's record.
    assert_eq!(
        open_as_payload(&moved, &b, &e),
        Err(OpenError::NotRecipient)
    );
    // Another seq of A's own feed: the hints no longer match, nor would the AAD.
    let mut reseq = record.payload().clone();
    reseq.seq = 2;
    assert_eq!(
        open_as_payload(&reseq, &b, &a),
        Err(OpenError::NotRecipient)
    );
}

fn open_as_payload(p: &Payload, reader: &Member, author: &Member) -> Result<Opened, OpenError> {
    let hints = hints(reader, author);
    open(
        p,
        OpenKeys {
            secrets: std::slice::from_ref(&reader.enc),
            hints: Some(&hints),
        },
    )
}

#[test]
fn bounds_and_garbage_are_refused_with_a_reason() {
    let a = member(1);
    let author = a.author.public();
    let ctx = SealContext {
        net: NET,
        author: &author,
        seq: 1,
    };
    let many: Vec<Recipient> = (0..=MAX_RECIPIENTS as u32)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&i.to_be_bytes());
            seed[4] = 1;
            Recipient::new(
                AuthorSecret::from_seed(&seed).public(),
                EncryptionSecret::from_bytes(seed).public(),
                &a.enc,
            )
        })
        .chain([recipient(&a, &a)])
        .collect();
    let body = sample::incident(1);
    let mut rng = SeededRng::new([1; 32]);
    assert!(matches!(
        seal(&body, &many, &ctx, &mut rng),
        Err(SealError::RecipientCount(66))
    ));
    assert!(matches!(
        seal(&body, &[], &ctx, &mut rng),
        Err(SealError::RecipientCount(0))
    ));
    let b = member(2);
    assert!(matches!(
        seal(&body, &[recipient(&b, &a)], &ctx, &mut rng),
        Err(SealError::AuthorMissing)
    ));
    // An invalid body is refused before sealing: a recipient would reject it.
    let mut bad = sample::incident(1);
    if let Content::Incident(i) = &mut bad.content {
        i.title = String::new();
    }
    assert!(matches!(
        seal(&bad, &[recipient(&a, &a)], &ctx, &mut rng),
        Err(SealError::Body(_))
    ));

    // Envelopes every node refuses (the record is invalid_content everywhere).
    let record = sealed_record(&a, &[]);
    let Content::Sealed(sealed) = &record.payload().content else {
        panic!("not sealed")
    };
    let good = sealed.envelope().clone();
    let mut over = good.clone();
    over.recipients = vec![good.recipients[0].clone(); MAX_RECIPIENTS + 1];
    let garbage: [(&str, Vec<u8>); 4] = [
        ("not cbor", vec![0xff, 0x00]),
        ("untagged", crate::cbor::encode(&Value::Array(vec![]))),
        ("over the bound", over.to_cbor()),
        ("no recipients", {
            let mut none = good.clone();
            none.recipients.clear();
            none.to_cbor()
        }),
    ];
    for (name, bytes) in garbage {
        let content = Value::Map(vec![(
            Value::Text("cose_encrypt".into()),
            Value::Bytes(bytes),
        )]);
        let err = decode_content(&Kind::Sealed, content).unwrap_err();
        assert_eq!(err.reason(), "invalid_content", "{name}: {err}");
    }
}

#[test]
fn red_travels_only_sealed_and_a_sealed_record_has_no_clear_refs() {
    let a = member(1);
    let mut red = sample::incident(1);
    red.tlp = Tlp::Red;
    let at = FeedPosition {
        seq: 1,
        prev: None,
        time: 1,
    };
    assert!(matches!(
        sign_record(NET, red, at, &a.author),
        Err(RecordError::TlpRed)
    ));
    let record = sealed_record(&a, &[]);
    let mut with_refs = record.payload().clone();
    with_refs.refs = vec![RecordId::from_bytes([1; 32])];
    assert_eq!(
        with_refs.validate().unwrap_err().reason(),
        "invalid_content"
    );
}

#[test]
fn key_text_and_pkcs8_round_trip() {
    let secret = EncryptionSecret::from_bytes([3; 32]);
    let text = secret.public().to_string();
    assert!(text.starts_with("x25519:"));
    assert_eq!(text.parse::<EncryptionKey>().unwrap(), secret.public());
    let der = secret.to_pkcs8_der();
    assert_eq!(
        EncryptionSecret::from_pkcs8_der(&der).unwrap().public(),
        secret.public()
    );
    assert!(EncryptionSecret::from_pkcs8_der(&der[1..]).is_err());
    assert_eq!(
        "x25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".parse::<EncryptionKey>(),
        Err(EncryptionKeyError::SmallOrder)
    );
    assert_eq!(
        "ed25519:AAAA".parse::<EncryptionKey>(),
        Err(EncryptionKeyError::MissingPrefix)
    );
}

#[test]
fn the_recipient_info_constant_is_the_recipient_structure() {
    let built = crate::cbor::encode(&Value::Array(vec![
        Value::Text("HPKE Recipient".to_owned()),
        Value::Integer(cose::ALG_CHACHA20_POLY1305.into()),
        Value::Bytes(cose::recipient_protected()),
        Value::Bytes(Vec::new()),
    ]));
    assert_eq!(recipient_info(), built.as_slice());
}

#[test]
fn with_hint_keys_an_entry_without_a_hint_is_never_tried() {
    let (a, b) = (member(1), member(2));
    let record = sealed_record(&a, &[&b]);
    let Content::Sealed(sealed) = &record.payload().content else {
        panic!("not sealed")
    };
    let mut envelope = sealed.envelope().clone();
    for entry in &mut envelope.recipients {
        entry.hint = None;
    }
    let mut bare = record.payload().clone();
    bare.content = Content::Sealed(Sealed::from_bytes(envelope.to_cbor()).unwrap());
    // A node (with the author's keys) decapsulates nothing; an offline audit tries every entry.
    assert_eq!(open_as_payload(&bare, &b, &a), Err(OpenError::NotRecipient));
    let audit = open(
        &bare,
        OpenKeys {
            secrets: std::slice::from_ref(&b.enc),
            hints: None,
        },
    );
    assert!(audit.is_ok());
}
