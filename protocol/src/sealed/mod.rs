//! Sealed records: a record body encrypted to named members (PROTOCOL.md §20).
//!
//! A `sealed` record is signed, chained, logged and audited like any other; its content is a
//! COSE_Encrypt ([`cose`]) whose plaintext is a complete record body (kind, TLP, refs, content and
//! the audience `to`). Only the audience's nodes can open it ([`open`]); every other node checks its
//! form and relays it. A short hint per recipient (an HMAC under the author–recipient X25519 secret)
//! lets a node that is not addressed decide so without any public-key operation.
//!
//! Randomness comes from the caller (this crate does no I/O), as a [`rand_core::CryptoRng`].

pub mod cose;
mod keys;
pub mod seeded;

use ciborium::Value;
use hmac::{KeyInit as _, Mac as _};
use hpke::{Deserializable as _, Serializable as _};
use rand_core::CryptoRng;
use serde::Serialize;
use sha2::Digest as _;

use crate::cbor;
use crate::id::RecordId;
use crate::keys::AuthorKey;
use crate::record::{Content, Draft, FieldError, Kind, Payload, RecordError, Tlp, decode_content};
pub use cose::{Envelope, EnvelopeError, MAX_RECIPIENTS, RecipientEntry};
pub use keys::{ENCRYPTION_KEY_PREFIX, EncryptionKey, EncryptionKeyError, EncryptionSecret};

type Kem = hpke::kem::X25519HkdfSha256;
type Kdf = hpke::kdf::HkdfSha256;
type Aead = hpke::aead::ChaCha20Poly1305;

/// The recipient count is padded up to the first of these, so relays learn neither who nor how many.
pub const PADDED_COUNTS: [usize; 5] = [4, 8, 16, 32, MAX_RECIPIENTS];

/// The content of a `sealed` record: `{"cose_encrypt": bstr}`, the bstr a tagged COSE_Encrypt of the
/// one accepted form (checked when the record is decoded, by every node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The COSE_Encrypt bytes, as signed.
    bytes: Vec<u8>,
    /// Their parts, read once when the record is decoded.
    envelope: Envelope,
}

impl Sealed {
    /// Reads COSE_Encrypt bytes of the one accepted form.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, EnvelopeError> {
        let envelope = Envelope::from_cbor(&bytes)?;
        Ok(Self { bytes, envelope })
    }

    /// The COSE_Encrypt bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The envelope's parts.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    pub(crate) fn to_value(&self) -> Value {
        Value::Map(vec![(
            Value::Text("cose_encrypt".to_owned()),
            Value::Bytes(self.bytes.clone()),
        )])
    }

    pub(crate) fn from_value(value: Value) -> Result<Self, RecordError> {
        let invalid = |m: String| RecordError::from(FieldError::new("content", m));
        let Value::Map(entries) = value else {
            return Err(invalid("must be a map".to_owned()));
        };
        let [(key, Value::Bytes(envelope))]: [(Value, Value); 1] =
            entries.try_into().map_err(|_| {
                invalid("a sealed record's content is exactly {\"cose_encrypt\": bstr}".to_owned())
            })?
        else {
            return Err(invalid("`cose_encrypt` must be a byte string".to_owned()));
        };
        if key.as_text() != Some("cose_encrypt") {
            return Err(invalid(
                "a sealed record's content is exactly {\"cose_encrypt\": bstr}".to_owned(),
            ));
        }
        Self::from_bytes(envelope)
            .map_err(|e| RecordError::from(FieldError::new("content.cose_encrypt", e.0)))
    }
}

impl Serialize for Sealed {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry("cose_encrypt", &serde_bytes_hex(&self.bytes))?;
        map.end()
    }
}

/// JSON and the like show the envelope as hex.
fn serde_bytes_hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

impl Draft {
    /// The outer draft of a sealed record: kind `sealed`, the body's TLP, no clear refs.
    pub fn sealed(tlp: Tlp, sealed: Sealed) -> Self {
        Draft {
            kind: Kind::Sealed,
            tlp,
            refs: Vec::new(),
            content: Content::Sealed(sealed),
        }
    }
}

/// What the ciphertext is bound to: the outer record's network, author and seq (the external AAD).
#[derive(Debug, Clone, Copy)]
pub struct SealContext<'a> {
    /// Network id.
    pub net: &'a str,
    /// The author, who signs the outer record.
    pub author: &'a AuthorKey,
    /// The outer record's seq.
    pub seq: u64,
}

