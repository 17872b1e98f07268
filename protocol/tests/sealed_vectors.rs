//! Golden vectors for sealed records (PROTOCOL.md §20): `protocol/tests/vectors/sealed.json`,
//! regenerated in memory and compared byte for byte (bless with `CERTNET_BLESS_VECTORS=1`), then run
//! through the real API. `check_cose_hpke.py` opens the same vectors with python-cwt, a COSE-HPKE
//! implementation written elsewhere, given only a recipient's private key.
//!
//! Deterministic: fixed author seeds (A, B as in keys.json; C, D), fixed encryption secrets, and the
//! randomness of sealing (content key, IV, HPKE ephemeral keys, padding, order) drawn from
//! `SeededRng`.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::path::PathBuf;

use certnet_protocol::keys::AuthorSecret;
use certnet_protocol::record::{
    Content, Draft, FeedPosition, Incident, IndicatorType, IndicatorValue, Kind, Severity, Status,
    Tlp, Update, VerifiedRecord, sign_record, verify_record,
};
use certnet_protocol::sealed::seeded::SeededRng;
use certnet_protocol::sealed::{
    EncryptionSecret, HintKey, OpenError, OpenKeys, Recipient, SealContext, open, seal,
};
use serde_json::{Value as J, json};

const NET: &str = "certnet-vectors";
const T0: u64 = 1_795_000_000_000;
const MINUTE: u64 = 60_000;

struct Member {
    name: &'static str,
    seed: u8,
    author: AuthorSecret,
    enc: EncryptionSecret,
}

fn member(name: &'static str, seed: u8) -> Member {
    Member {
        name,
        seed,
        author: AuthorSecret::from_seed(&[seed; 32]),
        enc: EncryptionSecret::from_bytes([0x10 + seed; 32]),
    }
}

fn members() -> [Member; 4] {
    [
        member("A", 1),
        member("B", 2),
        member("C", 3),
        member("D", 4),
    ]
}

/// `m` as a recipient of records sealed by `from`.
fn recipient(m: &Member, from: &Member) -> Recipient {
    Recipient::new(m.author.public(), m.enc.public(), &from.enc)
}

fn body() -> Draft {
    Draft {
        kind: Kind::Incident,
        tlp: Tlp::Red,
        refs: vec![],
        content: Content::Incident(Incident {
            title: "Intrusion at a ministry: shared with CERT-B and CERT-C only".to_owned(),
            summary: "Operator access to the ministry's VPN concentrator since 2026-11-16."
                .to_owned(),
            severity: Severity::Critical,
            status: Status::Investigating,
            categories: vec!["intrusion".to_owned()],
            indicators: vec![IndicatorValue {
                kind: IndicatorType::Ipv4,
                value: "198.51.100.23".to_owned(),
            }],
            references: vec![],
            first_seen: None,
            last_seen: None,
            labels: vec![],
            sectors: vec![],
            countries: vec![],
        }),
    }
}

/// A's feed: seq 1 the sealed red incident to B and C, seq 2 its sealed update (status resolved).
fn records(m: &[Member; 4]) -> Vec<VerifiedRecord> {
    let [a, b, c, _] = m;
    let to = [recipient(a, a), recipient(b, a), recipient(c, a)];
    let author = a.author.public();
    let mut rng = SeededRng::new([0x5e; 32]);
    let mut out: Vec<VerifiedRecord> = Vec::new();
    let incident = body();
    let mut resolved = incident.clone();
    if let Content::Incident(i) = &mut resolved.content {
        i.status = Status::Resolved;
    }
    for (seq, draft) in [(1u64, incident), (2, resolved)] {
        let draft = if seq == 1 {
            draft
        } else {
            let Content::Incident(i) = draft.content else {
                unreachable!()
            };
            Draft {
                kind: Kind::Update,
                tlp: Tlp::Red,
                refs: vec![out[0].id()],
                content: Content::Update(Update::Incident(i)),
            }
        };
        let ctx = SealContext {
            net: NET,
            author: &author,
            seq,
        };
        let sealed = seal(&draft, &to, &ctx, &mut rng).unwrap();
        let outer = Draft::sealed(draft.tlp, sealed);
        let at = FeedPosition {
            seq,
            prev: out.last().map(|r| r.id()),
            time: T0 + (seq - 1) * MINUTE,
        };
        out.push(sign_record(NET, outer, at, &a.author).unwrap());
    }
    out
}

