//! The COSE_Sign1 envelope (RFC 9052 §4.2) around a record payload, byte for byte.
//!
//! ```text
//! COSE_Sign1_Tagged = #6.18([ protected: bstr .cbor {1: -8, 3: "application/certnet-record+cbor"},
//!                             unprotected: {}, payload: bstr, signature: bstr .size 64 ])
//! Sig_structure     = [ "Signature1", protected, external_aad: h'', payload ]
//! ```
//! Only this exact protected header is accepted, so the signed bytes never depend on header choices.

use ciborium::Value;

use super::RecordError;
use crate::cbor;

/// CBOR tag of COSE_Sign1.
pub const COSE_SIGN1_TAG: u64 = 18;
/// Content type carried in the protected header.
pub const CONTENT_TYPE: &str = "application/certnet-record+cbor";
/// The protected header, deterministically encoded: `{1: -8, 3: "application/certnet-record+cbor"}`.
pub const PROTECTED: &[u8] = b"\xa2\x01\x27\x03\x78\x1fapplication/certnet-record+cbor";

/// Bytes of a CBOR byte-string head for `len` bytes (shortest form).
pub(crate) fn bstr_head(len: usize) -> Vec<u8> {
    let len = len as u64;
    match len {
        0..=23 => vec![0x40 | len as u8],
        24..=0xff => vec![0x58, len as u8],
        0x100..=0xffff => [&[0x59][..], &(len as u16).to_be_bytes()].concat(),
        0x1_0000..=0xffff_ffff => [&[0x5a][..], &(len as u32).to_be_bytes()].concat(),
        _ => [&[0x5b][..], &len.to_be_bytes()].concat(),
    }
}

/// The bytes Ed25519 signs for `payload`: the encoded Sig_structure.
pub fn sig_structure(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 64);
    out.push(0x84);
    out.push(0x6a);
    out.extend_from_slice(b"Signature1");
    out.extend_from_slice(&bstr_head(PROTECTED.len()));
    out.extend_from_slice(PROTECTED);
    out.push(0x40);
    out.extend_from_slice(&bstr_head(payload.len()));
    out.extend_from_slice(payload);
    out
}

/// Wraps a payload and its signature into a tagged COSE_Sign1.
pub fn encode(payload: &[u8], signature: &[u8; 64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 120);
    out.push(0xd2); // tag 18
    out.push(0x84);
    out.extend_from_slice(&bstr_head(PROTECTED.len()));
    out.extend_from_slice(PROTECTED);
    out.push(0xa0);
    out.extend_from_slice(&bstr_head(payload.len()));
    out.extend_from_slice(payload);
    out.push(0x58);
    out.push(0x40);
    out.extend_from_slice(signature);
    out
}

/// Where the payload sits in an envelope of `total` bytes made by [`encode`] (or accepted by
/// [`decode`], which only accepts that exact layout).
pub(crate) fn payload_range(total: usize, payload_len: usize) -> std::ops::Range<usize> {
    let end = total - 66; // signature: 0x58 0x40 + 64 bytes
    end - payload_len..end
}

/// Splits a COSE_Sign1 into payload and signature, accepting only the exact certnet form.
pub fn decode(bytes: &[u8]) -> Result<(Vec<u8>, [u8; 64]), RecordError> {
    let value = cbor::decode_any(bytes).map_err(RecordError::EnvelopeCbor)?;
    let Value::Tag(COSE_SIGN1_TAG, inner) = value else {
        return Err(RecordError::Envelope("expected a COSE_Sign1 (cbor tag 18)"));
    };
    let Value::Array(parts) = *inner else {
        return Err(RecordError::Envelope("COSE_Sign1 must be an array"));
    };
    let Ok::<[Value; 4], _>([protected, unprotected, payload, signature]) = parts.try_into() else {
        return Err(RecordError::Envelope("COSE_Sign1 must have 4 elements"));
    };
    if protected.as_bytes().map(Vec::as_slice) != Some(PROTECTED) {
        return Err(RecordError::Envelope(
            "protected header must be exactly {1: -8 (EdDSA), 3: \"application/certnet-record+cbor\"}",
        ));
    }
    if unprotected.as_map().is_none_or(|m| !m.is_empty()) {
        return Err(RecordError::Envelope(
            "unprotected header must be an empty map",
        ));
    }
    let Value::Bytes(payload) = payload else {
        return Err(RecordError::Envelope(
            "payload must be an embedded byte string",
        ));
    };
    let signature: [u8; 64] = signature
        .into_bytes()
        .ok()
        .and_then(|s| s.try_into().ok())
        .ok_or(RecordError::Envelope(
            "signature must be a 64-byte byte string",
        ))?;
    Ok((payload, signature))
}
