//! The indicator index of clear records as sorted run files: `(digest, log index)` pairs, 16 bytes
//! each, sorted, in files beside the sled database (`<store>.indicators/`), plus the newest pairs in
//! memory. An inverted index inserts in random key order, which costs sled ~400 bytes of disk per
//! 17-byte key (measured: 1.68× the record bytes at 1M records, against 0.5× allowed); sorted runs
//! cost the 16 bytes.
//!
//! - A run covers the log entries `[first, end)`; the runs cover `[0, covered)` without gaps. Pairs
//!   of later entries are in memory (`mem`), added as each group of appends is applied.
//! - After each durable flush of the store, memory holding [`FLUSH_AT`] pairs or more is written as a
//!   new run (sorted, to a temporary file, fsynced, renamed): a run only covers entries that are
//!   durable in the log. More than [`MAX_RUNS`] runs are merged into one.
//! - At open, runs that do not chain from 0, or whose header or size is wrong, or that were written for
//!   another store (`store-id`, see [`Runs::bind`]), are deleted; the log entries the runs do not
//!   cover are indexed again from the log. The index is derived: deleting the
//!   directory rebuilds it.

use std::collections::BinaryHeap;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read as _, Write as _};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

/// One pair: an observable's digest and the log index of an entry reporting it.
pub(super) type Pair = ([u8; 8], u64);

const MAGIC: &[u8; 8] = b"CNIDX\x01\0\0";
/// Magic, first, end, count.
const HEADER: u64 = 32;
const PAIR: u64 = 16;
/// Pairs kept in memory before they are written as a run (4 MiB).
pub(super) const FLUSH_AT: usize = 1 << 18;
/// Runs kept before they are merged into one.
const MAX_RUNS: usize = 8;
/// Pairs read at once when collecting the matches of a digest.
const CHUNK: u64 = 512;

struct Run {
    path: PathBuf,
    file: File,
    first: u64,
    end: u64,
    count: u64,
}

/// The run files and the pairs not yet in one.
pub(in crate::store) struct Runs {
    dir: PathBuf,
    runs: Vec<Run>,
    mem: Vec<Pair>,
    /// Every log entry below this is in a run.
    covered: u64,
    /// Every log entry below this is in a run or in `mem`.
    upto: u64,
}

