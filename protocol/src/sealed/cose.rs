//! The COSE_Encrypt (RFC 9052 §5.1, tag 96) of a sealed record, in the key-encryption mode of
//! draft-ietf-cose-hpke: one content key, one COSE_recipient per recipient (HPKE-4-KE).
//!
//! Only this one form is accepted, in deterministic CBOR, so every node agrees on which sealed
//! records are well-formed without being able to open them (PROTOCOL.md §20.3).

use ciborium::Value;

use crate::cbor;

/// CBOR tag of COSE_Encrypt.
pub const TAG_COSE_ENCRYPT: u64 = 96;
/// COSE algorithm of the content layer: ChaCha20/Poly1305 (RFC 9053 §4.3).
pub const ALG_CHACHA20_POLY1305: i64 = 24;
/// COSE algorithm of a recipient: HPKE-4-KE, i.e. HPKE base mode with DHKEM(X25519, HKDF-SHA256),
/// HKDF-SHA256 and ChaCha20-Poly1305, in key-encryption mode. The value is the one
/// draft-ietf-cose-hpke asks IANA for (and that implementations of the draft use); not yet assigned.
pub const ALG_HPKE_4_KE: i64 = 50;
/// Header label `alg`.
pub const LABEL_ALG: i64 = 1;
/// Header label `IV`.
pub const LABEL_IV: i64 = 5;
/// Header label `ek`, the HPKE encapsulated key (draft-ietf-cose-hpke).
pub const LABEL_EK: i64 = -4;
/// Header label of the certnet recipient hint: private use (RFC 9052 §16.3: labels below -65536).
pub const LABEL_HINT: i64 = -65537;
/// Length of the content IV.
pub const IV_LEN: usize = 12;
/// Length of the content key.
pub const CEK_LEN: usize = 32;
/// Length of an AEAD tag.
pub const TAG_LEN: usize = 16;
/// Length of a recipient's encrypted content key.
pub const WRAPPED_LEN: usize = CEK_LEN + TAG_LEN;
/// Length of an encapsulated X25519 key.
pub const EK_LEN: usize = 32;
/// Length of a recipient hint.
pub const HINT_LEN: usize = 8;
/// Most COSE_recipients in one sealed record (padding included).
pub const MAX_RECIPIENTS: usize = 64;

/// The parts of a sealed record's COSE_Encrypt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Content IV.
    pub iv: [u8; IV_LEN],
    /// Encrypted inner body with its tag.
    pub ciphertext: Vec<u8>,
    /// One entry per recipient, padding included.
    pub recipients: Vec<RecipientEntry>,
}

/// One COSE_recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientEntry {
    /// HPKE encapsulated key.
    pub ek: [u8; EK_LEN],
    /// The certnet hint (absent in entries made by other implementations).
    pub hint: Option<[u8; HINT_LEN]>,
    /// The content key, encrypted to the recipient.
    pub wrapped: Vec<u8>,
}

/// Why bytes are not a sealed record's COSE_Encrypt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("COSE_Encrypt: {0}")]
pub struct EnvelopeError(pub String);

fn bad(message: impl Into<String>) -> EnvelopeError {
    EnvelopeError(message.into())
}

fn int(i: i64) -> Value {
    Value::Integer(i.into())
}

fn header(pairs: Vec<(i64, Value)>) -> Value {
    let mut map = Value::Map(pairs.into_iter().map(|(k, v)| (int(k), v)).collect());
    cbor::canonicalize(&mut map);
    map
}

/// The protected header of the content layer, as its bstr holds it.
pub fn content_protected() -> Vec<u8> {
    cbor::encode(&header(vec![(LABEL_ALG, int(ALG_CHACHA20_POLY1305))]))
}

/// The protected header of a recipient, as its bstr holds it.
pub fn recipient_protected() -> Vec<u8> {
    cbor::encode(&header(vec![(LABEL_ALG, int(ALG_HPKE_4_KE))]))
}

impl Envelope {
    /// The deterministic CBOR of the tagged COSE_Encrypt.
    pub fn to_cbor(&self) -> Vec<u8> {
        let recipients = self
            .recipients
            .iter()
            .map(|r| {
                let mut unprotected = vec![(LABEL_EK, Value::Bytes(r.ek.to_vec()))];
                if let Some(hint) = r.hint {
                    unprotected.push((LABEL_HINT, Value::Bytes(hint.to_vec())));
                }
                Value::Array(vec![
                    Value::Bytes(recipient_protected()),
                    header(unprotected),
                    Value::Bytes(r.wrapped.clone()),
                ])
            })
            .collect();
        cbor::encode(&Value::Tag(
            TAG_COSE_ENCRYPT,
            Box::new(Value::Array(vec![
                Value::Bytes(content_protected()),
                header(vec![(LABEL_IV, Value::Bytes(self.iv.to_vec()))]),
                Value::Bytes(self.ciphertext.clone()),
                Value::Array(recipients),
            ])),
        ))
    }

