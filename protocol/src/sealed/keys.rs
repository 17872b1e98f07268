//! X25519 encryption keys: the key a member's node opens sealed records with, and its text form.
//!
//! Text form of a public key, used in the roster, the CLI and the API: `x25519:` followed by the 32
//! key bytes in unpadded base64url (43 characters), like the author key's `ed25519:` form.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::Zeroize as _;

/// Prefix of the textual encoding of an encryption key.
pub const ENCRYPTION_KEY_PREFIX: &str = "x25519:";

/// A member's public encryption key (X25519): records sealed to the member are encrypted to it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EncryptionKey([u8; 32]);

/// Why an encryption key could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EncryptionKeyError {
    /// The text does not start with `x25519:`.
    #[error(
        "encryption key must start with `{ENCRYPTION_KEY_PREFIX}` (as `certnet keys` prints it)"
    )]
    MissingPrefix,
    /// The text after the prefix is not unpadded base64url.
    #[error("encryption key is not unpadded base64url after `{ENCRYPTION_KEY_PREFIX}`")]
    NotBase64,
    /// The key does not have 32 bytes.
    #[error("encryption key must be 32 bytes, got {0}")]
    WrongLength(usize),
    /// The key is a point of small order: nothing sealed to it would be secret.
    #[error("encryption key is a point of small order, not a key anyone holds")]
    SmallOrder,
}

impl EncryptionKey {
    /// Takes 32 raw bytes, refusing the points of small order (every Diffie–Hellman result with them
    /// is predictable).
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, EncryptionKeyError> {
        // A fixed scalar times a small-order point gives the all-zero shared secret.
        let probe = x25519_dalek::StaticSecret::from([7u8; 32]);
        if !probe
            .diffie_hellman(&x25519_dalek::PublicKey::from(bytes))
            .was_contributory()
        {
            return Err(EncryptionKeyError::SmallOrder);
        }
        Ok(Self(bytes))
    }

    /// Takes a byte slice that must hold exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, EncryptionKeyError> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| EncryptionKeyError::WrongLength(bytes.len()))?;
        Self::from_bytes(arr)
    }

    /// The 32 raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub(super) fn dalek(&self) -> x25519_dalek::PublicKey {
        x25519_dalek::PublicKey::from(self.0)
    }
}

impl fmt::Display for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{ENCRYPTION_KEY_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(self.0)
        )
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for EncryptionKey {
    type Err = EncryptionKeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s
            .strip_prefix(ENCRYPTION_KEY_PREFIX)
            .ok_or(EncryptionKeyError::MissingPrefix)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(rest)
            .map_err(|_| EncryptionKeyError::NotBase64)?;
        Self::from_slice(&bytes)
    }
}

/// A member's secret encryption key. Never printed; zeroed when dropped.
#[derive(Clone)]
pub struct EncryptionSecret(x25519_dalek::StaticSecret);

/// The DER of an RFC 8410 OneAsymmetricKey (v1) for X25519, up to the 32 key bytes.
const PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
];

impl EncryptionSecret {
    /// The secret with these 32 bytes (clamped by X25519 when used).
    pub fn from_bytes(mut bytes: [u8; 32]) -> Self {
        let secret = Self(x25519_dalek::StaticSecret::from(bytes));
        bytes.zeroize();
        secret
    }

    /// The 32 secret bytes, for writing the key file.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public key.
    pub fn public(&self) -> EncryptionKey {
        EncryptionKey(*x25519_dalek::PublicKey::from(&self.0).as_bytes())
    }

    /// The PKCS#8 (RFC 8410, version 1) DER of the secret, as in `encryption.key`.
    pub fn to_pkcs8_der(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let mut der = zeroize::Zeroizing::new(Vec::with_capacity(48));
        der.extend_from_slice(&PKCS8_PREFIX);
        der.extend_from_slice(self.0.as_bytes());
        der
    }

    /// Reads the PKCS#8 DER `to_pkcs8_der` writes (the form OpenSSL's `genpkey -algorithm X25519`
    /// writes too).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, &'static str> {
        match der.strip_prefix(&PKCS8_PREFIX[..]) {
            Some(key) if key.len() == 32 => {
                let mut bytes = [0u8; 32];
                bytes.copy_from_slice(key);
                Ok(Self::from_bytes(bytes))
            }
            _ => Err("not an X25519 private key in PKCS#8 (RFC 8410) form"),
        }
    }

    pub(super) fn dalek(&self) -> &x25519_dalek::StaticSecret {
        &self.0
    }
}

impl fmt::Debug for EncryptionSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncryptionSecret({})", self.public())
    }
}
