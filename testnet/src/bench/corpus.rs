//! Pre-signed records: how the benchmarks get many records into a federation fast.
//!
//! The roster lists extra members that run no node ("signers", `SIGNER-01`…). The benchmark holds
//! their author keys, signs M typical incidents (`record::sample::incident`) with certnet-protocol —
//! round-robin over the signers, each a complete chain (seq 1, 2, … with `prev` links), on all
//! cores — and writes them as an export file, the format `certnet import` reads. Importing that
//! file into a stopped node runs the node's own path for records from others (full audit, then
//! `ingest_batch`: parallel `verify_strict`, roster filter, store append, group commit), so the
//! records are exactly what gossip or sync would have delivered.
//!
//! [`raw_verify_rate`] measures the reference the verify target compares with: bare Ed25519
//! `verify_strict` of the same records on all cores, nothing else.

use std::io::{self, BufWriter};
use std::path::Path;
use std::time::Instant;

use certnet_protocol::export::export_log;
use certnet_protocol::keys::AuthorSecret;
use certnet_protocol::record::{
    Draft, FeedPosition, Record, RecordError, cose, sample, sign_record,
};
use rayon::prelude::*;

use super::stats::rate;
use crate::roster::RosterMember;

/// Why a corpus could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// A record could not be signed (a bug in the sample content).
    #[error("cannot sign record {index} of {signer}")]
    Sign {
        /// Which signer.
        signer: String,
        /// Which record of its chain.
        index: u64,
        /// Why.
        source: RecordError,
    },
    /// A signed record did not decode again (a bug).
    #[error("a pre-signed record does not decode")]
    Decode(#[source] RecordError),
    /// The export file could not be written.
    #[error("cannot write the export file {}", .path.display())]
    Write {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// No signers were given.
    #[error("a corpus needs at least one signer")]
    NoSigners,
}

/// Authors without a node, whose keys the benchmark holds.
#[derive(Debug)]
pub struct Signers {
    secrets: Vec<(String, AuthorSecret)>,
}

impl Signers {
    /// `count` signers `SIGNER-01`…, with keys derived from `seed` (fresh per run: pass a random
    /// seed, so two runs never share feeds).
    pub fn new(count: usize, seed: u64) -> Self {
        let secrets = (0..count)
            .map(|i| {
                let mut bytes = [0u8; 32];
                bytes[..8].copy_from_slice(&seed.to_le_bytes());
                bytes[8..16].copy_from_slice(&u64::try_from(i).unwrap_or(0).to_le_bytes());
                bytes[16..24].copy_from_slice(b"signer\0\0");
                (
                    format!("SIGNER-{:02}", i + 1),
                    AuthorSecret::from_seed(&bytes),
                )
            })
            .collect();
        Self { secrets }
    }

    /// Their roster entries: name and author key, no PeerId, no address.
    pub fn roster_members(&self) -> Vec<RosterMember> {
        self.secrets
            .iter()
            .map(|(name, secret)| RosterMember {
                name: name.clone(),
                author_key: secret.public().to_string(),
                peer_ids: Vec::new(),
                addrs: Vec::new(),
                encryption_keys: vec![],
            })
            .collect()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// Signs `count` typical incidents on `net`, round-robin over the signers, each signer's records
    /// a valid chain; in a valid log order (signer `s`'s seq k before its seq k+1). `time_ms` is
    /// the signing time written into the first record (then +1 ms per record of a chain).
    pub fn sign(&self, net: &str, count: u64, time_ms: u64) -> Result<Vec<Vec<u8>>, CorpusError> {
        self.sign_drafts(net, count, time_ms, &sample::incident)
    }

    /// Like [`Signers::sign`], with record `n`'s draft made by `draft(n)`.
    pub fn sign_drafts(
        &self,
        net: &str,
        count: u64,
        time_ms: u64,
        draft: &(dyn Fn(u64) -> Draft + Sync),
    ) -> Result<Vec<Vec<u8>>, CorpusError> {
        let signers = u64::try_from(self.secrets.len()).unwrap_or(0);
        if signers == 0 {
            return Err(CorpusError::NoSigners);
        }
        let chains: Vec<Vec<Vec<u8>>> = self
            .secrets
            .par_iter()
            .enumerate()
            .map(|(s, (name, secret))| {
                let s = u64::try_from(s).unwrap_or(0);
                let own = count / signers + u64::from(s < count % signers);
                let mut prev = None;
                let mut chain = Vec::new();
                for k in 0..own {
                    let n = k * signers + s;
                    let at = FeedPosition {
                        seq: k + 1,
                        prev,
                        time: time_ms + k,
                    };
                    let record = sign_record(net, draft(n), at, secret).map_err(|source| {
                        CorpusError::Sign {
                            signer: name.clone(),
                            index: k,
                            source,
                        }
                    })?;
                    prev = Some(record.id());
                    chain.push(record.into_bytes());
                }
                Ok(chain)
            })
            .collect::<Result<_, CorpusError>>()?;
        // Interleave: the k-th record of every chain, then the (k+1)-th.
        let mut iters: Vec<_> = chains.into_iter().map(Vec::into_iter).collect();
        let mut out = Vec::new();
        loop {
            let before = out.len();
            out.extend(iters.iter_mut().filter_map(Iterator::next));
            if out.len() == before {
                return Ok(out);
            }
        }
    }

    /// Writes `records` as an export file at `path`, its checkpoint signed by the first signer.
    pub fn write_export(
        &self,
        path: &Path,
        net: &str,
        records: &[Vec<u8>],
    ) -> Result<(), CorpusError> {
        let (_, secret) = self.secrets.first().ok_or(CorpusError::NoSigners)?;
        let write_err = |source| CorpusError::Write {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::create(path).map_err(write_err)?;
        let (out, _) =
            export_log(BufWriter::new(file), net, secret, records, &[]).map_err(write_err)?;
        out.into_inner()
            .map_err(|e| write_err(e.into_error()))?
            .sync_all()
            .map_err(write_err)
    }
}

/// Raw Ed25519 `verify_strict` on all cores over `records` (their Sig_structures and signatures
/// prepared beforehand, not timed): records/s, and whether every signature verified.
pub fn raw_verify_rate(records: &[Vec<u8>]) -> Result<(f64, bool), CorpusError> {
    let prepared: Vec<_> = records
        .par_iter()
        .map(|bytes| {
            let record = Record::decode(bytes).map_err(CorpusError::Decode)?;
            let message = cose::sig_structure(record.payload_bytes());
            let (_, signature) = cose::decode(bytes).map_err(CorpusError::Decode)?;
            Ok((record.payload().author, message, signature))
        })
        .collect::<Result<_, CorpusError>>()?;
    let start = Instant::now();
    let all_ok = prepared
        .par_iter()
        .all(|(author, message, signature)| author.verify_strict(message, signature));
    let secs = start.elapsed().as_secs_f64();
    Ok((
        rate(u64::try_from(prepared.len()).unwrap_or(0), secs),
        all_ok,
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::fs::File;
    use std::io::BufReader;

    use certnet_protocol::audit::{AuditOptions, audit};
    use certnet_protocol::record::verify_record;

    use super::*;

    #[test]
    fn signed_chains_interleave_and_the_export_audits() {
        let signers = Signers::new(3, 42);
        let net = "testnet-corpus";
        let records = signers.sign(net, 7, 1_795_000_000_000).unwrap();
        assert_eq!(records.len(), 7);
        let decoded: Vec<_> = records
            .iter()
            .map(|r| verify_record(r, net).unwrap())
            .collect();
        // Round-robin: signer 0 seq 1, signer 1 seq 1, signer 2 seq 1, signer 0 seq 2, ...
        let seqs: Vec<u64> = decoded.iter().map(|r| r.seq()).collect();
        assert_eq!(seqs, [1, 1, 1, 2, 2, 2, 3]);
        assert_eq!(decoded[3].payload().prev, Some(decoded[0].id()));
        let members = signers.roster_members();
        assert_eq!(members.len(), 3);
        assert_eq!(members[0].name, "SIGNER-01");
        assert_eq!(members[0].author_key, decoded[0].author().to_string());
        assert!(members[0].peer_ids.is_empty());

        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("corpus.cbor");
        signers.write_export(&path, net, &records).unwrap();
        let summary = audit(
            BufReader::new(File::open(&path).unwrap()),
            &AuditOptions::default(),
            |_, _| {},
        )
        .unwrap();
        assert_eq!(summary.entries, 7);

        let (rate, ok) = raw_verify_rate(&records).unwrap();
        assert!(ok);
        assert!(rate > 0.0);
    }
}
