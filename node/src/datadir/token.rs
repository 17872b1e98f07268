//! The API token: the bearer secret that authorises writes to a node's HTTP API.
//!
//! Stored as 64 hex characters (32 random bytes) in `api.token`, mode 0600, next to the keys. The CLI
//! reads it from there; scripts send it as `Authorization: Bearer <token>`.

use std::io;
use std::path::{Path, PathBuf};

use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::datadir::fsutil::{self, PrivateReadError};
use crate::datadir::keys::PRIVATE_MODE;

/// Number of random bytes in a token.
const TOKEN_BYTES: usize = 32;

/// Why the API token file could not be written or loaded.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The file exists already.
    #[error("{} already exists: refusing to overwrite the API token", .path.display())]
    Exists {
        /// The token file.
        path: PathBuf,
    },
    /// The file could not be written.
    #[error("cannot write API token file {}", .path.display())]
    Write {
        /// The token file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The file could not be read.
    #[error("cannot read API token file {}", .path.display())]
    Read {
        /// The token file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// Group or others may read or write the file.
    #[error("API token file {} is readable or writable by group or others (mode {mode:04o}): run `chmod 600 {}`", .path.display(), .path.display())]
    TooOpen {
        /// The token file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file does not hold 64 hex characters.
    #[error("API token file {} must hold 64 hex characters (make a new one with `openssl rand -hex 32 > {}` and `chmod 600` it)", .path.display(), .path.display())]
    Malformed {
        /// The token file.
        path: PathBuf,
    },
    /// The operating system gave no random bytes.
    #[error("cannot get random bytes from the operating system: {0}")]
    Random(getrandom::Error),
}

/// The API bearer token. Compared in constant time; `Debug` never shows it.
#[derive(Clone)]
pub struct ApiToken(Zeroizing<String>);

impl ApiToken {
    /// A fresh token: 32 random bytes, hex-encoded.
    pub fn generate() -> Result<Self, TokenError> {
        let mut bytes = Zeroizing::new([0u8; TOKEN_BYTES]);
        getrandom::fill(&mut bytes[..]).map_err(TokenError::Random)?;
        Ok(Self(Zeroizing::new(hex::encode(&bytes[..]))))
    }

    /// The token text, for the `Authorization` header.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` is this token, in time independent of where they differ.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(candidate).into()
    }

    /// Writes the token file: mode 0600, atomically, refusing to replace an existing file.
    pub fn write_new(&self, path: &Path) -> Result<(), TokenError> {
        let mut text = Zeroizing::new(String::with_capacity(TOKEN_BYTES * 2 + 1));
        text.push_str(&self.0);
        text.push('\n');
        fsutil::write_new(path, text.as_bytes(), PRIVATE_MODE).map_err(|source| {
            if source.kind() == io::ErrorKind::AlreadyExists {
                TokenError::Exists {
                    path: path.to_owned(),
                }
            } else {
                TokenError::Write {
                    path: path.to_owned(),
                    source,
                }
            }
        })
    }

    /// Loads the token file, refusing a file group or others may read or write.
    pub fn load(path: &Path) -> Result<Self, TokenError> {
        let bytes = fsutil::read_private(path).map_err(|err| match err {
            PrivateReadError::Io(source) => TokenError::Read {
                path: path.to_owned(),
                source,
            },
            PrivateReadError::TooOpen(mode) => TokenError::TooOpen {
                path: path.to_owned(),
                mode,
            },
        })?;
        let malformed = || TokenError::Malformed {
            path: path.to_owned(),
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| malformed())?.trim();
        if text.len() != TOKEN_BYTES * 2 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(malformed());
        }
        Ok(Self(Zeroizing::new(text.to_ascii_lowercase())))
    }
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(..)")
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn round_trip_mode_and_match() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api.token");
        let token = ApiToken::generate().unwrap();
        assert_eq!(token.as_str().len(), 64);
        token.write_new(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let loaded = ApiToken::load(&path).unwrap();
        assert!(loaded.matches(token.as_str().as_bytes()));
        assert!(!loaded.matches(b"nope"));
        assert!(!loaded.matches(&token.as_str().as_bytes()[..63]));
        assert!(matches!(
            token.write_new(&path),
            Err(TokenError::Exists { .. })
        ));
        assert_eq!(format!("{loaded:?}"), "ApiToken(..)");
    }

    #[test]
    fn malformed_and_open_tokens_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api.token");
        crate::datadir::fsutil::write_new(&path, b"short\n", PRIVATE_MODE).unwrap();
        assert!(matches!(
            ApiToken::load(&path),
            Err(TokenError::Malformed { .. })
        ));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o604)).unwrap();
        assert!(matches!(
            ApiToken::load(&path),
            Err(TokenError::TooOpen { mode: 0o604, .. })
        ));
    }
}
