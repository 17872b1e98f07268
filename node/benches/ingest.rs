//! Single-node ingest benchmark: pre-signed records through the same path gossip and sync use
//! (`ingest::ingest_batch`: parallel `verify_strict`, roster filter, append, group-commit flush), next to
//! raw `verify_strict` on all cores in the same run; RSS and disk bytes per record at milestones.
//!
//! `cargo bench -p certnet-node --bench ingest -- [--records N] [--batch B]` (default 1,000,000 and 1024).
//! The records are signed first and written to a temporary file; the ingest runs in a child process
//! that streams them from that file, so its RSS is the node's (store, cache, one batch), not the corpus.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)] // a benchmark binary: its output is the report

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use certnet_node::ingest::{Outcome, ingest_batch};
use certnet_node::membership::{Member, MemberName, NetworkId, Roster};
use certnet_node::store::{Ingest, Store, StoreConfig};
use certnet_protocol::id::RecordId;
use certnet_protocol::keys::AuthorSecret;
use certnet_protocol::record::{FeedPosition, cose, sample, sign_record, verify_record};
use rayon::prelude::*;

const NET: &str = "certnet-bench";
const AUTHORS: u8 = 10;
const CACHE: u64 = 64 << 20;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.replace('_', "").parse().expect("a number"))
        .unwrap_or(default)
}

fn secrets() -> Vec<AuthorSecret> {
    (1..=AUTHORS)
        .map(|i| AuthorSecret::from_seed(&[i; 32]))
        .collect()
}

fn roster() -> Roster {
    let mut roster = Roster::new(NET.parse::<NetworkId>().unwrap());
    for (i, s) in secrets().iter().enumerate() {
        let name: MemberName = format!("CERT-{i}").parse().unwrap();
        roster
            .add_member(Member::new(name, s.public(), vec![], vec![]))
            .unwrap();
    }
    roster
}

/// Signs `n` records, round-robin over the authors (each author's chain in order), into `path` as
/// length-prefixed records. Returns total record bytes.
fn sign_corpus(n: u64, path: &Path) -> u64 {
    let per_author = n.div_ceil(u64::from(AUTHORS));
    let chains: Vec<Vec<Vec<u8>>> = secrets()
        .par_iter()
        .map(|s| {
            let mut prev: Option<RecordId> = None;
            (1..=per_author)
                .map(|seq| {
                    let at = FeedPosition {
                        seq,
                        prev,
                        time: 1_795_000_000_000 + seq,
                    };
                    let r = sign_record(NET, sample::incident(seq), at, s).unwrap();
                    prev = Some(r.id());
                    r.into_bytes()
                })
                .collect()
        })
        .collect();
    let mut out = BufWriter::new(File::create(path).unwrap());
    let mut bytes = 0u64;
    let mut written = 0;
    'outer: for seq in 0..per_author as usize {
        for chain in &chains {
            if written == n {
                break 'outer;
            }
            let r = &chain[seq];
            out.write_all(&(r.len() as u32).to_be_bytes()).unwrap();
            out.write_all(r).unwrap();
            bytes += r.len() as u64;
            written += 1;
        }
    }
    out.flush().unwrap();
    bytes
}

fn read_next(input: &mut impl Read) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    input.read_exact(&mut len).ok()?;
    let mut r = vec![0u8; u32::from_be_bytes(len) as usize];
    input.read_exact(&mut r).ok()?;
    Some(r)
}

/// Raw `verify_strict` rate on all cores over the first `n` records (Sig_structures prepared first).
fn raw_verify_rate(path: &Path, n: usize) -> f64 {
    let mut input = BufReader::new(File::open(path).unwrap());
    let prepared: Vec<_> = std::iter::from_fn(|| read_next(&mut input))
        .take(n)
        .map(|b| {
            let r = verify_record(&b, NET).unwrap();
            let sig: [u8; 64] = b[b.len() - 64..].try_into().unwrap();
            (
                r.author(),
                cose::sig_structure(r.record().payload_bytes()),
                sig,
            )
        })
        .collect();
    let start = Instant::now();
    let ok = prepared.par_iter().all(|(k, m, s)| k.verify_strict(m, s));
    assert!(ok);
    prepared.len() as f64 / start.elapsed().as_secs_f64()
}