    /// Reads the one accepted form: deterministic CBOR, tag 96, the content algorithm
    /// ChaCha20/Poly1305 with a 12-byte IV, 1 to [`MAX_RECIPIENTS`] HPKE-4-KE recipients each with a
    /// 32-byte `ek`, an optional 8-byte hint and a 48-byte encrypted key. Nothing else.
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let value = cbor::decode_any(bytes).map_err(|e| bad(e.to_string()))?;
        let Value::Tag(TAG_COSE_ENCRYPT, inner) = value else {
            return Err(bad("must be a COSE_Encrypt, tag 96"));
        };
        let Value::Array(parts) = *inner else {
            return Err(bad("must be an array of 4"));
        };
        let [protected, unprotected, ciphertext, recipients]: [Value; 4] =
            parts.try_into().map_err(|_| bad("must be an array of 4"))?;
        if protected.as_bytes() != Some(&content_protected()) {
            return Err(bad(
                "the protected header must be exactly {1: 24} (ChaCha20/Poly1305)",
            ));
        }
        let mut fields = labels(unprotected, "unprotected header", &[LABEL_IV])?;
        let iv = fixed::<IV_LEN>(fields.remove(&LABEL_IV), "IV (5)")?;
        let ciphertext = match ciphertext {
            Value::Bytes(b) if b.len() >= TAG_LEN => b,
            _ => {
                return Err(bad("ciphertext must be a byte string of at least 16 bytes"));
            }
        };
        let Value::Array(recipients) = recipients else {
            return Err(bad("recipients must be an array"));
        };
        if recipients.is_empty() || recipients.len() > MAX_RECIPIENTS {
            return Err(bad(format!(
                "{} recipients: a sealed record has 1 to {MAX_RECIPIENTS}",
                recipients.len()
            )));
        }
        let recipients = recipients
            .into_iter()
            .enumerate()
            .map(|(i, r)| recipient(r).map_err(|e| bad(format!("recipient {i}: {}", e.0))))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            iv,
            ciphertext,
            recipients,
        })
    }
}

fn recipient(value: Value) -> Result<RecipientEntry, EnvelopeError> {
    let Value::Array(parts) = value else {
        return Err(bad("must be an array of 3"));
    };
    let [protected, unprotected, wrapped]: [Value; 3] = parts
        .try_into()
        .map_err(|_| bad("must be an array of 3 (no nested recipients)"))?;
    if protected.as_bytes() != Some(&recipient_protected()) {
        return Err(bad(
            "the protected header must be exactly {1: 50} (HPKE-4-KE)",
        ));
    }
    let mut fields = labels(unprotected, "unprotected header", &[LABEL_EK, LABEL_HINT])?;
    let ek = fixed::<EK_LEN>(fields.remove(&LABEL_EK), "ek (-4)")?;
    let hint = match fields.remove(&LABEL_HINT) {
        None => None,
        some => Some(fixed::<HINT_LEN>(some, "hint (-65537)")?),
    };
    let wrapped = match wrapped {
        Value::Bytes(b) if b.len() == WRAPPED_LEN => b,
        _ => {
            return Err(bad(format!(
                "the encrypted key must be a byte string of {WRAPPED_LEN} bytes"
            )));
        }
    };
    Ok(RecipientEntry { ek, hint, wrapped })
}

/// The map's entries by integer label; any label outside `allowed` is refused.
fn labels(
    value: Value,
    what: &str,
    allowed: &[i64],
) -> Result<std::collections::BTreeMap<i64, Value>, EnvelopeError> {
    let Value::Map(entries) = value else {
        return Err(bad(format!("{what} must be a map")));
    };
    let mut out = std::collections::BTreeMap::new();
    for (k, v) in entries {
        let label = k
            .as_integer()
            .and_then(|i| i64::try_from(i).ok())
            .filter(|l| allowed.contains(l))
            .ok_or_else(|| bad(format!("{what} has a label other than {allowed:?}")))?;
        out.insert(label, v);
    }
    Ok(out)
}

fn fixed<const N: usize>(value: Option<Value>, what: &str) -> Result<[u8; N], EnvelopeError> {
    value
        .as_ref()
        .and_then(Value::as_bytes)
        .and_then(|b| <[u8; N]>::try_from(b.as_slice()).ok())
        .ok_or_else(|| bad(format!("{what} must be a byte string of {N} bytes")))
}
