//! `certnet peers`: the running node's connected peers (`--all`: every roster member, connected or
//! not, with when it was last seen), and blocking or unblocking one.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::out::print_text;
use anyhow::Context as _;
use certnet_node::api::client::Client;
use certnet_node::api::peers::{BlockResponse, PeersResponse};
use certnet_node::datadir::DataDir;
use certnet_node::datadir::roster_file::RosterFile as _;
use certnet_node::membership::Roster;
use clap::{Args, Subcommand};

use super::UsageError;
use libp2p_identity::PeerId;

#[derive(Debug, Args)]
pub(crate) struct PeersArgs {
    /// Print the API's JSON answer.
    #[arg(long, global = true)]
    json: bool,

    /// List every roster member: connected, disconnected (with when it was last seen since this
    /// node started), never seen, or blocked — who is missing.
    #[arg(long)]
    all: bool,

    #[command(subcommand)]
    action: Option<PeersAction>,
}

#[derive(Debug, Subcommand)]
enum PeersAction {
    /// Disconnect a peer and refuse it from now on (kept across restarts).
    Block {
        /// Its PeerId, or a member's name in roster.toml (each of its PeerIds).
        peer: String,
    },
    /// Allow a blocked peer again.
    Unblock {
        /// Its PeerId, or a member's name in roster.toml (each of its PeerIds).
        peer: String,
    },
}

pub(super) fn run(dir: &DataDir, args: &PeersArgs) -> anyhow::Result<()> {
    let client = Client::from_data_dir(dir)?;
    match &args.action {
        None => {
            let peers = client.peers()?;
            if args.json {
                print_json(&peers)?;
            } else if args.all {
                print_text(&render_members(&peers, SystemTime::now()));
            } else {
                print_text(&render(&peers, SystemTime::now()));
            }
        }
        Some(PeersAction::Block { peer }) => {
            for peer in peer_ids(dir, peer)? {
                let answer = client.block_peer(&peer)?;
                report(&answer, args.json, "blocked", "was already blocked")?;
            }
        }
        Some(PeersAction::Unblock { peer }) => {
            for peer in peer_ids(dir, peer)? {
                let answer = client.unblock_peer(&peer)?;
                report(&answer, args.json, "unblocked", "was not blocked")?;
            }
        }
    }
    Ok(())
}

/// The PeerIds `text` names: itself if it is one, else those of the roster member of that name.
fn peer_ids(dir: &DataDir, text: &str) -> anyhow::Result<Vec<PeerId>> {
    if let Ok(peer) = text.parse::<PeerId>() {
        return Ok(vec![peer]);
    }
    let roster = Roster::load(&dir.roster())?;
    if let Some(member) = roster.member_by_name(text) {
        return Ok(member.peer_ids().to_vec());
    }
    let names: Vec<&str> = roster.members().iter().map(|m| m.name().as_str()).collect();
    Err(UsageError(format!(
        "`{text}` is neither a PeerId nor a member of {} (members: {})",
        dir.roster().display(),
        names.join(", ")
    ))
    .into())
}

fn report(answer: &BlockResponse, json: bool, done: &str, noop: &str) -> anyhow::Result<()> {
    if json {
        return print_json(answer);
    }
    let what = if answer.changed { done } else { noop };
    print_text(&format!("{} {what}", answer.peer_id));
    Ok(())
}

fn render(peers: &PeersResponse, now: SystemTime) -> String {
    let mut out = format!("peer_id  {}\n", peers.peer_id);
    for addr in &peers.listen_addrs {
        out.push_str(&format!("listen   {addr}\n"));
    }
    if peers.peers.is_empty() {
        out.push_str("\nno peers connected\n");
    } else {
        out.push_str(&format!(
            "\n{:<20} {:<52} {:<4} {:>9} {:>7} {:>10}  {}\n",
            "MEMBER", "PEER ID", "DIR", "PING", "SCORE", "CONNECTED", "ADDRESS"
        ));
        let now_ms = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        for p in &peers.peers {
            let since = Duration::from_millis(now_ms.saturating_sub(p.connected_since_ms));
            out.push_str(&format!(
                "{:<20} {:<52} {:<4} {:>9} {:>7} {:>10}  {}\n",
                p.member.as_deref().unwrap_or("?"),
                p.peer_id,
                if p.direction == "outbound" {
                    "out"
                } else {
                    "in"
                },
                p.ping_ms.map_or("-".to_owned(), |ms| format!("{ms:.1}ms")),
                p.gossip_score.map_or("-".to_owned(), |s| format!("{s:.1}")),
                short_duration(since),
                p.addrs.first().map_or("-", String::as_str),
            ));
        }
    }
    for peer in &peers.blocked {
        out.push_str(&format!("blocked  {peer}\n"));
    }
    out.trim_end().to_owned()
}