fn rss_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    let m = e.metadata().unwrap();
                    if m.is_dir() {
                        dir_bytes(&e.path())
                    } else {
                        m.len()
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// The child: ingests the corpus in batches, printing a line per milestone.
fn ingest_child(corpus: &Path, store_dir: &Path, batch: usize) {
    let store = Store::open(&StoreConfig {
        path: store_dir.to_path_buf(),
        cache_capacity: CACHE,
        net: NET.into(),
        max_orphans: 10_000,
        disk: None,
    })
    .unwrap();
    let roster = roster();
    let mut input = BufReader::new(File::open(corpus).unwrap());
    let mut done = 0u64;
    let mut raw_bytes = 0u64;
    let mut next_milestone = 100_000u64;
    let start = Instant::now();
    loop {
        let items: Vec<Vec<u8>> = std::iter::from_fn(|| read_next(&mut input))
            .take(batch)
            .collect();
        if items.is_empty() {
            break;
        }
        raw_bytes += items.iter().map(|r| r.len() as u64).sum::<u64>();
        let outcomes = ingest_batch(&store, &roster, NET, &items).unwrap();
        assert!(
            outcomes
                .iter()
                .all(|o| matches!(o, Outcome::Stored(Ingest::Appended { .. })))
        );
        done += items.len() as u64;
        if done >= next_milestone {
            let secs = start.elapsed().as_secs_f64();
            println!(
                "milestone {done} {:.0} {} {} {} {} {}",
                done as f64 / secs,
                rss_kib("VmRSS:"),
                rss_kib("VmHWM:"),
                dir_bytes(store_dir),
                raw_bytes,
                dir_bytes(&index_dir(store_dir))
            );
            next_milestone *= 10;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "final {done} {:.0} {} {} {} {} {}",
        done as f64 / secs,
        rss_kib("VmRSS:"),
        rss_kib("VmHWM:"),
        dir_bytes(store_dir),
        raw_bytes,
        dir_bytes(&index_dir(store_dir))
    );
    // Indicator lookups on the full store (index entries only; the API then reads each record): a
    // value in one record, and one in every record (the newest 1,000 entries).
    for (what, value) in [
        ("one record", "tax-refund-7.example".to_owned()),
        ("every record", "refunds@tax-refund.example".to_owned()),
    ] {
        let t = Instant::now();
        let hits = store.indicator_entries(&value, None, 1000).unwrap();
        println!(
            "lookup of a value in {what}: {} entries (truncated: {}) in {:.3} ms",
            hits.indexes.len(),
            hits.truncated,
            t.elapsed().as_secs_f64() * 1000.0
        );
    }
}

/// The indicator index's run files, beside the sled database (`<store>.indicators`).
fn index_dir(store_dir: &Path) -> PathBuf {
    let mut name = store_dir.file_name().unwrap().to_os_string();
    name.push(".indicators");
    store_dir.with_file_name(name)
}

fn main() {
    if let Some(i) = std::env::args().position(|a| a == "--child") {
        let args: Vec<String> = std::env::args().collect();
        ingest_child(
            Path::new(&args[i + 1]),
            Path::new(&args[i + 2]),
            arg("--batch", 1024) as usize,
        );
        return;
    }
    if std::env::args().any(|a| a == "--bench") && std::env::args().count() <= 2 {
        // `cargo bench` passes `--bench`; fall through to the defaults.
    }
    let n = arg("--records", 1_000_000);
    let batch = arg("--batch", 1024);
    let work: PathBuf = tempfile::tempdir().unwrap().keep();
    let corpus = work.join("corpus.bin");
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    println!(
        "certnet ingest benchmark: {n} records by {AUTHORS} authors, batch {batch}, {cores} cores"
    );

    let t = Instant::now();
    let raw_bytes = sign_corpus(n, &corpus);
    println!(
        "signed {n} records ({:.1} MiB) in {:.1} s",
        raw_bytes as f64 / 1048576.0,
        t.elapsed().as_secs_f64()
    );

    let sample = n.min(200_000) as usize;
    let raw = raw_verify_rate(&corpus, sample);
    println!("raw verify_strict, all cores ({sample} records): {raw:.0} records/s");

    let store_dir = work.join("store");
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--child",
            corpus.to_str().unwrap(),
            store_dir.to_str().unwrap(),
            "--batch",
            &batch.to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!();
    println!(
        "| records | ingest records/s | % of raw verify | RSS MiB | peak RSS MiB | disk MiB | disk / raw bytes | indicator index MiB | index / raw bytes |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in stdout.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 8 {
            continue;
        }
        let num = |i: usize| f[i].parse::<f64>().unwrap();
        // Disk: the sled database and the indicator index's run files (the newest pairs, at most
        // 4 MiB, are still in memory).
        let disk = num(5) + num(7);
        println!(
            "| {}{} | {:.0} | {:.0}% | {:.0} | {:.0} | {:.0} | {:.2}x | {:.1} | {:.3}x |",
            f[1],
            if f[0] == "final" { " (end)" } else { "" },
            num(2),
            100.0 * num(2) / raw,
            num(3) / 1024.0,
            num(4) / 1024.0,
            disk / 1048576.0,
            disk / num(6),
            num(7) / 1048576.0,
            num(7) / num(6)
        );
    }
    println!();
    for line in stdout.lines().filter(|l| l.starts_with("lookup")) {
        println!("{line}");
    }
    std::fs::remove_dir_all(&work).ok();
}
