//! Criterion benchmarks of sealed records (PROTOCOL.md §20): sealing a typical incident to 1, 5 and
//! 40 recipients; opening it as a recipient (hint match, one HPKE decapsulation, content decryption,
//! body validation); deciding "not mine" as a non-recipient with hint keys (HMACs only) and, for
//! comparison, without them (a decapsulation per entry); and, from the same run, the raw strict
//! signature check every node does for every record. Run: `cargo bench -p certnet-protocol --bench sealed`.

use std::hint::black_box;

use certnet_protocol::keys::AuthorSecret;
use certnet_protocol::record::{
    Draft, FeedPosition, Payload, Tlp, VerifiedRecord, cose, sample, sign_record, verify_record,
};
use certnet_protocol::sealed::seeded::SeededRng;
use certnet_protocol::sealed::{
    EncryptionSecret, HintKey, OpenKeys, Recipient, SealContext, open, seal,
};
use criterion::{Criterion, criterion_group, criterion_main};

const NET: &str = "certnet-bench";

struct Member {
    author: AuthorSecret,
    enc: EncryptionSecret,
}

fn member(i: u32) -> Member {
    let mut seed = [0u8; 32];
    seed[..4].copy_from_slice(&i.to_be_bytes());
    seed[31] = 0xaa;
    Member {
        author: AuthorSecret::from_seed(&seed),
        enc: EncryptionSecret::from_bytes(seed),
    }
}

/// The members as recipients of records sealed by the first (hint keys made once, as a node does).
fn audience(members: &[Member]) -> Vec<Recipient> {
    members
        .iter()
        .map(|m| Recipient::new(m.author.public(), m.enc.public(), &members[0].enc))
        .collect()
}

fn body() -> Draft {
    let mut d = sample::incident(1);
    d.tlp = Tlp::Red;
    d
}

/// The author (members[0]) seals to the first `n` members and signs.
fn sealed_record(members: &[Member], n: usize, rng: &mut SeededRng) -> VerifiedRecord {
    let a = &members[0];
    let author = a.author.public();
    let ctx = SealContext {
        net: NET,
        author: &author,
        seq: 1,
    };
    let sealed = seal(&body(), &audience(&members[..n]), &ctx, rng).expect("seals");
    let draft = Draft::sealed(Tlp::Red, sealed);
    let at = FeedPosition {
        seq: 1,
        prev: None,
        time: 1_795_000_000_000,
    };
    sign_record(NET, draft, at, &a.author).expect("signs")
}

fn sealed(c: &mut Criterion) {
    let members: Vec<Member> = (0..41).map(member).collect();
    let a = &members[0];
    let author = a.author.public();
    let mut rng = SeededRng::new([7; 32]);
    let mut g = c.benchmark_group("sealed");
    for n in [1usize, 5, 40] {
        let to = audience(&members[..n]);
        g.bench_function(format!("seal to {n}"), |b| {
            b.iter(|| {
                let ctx = SealContext {
                    net: NET,
                    author: &author,
                    seq: 1,
                };
                seal(black_box(&body()), &to, &ctx, &mut rng).expect("seals")
            })
        });
    }
    for n in [5usize, 40] {
        let record = sealed_record(&members, n, &mut rng);
        let payload: &Payload = record.payload();
        // A recipient (not the author) and a non-recipient, with the hint keys a node caches.
        let reader = &members[n - 1];
        let outsider = &members[40];
        let reader_hints: Vec<HintKey> = HintKey::new(&reader.enc, &a.enc.public())
            .into_iter()
            .collect();
        let outsider_hints: Vec<HintKey> = HintKey::new(&outsider.enc, &a.enc.public())
            .into_iter()
            .collect();
        g.bench_function(format!("open as recipient ({n} recipients)"), |b| {
            b.iter(|| {
                open(
                    black_box(payload),
                    OpenKeys {
                        secrets: std::slice::from_ref(&reader.enc),
                        hints: Some(&reader_hints),
                    },
                )
                .expect("opens")
            })
        });
        g.bench_function(format!("not mine, with hint keys ({n} recipients)"), |b| {
            b.iter(|| {
                open(
                    black_box(payload),
                    OpenKeys {
                        secrets: std::slice::from_ref(&outsider.enc),
                        hints: Some(&outsider_hints),
                    },
                )
                .expect_err("not a recipient")
            })
        });
        g.bench_function(
            format!("not mine, trial decryption ({n} recipients)"),
            |b| {
                b.iter(|| {
                    open(
                        black_box(payload),
                        OpenKeys {
                            secrets: std::slice::from_ref(&outsider.enc),
                            hints: None,
                        },
                    )
                    .expect_err("not a recipient")
                })
            },
        );
    }
    // What every node (relay or not) pays to accept a sealed record, next to a clear incident.
    let clear = sign_record(
        NET,
        sample::incident(1),
        FeedPosition {
            seq: 1,
            prev: None,
            time: 1_795_000_000_000,
        },
        &a.author,
    )
    .expect("signs");
    let sealed40 = sealed_record(&members, 40, &mut rng);
    g.bench_function("decode+verify clear incident", |b| {
        b.iter(|| verify_record(black_box(clear.bytes()), NET).expect("valid"))
    });
    g.bench_function("decode+verify sealed incident (40 recipients)", |b| {
        b.iter(|| verify_record(black_box(sealed40.bytes()), NET).expect("valid"))
    });
    // The same run's raw signature check, the per-record cost every node pays anyway.
    let record = sealed_record(&members, 5, &mut rng);
    let bytes = record.bytes().to_vec();
    let msg = cose::sig_structure(record.record().payload_bytes());
    let sig: [u8; 64] = bytes[bytes.len() - 64..]
        .try_into()
        .expect("64-byte signature");
    g.bench_function("raw verify_strict (same run)", |b| {
        b.iter(|| author.verify_strict(black_box(&msg), &sig))
    });
    g.finish();
}

criterion_group!(benches, sealed);
criterion_main!(benches);
