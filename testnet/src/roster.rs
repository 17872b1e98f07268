//! The one roster every node of a testnet shares, in the `roster.toml` format the node reads
//! (`network`, then one `[[member]]` per member with `name`, `author_key`, `peer_ids`, `addrs`,
//! `encryption_keys`).

use serde::Serialize;

/// One member as the roster lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RosterMember {
    /// Member name, e.g. `CERT-01`.
    pub name: String,
    /// Author public key as `certnet keys --json` prints it.
    pub author_key: String,
    /// The member's node PeerIds.
    pub peer_ids: Vec<String>,
    /// Bootstrap multiaddrs of the member's node.
    pub addrs: Vec<String>,
    /// Its encryption keys, newest first (records sealed to it); none for members without a node.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub encryption_keys: Vec<String>,
}

#[derive(Serialize)]
struct RosterFile<'a> {
    network: &'a str,
    member: &'a [RosterMember],
}

/// The roster text for `network` with `members`, behind a comment saying who wrote it.
pub fn render(network: &str, members: &[RosterMember]) -> Result<String, toml::ser::Error> {
    let body = toml::to_string(&RosterFile {
        network,
        member: members,
    })?;
    Ok(format!(
        "# certnet roster written by certnet-testnet: the same member list on every node of this\n\
         # testnet (nodes left out on purpose are missing here and list themselves in their own copy).\n\
         {body}"
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn members_are_an_array_of_tables() {
        let member = |n: &str| RosterMember {
            name: n.into(),
            author_key: format!("ed25519:{n}"),
            peer_ids: vec![format!("12D3{n}")],
            addrs: vec!["/ip4/127.0.0.1/tcp/1".into()],
            encryption_keys: vec![],
        };
        let text = render("testnet-x", &[member("A"), member("B")]).unwrap();
        let parsed: toml::Value = toml::from_str(&text).unwrap();
        assert_eq!(parsed["network"].as_str(), Some("testnet-x"));
        let members = parsed["member"].as_array().unwrap();
        assert_eq!(members.len(), 2);
        assert_eq!(members[1]["name"].as_str(), Some("B"));
        assert_eq!(members[1]["peer_ids"][0].as_str(), Some("12D3B"));
        assert_eq!(text.matches("[[member]]").count(), 2, "{text}");
    }
}