impl Runs {
    /// Opens the run files in `dir` (creating it), keeping those that chain from entry 0.
    pub(in crate::store) fn open(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let mut runs = Vec::new();
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            match path.extension().and_then(|e| e.to_str()) {
                Some("run") => match Run::open(&path) {
                    Ok(run) => runs.push(run),
                    Err(e) => {
                        tracing::warn!(file = %path.display(), error = %e, "dropping a damaged indicator index run (it is rebuilt from the log)");
                        fs::remove_file(&path)?;
                    }
                },
                Some("tmp") => fs::remove_file(&path)?,
                _ => {}
            }
        }
        runs.sort_by_key(|r| r.first);
        let mut covered = 0;
        let mut kept = Vec::new();
        for run in runs {
            if run.first == covered && run.end > covered {
                covered = run.end;
                kept.push(run);
            } else {
                fs::remove_file(&run.path)?;
            }
        }
        Ok(Self {
            dir: dir.to_owned(),
            runs: kept,
            mem: Vec::new(),
            covered,
            upto: covered,
        })
    }

    /// Ties the runs to the store `id` names (a nonce the store keeps in its `meta` tree): runs
    /// written for another store (one deleted and rebuilt beside them, whose log may differ) are
    /// deleted, to be rebuilt from this store's log.
    pub(in crate::store) fn bind(&mut self, id: &[u8]) -> io::Result<()> {
        let path = self.dir.join("store-id");
        if fs::read(&path).is_ok_and(|held| held == id) {
            return Ok(());
        }
        for run in self.runs.drain(..) {
            fs::remove_file(&run.path)?;
        }
        self.mem.clear();
        self.covered = 0;
        self.upto = 0;
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, id)?;
        File::open(&tmp)?.sync_all()?;
        fs::rename(&tmp, &path)?;
        File::open(&self.dir)?.sync_all()
    }

    /// Every log entry below this is indexed (in a run or in memory).
    pub(in crate::store) fn upto(&self) -> u64 {
        self.upto
    }

    /// Drops everything at or above log entry `size` (runs written for entries the log no longer
    /// holds, after a crash that lost an unflushed tail): they are indexed again as they return.
    pub(in crate::store) fn truncate(&mut self, size: u64) -> io::Result<()> {
        while self.runs.last().is_some_and(|r| r.end > size) {
            if let Some(run) = self.runs.pop() {
                fs::remove_file(&run.path)?;
            }
        }
        self.covered = self.runs.last().map_or(0, |r| r.end);
        self.mem.retain(|(_, i)| *i < size);
        self.upto = self.upto.min(size).max(self.covered);
        Ok(())
    }

    /// Adds the pairs of log entry `index`, the next one (entries come in log order).
    pub(in crate::store) fn add(&mut self, index: u64, digests: &[[u8; 8]]) {
        debug_assert!(index >= self.upto);
        self.mem.extend(digests.iter().map(|d| (*d, index)));
        self.upto = index + 1;
    }

    /// Writes memory as a run if it holds [`FLUSH_AT`] pairs or more (or `force`), covering the
    /// entries up to `durable` (the log size just flushed); merges the runs if there are too many.
    pub(in crate::store) fn persist(&mut self, durable: u64, force: bool) -> io::Result<()> {
        if !(force || self.mem.len() >= FLUSH_AT) || durable <= self.covered {
            return Ok(());
        }
        let end = durable.min(self.upto);
        let (mut out, keep): (Vec<Pair>, Vec<Pair>) =
            self.mem.drain(..).partition(|(_, i)| *i < end);
        out.sort_unstable();
        let run = self.write_run(self.covered, end, out.len() as u64, out.into_iter())?;
        self.runs.push(run);
        self.mem = keep;
        self.covered = end;
        if self.runs.len() > MAX_RUNS {
            self.merge()?;
        }
        Ok(())
    }

    /// Log indexes of the pairs with `digest`, in no particular order.
    pub(in crate::store) fn lookup(&self, digest: [u8; 8], out: &mut Vec<u64>) -> io::Result<()> {
        for run in &self.runs {
            run.lookup(digest, out)?;
        }
        out.extend(
            self.mem
                .iter()
                .filter(|(d, _)| *d == digest)
                .map(|(_, i)| *i),
        );
        Ok(())
    }

    /// Pairs held in run files and in memory.
    #[cfg(test)]
    pub(super) fn len(&self) -> (u64, usize) {
        (self.runs.iter().map(|r| r.count).sum(), self.mem.len())
    }

    fn write_run(
        &self,
        first: u64,
        end: u64,
        count: u64,
        pairs: impl Iterator<Item = Pair>,
    ) -> io::Result<Run> {
        let path = self.dir.join(format!("{first:020}-{end:020}.run"));
        let tmp = path.with_extension("tmp");
        {
            let mut w = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
            w.write_all(MAGIC)?;
            for n in [first, end, count] {
                w.write_all(&n.to_be_bytes())?;
            }
            let mut written = 0u64;
            for (digest, index) in pairs {
                w.write_all(&digest)?;
                w.write_all(&index.to_be_bytes())?;
                written += 1;
            }
            debug_assert_eq!(written, count);
            w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        }
        fs::rename(&tmp, &path)?;
        File::open(&self.dir)?.sync_all()?;
        Run::open(&path)
    }

    /// Merges every run into one (a streaming k-way merge).
    fn merge(&mut self) -> io::Result<()> {
        let (first, end) = (self.runs[0].first, self.covered);
        let count = self.runs.iter().map(|r| r.count).sum();
        let mut readers = self
            .runs
            .iter()
            .map(|r| {
                let mut f = BufReader::with_capacity(1 << 16, File::open(&r.path)?);
                let mut header = [0u8; HEADER as usize];
                f.read_exact(&mut header)?;
                Ok((f, r.count))
            })
            .collect::<io::Result<Vec<_>>>()?;
        let mut heap = BinaryHeap::new();
        for (k, (reader, left)) in readers.iter_mut().enumerate() {
            if let Some(pair) = next_pair(reader, left)? {
                heap.push(std::cmp::Reverse((pair, k)));
            }
        }
        let mut failed = None;
        let merged = std::iter::from_fn(|| {
            let std::cmp::Reverse((pair, k)) = heap.pop()?;
            let (reader, left) = &mut readers[k];
            match next_pair(reader, left) {
                Ok(Some(next)) => heap.push(std::cmp::Reverse((next, k))),
                Ok(None) => {}
                Err(e) => failed = Some(e),
            }
            Some(pair)
        });
        let run = self.write_run(first, end, count, merged);
        if let Some(e) = failed {
            return Err(e);
        }
        let run = run?;
        for old in self.runs.drain(..) {
            if old.path != run.path {
                fs::remove_file(&old.path)?;
            }
        }
        self.runs.push(run);
        Ok(())
    }
}

fn next_pair(reader: &mut BufReader<File>, left: &mut u64) -> io::Result<Option<Pair>> {
    if *left == 0 {
        return Ok(None);
    }
    let mut b = [0u8; PAIR as usize];
    reader.read_exact(&mut b)?;
    *left -= 1;
    Ok(Some(split(&b)))
}

