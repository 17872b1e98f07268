//! The export file: a CBOR sequence (RFC 8742) an auditor can verify offline, streamed in both
//! directions so a log of millions of entries is never held in memory.
//!
//! ```text
//! header   = {"format": "certnet-export", "version": 1, "net": tstr, "origin": tstr,
//!             "key": bstr .size 32, "checkpoint": tstr}         ; deterministic map
//! entry    = bstr                                               ; one signed record (COSE_Sign1 bytes)
//! fork     = [bstr, bstr]                                       ; an equivocation proof
//! file     = header, entry * (checkpoint size), fork *
//! ```
//! The entries are the node's log in order: entry `i` is leaf `i` of the Merkle tree whose root the
//! signed checkpoint (a C2SP signed note by `key`, key name = `origin`) commits to.

use std::io::{self, BufRead, Read, Write};

use ciborium::Value;

use crate::cbor;
use crate::chain::EquivocationProof;
use crate::checkpoint::{self, Checkpoint};
use crate::keys::{AuthorKey, AuthorSecret};
use crate::merkle::{Frontier, leaf_hash};
use crate::record::{MAX_RECORD, cose::bstr_head};

/// The `format` value in the header.
pub const FORMAT: &str = "certnet-export";
/// The export format version.
pub const FORMAT_VERSION: u64 = 1;
/// Largest header, in bytes.
pub const MAX_HEADER: usize = 64 * 1024;

/// The origin of a node's log: `certnet/<net>/<author key text>`. It is also the checkpoint note's
/// key name, so it names the log and the key that signs it.
pub fn log_origin(net: &str, key: &AuthorKey) -> String {
    format!("certnet/{net}/{key}")
}

/// Writes a whole export of `entries` (a log held in memory), signing a checkpoint over all of them
/// with `secret`. For tests, vectors and small tools; the node streams from its store instead.
pub fn export_log<W: Write>(
    out: W,
    net: &str,
    secret: &AuthorSecret,
    entries: &[Vec<u8>],
    forks: &[EquivocationProof],
) -> io::Result<(W, Checkpoint)> {
    let mut frontier = Frontier::new();
    entries.iter().for_each(|e| frontier.push(leaf_hash(e)));
    let origin = log_origin(net, &secret.public());
    let cp = Checkpoint::new(origin.clone(), frontier.size(), frontier.root())
        .map_err(io::Error::other)?;
    let note = checkpoint::sign(&cp, &origin, secret).map_err(io::Error::other)?;
    let header = ExportHeader {
        net: net.to_owned(),
        origin,
        key: secret.public(),
        checkpoint: note,
    };
    let mut writer = ExportWriter::new(out, &header)?;
    for e in entries {
        writer.entry(e)?;
    }
    for f in forks {
        writer.fork(f)?;
    }
    Ok((writer.finish()?, cp))
}

/// The header: which log, and the signed checkpoint the entries must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportHeader {
    /// Network id of every record.
    pub net: String,
    /// The log's origin (checkpoint origin and note key name).
    pub origin: String,
    /// The key that signed the checkpoint.
    pub key: AuthorKey,
    /// The signed checkpoint note, as text.
    pub checkpoint: String,
}

/// Why an export file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading or writing failed.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// The header is missing or malformed.
    #[error("header: {0}")]
    Header(String),
    /// The item at this position is not an entry or fork proof.
    #[error("item {item} (after the header): {reason}")]
    Item {
        /// 0-based item number after the header.
        item: u64,
        /// What is wrong.
        reason: String,
    },
}

impl ExportHeader {
    fn to_value(&self) -> Value {
        let t = |s: &str| Value::Text(s.to_owned());
        let mut v = Value::Map(vec![
            (t("format"), t(FORMAT)),
            (t("version"), Value::Integer(FORMAT_VERSION.into())),
            (t("net"), t(&self.net)),
            (t("origin"), t(&self.origin)),
            (t("key"), Value::Bytes(self.key.as_bytes().to_vec())),
            (t("checkpoint"), t(&self.checkpoint)),
        ]);
        cbor::canonicalize(&mut v);
        v
    }

    fn from_value(v: Value) -> Result<Self, String> {
        let Value::Map(mut entries) = v else {
            return Err("must be a map".into());
        };
        let mut get = |name: &str| {
            entries
                .iter()
                .position(|(k, _)| k.as_text() == Some(name))
                .map(|i| entries.swap_remove(i).1)
                .ok_or_else(|| format!("missing `{name}`"))
        };
        let text =
            |v: Value, name: &str| v.into_text().map_err(|_| format!("`{name}` must be text"));
        if text(get("format")?, "format")? != FORMAT {
            return Err(format!(
                "`format` must be `{FORMAT}`: this is not a certnet export"
            ));
        }
        let version = get("version")?;
        if version.as_integer() != Some(FORMAT_VERSION.into()) {
            return Err(format!(
                "unsupported export version {version:?} (this reads version 1)"
            ));
        }
        let header = ExportHeader {
            net: text(get("net")?, "net")?,
            origin: text(get("origin")?, "origin")?,
            key: get("key")?
                .as_bytes()
                .ok_or("`key` must be bytes")
                .and_then(|b| {
                    AuthorKey::from_slice(b).map_err(|_| "`key` must be a valid ed25519 key")
                })?,
            checkpoint: text(get("checkpoint")?, "checkpoint")?,
        };
        if let Some((k, _)) = entries.first() {
            return Err(format!("unknown field {k:?}"));
        }
        Ok(header)
    }
}

/// Writes an export file entry by entry.
pub struct ExportWriter<W: Write> {
    out: W,
    entries: u64,
}

