//! `certnet init`: create a new node in a data directory and say what to do next.

use std::net::SocketAddr;

use anyhow::Context as _;
use certnet_node::datadir::DataDir;
use certnet_node::datadir::config::{DEFAULT_API_LISTEN, DEFAULT_P2P_LISTEN};
use certnet_node::datadir::init::{self, InitOptions, InitReport};
use certnet_node::membership::{DEFAULT_NETWORK, MemberName, NetworkId};
use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// This node's member name in the roster [default: the host name, else "certnet-node"].
    #[arg(long)]
    name: Option<MemberName>,

    /// Network id of the federation: lowercase letters, digits and '-'.
    #[arg(long, default_value = DEFAULT_NETWORK)]
    network: NetworkId,

    /// libp2p listen multiaddr; repeat for several [default: /ip4/0.0.0.0/tcp/4471 and
    /// /ip4/0.0.0.0/udp/4471/quic-v1].
    #[arg(long = "listen", value_name = "MULTIADDR", value_parser = parse_multiaddr)]
    listen: Vec<String>,

    /// Address of the local HTTP API; port 0 picks a free port [default: 127.0.0.1:4470].
    #[arg(long, value_name = "IP:PORT")]
    api: Option<SocketAddr>,
}

fn parse_multiaddr(s: &str) -> Result<String, String> {
    if s.starts_with('/') {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "not a multiaddr (for example {})",
            DEFAULT_P2P_LISTEN[0]
        ))
    }
}

pub(super) fn run(dir: &DataDir, args: InitArgs) -> anyhow::Result<()> {
    let options = InitOptions {
        name: args.name.unwrap_or_else(default_name),
        network: args.network,
        p2p_listen: (!args.listen.is_empty()).then_some(args.listen),
        api_listen: args.api,
    };
    let report = init::init(dir, &options).context("cannot initialise the node")?;
    print_report(dir, &report, &options);
    Ok(())
}

/// Defaults for `certnet run` on an empty data directory.
pub(super) fn default_options() -> InitOptions {
    InitOptions::new(default_name())
}

/// The host name if it makes a valid member name, else "certnet-node".
fn default_name() -> MemberName {
    let hostname = ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok());
    MemberName::from_hostname(hostname.as_deref())
}

fn print_report(dir: &DataDir, report: &InitReport, options: &InitOptions) {
    let d = dir.root().display();
    let api = match options.api_listen {
        None => format!("http://{DEFAULT_API_LISTEN}"),
        Some(addr) if addr.port() == 0 => {
            format!("http://{addr} (a free port is picked at start and written to api.addr)")
        }
        Some(addr) => format!("http://{addr}"),
    };
    let mut lines = vec![format!("Initialised certnet node `{}` in {d}", report.name)];
    lines.push(String::new());
    lines.push(format!("  network     {}", report.network));
    lines.push(format!("  author key  {}", report.author_key));
    lines.push(format!("  peer id     {}", report.peer_id));
    lines.push(format!("  API         {api}"));
    lines.push(String::new());
    lines.push("Files:".to_owned());
    lines.push(format!(
        "  {}   author key: secret, back it up, never share it",
        dir.author_key().display()
    ));
    lines.push(format!(
        "  {}     node key: secret",
        dir.node_key().display()
    ));
    lines.push(format!(
        "  {}  federation members (only this node so far)",
        dir.roster().display()
    ));
    lines.push(format!(
        "  {}  node configuration, every option commented",
        dir.config().display()
    ));
    lines.push(format!(
        "  {}    API token: secret, sent by the CLI and your scripts",
        dir.api_token().display()
    ));
    lines.push(String::new());
    lines.push("Next steps:".to_owned());
    lines.push(format!(
        "  1. Give the other members your author key and peer id (`certnet keys --data-dir {d} --json`)"
    ));
    lines.push(format!(
        "     and add theirs to {}.",
        dir.roster().display()
    ));
    lines.push(format!("  2. Start the node:   certnet run --data-dir {d}"));
    lines.push(format!(
        "  3. Check it is up:   certnet status --data-dir {d}"
    ));
    super::out::print_text(&lines.join("\n"));
}
