//! Loading a data directory into everything a node needs to start, with the checks across files.
//!
//! Each file is checked on its own (key permissions, config and roster syntax) and then against the
//! others: this node's author key must be in the roster, under the name config.toml gives.

use std::path::PathBuf;

use certnet_protocol::keys::{AuthorKey, AuthorSecret};
use certnet_protocol::sealed::EncryptionSecret;
use tracing::warn;

use super::roster_file::{RosterError, RosterFile as _};
use crate::datadir::config::{ConfigError, NodeConfig};
use crate::datadir::keys::{self, KeyFileError, NodeSecret};
use crate::datadir::token::{ApiToken, TokenError};
use crate::datadir::{DataDir, DirError};
use crate::membership::{MemberName, NodeIdentity, Roster};

/// Why a data directory could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// No node lives here yet.
    #[error("{} holds no certnet node: run `certnet init --data-dir {}` first", .dir.display(), .dir.display())]
    NotInitialised {
        /// The data directory.
        dir: PathBuf,
    },
    /// The data directory is half-initialised or unreadable.
    #[error(transparent)]
    DataDir(#[from] DirError),
    /// A key file is unusable.
    #[error(transparent)]
    Key(#[from] KeyFileError),
    /// The API token file is unusable.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// config.toml is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// roster.toml is unusable.
    #[error(transparent)]
    Roster(#[from] RosterError),
    /// A file that decides whom the node trusts may be changed by group or others.
    #[error("{} is writable by group or others (mode {mode:04o}): whoever can change it decides whom this node trusts; run `chmod go-w {}`", .path.display(), .path.display())]
    WritableByOthers {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A file's permissions could not be read.
    #[error("cannot read the permissions of {}", .path.display())]
    Mode {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// This node's author key is not in the roster.
    #[error("{}: this node's author key {author_key} is not in the roster: add a [[member]] with name = \"{name}\" and author_key = \"{author_key}\"", .roster.display())]
    NotInRoster {
        /// The roster file.
        roster: PathBuf,
        /// This node's author key.
        author_key: AuthorKey,
        /// This node's name from config.toml.
        name: MemberName,
    },
    /// config.toml and roster.toml disagree about this node's name.
    #[error("{}: name `{config_name}` differs from this node's roster entry `{roster_name}` in {}: make them the same", .config.display(), .roster.display())]
    NameMismatch {
        /// The config file.
        config: PathBuf,
        /// The roster file.
        roster: PathBuf,
        /// The name in config.toml.
        config_name: MemberName,
        /// The name the roster lists for this author key.
        roster_name: MemberName,
    },
}

/// Everything read from a data directory, checked and consistent.
#[derive(Debug)]
pub struct LoadedNode {
    data_dir: DataDir,
    config: NodeConfig,
    roster: Roster,
    author: AuthorSecret,
    node_key: NodeSecret,
    encryption: Vec<EncryptionSecret>,
    token: ApiToken,
}

impl LoadedNode {
    /// The data directory.
    pub fn data_dir(&self) -> &DataDir {
        &self.data_dir
    }

    /// The validated configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The validated roster; it lists this node's author key under the configured name.
    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    /// The author key.
    pub fn author(&self) -> &AuthorSecret {
        &self.author
    }

    /// The node (libp2p) key.
    pub fn node_key(&self) -> &NodeSecret {
        &self.node_key
    }

    /// The encryption secrets, newest first.
    pub fn encryption(&self) -> &[EncryptionSecret] {
        &self.encryption
    }

    /// The API token.
    pub fn token(&self) -> &ApiToken {
        &self.token
    }

    /// Who this node is.
    pub fn identity(&self) -> NodeIdentity {
        NodeIdentity {
            name: self.config.name().clone(),
            network: self.roster.network().clone(),
            author_key: self.author.public(),
            peer_id: self.node_key.peer_id(),
        }
    }
}

/// Loads and checks an initialised data directory.
pub fn load(dir: &DataDir) -> Result<LoadedNode, LoadError> {
    if !dir.is_initialised()? {
        return Err(LoadError::NotInitialised {
            dir: dir.root().to_owned(),
        });
    }
    for path in [dir.config(), dir.roster()] {
        match super::fsutil::writable_by_others(&path) {
            Ok(None) => {}
            Ok(Some(mode)) => return Err(LoadError::WritableByOthers { path, mode }),
            Err(source) => return Err(LoadError::Mode { path, source }),
        }
    }
    let author = keys::load_author_key(&dir.author_key())?;
    let node_key = keys::load_node_key(&dir.node_key())?;
    let encryption = load_or_create_encryption_keys(dir)?;
    let token = ApiToken::load(&dir.api_token())?;
    let config = NodeConfig::load(&dir.config())?;
    if !config.taxii().consumers().is_empty()
        && let Ok(meta) = std::fs::metadata(dir.config())
        && std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o044 != 0
    {
        warn!(path = %dir.config().display(), "config.toml holds consumers' credential hashes and is readable by group or others: run `chmod 600` on it");
    }
    let roster = Roster::load(&dir.roster())?;

    let author_key = author.public();
    let Some(member) = roster.member_by_author(&author_key) else {
        return Err(LoadError::NotInRoster {
            roster: dir.roster(),
            author_key,
            name: config.name().clone(),
        });
    };
    if member.name() != config.name() {
        return Err(LoadError::NameMismatch {
            config: dir.config(),
            roster: dir.roster(),
            config_name: config.name().clone(),
            roster_name: member.name().clone(),
        });
    }
    if !member.peer_ids().contains(&node_key.peer_id()) {
        warn!(
            peer_id = %node_key.peer_id(),
            roster = %dir.roster().display(),
            "this node's peer id is not listed for its member in the roster: other members will refuse its connections until their rosters list it"
        );
    }
    let own = encryption[0].public();
    if member.encryption_keys().first() != Some(&own) {
        warn!(
            encryption_key = %own,
            roster = %dir.roster().display(),
            "this node's newest encryption key is not the first encryption key of its member in the roster: records sealed to this member go to the roster's key; put this one first (every member's roster) so new sealed records reach it"
        );
    }
    Ok(LoadedNode {
        data_dir: dir.clone(),
        config,
        roster,
        author,
        node_key,
        encryption,
        token,
    })
}

/// The encryption secrets; a data directory made before sealed records existed gets its first one
/// now (its member's roster entry then needs the key: `certnet keys` prints it).
pub fn load_or_create_encryption_keys(dir: &DataDir) -> Result<Vec<EncryptionSecret>, LoadError> {
    let path = dir.encryption_key();
    if !path
        .try_exists()
        .map_err(|source| keys::KeyFileError::Read {
            path: path.clone(),
            source,
        })?
    {
        let secret = keys::generate_encryption_secret()?;
        keys::write_encryption_key_file(&path, std::slice::from_ref(&secret))?;
        tracing::info!(
            path = %path.display(),
            encryption_key = %secret.public(),
            "created this node's encryption key (for sealed records): add it to this member's encryption_keys in every roster"
        );
    }
    Ok(keys::load_encryption_keys(&path)?)
}
