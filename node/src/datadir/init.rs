//! Initialising a data directory: fresh keys, a config, a roster holding this member, an API token.
//!
//! Used by `certnet init`, by `certnet run` on a directory that was never initialised, and by tools
//! (the testnet) that set up many nodes. Never overwrites anything.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use certnet_protocol::keys::{AuthorKey, AuthorSecret};
use libp2p_identity::PeerId;

use super::roster_file::{RosterError, RosterFile as _};
use crate::datadir::config::{ConfigError, NodeConfig};
use crate::datadir::keys::{self, KeyFileError, NodeSecret};
use crate::datadir::token::{ApiToken, TokenError};
use crate::datadir::{DataDir, DirError, DirState};
use crate::membership::{Member, MemberName, NetworkId, Roster};

/// What a new node is set up with.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// This node's member name.
    pub name: MemberName,
    /// The federation's network id.
    pub network: NetworkId,
    /// libp2p listen multiaddrs; `None` keeps the defaults.
    pub p2p_listen: Option<Vec<String>>,
    /// API address; `None` keeps the default (127.0.0.1:4470).
    pub api_listen: Option<SocketAddr>,
}

impl InitOptions {
    /// Defaults: `name`, network `certnet-dev`, default listen addresses.
    pub fn new(name: MemberName) -> Self {
        Self {
            name,
            network: NetworkId::dev(),
            p2p_listen: None,
            api_listen: None,
        }
    }
}

/// What `init` made.
#[derive(Debug, Clone)]
pub struct InitReport {
    /// The member name.
    pub name: MemberName,
    /// The network id.
    pub network: NetworkId,
    /// The new author public key.
    pub author_key: AuthorKey,
    /// The new node's PeerId.
    pub peer_id: PeerId,
    /// Every file written, in order.
    pub files: Vec<PathBuf>,
}

/// Why a data directory could not be initialised.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// Some of the files exist already.
    #[error("{} is already initialised (found {}): refusing to overwrite; use another --data-dir or move these files away", .dir.display(), .existing.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    AlreadyInitialised {
        /// The data directory.
        dir: PathBuf,
        /// The files that exist.
        existing: Vec<PathBuf>,
    },
    /// The directory could not be created or inspected.
    #[error("cannot create data directory {}", .dir.display())]
    Dir {
        /// The data directory.
        dir: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A key could not be made or written.
    #[error(transparent)]
    Key(#[from] KeyFileError),
    /// The node key seed was rejected by libp2p.
    #[error("cannot derive the node's PeerId: {0}")]
    NodeKey(libp2p_identity::DecodingError),
    /// The roster could not be written.
    #[error(transparent)]
    Roster(#[from] RosterError),
    /// The config could not be written.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The API token could not be made or written.
    #[error(transparent)]
    Token(#[from] TokenError),
}

/// Creates `dir` (mode 0700) if needed and writes a new node into it; refuses if any file exists.
pub fn init(dir: &DataDir, options: &InitOptions) -> Result<InitReport, InitError> {
    let dir_err = |source| InitError::Dir {
        dir: dir.root().to_owned(),
        source,
    };
    dir.create().map_err(dir_err)?;
    if dir.state().map_err(dir_err)? != DirState::Fresh {
        let mut existing = Vec::new();
        for file in dir.init_files() {
            if file.try_exists().map_err(dir_err)? {
                existing.push(file);
            }
        }
        return Err(InitError::AlreadyInitialised {
            dir: dir.root().to_owned(),
            existing,
        });
    }

    let author_seed = keys::generate_seed()?;
    let node_seed = keys::generate_seed()?;
    let author_key = AuthorSecret::from_seed(&author_seed).public();
    let peer_id = NodeSecret::from_seed(&node_seed)
        .map_err(InitError::NodeKey)?
        .peer_id();
    let token = ApiToken::generate()?;
    let encryption = keys::generate_encryption_secret()?;

    let mut roster = Roster::new(options.network.clone());
    roster
        .add_member(
            Member::new(options.name.clone(), author_key, vec![peer_id], Vec::new())
                .with_encryption_keys(vec![encryption.public()]),
        )
        .map_err(RosterError::from)?;
    let mut config = NodeConfig::new(options.name.clone());
    if let Some(listen) = options.api_listen {
        config = config.with_api_listen(listen);
    }
    if let Some(listen) = &options.p2p_listen {
        config = config.with_p2p_listen(listen.clone());
    }

    // Same order as `DataDir::init_files`: keys first, so an interrupted init is seen as partial.
    keys::write_key_file(&dir.author_key(), &author_seed)?;
    keys::write_key_file(&dir.node_key(), &node_seed)?;
    keys::write_encryption_key_file(&dir.encryption_key(), std::slice::from_ref(&encryption))?;
    roster.write_new(&dir.roster())?;
    config.write_new(&dir.config())?;
    token.write_new(&dir.api_token())?;

    Ok(InitReport {
        name: options.name.clone(),
        network: options.network.clone(),
        author_key,
        peer_id,
        files: dir.init_files().to_vec(),
    })
}

/// Initialises `dir` if it is fresh; `Ok(None)` if it is initialised already.
///
/// A half-initialised directory is an error naming the missing files, never silently completed.
pub fn ensure_initialised(
    dir: &DataDir,
    options: &InitOptions,
) -> Result<Option<InitReport>, EnsureError> {
    if dir.is_initialised()? {
        Ok(None)
    } else {
        Ok(Some(init(dir, options)?))
    }
}

/// Why `ensure_initialised` failed.
#[derive(Debug, thiserror::Error)]
pub enum EnsureError {
    /// The data directory is half-initialised or unreadable.
    #[error(transparent)]
    DataDir(#[from] DirError),
    /// Initialising failed.
    #[error(transparent)]
    Init(#[from] InitError),
}
