//! Criterion benchmarks of the protocol's hot paths: signing, strict verification (one core and all
//! cores), encoding, decode+verify of a typical incident, Merkle root of 1M leaves, audit of a
//! 100k-entry export. Run: `cargo bench -p certnet-protocol --bench protocol`.
#![allow(clippy::print_stdout)] // the figures are this binary's output

use std::hint::black_box;

use certnet_protocol::audit::{AuditOptions, audit};
use certnet_protocol::export::export_log;
use certnet_protocol::id::RecordId;
use certnet_protocol::keys::AuthorSecret;
use certnet_protocol::merkle::{Frontier, leaf_hash};
use certnet_protocol::record::{
    FeedPosition, Payload, VerifiedRecord, cose, sample, sign_record, verify_record,
};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rayon::prelude::*;

const NET: &str = "certnet-bench";

/// A chain of `n` signed incidents by one author.
fn chain(secret: &AuthorSecret, n: u64) -> Vec<VerifiedRecord> {
    let mut prev: Option<RecordId> = None;
    (1..=n)
        .map(|seq| {
            let at = FeedPosition {
                seq,
                prev,
                time: 1_795_000_000_000 + seq,
            };
            let r = sign_record(NET, sample::incident(seq), at, secret).expect("sample signs");
            prev = Some(r.id());
            r
        })
        .collect()
}

fn records(c: &mut Criterion) {
    let secret = AuthorSecret::from_seed(&[1; 32]);
    let signed = chain(&secret, 1).remove(0);
    let bytes = signed.bytes().to_vec();
    let payload_bytes = signed.record().payload_bytes().to_vec();
    let signed_msg = cose::sig_structure(&payload_bytes);
    let author = secret.public();
    let sig: [u8; 64] = bytes[bytes.len() - 64..]
        .try_into()
        .expect("64-byte signature");
    println!(
        "typical incident: {} bytes signed, {} bytes payload",
        bytes.len(),
        payload_bytes.len()
    );

    let mut g = c.benchmark_group("record");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sign (validate+encode+sign)", |b| {
        b.iter(|| {
            let at = FeedPosition {
                seq: 1,
                prev: None,
                time: 1,
            };
            sign_record(NET, black_box(sample::incident(1)), at, &secret)
        })
    });
    g.bench_function("encode payload", |b| {
        b.iter(|| black_box(signed.payload()).to_cbor())
    });
    g.bench_function("decode payload", |b| {
        b.iter(|| Payload::from_cbor(black_box(&payload_bytes)))
    });
    g.bench_function("verify_strict (one core)", |b| {
        b.iter(|| author.verify_strict(black_box(&signed_msg), &sig))
    });
    g.bench_function("decode+verify (one core)", |b| {
        b.iter(|| verify_record(black_box(&bytes), NET))
    });
    g.finish();

    let many: Vec<Vec<u8>> = chain(&secret, 4096)
        .into_iter()
        .map(|r| r.into_bytes())
        .collect();
    let msgs: Vec<(Vec<u8>, [u8; 64])> = many
        .iter()
        .map(|b| {
            let r = verify_record(b, NET).expect("valid");
            (
                cose::sig_structure(r.record().payload_bytes()),
                b[b.len() - 64..].try_into().expect("sig"),
            )
        })
        .collect();
    let mut g = c.benchmark_group("all cores");
    g.throughput(Throughput::Elements(many.len() as u64));
    g.sample_size(20);
    g.bench_function("verify_strict x4096", |b| {
        b.iter(|| msgs.par_iter().all(|(m, s)| author.verify_strict(m, s)))
    });
    g.bench_function("decode+verify x4096", |b| {
        b.iter(|| many.par_iter().all(|r| verify_record(r, NET).is_ok()))
    });
    g.finish();
}

fn merkle(c: &mut Criterion) {
    let leaves: Vec<[u8; 32]> = (0u64..1_000_000)
        .map(|i| leaf_hash(&i.to_be_bytes()))
        .collect();
    let mut g = c.benchmark_group("merkle");
    g.sample_size(10);
    g.throughput(Throughput::Elements(leaves.len() as u64));
    g.bench_function("root of 1M leaf hashes", |b| {
        b.iter(|| {
            let mut f = Frontier::new();
            leaves.iter().for_each(|l| f.push(*l));
            f.root()
        })
    });
    g.finish();
}

fn audit_export(c: &mut Criterion) {
    let secret = AuthorSecret::from_seed(&[2; 32]);
    let entries: Vec<Vec<u8>> = chain(&secret, 100_000)
        .into_iter()
        .map(|r| r.into_bytes())
        .collect();
    let (file, _) = export_log(Vec::new(), NET, &secret, &entries, &[]).expect("export");
    println!("100k-entry export: {} bytes", file.len());
    let mut g = c.benchmark_group("audit");
    g.sample_size(10);
    g.throughput(Throughput::Elements(entries.len() as u64));
    g.bench_function("audit 100k-entry export", |b| {
        b.iter_batched(
            || file.as_slice(),
            |input| audit(input, &AuditOptions::default(), |_, _| {}).expect("audit passes"),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, records, merkle, audit_export);
criterion_main!(benches);