/// Every roster member and its state; the missing ones first.
fn render_members(peers: &PeersResponse, now: SystemTime) -> String {
    let now_ms = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let connected = peers
        .members
        .iter()
        .filter(|m| m.state == "connected")
        .count();
    let mut out = format!(
        "{connected} of {} other members connected\n\n{:<24} {:<13} {}\n",
        peers.members.len(),
        "MEMBER",
        "STATE",
        "LAST SEEN"
    );
    let mut members: Vec<_> = peers.members.iter().collect();
    members.sort_by_key(|m| (m.state == "connected", m.name.clone()));
    for m in members {
        let seen = match (m.state.as_str(), m.last_seen_ms) {
            ("connected", _) => "now".to_owned(),
            (_, Some(ms)) => format!(
                "{} ago",
                short_duration(Duration::from_millis(now_ms.saturating_sub(ms)))
            ),
            _ => "not since this node started".to_owned(),
        };
        out.push_str(&format!("{:<24} {:<13} {seen}\n", m.name, m.state));
    }
    out.trim_end().to_owned()
}

/// `4d`, `3h`, `12m`, `40s`: the largest unit only.
fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value).context("cannot encode JSON")?;
    print_text(&text);
    Ok(())
}

#[cfg(test)]
mod tests {
    use certnet_node::api::peers::PeerJson;

    use super::*;

    #[test]
    fn renders_peers_and_blocks() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let peers = PeersResponse {
            peer_id: "12D3KooWlocal".into(),
            listen_addrs: vec!["/ip4/127.0.0.1/tcp/4471".into()],
            peers: vec![PeerJson {
                peer_id: "12D3KooWremote".into(),
                member: Some("CERT-B".into()),
                addrs: vec!["/ip4/127.0.0.1/tcp/5000".into()],
                direction: "outbound".into(),
                connected_since_ms: 1_000_000_000 - 125_000,
                ping_ms: Some(0.42),
                subscribed: true,
                gossip_score: Some(10.0),
                offences: 0,
                last_heads_ms: None,
                heads: Default::default(),
            }],
            blocked: vec!["12D3KooWbad".into()],
            members: vec![
                certnet_node::api::peers::MemberJson {
                    name: "CERT-B".into(),
                    state: "connected".into(),
                    last_seen_ms: None,
                },
                certnet_node::api::peers::MemberJson {
                    name: "CERT-C".into(),
                    state: "disconnected".into(),
                    last_seen_ms: Some(1_000_000_000 - 7_200_000),
                },
                certnet_node::api::peers::MemberJson {
                    name: "CERT-D".into(),
                    state: "never".into(),
                    last_seen_ms: None,
                },
            ],
        };
        let text = render(&peers, now);
        assert!(text.contains("listen   /ip4/127.0.0.1/tcp/4471"), "{text}");
        assert!(text.contains("CERT-B"), "{text}");
        assert!(text.contains("0.4ms"), "{text}");
        assert!(text.contains(" 2m "), "{text}");
        assert!(text.ends_with("blocked  12D3KooWbad"), "{text}");
        assert_eq!(short_duration(Duration::from_secs(90_000)), "1d");
        let all = render_members(&peers, now);
        assert!(all.starts_with("1 of 3 other members connected"), "{all}");
        let lines: Vec<&str> = all.lines().collect();
        assert!(
            lines[3].starts_with("CERT-C") && lines[3].ends_with("2h ago"),
            "{all}"
        );
        assert!(
            lines[4].contains("never") && lines[4].contains("not since"),
            "{all}"
        );
        assert!(
            lines[5].starts_with("CERT-B") && lines[5].ends_with("now"),
            "{all}"
        );
    }
}
