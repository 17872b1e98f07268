//! Ed25519 keys: the author key that signs records and checkpoints, and its one textual encoding.
//!
//! Text form of a public key, used in the roster, the CLI, the API and the export header:
//! `ed25519:` followed by the 32 key bytes in unpadded base64url (43 characters).

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signer as _;

/// Prefix of the textual encoding of a public key.
pub const KEY_TEXT_PREFIX: &str = "ed25519:";

/// An author's public key: identifies a CERT, verifies its records and checkpoints.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AuthorKey([u8; 32]);

/// Why a public key could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// The text does not start with `ed25519:`.
    #[error("public key must start with `{KEY_TEXT_PREFIX}` (as printed by `certnet keys`)")]
    MissingPrefix,
    /// The text after the prefix is not unpadded base64url.
    #[error("public key is not unpadded base64url after `{KEY_TEXT_PREFIX}`")]
    NotBase64,
    /// The key does not have 32 bytes.
    #[error("public key must be 32 bytes, got {0}")]
    WrongLength(usize),
    /// The bytes are not a valid, non-weak Ed25519 point.
    #[error("public key is not a valid Ed25519 point")]
    InvalidPoint,
}

impl AuthorKey {
    /// Takes 32 raw bytes, checking they are a valid Ed25519 public key that is not of small order.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, KeyError> {
        let key =
            ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::InvalidPoint)?;
        // Small-order points and non-canonical encodings (y >= p) are refused, as RFC 8032 decoding does.
        if key.is_weak() || key.to_edwards().compress().to_bytes() != bytes {
            return Err(KeyError::InvalidPoint);
        }
        Ok(Self(bytes))
    }

    /// Takes a byte slice that must hold exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, KeyError> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyError::WrongLength(bytes.len()))?;
        Self::from_bytes(arr)
    }

    /// The 32 raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Strict Ed25519 verification (`verify_strict`): the one acceptance rule everywhere.
    pub fn verify_strict(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&self.0) else {
            return false;
        };
        let sig = ed25519_dalek::Signature::from_bytes(signature);
        key.verify_strict(message, &sig).is_ok()
    }
}

impl fmt::Display for AuthorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{KEY_TEXT_PREFIX}{}", URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl fmt::Debug for AuthorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthorKey({self})")
    }
}

impl FromStr for AuthorKey {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b64 = s
            .trim()
            .strip_prefix(KEY_TEXT_PREFIX)
            .ok_or(KeyError::MissingPrefix)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(b64)
            .map_err(|_| KeyError::NotBase64)?;
        Self::from_slice(&bytes)
    }
}

/// An author's secret key. Zeroized on drop; `Debug` never shows it.
#[derive(Clone)]
pub struct AuthorSecret(ed25519_dalek::SigningKey);

impl AuthorSecret {
    /// Builds the key from its 32-byte seed (the caller brings the randomness).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// The 32-byte seed, for writing the key file. Handle with care.
    pub fn to_seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The matching public key.
    pub fn public(&self) -> AuthorKey {
        AuthorKey(self.0.verifying_key().to_bytes())
    }

    /// Signs `message` (deterministic Ed25519, RFC 8032).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

impl fmt::Debug for AuthorSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthorSecret(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip() {
        let key = AuthorSecret::from_seed(&[7; 32]).public();
        let text = key.to_string();
        assert!(text.starts_with("ed25519:"));
        assert_eq!(text.len(), 8 + 43);
        assert_eq!(text.parse::<AuthorKey>(), Ok(key));
    }

    #[test]
    fn rejects_bad_text() {
        assert_eq!("abc".parse::<AuthorKey>(), Err(KeyError::MissingPrefix));
        assert_eq!("ed25519:!!".parse::<AuthorKey>(), Err(KeyError::NotBase64));
        assert_eq!(
            "ed25519:AAAA".parse::<AuthorKey>(),
            Err(KeyError::WrongLength(3))
        );
        // The identity point is of small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(AuthorKey::from_bytes(identity), Err(KeyError::InvalidPoint));
        // y = p + 3 encodes the same point as y = 3, non-canonically.
        let mut non_canonical = [0xff; 32];
        non_canonical[0] = 0xf0;
        non_canonical[31] = 0x7f;
        assert_eq!(
            AuthorKey::from_bytes(non_canonical),
            Err(KeyError::InvalidPoint)
        );
    }

    #[test]
    fn debug_hides_secret() {
        let secret = AuthorSecret::from_seed(&[9; 32]);
        assert_eq!(format!("{secret:?}"), "AuthorSecret(..)");
    }

    #[test]
    fn sign_verify() {
        let secret = AuthorSecret::from_seed(&[1; 32]);
        let sig = secret.sign(b"hello");
        assert!(secret.public().verify_strict(b"hello", &sig));
        assert!(!secret.public().verify_strict(b"hellp", &sig));
    }
}