impl SealContext<'_> {
    /// The external AAD: deterministic CBOR of `["certnet sealed v1", net, author, seq]`.
    pub fn external_aad(&self) -> Vec<u8> {
        cbor::encode(&Value::Array(vec![
            Value::Text("certnet sealed v1".to_owned()),
            Value::Text(self.net.to_owned()),
            Value::Bytes(self.author.as_bytes().to_vec()),
            Value::Integer(self.seq.into()),
        ]))
    }
}

/// One member a record is sealed to: its author key (named in the body's `to`), the encryption key
/// its entry is made for (the newest it lists), and the hint key between it and the sealer (made
/// once, kept by the sealer's node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The member's author key.
    pub author: AuthorKey,
    /// The member's newest encryption key.
    pub key: EncryptionKey,
    /// The hint key of the sealer's secret and `key`; `None` for a key of small order.
    pub hint_key: Option<HintKey>,
}

impl Recipient {
    /// The recipient `author` with encryption key `key`, as seen from the sealer's secret `from`.
    pub fn new(author: AuthorKey, key: EncryptionKey, from: &EncryptionSecret) -> Self {
        Self {
            author,
            key,
            hint_key: HintKey::new(from, &key),
        }
    }
}

/// Why a record could not be sealed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// No recipient, or more than fit.
    #[error("a sealed record has 1 to {MAX_RECIPIENTS} recipient members, not {0}")]
    RecipientCount(usize),
    /// The author is not among the recipients.
    #[error("the author must be among the recipients (it reads its own sealed records)")]
    AuthorMissing,
    /// The body would be rejected by a recipient.
    #[error("{0}")]
    Body(RecordError),
    /// HPKE failed (a recipient key of small order).
    #[error("HPKE: {0}")]
    Hpke(String),
}

/// Why a sealed record could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The record is not of kind `sealed`.
    #[error("the record is not sealed")]
    NotSealed,
    /// No recipient entry is for these keys.
    #[error("not a recipient: no entry of this sealed record is for these encryption keys")]
    NotRecipient,
    /// An entry is for these keys but the content does not decrypt with it: the ciphertext was
    /// changed, or moved from another record (the external AAD binds it to net, author and seq).
    #[error(
        "addressed to these keys, but {0}: the ciphertext was changed or moved from another record"
    )]
    Tampered(&'static str),
    /// The plaintext is not a valid record body.
    #[error("the opened body is not a valid record: {0}")]
    Body(RecordError),
}

/// An opened sealed record.
#[derive(Debug, Clone, PartialEq)]
pub struct Opened {
    /// The record as if it had been published in clear: the outer header (net, author, seq, prev,
    /// time) with the body's kind, TLP, refs and content.
    pub payload: Payload,
    /// The members it is sealed to: their author keys' 32 bytes, ascending, as sealed. Matched
    /// against the roster by bytes; not decoded as curve points (that costs ~10 µs a key, and a key
    /// here never verifies anything).
    pub to: Vec<[u8; 32]>,
}

/// A key that makes the hints between one author and one recipient: SHA-256 over a label and the
/// X25519 secret of their encryption keys. The same from either side.
#[derive(Clone, PartialEq, Eq)]
pub struct HintKey([u8; 32]);

impl std::fmt::Debug for HintKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HintKey(..)")
    }
}

impl HintKey {
    /// The hint key of `own` and `other`; `None` if `other` makes a predictable secret.
    pub fn new(own: &EncryptionSecret, other: &EncryptionKey) -> Option<Self> {
        let shared = own.dalek().diffie_hellman(&other.dalek());
        if !shared.was_contributory() {
            return None;
        }
        let mut h = sha2::Sha256::new();
        h.update(b"certnet sealed hint key v1");
        h.update(shared.as_bytes());
        Some(Self(h.finalize().into()))
    }

    /// The hint of one record: the first 8 bytes of HMAC-SHA256 over the external AAD.
    pub fn hint(&self, external_aad: &[u8]) -> [u8; cose::HINT_LEN] {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(external_aad);
        let tag = mac.finalize().into_bytes();
        let mut hint = [0u8; cose::HINT_LEN];
        hint.copy_from_slice(&tag[..cose::HINT_LEN]);
        hint
    }
}

/// The Recipient_structure of draft-ietf-cose-hpke key-encryption mode, the HPKE `info`:
/// `["HPKE Recipient", 24, h'a1011832' (the recipient protected header {1: 50}), h'']`.
const RECIPIENT_INFO: &[u8] = &[
    0x84, 0x6e, b'H', b'P', b'K', b'E', b' ', b'R', b'e', b'c', b'i', b'p', b'i', b'e', b'n', b't',
    0x18, 0x18, 0x44, 0xa1, 0x01, 0x18, 0x32, 0x40,
];

