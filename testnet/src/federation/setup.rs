//! Setting nodes up with the `certnet` CLI: network ids, listen addresses, `certnet init`, `certnet keys
//! --json`, mDNS off, and the one shared roster.

use std::hash::{BuildHasher as _, RandomState};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::SystemTime;

use serde_json::Value;

use super::io_err;
use crate::error::Error;
use crate::roster::{self, RosterMember};
use crate::state::{self, NodeState};

/// A network id no other testnet uses: `testnet-` and 16 random hex digits.
pub(super) fn new_network_id() -> String {
    let random = RandomState::new().hash_one((std::process::id(), SystemTime::now()));
    format!("testnet-{random:016x}")
}

/// The p2p listen multiaddrs of a node on `port`.
pub(super) fn listen_addrs(port: u16, quic: bool) -> Vec<String> {
    let mut out = vec![format!("/ip4/127.0.0.1/tcp/{port}")];
    if quic {
        out.push(format!("/ip4/127.0.0.1/udp/{port}/quic-v1"));
    }
    out
}

/// Runs `certnet ARGS`; its stdout on success.
pub(super) fn certnet(bin: &Path, args: &[&str]) -> Result<String, Error> {
    let command = format!("{} {}", bin.display(), args.join(" "));
    let output = Command::new(bin)
        .args(args)
        .env_remove("CERTNET_DATA_DIR")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::Io {
            action: "run",
            path: bin.to_owned(),
            source,
        })?;
    if !output.status.success() {
        return Err(Error::Command {
            command,
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    String::from_utf8(output.stdout).map_err(|err| Error::Output {
        command,
        detail: err.to_string(),
    })
}

/// `certnet init` for one node; its p2p listen addresses.
pub(super) fn init_node(
    bin: &Path,
    data_dir: &Path,
    name: &str,
    network: &str,
    api: SocketAddr,
    p2p_port: u16,
    quic: bool,
) -> Result<Vec<String>, Error> {
    let listen = listen_addrs(p2p_port, quic);
    let data = data_dir.to_string_lossy();
    let api = api.to_string();
    let mut args = vec![
        "--data-dir",
        &data,
        "init",
        "--name",
        name,
        "--network",
        network,
        "--api",
        &api,
    ];
    for addr in &listen {
        args.extend(["--listen", addr.as_str()]);
    }
    certnet(bin, &args)?;
    Ok(listen)
}

/// What `certnet keys --json` prints.
pub(super) struct Keys {
    pub(super) name: String,
    pub(super) author_key: String,
    pub(super) peer_id: String,
    pub(super) encryption_key: String,
}

pub(super) fn node_keys(bin: &Path, data_dir: &Path) -> Result<Keys, Error> {
    let data = data_dir.to_string_lossy();
    let args = ["--data-dir", &data, "keys", "--json"];
    let text = certnet(bin, &args)?;
    let bad = |detail: String| Error::Output {
        command: format!("{} {}", bin.display(), args.join(" ")),
        detail,
    };
    let json: Value = serde_json::from_str(&text).map_err(|err| bad(format!("{err}: {text}")))?;
    let field = |key: &str| {
        json.get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| bad(format!("no string `{key}` in {json}")))
    };
    Ok(Keys {
        name: field("name")?,
        author_key: field("author_key")?,
        peer_id: field("peer_id")?,
        encryption_key: field("encryption_key")?,
    })
}

/// Turns mDNS off in a node's config.toml (it is off by default; this makes sure).
pub(super) fn ensure_mdns_off(config: &Path) -> Result<(), Error> {
    let text = std::fs::read_to_string(config).map_err(io_err("read", config))?;
    let mut changed = false;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            let key = line.split('=').next().unwrap_or_default().trim();
            if key == "mdns" && line.split('=').nth(1).map(str::trim) != Some("false") {
                changed = true;
                "mdns = false".to_owned()
            } else {
                line.to_owned()
            }
        })
        .collect();
    if changed {
        let mut out = lines.join("\n");
        out.push('\n');
        state::write_atomic(config, out.as_bytes()).map_err(io_err("write", config))?;
    }
    Ok(())
}

/// Writes the shared roster (members, then `extra` members without a node) into every node; an
/// outsider's copy lists itself as well.
pub(super) fn write_rosters(
    network: &str,
    nodes: &[NodeState],
    extra: &[RosterMember],
) -> Result<(), Error> {
    let entry = |n: &NodeState| RosterMember {
        name: n.name.clone(),
        author_key: n.author_key.clone(),
        peer_ids: vec![n.peer_id.clone()],
        addrs: n.listen.clone(),
        encryption_keys: [n.encryption_key.clone()]
            .into_iter()
            .filter(|k| !k.is_empty())
            .collect(),
    };
    let mut members: Vec<RosterMember> = nodes.iter().filter(|n| n.on_roster).map(entry).collect();
    members.extend_from_slice(extra);
    let shared = roster::render(network, &members)?;
    for node in nodes {
        let text = if node.on_roster {
            shared.clone()
        } else {
            let mut own = members.clone();
            own.push(entry(node));
            roster::render(network, &own)?
        };
        let path = node.data_dir.join("roster.toml");
        state::write_atomic(&path, text.as_bytes()).map_err(io_err("write", &path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn network_ids_are_valid_and_distinct() {
        let a = new_network_id();
        let b = new_network_id();
        assert_ne!(a, b);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{a}"
        );
        assert!(a.len() <= 64);
    }

    #[test]
    fn mdns_is_forced_off_and_other_lines_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("config.toml");
        std::fs::write(
            &path,
            "name = \"x\"\n[p2p]\nmdns = true\n# mdns = true in a comment\n",
        )
        .unwrap();
        ensure_mdns_off(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "name = \"x\"\n[p2p]\nmdns = false\n# mdns = true in a comment\n"
        );
    }
}
