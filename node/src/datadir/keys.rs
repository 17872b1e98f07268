//! Key files: the author key and the node key on disk, as Ed25519 PKCS#8 PEM private to their owner.
//!
//! Both files hold the RFC 8410 PKCS#8 v1 structure `openssl genpkey -algorithm ed25519` writes, so
//! `openssl pkey -in author.key -noout -text` reads them. They are created with mode 0600, atomically
//! and never over an existing file; loading refuses a file that group or others may read or write.

use std::io;
use std::path::{Path, PathBuf};

use certnet_protocol::keys::AuthorSecret;
use certnet_protocol::sealed::EncryptionSecret;
use ed25519_dalek::ed25519::pkcs8::spki::der::pem;
use ed25519_dalek::ed25519::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, KeypairBytes};
use libp2p_identity::{Keypair, PeerId};
use zeroize::Zeroizing;

use crate::datadir::fsutil::{self, PrivateReadError};

/// Mode of every secret file a node writes.
pub(crate) const PRIVATE_MODE: u32 = 0o600;

/// A 32-byte Ed25519 seed, wiped from memory on drop.
pub type Seed = Zeroizing<[u8; 32]>;

/// Why a key file could not be written or loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file exists already; keys are never overwritten.
    #[error("{} already exists: refusing to overwrite a key (move it away first if you mean to replace it)", .path.display())]
    Exists {
        /// The key file.
        path: PathBuf,
    },
    /// The file could not be written.
    #[error("cannot write key file {}", .path.display())]
    Write {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The file could not be read.
    #[error("cannot read key file {}", .path.display())]
    Read {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// Group or others may read or write the file.
    #[error("key file {} is readable or writable by group or others (mode {mode:04o}): run `chmod 600 {}`", .path.display(), .path.display())]
    TooOpen {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file is not a PKCS#8 PEM private key of the expected kind (Ed25519; X25519 for
    /// encryption.key).
    #[error("key file {} is not a PKCS#8 PEM private key of the expected kind: {reason}", .path.display())]
    Malformed {
        /// The key file.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// The operating system gave no random bytes.
    #[error("cannot get random bytes from the operating system: {0}")]
    Random(getrandom::Error),
}

/// The node key: the libp2p identity of this node, from which its PeerId derives.
///
/// Kept apart from the author key so a CERT can move or rotate nodes under one identity.
#[derive(Clone)]
pub struct NodeSecret {
    keypair: Keypair,
    peer_id: PeerId,
}

impl NodeSecret {
    /// Builds the node key from its 32-byte Ed25519 seed.
    ///
    /// libp2p's decoder is fallible in general; for a 32-byte Ed25519 seed it does not fail.
    pub fn from_seed(seed: &[u8; 32]) -> Result<Self, libp2p_identity::DecodingError> {
        // `ed25519_from_bytes` zeroes the buffer it is given: hand it a copy, wiped on drop anyway.
        let mut copy = Zeroizing::new(*seed);
        let keypair = Keypair::ed25519_from_bytes(&mut copy[..])?;
        let peer_id = keypair.public().to_peer_id();
        Ok(Self { keypair, peer_id })
    }

    /// The PeerId other nodes see and the roster lists.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The libp2p keypair, for building the Swarm.
    pub fn keypair(&self) -> &Keypair {
        &self.keypair
    }
}

impl std::fmt::Debug for NodeSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeSecret({})", self.peer_id)
    }
}

/// Draws a fresh seed from the operating system's random source.
pub fn generate_seed() -> Result<Seed, KeyFileError> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut seed[..]).map_err(KeyFileError::Random)?;
    Ok(seed)
}

/// Encodes a seed as an Ed25519 PKCS#8 v1 PEM document (RFC 8410, as `openssl genpkey` writes it).
fn seed_to_pem(seed: &[u8; 32]) -> io::Result<Zeroizing<String>> {
    let bytes = KeypairBytes {
        secret_key: *seed,
        public_key: None,
    };
    bytes
        .to_pkcs8_pem(ed25519_dalek::ed25519::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|err| io::Error::other(format!("cannot encode the key as PKCS#8 PEM: {err}")))
}

/// Decodes an Ed25519 PKCS#8 PEM document (v1, or v2 with a matching public key) into its seed.
fn pem_to_seed(pem: &str) -> Result<Seed, String> {
    let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem).map_err(|err| err.to_string())?;
    Ok(Zeroizing::new(key.to_bytes()))
}