fn recipient_info() -> &'static [u8] {
    RECIPIENT_INFO
}

/// The Enc_structure (RFC 9052 §5.3), the content layer's AAD.
fn enc_structure(external_aad: &[u8]) -> Vec<u8> {
    cbor::encode(&Value::Array(vec![
        Value::Text("Encrypt".to_owned()),
        Value::Bytes(cose::content_protected()),
        Value::Bytes(external_aad.to_vec()),
    ]))
}

/// The plaintext: deterministic CBOR of `{"to", "tlp", "kind", "refs", "content"}`.
fn body_to_cbor(body: &Draft, to: &[AuthorKey]) -> Vec<u8> {
    let bytes = |b: &[u8]| Value::Bytes(b.to_vec());
    let text = |s: &str| Value::Text(s.to_owned());
    let mut map = Value::Map(vec![
        (
            text("to"),
            Value::Array(to.iter().map(|a| bytes(a.as_bytes())).collect()),
        ),
        (text("tlp"), text(body.tlp.as_str())),
        (text("kind"), text(body.kind.as_str())),
        (
            text("refs"),
            Value::Array(body.refs.iter().map(|r| bytes(r.as_bytes())).collect()),
        ),
        (text("content"), body.content.to_value()),
    ]);
    cbor::canonicalize(&mut map);
    cbor::encode(&map)
}

/// The record as a recipient will see it, for checking before sealing and after opening.
fn opened_payload(outer: &Payload, body: Draft) -> Payload {
    Payload {
        net: outer.net.clone(),
        author: outer.author,
        seq: outer.seq,
        prev: outer.prev,
        time: outer.time,
        kind: body.kind,
        tlp: body.tlp,
        refs: body.refs,
        content: body.content,
    }
}

/// Seals `body` to `to` (which must include the author) as the content of the author's record at
/// `ctx.seq`: one random content key, one HPKE-4-KE entry with a hint per recipient, entries padded
/// with random ones to the next of [`PADDED_COUNTS`] and shuffled. The body is checked with the
/// rules a recipient applies when it opens the record, so a node never seals what a recipient would
/// reject.
pub fn seal(
    body: &Draft,
    to: &[Recipient],
    ctx: &SealContext<'_>,
    rng: &mut impl CryptoRng,
) -> Result<Sealed, SealError> {
    let mut audience: Vec<AuthorKey> = to.iter().map(|r| r.author).collect();
    audience.sort();
    audience.dedup();
    if audience.is_empty() || audience.len() > MAX_RECIPIENTS {
        return Err(SealError::RecipientCount(audience.len()));
    }
    if !audience.contains(ctx.author) {
        return Err(SealError::AuthorMissing);
    }
    check_body_for(body, ctx, &audience).map_err(SealError::Body)?;

    let aad = ctx.external_aad();
    let mut cek = zeroize::Zeroizing::new([0u8; cose::CEK_LEN]);
    rng.fill_bytes(cek.as_mut());
    let info = recipient_info();
    let mut entries = Vec::with_capacity(PADDED_COUNTS[0]);
    let mut done: Vec<AuthorKey> = Vec::with_capacity(to.len());
    for r in to {
        if done.contains(&r.author) {
            continue;
        }
        done.push(r.author);
        let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(r.key.as_bytes())
            .map_err(|e| SealError::Hpke(e.to_string()))?;
        let (ek, mut ctx_s) =
            hpke::setup_sender_with_rng::<Aead, Kdf, Kem>(&hpke::OpModeS::Base, &pk, info, rng)
                .map_err(|e| SealError::Hpke(e.to_string()))?;
        let wrapped = ctx_s
            .seal(cek.as_ref(), b"")
            .map_err(|e| SealError::Hpke(e.to_string()))?;
        let hint = r.hint_key.as_ref().map(|k| k.hint(&aad));
        let mut ek_bytes = [0u8; cose::EK_LEN];
        ek_bytes.copy_from_slice(&ek.to_bytes());
        entries.push(RecipientEntry {
            ek: ek_bytes,
            hint,
            wrapped,
        });
    }
    let padded = PADDED_COUNTS
        .iter()
        .copied()
        .find(|&n| n >= entries.len())
        .unwrap_or(MAX_RECIPIENTS);
    while entries.len() < padded {
        let mut ek = [0u8; cose::EK_LEN];
        let mut hint = [0u8; cose::HINT_LEN];
        let mut wrapped = vec![0u8; cose::WRAPPED_LEN];
        rng.fill_bytes(&mut ek);
        rng.fill_bytes(&mut hint);
        rng.fill_bytes(&mut wrapped);
        entries.push(RecipientEntry {
            ek,
            hint: Some(hint),
            wrapped,
        });
    }
    // Fisher–Yates, so an entry's position says nothing about whom it is for.
    for i in (1..entries.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        entries.swap(i, j);
    }

    let mut iv = [0u8; cose::IV_LEN];
    rng.fill_bytes(&mut iv);
    let plaintext = zeroize::Zeroizing::new(body_to_cbor(body, &audience));
    let ciphertext = content_cipher(&cek)
        .encrypt(
            &iv.into(),
            chacha20poly1305::aead::Payload {
                msg: &plaintext,
                aad: &enc_structure(&aad),
            },
        )
        .map_err(|_| SealError::Hpke("content encryption failed".to_owned()))?;
    let envelope = Envelope {
        iv,
        ciphertext,
        recipients: entries,
    };
    Ok(Sealed {
        bytes: envelope.to_cbor(),
        envelope,
    })
}