impl<W: Write> ExportWriter<W> {
    /// Writes the header.
    pub fn new(mut out: W, header: &ExportHeader) -> io::Result<Self> {
        out.write_all(&cbor::encode(&header.to_value()))?;
        Ok(Self { out, entries: 0 })
    }

    /// Writes the next log entry (a signed record's bytes).
    pub fn entry(&mut self, record: &[u8]) -> io::Result<()> {
        self.out.write_all(&bstr_head(record.len()))?;
        self.out.write_all(record)?;
        self.entries += 1;
        Ok(())
    }

    /// Writes a fork proof (after every entry).
    pub fn fork(&mut self, proof: &EquivocationProof) -> io::Result<()> {
        self.out.write_all(&proof.to_cbor())
    }

    /// Entries written so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Flushes and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// One item after the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportItem {
    /// A log entry: signed record bytes (not yet verified).
    Entry(Vec<u8>),
    /// An equivocation proof's bytes (not yet verified).
    Fork(Vec<u8>),
}

/// Reads an export file item by item, bounding every allocation.
pub struct ExportReader<R: BufRead> {
    input: R,
    items: u64,
}

/// Reads and keeps the bytes of one CBOR item, at most `limit` of them.
struct Recording<'a, R> {
    inner: &'a mut R,
    seen: Vec<u8>,
    limit: usize,
}

impl<R: Read> Read for Recording<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let room = self.limit.saturating_sub(self.seen.len()).min(buf.len());
        if room == 0 {
            return Err(io::Error::other("header too large"));
        }
        let n = self.inner.read(&mut buf[..room])?;
        self.seen.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

impl<R: BufRead> ExportReader<R> {
    /// Reads the header.
    pub fn new(mut input: R) -> Result<(Self, ExportHeader), ExportError> {
        let mut rec = Recording {
            inner: &mut input,
            seen: Vec::new(),
            limit: MAX_HEADER,
        };
        let value: Value = ciborium::from_reader(&mut rec).map_err(|e| match e {
            ciborium::de::Error::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                ExportError::Header("file ends inside the header".into())
            }
            ciborium::de::Error::Io(e) if e.to_string() == "header too large" => {
                ExportError::Header(format!("larger than {MAX_HEADER} bytes"))
            }
            ciborium::de::Error::Io(e) => ExportError::Io(e),
            other => ExportError::Header(format!("not cbor: {other:?}")),
        })?;
        if cbor::decode(&rec.seen).is_err() {
            return Err(ExportError::Header("not deterministic cbor".into()));
        }
        let header = ExportHeader::from_value(value).map_err(ExportError::Header)?;
        Ok((Self { input, items: 0 }, header))
    }

    /// The next item, or `None` at the end of the file.
    pub fn next_item(&mut self) -> Result<Option<ExportItem>, ExportError> {
        if self.input.fill_buf()?.is_empty() {
            return Ok(None);
        }
        let item = self.items;
        self.items += 1;
        let bad = |reason: String| ExportError::Item { item, reason };
        let first = self
            .read_byte()?
            .ok_or_else(|| bad("unexpected end".into()))?;
        match first {
            0x40..=0x5b => Ok(Some(ExportItem::Entry(self.read_bstr_body(first, item)?))),
            0x82 => {
                let mut proof = vec![0x82];
                for _ in 0..2 {
                    let head = self
                        .read_byte()?
                        .ok_or_else(|| bad("file ends inside a fork proof".into()))?;
                    if !(0x40..=0x5b).contains(&head) {
                        return Err(bad("a fork proof must hold two byte strings".into()));
                    }
                    let body = self.read_bstr_body(head, item)?;
                    proof.extend_from_slice(&bstr_head(body.len()));
                    proof.extend_from_slice(&body);
                }
                Ok(Some(ExportItem::Fork(proof)))
            }
            other => Err(bad(format!(
                "expected an entry (byte string) or a fork proof, found initial byte 0x{other:02x}"
            ))),
        }
    }

    fn read_byte(&mut self) -> io::Result<Option<u8>> {
        let mut b = [0u8; 1];
        match self.input.read_exact(&mut b) {
            Ok(()) => Ok(Some(b[0])),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads a byte string's length (shortest form only) and body, bounded by [`MAX_RECORD`].
    fn read_bstr_body(&mut self, first: u8, item: u64) -> Result<Vec<u8>, ExportError> {
        let bad = |reason: &str| ExportError::Item {
            item,
            reason: reason.to_owned(),
        };
        let extra = match first & 0x1f {
            n @ 0..=23 => return self.read_body(u64::from(n), item),
            24 => 1,
            25 => 2,
            26 => 4,
            27 => 8,
            _ => return Err(bad("indefinite-length byte strings are not allowed")),
        };
        let mut buf = [0u8; 8];
        self.input
            .read_exact(&mut buf[8 - extra..])
            .map_err(|_| bad("file ends inside an item's length"))?;
        let len = u64::from_be_bytes(buf);
        if bstr_head(len as usize).len() != extra + 1 {
            return Err(bad("length is not in shortest form"));
        }
        self.read_body(len, item)
    }

    fn read_body(&mut self, len: u64, item: u64) -> Result<Vec<u8>, ExportError> {
        if len > MAX_RECORD as u64 {
            return Err(ExportError::Item {
                item,
                reason: format!("{len} bytes is larger than any record ({MAX_RECORD})"),
            });
        }
        let mut body = vec![0u8; len as usize];
        self.input
            .read_exact(&mut body)
            .map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => ExportError::Item {
                    item,
                    reason: "file ends inside this item (truncated)".into(),
                },
                _ => ExportError::Io(e),
            })?;
        Ok(body)
    }
}
