//! Signed records: [`sign_record`] makes them, [`verify_record`] is the one acceptance check.

use super::{Draft, MAX_RECORD, Payload, RecordError, cose};
use crate::id::RecordId;
use crate::keys::{AuthorKey, AuthorSecret};

/// A record whose envelope, payload and content are valid. The signature is not yet checked:
/// call [`Record::verify`]. Use it to read records from a trusted local store cheaply.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    bytes: Vec<u8>,
    /// Where the payload sits inside `bytes`.
    payload_at: std::ops::Range<usize>,
    payload: Payload,
    signature: [u8; 64],
    id: RecordId,
    /// For a sealed record opened by a recipient: the audience (author keys' bytes).
    audience: Option<Vec<[u8; 32]>>,
}

/// A record that passed every check, signature included. Only [`verify_record`], [`Record::verify`]
/// and [`sign_record`] make one.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedRecord(Record);

impl Record {
    /// Decodes a signed record and validates everything but the signature.
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        if bytes.len() > MAX_RECORD {
            return Err(RecordError::Oversize {
                what: "record",
                size: bytes.len(),
                max: MAX_RECORD,
            });
        }
        let (payload_bytes, signature) = cose::decode(bytes)?;
        let payload = Payload::from_cbor(&payload_bytes)?;
        Ok(Record {
            bytes: bytes.to_vec(),
            payload_at: cose::payload_range(bytes.len(), payload_bytes.len()),
            id: RecordId::of_payload(&payload_bytes),
            payload,
            signature,
            audience: None,
        })
    }

    /// A recipient's reading of a sealed record: the same signed bytes, id and signature, with the
    /// opened body in place of the sealed payload, and its audience. Readers (views, lists, STIX)
    /// then treat it like a clear record; [`Record::bytes`] stays the sealed record as signed and
    /// [`Record::verify`] still checks its signature (net and author are the same).
    pub fn with_opened(mut self, opened: crate::sealed::Opened) -> Self {
        self.payload = opened.payload;
        self.audience = Some(opened.to);
        self
    }

    /// For a sealed record opened by a recipient ([`Record::with_opened`]): the author keys (bytes)
    /// of its audience.
    pub fn audience(&self) -> Option<&[[u8; 32]]> {
        self.audience.as_deref()
    }

    /// Checks the network and the signature (Ed25519 `verify_strict` over the Sig_structure).
    pub fn verify(self, net: &str) -> Result<VerifiedRecord, RecordError> {
        if self.payload.net != net {
            return Err(RecordError::WrongNetwork {
                expected: net.to_owned(),
                got: self.payload.net.clone(),
            });
        }
        let signed = cose::sig_structure(self.payload_bytes());
        if !self.payload.author.verify_strict(&signed, &self.signature) {
            return Err(RecordError::BadSignature);
        }
        Ok(VerifiedRecord(self))
    }

    /// The signed COSE_Sign1 bytes, exactly as received.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The payload bytes (what the id hashes).
    pub fn payload_bytes(&self) -> &[u8] {
        &self.bytes[self.payload_at.clone()]
    }

    /// The decoded payload.
    pub fn payload(&self) -> &Payload {
        &self.payload
    }

    /// SHA-256 of the payload bytes.
    pub fn id(&self) -> RecordId {
        self.id
    }
}

impl VerifiedRecord {
    /// The signed COSE_Sign1 bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0.bytes
    }

    /// Gives up the bytes (to store them).
    pub fn into_bytes(self) -> Vec<u8> {
        self.0.bytes
    }

    /// The payload.
    pub fn payload(&self) -> &Payload {
        &self.0.payload
    }

    /// The record id.
    pub fn id(&self) -> RecordId {
        self.0.id
    }

    /// The author.
    pub fn author(&self) -> AuthorKey {
        self.0.payload.author
    }

    /// The position in the author's feed.
    pub fn seq(&self) -> u64 {
        self.0.payload.seq
    }

    /// The unverified view (same data).
    pub fn record(&self) -> &Record {
        &self.0
    }
}

/// The acceptance check for record bytes from anywhere: size, envelope, deterministic payload,
/// field rules, network, strict signature.
pub fn verify_record(bytes: &[u8], net: &str) -> Result<VerifiedRecord, RecordError> {
    Record::decode(bytes)?.verify(net)
}

/// The `author` a record's bytes claim, read in place without decoding or verifying anything else
/// (a few hundred nanoseconds). For scheduling only, never for trust: the claim is unverified.
pub fn peek_author(bytes: &[u8]) -> Option<AuthorKey> {
    use crate::cbor_reader::{BYTES, MAP, Reader};
    let mut r = Reader::new(bytes);
    // COSE_Sign1: tag 18, [protected, unprotected, payload, signature].
    if r.head().ok()? != (6, 18) || r.array(4).ok()? != 4 {
        return None;
    }
    r.skip(2).ok()?;
    r.skip(4).ok()?;
    let payload = r.bytes(crate::record::MAX_PAYLOAD).ok()?;
    let mut p = Reader::new(payload);
    let n = p.expect(MAP, "payload map").ok()?;
    for _ in 0..n.min(16) {
        if p.text_bytes().ok()? == b"author" {
            return match p.head().ok()? {
                (BYTES, 32) => AuthorKey::from_slice(p.bytes_after_head(32).ok()?).ok(),
                _ => None,
            };
        }
        p.skip(8).ok()?;
    }
    None
}

/// Where a new record goes in its author's feed, and when it was signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedPosition {
    /// The new record's seq (head seq + 1, or 1).
    pub seq: u64,
    /// The id of the author's head, `None` for the first record.
    pub prev: Option<RecordId>,
    /// Signing time, ms since the Unix epoch (the caller's clock).
    pub time: u64,
}

/// Validates and signs a draft as the next record of `secret`'s feed on `net`.
pub fn sign_record(
    net: &str,
    draft: Draft,
    at: FeedPosition,
    secret: &AuthorSecret,
) -> Result<VerifiedRecord, RecordError> {
    let payload = Payload {
        net: net.to_owned(),
        author: secret.public(),
        seq: at.seq,
        prev: at.prev,
        time: at.time,
        kind: draft.kind,
        tlp: draft.tlp,
        refs: draft.refs,
        content: draft.content,
    };
    payload.validate()?;
    let payload_bytes = payload.to_cbor();
    // Sign only what every node will accept: run the receivers' decoder on the bytes (this also catches
    // unknown-kind content outside the deterministic subset, and oversize) and keep the decoded,
    // canonical payload so the result equals what receivers decode.
    let payload = Payload::from_cbor(&payload_bytes)?;
    let signature = secret.sign(&cose::sig_structure(&payload_bytes));
    let bytes = cose::encode(&payload_bytes, &signature);
    let payload_at = cose::payload_range(bytes.len(), payload_bytes.len());
    Ok(VerifiedRecord(Record {
        bytes,
        payload_at,
        id: RecordId::of_payload(&payload_bytes),
        payload,
        signature,
        audience: None,
    }))
}