fn content_cipher(cek: &[u8; cose::CEK_LEN]) -> chacha20poly1305::ChaCha20Poly1305 {
    use chacha20poly1305::KeyInit as _;
    chacha20poly1305::ChaCha20Poly1305::new(cek.into())
}

use chacha20poly1305::aead::Aead as _;

/// The body as its recipients will check it: a valid record of its kind at this position, whose
/// audience includes the author.
fn check_body_for(
    body: &Draft,
    ctx: &SealContext<'_>,
    audience: &[AuthorKey],
) -> Result<(), RecordError> {
    if !audience.contains(ctx.author) {
        return Err(FieldError::new("to", "must include the author").into());
    }
    let outer = Payload {
        net: ctx.net.to_owned(),
        author: *ctx.author,
        seq: ctx.seq,
        prev: (ctx.seq > 1).then(|| RecordId::from_bytes([0; 32])),
        time: 0,
        kind: Kind::Sealed,
        tlp: body.tlp,
        refs: Vec::new(),
        content: Content::Sealed(Sealed {
            bytes: Vec::new(),
            envelope: Envelope {
                iv: [0; cose::IV_LEN],
                ciphertext: Vec::new(),
                recipients: Vec::new(),
            },
        }),
    };
    let payload = opened_payload(&outer, body.clone());
    // The body's canonical form is what a recipient decodes: check it decodes back unchanged.
    payload.validate_opened()?;
    let bytes = body_to_cbor(body, audience);
    let (again, _) = decode_body(&bytes)?;
    if again != *body {
        return Err(RecordError::NonCanonicalContent {
            kind: body.kind.to_string(),
            reason: "the body does not survive its own encoding",
        });
    }
    Ok(())
}

