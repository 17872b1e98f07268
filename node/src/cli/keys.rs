//! `certnet keys`: this node's name, author key and PeerId, as other members need them.

use super::out::print_text;
use anyhow::Context as _;
use certnet_node::datadir::DataDir;
use certnet_node::datadir::config::NodeConfig;
use certnet_node::datadir::keys;
use certnet_node::datadir::load::LoadError;
use clap::Args;
use serde::Serialize;

#[derive(Debug, Args)]
pub(crate) struct KeysArgs {
    /// Print JSON with exactly the fields `name`, `author_key` and `peer_id`.
    #[arg(long)]
    json: bool,
}

/// The public facts about this node, in the JSON shape `--json` promises.
#[derive(Debug, Serialize)]
struct PublicKeys {
    name: String,
    author_key: String,
    peer_id: String,
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
    let keys = PublicKeys {
        name: config.name().to_string(),
        author_key: author.public().to_string(),
        peer_id: node.peer_id().to_string(),
    };
    if args.json {
        let text = serde_json::to_string_pretty(&keys).context("cannot encode JSON")?;
        print_text(&text);
    } else {
        print_text(&format!(
            "name        {}\nauthor_key  {}\npeer_id     {}",
            keys.name, keys.author_key, keys.peer_id
        ));
    }
    Ok(())
}
