//! `RecordId`: SHA-256 of a record's payload bytes, and the `Hash` type shared by the Merkle log.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

/// A 32-byte SHA-256 digest.
pub type Hash = [u8; 32];

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> Hash {
    Sha256::digest(data).into()
}

/// Identifies a record: SHA-256 of its payload bytes (not of the signed envelope).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId([u8; 32]);

/// Why a record id could not be read from text.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("record id must be 64 lowercase hex characters")]
pub struct RecordIdError;

impl RecordId {
    /// The id of a payload.
    pub fn of_payload(payload: &[u8]) -> Self {
        Self(sha256(payload))
    }

    /// Wraps 32 bytes already known to be a record id (from the store or the wire).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Takes a slice that must hold exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordId({})", hex::encode(self.0))
    }
}

impl FromStr for RecordId {
    type Err = RecordIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 64 || s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(RecordIdError);
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| RecordIdError)?;
        Ok(Self(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let id = RecordId::of_payload(b"abc");
        assert_eq!(
            id.to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(id.to_string().parse::<RecordId>(), Ok(id));
        assert_eq!("BA78".parse::<RecordId>(), Err(RecordIdError));
        assert_eq!(
            id.to_string().to_uppercase().parse::<RecordId>(),
            Err(RecordIdError)
        );
    }
}
