//! The data directory: everything a node keeps on disk outside its store, and the only module that
//! opens those files.
//!
//! - [`keys`]: author and node key files (Ed25519 PKCS#8 PEM, mode 0600), the node's PeerId.
//! - [`token`]: the API bearer token file.
//! - [`config`]: `config.toml`, validated into [`config::NodeConfig`].
//! - [`roster_file`]: `roster.toml` ⇄ [`crate::membership::Roster`].
//! - [`init`]: writing a new node into a data directory.
//! - [`load`]: reading and cross-checking everything a node needs to start.
//! - `fsutil`, [`tomlfile`]: atomic writes and mode checks; TOML error placement.
//!
//! Layout of `D`:
//!
//! | file          | what                                              | mode |
//! |---------------|---------------------------------------------------|------|
//! | `author.key`  | author key, Ed25519 PKCS#8 PEM                    | 0600 |
//! | `node.key`    | node (libp2p) key, Ed25519 PKCS#8 PEM             | 0600 |
//! | `encryption.key` | X25519 secrets for sealed records, PKCS#8 PEM, newest first | 0600 |
//! | `api.token`   | API bearer token, 64 hex characters               | 0600 |
//! | `config.toml` | node configuration                                | 0644 |
//! | `roster.toml` | federation members                                | 0644 |
//! | `api.addr`    | address the running node's API is bound to        | 0644 |
//! | `api-tls.addr`| address of its HTTPS listener, when configured    | 0644 |
//!
//! `D` itself is created with mode 0700.

pub mod config;
pub(crate) mod fsutil;
pub mod init;
pub mod keys;
pub mod load;
pub mod roster_file;
pub mod token;
pub mod tomlfile;

use std::ffi::OsStr;
use std::io;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

/// Name of the directory under `$XDG_DATA_HOME` (or `~/.local/share`) used by default.
const APP_DIR: &str = "certnet";

/// The default data directory: `$XDG_DATA_HOME/certnet`, else `$HOME/.local/share/certnet`.
///
/// Takes the two variables' values rather than reading the environment, so the binary decides where
/// they come from. Per the XDG base directory spec, a relative or empty `XDG_DATA_HOME` is ignored.
/// `None` when neither gives an absolute path.
pub fn default_data_dir(xdg_data_home: Option<&OsStr>, home: Option<&OsStr>) -> Option<PathBuf> {
    if let Some(xdg) = xdg_data_home.map(Path::new).filter(|p| p.is_absolute()) {
        return Some(xdg.join(APP_DIR));
    }
    let home = home.map(Path::new).filter(|p| p.is_absolute())?;
    Some(home.join(".local").join("share").join(APP_DIR))
}

/// Whether a data directory holds an initialised node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirState {
    /// None of the files `certnet init` writes exist (the directory may not exist either).
    Fresh,
    /// All of them exist.
    Initialised,
    /// Some exist, some do not: a failed init or a damaged directory.
    Partial {
        /// The files that are missing.
        missing: Vec<PathBuf>,
    },
}

/// A data directory that cannot be used as it is.
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    /// Some files of an initialised node are missing.
    #[error("{} is only partly initialised: {} missing (restore them from a backup, or move the directory away and run `certnet init`)", .dir.display(), .missing.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    Partial {
        /// The data directory.
        dir: PathBuf,
        /// The missing files.
        missing: Vec<PathBuf>,
    },
    /// The directory could not be inspected.
    #[error("cannot inspect data directory {}", .dir.display())]
    Dir {
        /// The data directory.
        dir: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

/// Paths of the files in one data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The data directory at `root` (nothing is created or checked).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The author key file.
    pub fn author_key(&self) -> PathBuf {
        self.root.join("author.key")
    }

    /// The node (libp2p) key file.
    pub fn node_key(&self) -> PathBuf {
        self.root.join("node.key")
    }

    /// The encryption key file: this node's X25519 secrets, newest first (sealed records).
    pub fn encryption_key(&self) -> PathBuf {
        self.root.join("encryption.key")
    }

    /// The API token file.
    pub fn api_token(&self) -> PathBuf {
        self.root.join("api.token")
    }

    /// The node configuration.
    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }

    /// The roster.
    pub fn roster(&self) -> PathBuf {
        self.root.join("roster.toml")
    }

    /// Where a running node writes its API's bound address.
    pub fn api_addr(&self) -> PathBuf {
        self.root.join("api.addr")
    }

    /// Where a running node writes its HTTPS listener's bound address (when `[api] tls_listen` is set).
    pub fn api_tls_addr(&self) -> PathBuf {
        self.root.join("api-tls.addr")
    }

    /// The files `certnet init` writes, in the order it writes them.
    pub fn init_files(&self) -> [PathBuf; 5] {
        [
            self.author_key(),
            self.node_key(),
            self.roster(),
            self.config(),
            self.api_token(),
        ]
    }

    /// Creates the directory (and its parents) if needed; a directory it creates gets mode 0700.
    pub fn create(&self) -> io::Result<()> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
    }

    /// Whether the directory is initialised (`true`) or fresh (`false`); half-initialised or
    /// unreadable is an error naming what is wrong.
    pub fn is_initialised(&self) -> Result<bool, DirError> {
        let state = self.state().map_err(|source| DirError::Dir {
            dir: self.root.clone(),
            source,
        })?;
        match state {
            DirState::Initialised => Ok(true),
            DirState::Fresh => Ok(false),
            DirState::Partial { missing } => Err(DirError::Partial {
                dir: self.root.clone(),
                missing,
            }),
        }
    }

    /// Whether the directory is fresh, initialised, or half-initialised.
    pub fn state(&self) -> io::Result<DirState> {
        let mut missing = Vec::new();
        let files = self.init_files();
        for file in &files {
            if !file.try_exists()? {
                missing.push(file.clone());
            }
        }
        Ok(if missing.is_empty() {
            DirState::Initialised
        } else if missing.len() == files.len() {
            DirState::Fresh
        } else {
            DirState::Partial { missing }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_prefers_absolute_xdg_then_home() {
        let xdg = OsStr::new("/x/data");
        let home = OsStr::new("/home/a");
        assert_eq!(
            default_data_dir(Some(xdg), Some(home)),
            Some(PathBuf::from("/x/data/certnet"))
        );
        assert_eq!(
            default_data_dir(None, Some(home)),
            Some(PathBuf::from("/home/a/.local/share/certnet"))
        );
        assert_eq!(
            default_data_dir(Some(OsStr::new("rel")), Some(home)),
            Some(PathBuf::from("/home/a/.local/share/certnet"))
        );
        assert_eq!(
            default_data_dir(Some(OsStr::new("")), Some(home)),
            Some(PathBuf::from("/home/a/.local/share/certnet"))
        );
        assert_eq!(default_data_dir(None, None), None);
        assert_eq!(default_data_dir(None, Some(OsStr::new("rel"))), None);
    }

    #[test]
    fn state_tracks_init_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::new(tmp.path().join("d"));
        assert_eq!(dir.state().unwrap(), DirState::Fresh);
        dir.create().unwrap();
        std::fs::write(dir.config(), "").unwrap();
        assert!(
            matches!(dir.state().unwrap(), DirState::Partial { missing } if missing.len() == 4)
        );
        for file in dir.init_files() {
            std::fs::write(file, "").unwrap();
        }
        assert_eq!(dir.state().unwrap(), DirState::Initialised);
    }
}