/// Writes a key file: PEM, mode 0600, atomically, refusing to replace an existing file.
pub fn write_key_file(path: &Path, seed: &[u8; 32]) -> Result<(), KeyFileError> {
    let written =
        seed_to_pem(seed).and_then(|pem| fsutil::write_new(path, pem.as_bytes(), PRIVATE_MODE));
    written.map_err(|source| write_error(path, source))
}

/// A key file's bytes, refusing a file group or others may read or write.
fn read_private_key_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
    fsutil::read_private(path).map_err(|err| match err {
        PrivateReadError::Io(source) => KeyFileError::Read {
            path: path.to_owned(),
            source,
        },
        PrivateReadError::TooOpen(mode) => KeyFileError::TooOpen {
            path: path.to_owned(),
            mode,
        },
    })
}

/// Reads a key file's seed, refusing a file group or others may read or write.
pub fn read_key_file(path: &Path) -> Result<Seed, KeyFileError> {
    let bytes = read_private_key_file(path)?;
    let malformed = |reason: String| KeyFileError::Malformed {
        path: path.to_owned(),
        reason,
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| malformed("not UTF-8 text".into()))?;
    pem_to_seed(text).map_err(malformed)
}

/// PEM label of a PKCS#8 private key.
const PEM_LABEL: &str = "PRIVATE KEY";

/// The encryption key file's text: one PKCS#8 PEM block per secret, newest first.
fn encryption_pem(secrets: &[EncryptionSecret]) -> io::Result<Zeroizing<String>> {
    let mut out = Zeroizing::new(String::new());
    for secret in secrets {
        let block = pem::encode_string(PEM_LABEL, pem::LineEnding::LF, &secret.to_pkcs8_der())
            .map_err(|err| io::Error::other(format!("cannot encode the key as PEM: {err}")))?;
        out.push_str(&block);
    }
    Ok(out)
}

/// Draws a new X25519 secret from the operating system's random source.
pub fn generate_encryption_secret() -> Result<EncryptionSecret, KeyFileError> {
    let seed = generate_seed()?;
    Ok(EncryptionSecret::from_bytes(*seed))
}

/// Writes a new encryption key file (mode 0600, atomically), refusing to replace one.
pub fn write_encryption_key_file(
    path: &Path,
    secrets: &[EncryptionSecret],
) -> Result<(), KeyFileError> {
    let written = encryption_pem(secrets)
        .and_then(|pem| fsutil::write_new(path, pem.as_bytes(), PRIVATE_MODE));
    written.map_err(|source| write_error(path, source))
}

/// Puts a new secret in front of the encryption key file's secrets, keeping every old one so what
/// was sealed to them still opens (rotation).
pub fn rotate_encryption_key_file(path: &Path) -> Result<EncryptionSecret, KeyFileError> {
    let mut secrets = load_encryption_keys(path)?;
    let new = generate_encryption_secret()?;
    secrets.insert(0, new.clone());
    let written = encryption_pem(&secrets)
        .and_then(|pem| fsutil::write_replace(path, pem.as_bytes(), PRIVATE_MODE));
    written.map_err(|source| write_error(path, source))?;
    Ok(new)
}

fn write_error(path: &Path, source: io::Error) -> KeyFileError {
    if source.kind() == io::ErrorKind::AlreadyExists {
        KeyFileError::Exists {
            path: path.to_owned(),
        }
    } else {
        KeyFileError::Write {
            path: path.to_owned(),
            source,
        }
    }
}

/// Loads the encryption secrets, newest first, refusing a file group or others may read or write.
pub fn load_encryption_keys(path: &Path) -> Result<Vec<EncryptionSecret>, KeyFileError> {
    let bytes = read_private_key_file(path)?;
    let malformed = |reason: String| KeyFileError::Malformed {
        path: path.to_owned(),
        reason,
    };
    let text = Zeroizing::new(
        String::from_utf8(bytes.to_vec()).map_err(|_| malformed("not UTF-8 text".into()))?,
    );
    let end = format!("-----END {PEM_LABEL}-----");
    let mut secrets = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find(&end) {
        let block = &rest[..at + end.len()];
        rest = &rest[at + end.len()..];
        let (label, der) = pem::decode_vec(block.trim_start().as_bytes())
            .map_err(|err| malformed(format!("key {}: {err}", secrets.len() + 1)))?;
        let der = Zeroizing::new(der);
        if label != PEM_LABEL {
            return Err(malformed(format!(
                "key {}: PEM label `{label}`",
                secrets.len() + 1
            )));
        }
        secrets.push(
            EncryptionSecret::from_pkcs8_der(&der)
                .map_err(|err| malformed(format!("key {}: {err}", secrets.len() + 1)))?,
        );
    }
    if secrets.is_empty() || !rest.trim().is_empty() {
        return Err(malformed(
            "expected one or more X25519 PKCS#8 PEM blocks (-----BEGIN PRIVATE KEY-----)".into(),
        ));
    }
    Ok(secrets)
}

