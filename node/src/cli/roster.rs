//! `certnet roster`: edit `D/roster.toml` offline (add, remove, list) and ask a running node to
//! apply it (reload).
//!
//! Edits go through the [`Roster`] model, so a file this command writes always loads: names, author
//! keys and PeerIds stay unique, keys and PeerIds are checked, addresses are multiaddrs. The file is
//! replaced atomically. A running node keeps its roster until `certnet roster reload` or SIGHUP.

use super::out::print_text;
use anyhow::Context as _;
use certnet_node::api::client::Client;
use certnet_node::datadir::DataDir;
use certnet_node::datadir::config::NodeConfig;
use certnet_node::datadir::roster_file::RosterFile as _;
use certnet_node::membership::{Member, MemberName, Roster};
use certnet_protocol::keys::AuthorKey;
use certnet_protocol::sealed::EncryptionKey;
use clap::{Args, Subcommand};
use libp2p::Multiaddr;
use libp2p_identity::PeerId;
use serde::Serialize;

use super::UsageError;

#[derive(Debug, Args)]
pub(crate) struct RosterArgs {
    #[command(subcommand)]
    action: RosterAction,
}

#[derive(Debug, Subcommand)]
enum RosterAction {
    /// Add a member: the author key and peer id its operator got from `certnet keys`.
    Add(AddArgs),
    /// Remove a member by name (records it already published stay in the log).
    Remove {
        /// The member's name (also taken as `--name NAME`, as `roster add` takes it).
        #[arg(
            value_name = "NAME",
            required_unless_present = "name_flag",
            conflicts_with = "name_flag"
        )]
        name: Option<String>,
        /// The member's name.
        #[arg(long = "name", id = "name_flag", value_name = "NAME")]
        name_flag: Option<String>,
    },
    /// List the members.
    List {
        /// Print JSON: `{"network": ..., "members": [{name, author_key, peer_ids, addrs, encryption_keys}]}`.
        #[arg(long)]
        json: bool,
    },
    /// Make the running node re-read roster.toml (same as sending it SIGHUP).
    Reload {
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
struct AddArgs {
    /// The member's name, e.g. CERT-EU.
    #[arg(long)]
    name: MemberName,
    /// Its author public key (`ed25519:...`, from `certnet keys` on its node).
    #[arg(long, value_name = "KEY")]
    author_key: AuthorKey,
    /// A PeerId its nodes connect from (from `certnet keys`); repeat for several nodes.
    #[arg(long = "peer-id", value_name = "PEER_ID", required = true)]
    peer_ids: Vec<PeerId>,
    /// A bootstrap multiaddr of its node, e.g. /ip4/192.0.2.10/tcp/4471; repeat for several.
    #[arg(long = "addr", value_name = "MULTIADDR")]
    addrs: Vec<Multiaddr>,
    /// Its encryption key (`x25519:...`, from `certnet keys`), for records sealed to it; repeat
    /// for several, newest first. Without one, records cannot be sealed to this member.
    #[arg(long = "encryption-key", value_name = "KEY")]
    encryption_keys: Vec<EncryptionKey>,
}

/// One member in `list --json`.
#[derive(Debug, Serialize)]
struct MemberJson {
    name: String,
    author_key: String,
    peer_ids: Vec<String>,
    addrs: Vec<String>,
    encryption_keys: Vec<String>,
}

/// `list --json`.
#[derive(Debug, Serialize)]
struct RosterJson {
    network: String,
    members: Vec<MemberJson>,
}

pub(super) fn run(dir: &DataDir, args: RosterArgs) -> anyhow::Result<()> {
    match args.action {
        RosterAction::Add(add) => {
            let path = dir.roster();
            let mut roster = Roster::load(&path)?;
            let name = add.name.clone();
            roster.add_member(
                Member::new(
                    add.name,
                    add.author_key,
                    add.peer_ids,
                    add.addrs.iter().map(ToString::to_string).collect(),
                )
                .with_encryption_keys(add.encryption_keys),
            )?;
            roster.save(&path)?;
            print_text(&format!(
                "added `{name}` to {} ({} members)\n{}",
                path.display(),
                roster.members().len(),
                APPLY_HINT
            ));
        }
        RosterAction::Remove { name, name_flag } => {
            let name = name.or(name_flag).unwrap_or_default();
            let path = dir.roster();
            let mut roster = Roster::load(&path)?;
            let own = NodeConfig::load(&dir.config())?;
            if own.name().as_str() == name {
                return Err(UsageError(format!(
                    "`{name}` is this node's own member: removing it would stop the node from starting (remove it from the other members' rosters instead)"
                ))
                .into());
            }
            roster.remove_member(&name)?;
            roster.save(&path)?;
            print_text(&format!(
                "removed `{name}` from {} ({} members); its records already stored stay\n{}",
                path.display(),
                roster.members().len(),
                APPLY_HINT
            ));
        }
        RosterAction::List { json } => {
            let roster = Roster::load(&dir.roster())?;
            if json {
                let text = serde_json::to_string_pretty(&to_json(&roster))
                    .context("cannot encode JSON")?;
                print_text(&text);
            } else {
                print_text(&render(&roster));
            }
        }
        RosterAction::Reload { json } => {
            let client = Client::from_data_dir(dir)?;
            let change = client.reload_roster()?;
            if json {
                let text = serde_json::to_string_pretty(&change).context("cannot encode JSON")?;
                print_text(&text);
            } else {
                let list = |names: &[String]| {
                    if names.is_empty() {
                        "-".to_owned()
                    } else {
                        names.join(", ")
                    }
                };
                print_text(&format!(
                    "roster reloaded: {} members\nadded         {}\nremoved       {}\ndisconnected  {}",
                    change.members,
                    list(&change.added),
                    list(&change.removed),
                    list(&change.disconnected),
                ));
            }
        }
    }
    Ok(())
}

const APPLY_HINT: &str =
    "a running node applies it after `certnet roster reload` (or SIGHUP); a stopped one at start";

fn to_json(roster: &Roster) -> RosterJson {
    RosterJson {
        network: roster.network().to_string(),
        members: roster
            .members()
            .iter()
            .map(|m| MemberJson {
                name: m.name().to_string(),
                author_key: m.author_key().to_string(),
                peer_ids: m.peer_ids().iter().map(ToString::to_string).collect(),
                addrs: m.addrs().to_vec(),
                encryption_keys: m
                    .encryption_keys()
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            })
            .collect(),
    }
}

fn render(roster: &Roster) -> String {
    let mut out = format!(
        "network  {}\nmembers  {}\n",
        roster.network(),
        roster.members().len()
    );
    for m in roster.members() {
        out.push_str(&format!(
            "\n{}\n  author_key  {}\n",
            m.name(),
            m.author_key()
        ));
        for peer in m.peer_ids() {
            out.push_str(&format!("  peer_id     {peer}\n"));
        }
        for addr in m.addrs() {
            out.push_str(&format!("  addr        {addr}\n"));
        }
        for key in m.encryption_keys() {
            out.push_str(&format!("  encryption  {key}\n"));
        }
    }
    out.trim_end().to_owned()
}
