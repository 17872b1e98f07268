//! `certnet keys`: this node's name, author key, PeerId and encryption key, as other members need
//! them; `--rotate-encryption-key` puts a new encryption key first, keeping the old ones.

use super::out::print_text;
use anyhow::Context as _;
use certnet_node::datadir::DataDir;
use certnet_node::datadir::config::NodeConfig;
use certnet_node::datadir::keys;
use certnet_node::datadir::load::{self, LoadError};
use clap::Args;
use serde::Serialize;

#[derive(Debug, Args)]
pub(crate) struct KeysArgs {
    /// Print JSON with exactly the fields `name`, `author_key`, `peer_id` and `encryption_key`.
    #[arg(long)]
    json: bool,
    /// Make a new encryption key and put it first in encryption.key, keeping every old one (what was
    /// sealed to them still opens). Then list the new key first in this member's `encryption_keys`
    /// in every member's roster.
    #[arg(long)]
    rotate_encryption_key: bool,
}

/// The public facts about this node, in the JSON shape `--json` promises.
#[derive(Debug, Serialize)]
struct PublicKeys {
    name: String,
    author_key: String,
    peer_id: String,
    /// The newest encryption key: what records sealed to this member are encrypted to.
    encryption_key: String,
}

pub(super) fn run(dir: &DataDir, args: &KeysArgs) -> anyhow::Result<()> {
    if !dir.is_initialised()? {
        return Err(LoadError::NotInitialised {
            dir: dir.root().to_owned(),
        }
        .into());
    }
    let config = NodeConfig::load(&dir.config())?;
    let author = keys::load_author_key(&dir.author_key())?;
    let node = keys::load_node_key(&dir.node_key())?;
    let mut encryption = load::load_or_create_encryption_keys(dir)?;
    if args.rotate_encryption_key {
        let new = keys::rotate_encryption_key_file(&dir.encryption_key())?;
        eprintln!(
            "new encryption key {} is first in {}; {} older key(s) kept. Next: list it first in this member's encryption_keys in every member's roster.toml (certnet roster add … --encryption-key, or edit), then reload.",
            new.public(),
            dir.encryption_key().display(),
            encryption.len()
        );
        encryption.insert(0, new);
    }
    let keys = PublicKeys {
        name: config.name().to_string(),
        author_key: author.public().to_string(),
        peer_id: node.peer_id().to_string(),
        encryption_key: encryption[0].public().to_string(),
    };
    if args.json {
        let text = serde_json::to_string_pretty(&keys).context("cannot encode JSON")?;
        print_text(&text);
    } else {
        print_text(&format!(
            "name            {}\nauthor_key      {}\npeer_id         {}\nencryption_key  {}",
            keys.name, keys.author_key, keys.peer_id, keys.encryption_key
        ));
    }
    Ok(())
}