/// Loads the author key from its file.
pub fn load_author_key(path: &Path) -> Result<AuthorSecret, KeyFileError> {
    read_key_file(path).map(|seed| AuthorSecret::from_seed(&seed))
}

/// Loads the node key from its file.
pub fn load_node_key(path: &Path) -> Result<NodeSecret, KeyFileError> {
    let seed = read_key_file(path)?;
    NodeSecret::from_seed(&seed).map_err(|err| KeyFileError::Malformed {
        path: path.to_owned(),
        reason: err.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    /// DER prefix of an RFC 8410 Ed25519 PKCS#8 v1 key: SEQUENCE, version 0, OID 1.3.101.112,
    /// OCTET STRING holding an OCTET STRING of 32 bytes.
    const RFC8410_PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];

    #[test]
    fn pem_is_rfc8410_v1() {
        let seed = [7u8; 32];
        let pem = seed_to_pem(&seed).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let (label, der) =
            ed25519_dalek::ed25519::pkcs8::spki::der::pem::decode_vec(pem.as_bytes()).unwrap();
        assert_eq!(label, "PRIVATE KEY");
        assert_eq!(der.len(), 48);
        assert_eq!(der[..16], RFC8410_PREFIX);
        assert_eq!(der[16..], seed);
    }

    #[test]
    fn key_file_round_trip_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("author.key");
        let seed = generate_seed().unwrap();
        write_key_file(&path, &seed).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(*read_key_file(&path).unwrap(), *seed);
        assert_eq!(
            load_author_key(&path).unwrap().public(),
            AuthorSecret::from_seed(&seed).public()
        );
        let err = write_key_file(&path, &seed).unwrap_err();
        assert!(matches!(err, KeyFileError::Exists { .. }), "{err}");
    }

    #[test]
    fn group_readable_key_is_refused_with_chmod_hint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        write_key_file(&path, &[1; 32]).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = load_node_key(&path).unwrap_err();
        assert!(matches!(err, KeyFileError::TooOpen { mode: 0o640, .. }));
        assert!(
            err.to_string()
                .contains(&format!("chmod 600 {}", path.display())),
            "{err}"
        );
    }

    #[test]
    fn garbage_is_malformed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("author.key");
        crate::datadir::fsutil::write_new(&path, b"hello", PRIVATE_MODE).unwrap();
        assert!(matches!(
            load_author_key(&path),
            Err(KeyFileError::Malformed { .. })
        ));
    }

    #[test]
    fn node_key_peer_id_is_deterministic_and_seed_is_kept() {
        let seed = [3u8; 32];
        let a = NodeSecret::from_seed(&seed).unwrap();
        let b = NodeSecret::from_seed(&seed).unwrap();
        assert_eq!(a.peer_id(), b.peer_id());
        assert_eq!(a.keypair().public().to_peer_id(), a.peer_id());
        assert_eq!(seed, [3u8; 32], "the caller's seed must not be zeroed");
        assert!(a.peer_id().to_string().starts_with("12D3KooW"));
        assert_eq!(format!("{a:?}"), format!("NodeSecret({})", a.peer_id()));
    }

    #[test]
    fn encryption_keys_rotate_keeping_the_old_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("encryption.key");
        let first = generate_encryption_secret().unwrap();
        write_encryption_key_file(&path, std::slice::from_ref(&first)).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let new = rotate_encryption_key_file(&path).unwrap();
        let loaded = load_encryption_keys(&path).unwrap();
        let publics: Vec<_> = loaded.iter().map(EncryptionSecret::public).collect();
        assert_eq!(publics, vec![new.public(), first.public()]);
        // A file holding an Ed25519 key instead is refused, naming the problem.
        let wrong = dir.path().join("wrong.key");
        write_key_file(&wrong, &[5; 32]).unwrap();
        let err = load_encryption_keys(&wrong).unwrap_err().to_string();
        assert!(err.contains("X25519"), "{err}");
    }
}