fn envelope_of(r: &VerifiedRecord) -> Vec<u8> {
    let Content::Sealed(s) = &r.payload().content else {
        panic!("not sealed")
    };
    s.bytes().to_vec()
}

fn generate() -> Vec<u8> {
    let m = members();
    let recs = records(&m);
    let member_json = |x: &Member| {
        json!({
            "name": x.name,
            "author_seed": hex::encode([x.seed; 32]),
            "author": x.author.public().to_string(),
            "encryption_secret": hex::encode(x.enc.to_bytes()),
            "encryption_secret_pkcs8": hex::encode(&*x.enc.to_pkcs8_der()),
            "encryption_key": x.enc.public().to_string(),
            "encryption_key_hex": hex::encode(x.enc.public().as_bytes()),
        })
    };
    let record_json = |r: &VerifiedRecord, name: &str, about: &str| {
        let p = r.payload();
        let ctx = SealContext {
            net: &p.net,
            author: &p.author,
            seq: p.seq,
        };
        json!({
            "name": name,
            "description": about,
            "record": hex::encode(r.bytes()),
            "id": r.id().to_string(),
            "seq": p.seq,
            "tlp": p.tlp.as_str(),
            "cose_encrypt": hex::encode(envelope_of(r)),
            "external_aad": hex::encode(ctx.external_aad()),
            "recipients": ["A", "B", "C"],
            "not_recipients": ["D"],
        })
    };
    let doc = json!({
        "about": "Sealed records (PROTOCOL.md §20): A seals a TLP:RED incident and its update to B and C \
                  (and itself). COSE_Encrypt (tag 96) with ChaCha20/Poly1305 (24) content and one HPKE-4-KE \
                  (50, draft-ietf-cose-hpke) recipient each, padded to 4 entries, each with a certnet hint \
                  (-65537). external_aad = CBOR [\"certnet sealed v1\", net, author, seq]; HPKE info = \
                  [\"HPKE Recipient\", 24, h'a1011832', h'']; HPKE aad empty.",
        "net": NET,
        "members": m.iter().map(member_json).collect::<Vec<J>>(),
        "records": [
            record_json(&recs[0], "red-incident", "A's seq 1: a red incident sealed to A, B and C"),
            record_json(&recs[1], "red-update", "A's seq 2: its update (status resolved), sealed to the same audience"),
        ],
    });
    let mut out = serde_json::to_vec_pretty(&doc).unwrap();
    out.push(b'\n');
    out
}

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/sealed.json")
}

#[test]
fn sealed_vectors_match_the_generator() {
    let bytes = generate();
    if std::env::var_os("CERTNET_BLESS_VECTORS").is_some_and(|v| v == "1") {
        std::fs::write(path(), &bytes).unwrap();
    }
    let committed = std::fs::read(path()).unwrap_or_default();
    assert!(
        committed == bytes,
        "sealed.json differs from what the code produces: if intended, run \
         CERTNET_BLESS_VECTORS=1 cargo test -p certnet-protocol --test sealed_vectors"
    );
}

#[test]
fn sealed_vectors_verify_open_for_recipients_only() {
    let m = members();
    let recs = records(&m);
    let [a, b, c, d] = &m;
    for (i, r) in recs.iter().enumerate() {
        // Any node: a valid record, no key needed.
        let v = verify_record(r.bytes(), NET).unwrap();
        assert_eq!(v.payload().kind, Kind::Sealed);
        assert_eq!(v.payload().tlp, Tlp::Red);
        assert!(v.payload().refs.is_empty());
        for reader in [a, b, c] {
            let hints: Vec<HintKey> = HintKey::new(&reader.enc, &a.enc.public())
                .into_iter()
                .collect();
            let opened = open(
                v.payload(),
                OpenKeys {
                    secrets: std::slice::from_ref(&reader.enc),
                    hints: Some(&hints),
                },
            )
            .unwrap();
            if i == 0 {
                assert_eq!(opened.payload.kind, Kind::Incident);
                assert_eq!(opened.payload.content, body().content);
            } else {
                assert_eq!(opened.payload.kind, Kind::Update);
                assert_eq!(opened.payload.refs, vec![recs[0].id()]);
            }
        }
        let hints: Vec<HintKey> = HintKey::new(&d.enc, &a.enc.public()).into_iter().collect();
        let not = open(
            v.payload(),
            OpenKeys {
                secrets: std::slice::from_ref(&d.enc),
                hints: Some(&hints),
            },
        );
        assert_eq!(not, Err(OpenError::NotRecipient));
    }
}