/// Reads a plaintext body: deterministic CBOR, exactly the five fields, the content of its kind.
fn decode_body(bytes: &[u8]) -> Result<(Draft, Vec<[u8; 32]>), RecordError> {
    let shape = |m: &str| RecordError::Shape(format!("sealed body: {m}"));
    let value = cbor::decode(bytes).map_err(RecordError::PayloadCbor)?;
    let Value::Map(entries) = value else {
        return Err(shape("must be a map"));
    };
    let (mut to, mut tlp, mut kind, mut refs, mut content) = (None, None, None, None, None);
    for (k, v) in entries {
        let slot = match k.as_text() {
            Some("to") => &mut to,
            Some("tlp") => &mut tlp,
            Some("kind") => &mut kind,
            Some("refs") => &mut refs,
            Some("content") => &mut content,
            _ => return Err(shape("fields are exactly to, tlp, kind, refs and content")),
        };
        *slot = Some(v);
    }
    let (Some(to), Some(tlp), Some(kind), Some(refs), Some(content)) =
        (to, tlp, kind, refs, content)
    else {
        return Err(shape("fields are exactly to, tlp, kind, refs and content"));
    };
    let kind: Kind = kind
        .into_text()
        .map_err(|_| shape("`kind` must be text"))?
        .parse()?;
    let tlp: Tlp = tlp
        .into_text()
        .map_err(|_| shape("`tlp` must be text"))?
        .parse()?;
    let keys = |v: Value, what: &str| -> Result<Vec<Value>, RecordError> {
        match v {
            Value::Array(items) => Ok(items),
            _ => Err(shape(&format!("`{what}` must be an array"))),
        }
    };
    let refs = keys(refs, "refs")?
        .into_iter()
        .map(|r| {
            r.as_bytes()
                .and_then(|b| RecordId::from_slice(b))
                .ok_or_else(|| shape("`refs` holds 32-byte ids"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let to = keys(to, "to")?
        .into_iter()
        .map(|a| {
            a.as_bytes()
                .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                .ok_or_else(|| shape("`to` holds 32-byte author keys"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if to.is_empty() || to.len() > MAX_RECIPIENTS || !to.windows(2).all(|w| w[0] < w[1]) {
        return Err(shape(
            "`to` holds 1 to 64 author keys in ascending order, none twice",
        ));
    }
    if kind == Kind::Sealed {
        return Err(shape("a sealed record cannot hold another"));
    }
    let content = decode_content(&kind, content)?;
    Ok((
        Draft {
            kind,
            tlp,
            refs,
            content,
        },
        to,
    ))
}

/// The keys a node opens sealed records with.
#[derive(Debug, Clone, Copy)]
pub struct OpenKeys<'a> {
    /// Every encryption secret the node has had (old ones open what was sealed before a rotation).
    pub secrets: &'a [EncryptionSecret],
    /// The hint keys between those secrets and the author's encryption keys: only entries whose hint
    /// matches one are tried. `None` tries every entry (an offline audit, without a roster).
    pub hints: Option<&'a [HintKey]>,
}

/// Opens a sealed record. With hint keys, only entries whose hint matches are tried (an entry
/// without a hint is not), so a record not addressed to these keys costs a few HMACs and no
/// public-key operation, whatever its sender put in it. An entry that opens but whose content does not decrypt, or a matching hint whose entry
/// does not open, is [`OpenError::Tampered`]; a body that is not a valid record of its kind (or whose
/// TLP differs from the outer one, or whose `to` lacks the author) is [`OpenError::Body`].
pub fn open(outer: &Payload, keys: OpenKeys<'_>) -> Result<Opened, OpenError> {
    let Content::Sealed(sealed) = &outer.content else {
        return Err(OpenError::NotSealed);
    };
    let envelope = sealed.envelope();
    let ctx = SealContext {
        net: &outer.net,
        author: &outer.author,
        seq: outer.seq,
    };
    let aad = ctx.external_aad();
    let mine: Option<Vec<[u8; cose::HINT_LEN]>> = keys
        .hints
        .map(|hs| hs.iter().map(|h| h.hint(&aad)).collect());
    let info = recipient_info();
    let mut hinted = false;
    let mut cek = None;
    'entries: for entry in &envelope.recipients {
        // With hint keys, only an entry whose hint is one of ours; without, every entry.
        if let Some(mine) = &mine {
            match entry.hint {
                Some(hint) if mine.contains(&hint) => hinted = true,
                _ => continue,
            }
        }
        let Ok(ek) = <Kem as hpke::Kem>::EncappedKey::from_bytes(&entry.ek) else {
            continue;
        };
        for secret in keys.secrets {
            let Ok(sk) = <Kem as hpke::Kem>::PrivateKey::from_bytes(&secret.to_bytes()) else {
                continue;
            };
            let Ok(mut ctx_r) =
                hpke::setup_receiver::<Aead, Kdf, Kem>(&hpke::OpModeR::Base, &sk, &ek, info)
            else {
                continue;
            };
            if let Ok(key) = ctx_r.open(&entry.wrapped, b"") {
                let key: Option<[u8; cose::CEK_LEN]> = key.as_slice().try_into().ok();
                if let Some(key) = key {
                    cek = Some(zeroize::Zeroizing::new(key));
                    break 'entries;
                }
            }
        }
    }
    let Some(cek) = cek else {
        return Err(if hinted {
            OpenError::Tampered("the entry its hint names does not open")
        } else {
            OpenError::NotRecipient
        });
    };
    let plaintext = content_cipher(&cek)
        .decrypt(
            &envelope.iv.into(),
            chacha20poly1305::aead::Payload {
                msg: &envelope.ciphertext,
                aad: &enc_structure(&aad),
            },
        )
        .map_err(|_| OpenError::Tampered("the content does not decrypt"))?;
    let plaintext = zeroize::Zeroizing::new(plaintext);
    let (body, to) = decode_body(&plaintext).map_err(OpenError::Body)?;
    if body.tlp != outer.tlp {
        return Err(OpenError::Body(
            FieldError::new(
                "tlp",
                format!(
                    "the body says `{}` but the signed record says `{}`",
                    body.tlp, outer.tlp
                ),
            )
            .into(),
        ));
    }
    if !to.contains(outer.author.as_bytes()) {
        return Err(OpenError::Body(
            FieldError::new("to", "must include the author").into(),
        ));
    }
    let payload = opened_payload(outer, body);
    payload.validate_opened().map_err(OpenError::Body)?;
    Ok(Opened { payload, to })
}

#[cfg(test)]
mod tests;
