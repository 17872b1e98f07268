//! Deterministic CBOR (RFC 8949 §4.2.1) on top of ciborium: the one encoder and the one strict decoder
//! every certnet structure goes through.
//!
//! The accepted subset: unsigned and negative integers, byte and text strings, arrays, maps, `true`,
//! `false`, `null`. Rejected: floats, tags (unless the caller unwraps a known one), `undefined` and other
//! simple values, indefinite lengths, non-shortest heads, map keys out of order or repeated, trailing
//! bytes. The rule that enforces all of this is simple: decode, re-encode canonically, compare bytes.

use ciborium::Value;
use std::cmp::Ordering;

/// Nesting limit for decoding (records nest 4 deep; this leaves room without risking the stack).
pub const MAX_DEPTH: usize = 16;

/// Why bytes are not acceptable deterministic CBOR.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CborError {
    /// Not well-formed CBOR (or nested deeper than [`MAX_DEPTH`]).
    #[error("malformed cbor: {0}")]
    Malformed(String),
    /// Bytes follow the single data item.
    #[error("{0} trailing bytes after the cbor item")]
    TrailingBytes(usize),
    /// A floating-point number appeared.
    #[error("floating-point values are not allowed")]
    Float,
    /// A tag appeared where none is allowed.
    #[error("cbor tag {0} is not allowed here")]
    Tag(u64),
    /// A map repeats a key.
    #[error("map has a duplicate key")]
    DuplicateKey,
    /// A map's keys are not in bytewise lexicographic order of their encodings.
    #[error("map keys are not in deterministic order (rfc 8949 §4.2.1)")]
    UnsortedKeys,
    /// Re-encoding gives different bytes: a non-shortest head, an indefinite length or `undefined`.
    #[error(
        "not deterministically encoded (non-shortest integer or length, indefinite length, or undefined)"
    )]
    NotDeterministic,
}

/// Encodes a value; maps are written in the order they hold (use [`canonicalize`] first).
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail, and a `Value` always serializes.
    if ciborium::into_writer(value, &mut out).is_err() {
        out.clear();
    }
    out
}

/// Sorts every map (recursively) into deterministic key order.
pub fn canonicalize(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(canonicalize),
        Value::Map(entries) => {
            for (k, v) in entries.iter_mut() {
                canonicalize(k);
                canonicalize(v);
            }
            entries.sort_by(|a, b| cmp_keys(&a.0, &b.0));
        }
        Value::Tag(_, inner) => canonicalize(inner),
        _ => {}
    }
}

/// Decodes exactly one deterministic CBOR item from `bytes`, allowing no tags.
pub fn decode(bytes: &[u8]) -> Result<Value, CborError> {
    let value = decode_any(bytes)?;
    check_subset(&value)?;
    Ok(value)
}

/// Decodes exactly one deterministic CBOR item, tags allowed (the caller checks them).
pub fn decode_any(bytes: &[u8]) -> Result<Value, CborError> {
    let mut reader = bytes;
    let value: Value = ciborium::de::from_reader_with_recursion_limit(&mut reader, MAX_DEPTH)
        .map_err(|e| CborError::Malformed(malformed_reason(e)))?;
    if !reader.is_empty() {
        return Err(CborError::TrailingBytes(reader.len()));
    }
    check_maps_and_floats(&value)?;
    if encode(&value) != bytes {
        return Err(CborError::NotDeterministic);
    }
    Ok(value)
}

fn malformed_reason<E: std::fmt::Debug>(e: ciborium::de::Error<E>) -> String {
    match e {
        ciborium::de::Error::Io(_) => "unexpected end of input".to_owned(),
        ciborium::de::Error::Syntax(at) => format!("syntax error at byte {at}"),
        ciborium::de::Error::Semantic(_, msg) => msg,
        ciborium::de::Error::RecursionLimitExceeded => {
            format!("nested deeper than {MAX_DEPTH} levels")
        }
    }
}

/// Deterministic key order (RFC 8949 §4.2.1): bytewise order of the keys' encodings. For two text
/// keys that is shorter first, then bytewise (the head encodes the length), computed without encoding.
fn cmp_keys(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Text(x), Value::Text(y)) => x
            .len()
            .cmp(&y.len())
            .then_with(|| x.as_bytes().cmp(y.as_bytes())),
        _ => encode(a).cmp(&encode(b)),
    }
}