fn split(b: &[u8]) -> Pair {
    let mut digest = [0u8; 8];
    digest.copy_from_slice(&b[..8]);
    let mut index = [0u8; 8];
    index.copy_from_slice(&b[8..16]);
    (digest, u64::from_be_bytes(index))
}

impl Run {
    fn open(path: &Path) -> io::Result<Self> {
        let file = File::open(path)?;
        let mut header = [0u8; HEADER as usize];
        file.read_exact_at(&mut header, 0)?;
        let num = |at: usize| u64::from_be_bytes(header[at..at + 8].try_into().unwrap_or([0; 8]));
        let (first, end, count) = (num(8), num(16), num(24));
        let len = file.metadata()?.len();
        if &header[..8] != MAGIC || first >= end || len != HEADER + count * PAIR {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not an indicator index run of this version, or cut short",
            ));
        }
        Ok(Self {
            path: path.to_owned(),
            file,
            first,
            end,
            count,
        })
    }

    fn pair_at(&self, i: u64) -> io::Result<Pair> {
        let mut b = [0u8; PAIR as usize];
        self.file.read_exact_at(&mut b, HEADER + i * PAIR)?;
        Ok(split(&b))
    }

    fn lookup(&self, digest: [u8; 8], out: &mut Vec<u64>) -> io::Result<()> {
        // The first pair not below `digest`, by binary search.
        let (mut lo, mut hi) = (0u64, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.pair_at(mid)?.0 < digest {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        // Then the matching pairs, read a chunk at a time (a common value has many).
        let mut i = lo;
        let mut chunk = vec![0u8; (CHUNK * PAIR) as usize];
        while i < self.count {
            let n = CHUNK.min(self.count - i);
            let bytes = &mut chunk[..(n * PAIR) as usize];
            self.file.read_exact_at(bytes, HEADER + i * PAIR)?;
            for b in bytes.chunks_exact(PAIR as usize) {
                let (d, index) = split(b);
                if d != digest {
                    return Ok(());
                }
                out.push(index);
            }
            i += n;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u64) -> [u8; 8] {
        (n % 97).to_be_bytes()
    }

    #[test]
    fn pairs_survive_runs_merges_and_reopening_and_a_lost_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ix");
        let mut runs = Runs::open(&path).unwrap();
        // 20 runs of 50 entries (two digests each): merged whenever more than MAX_RUNS exist.
        for index in 0..1000u64 {
            runs.add(index, &[d(index), d(index + 1000)]);
            if index % 50 == 49 {
                runs.persist(index + 1, true).unwrap();
            }
        }
        runs.add(1000, &[d(5)]);
        let expect = |runs: &Runs, size: u64| {
            let mut got = Vec::new();
            runs.lookup(d(5), &mut got).unwrap();
            got.sort_unstable();
            let want: Vec<u64> = (0..size)
                .filter(|i| d(*i) == d(5) || d(i + 1000) == d(5) || *i == 1000)
                .collect();
            assert_eq!(got, want);
        };
        expect(&runs, 1001);
        assert!(runs.runs.len() <= MAX_RUNS, "{}", runs.runs.len());
        assert_eq!(runs.len(), (2000, 1));
        drop(runs);
        // Reopened: the runs cover 0..1000; entry 1000 (memory) must be added again.
        let mut runs = Runs::open(&path).unwrap();
        assert_eq!(runs.upto(), 1000);
        runs.add(1000, &[d(5)]);
        expect(&runs, 1001);
        // The log lost its tail after 900: runs beyond it go, and what is left still answers.
        runs.truncate(900).unwrap();
        assert!(runs.upto() <= 900);
        let mut got = Vec::new();
        runs.lookup(d(5), &mut got).unwrap();
        assert!(got.iter().all(|i| *i < 900));
        for index in runs.upto()..1001 {
            runs.add(index, &[d(index), d(index + 1000)]);
        }
        runs.persist(1001, true).unwrap();
        drop(runs);
        // A run cut short is dropped at open, with every run after it: rebuilt from the log.
        let first = path.join(format!("{:020}-", 0));
        let damaged = fs::read_dir(&path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_str().unwrap().starts_with(first.to_str().unwrap()))
            .unwrap();
        let len = fs::metadata(&damaged).unwrap().len();
        File::options()
            .write(true)
            .open(&damaged)
            .unwrap()
            .set_len(len - 1)
            .unwrap();
        let runs = Runs::open(&path).unwrap();
        assert_eq!(runs.upto(), 0);
        assert_eq!(fs::read_dir(&path).unwrap().count(), 0);
    }
}