/// Floats anywhere, and map key order, checked on a decoded value.
fn check_maps_and_floats(value: &Value) -> Result<(), CborError> {
    match value {
        Value::Float(_) => Err(CborError::Float),
        Value::Array(items) => items.iter().try_for_each(check_maps_and_floats),
        Value::Tag(_, inner) => check_maps_and_floats(inner),
        Value::Map(entries) => {
            for (k, v) in entries {
                check_maps_and_floats(k)?;
                check_maps_and_floats(v)?;
            }
            for pair in entries.windows(2) {
                match cmp_keys(&pair[0].0, &pair[1].0) {
                    Ordering::Less => {}
                    Ordering::Equal => return Err(CborError::DuplicateKey),
                    Ordering::Greater => return Err(CborError::UnsortedKeys),
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// No tags anywhere.
fn check_subset(value: &Value) -> Result<(), CborError> {
    match value {
        Value::Tag(tag, _) => Err(CborError::Tag(*tag)),
        Value::Array(items) => items.iter().try_for_each(check_subset),
        Value::Map(entries) => entries.iter().try_for_each(|(k, v)| {
            check_subset(k)?;
            check_subset(v)
        }),
        _ => Ok(()),
    }
}

/// Map lookup helpers for decoding fixed-shape structures from a [`Value`].
pub(crate) mod get {
    use ciborium::Value;

    /// A `u64` from an integer value.
    pub(crate) fn uint(v: &Value) -> Option<u64> {
        v.as_integer().and_then(|i| u64::try_from(i).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn accepts_deterministic_items() {
        for h in [
            "00",
            "17",
            "1818",
            "20",
            "6161",
            "a26161016162f6",
            "83010203",
            "f5",
            "f6",
            "40",
        ] {
            assert!(decode(&hex(h)).is_ok(), "{h}");
        }
    }

    #[test]
    fn rejects_non_deterministic_items() {
        // Non-shortest integer, non-shortest length, indefinite array, indefinite text, undefined.
        for h in ["1800", "780161", "9f01ff", "7f6161ff", "f7", "190017"] {
            assert_eq!(decode(&hex(h)), Err(CborError::NotDeterministic), "{h}");
        }
        assert_eq!(decode(&hex("f93c00")), Err(CborError::Float));
        assert_eq!(decode(&hex("c11a514b67b0")), Err(CborError::Tag(1)));
        assert_eq!(decode(&hex("a2616201616101")), Err(CborError::UnsortedKeys));
        assert_eq!(decode(&hex("a2616101616102")), Err(CborError::DuplicateKey));
        // Shorter key sorts first: "b" before "aa".
        assert!(decode(&hex("a2616201626161f6")).is_ok());
        assert_eq!(
            decode(&hex("a262616101616201")),
            Err(CborError::UnsortedKeys)
        );
        assert_eq!(decode(&hex("0000")), Err(CborError::TrailingBytes(1)));
        assert!(matches!(decode(&hex("5a")), Err(CborError::Malformed(_))));
        assert!(matches!(decode(&hex("")), Err(CborError::Malformed(_))));
    }

    #[test]
    fn depth_is_bounded() {
        let deep = vec![0x81u8; 10_000];
        assert!(matches!(decode(&deep), Err(CborError::Malformed(_))));
    }

    #[test]
    fn huge_claimed_lengths_fail_cleanly() {
        for h in [
            "5bffffffffffffffff",
            "7bffffffffffffffff",
            "9bffffffffffffffff",
            "bbffffffffffffffff",
        ] {
            assert!(
                matches!(decode(&hex(h)), Err(CborError::Malformed(_))),
                "{h}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn text_key_order_matches_encoded_order(a in ".{0,40}", b in ".{0,300}") {
            let (x, y) = (Value::Text(a), Value::Text(b));
            proptest::prop_assert_eq!(cmp_keys(&x, &y), encode(&x).cmp(&encode(&y)));
        }
    }

    #[test]
    fn canonicalize_sorts_nested_maps() {
        let mut v = Value::Map(vec![
            (
                Value::Text("content".into()),
                Value::Map(vec![
                    (Value::Text("zz".into()), Value::Null),
                    (Value::Text("a".into()), Value::Null),
                ]),
            ),
            (Value::Text("v".into()), Value::Integer(1.into())),
        ]);
        canonicalize(&mut v);
        let bytes = encode(&v);
        assert_eq!(decode(&bytes), Ok(v));
    }
}
