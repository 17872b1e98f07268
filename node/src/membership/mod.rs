//! The federation's membership as a model: member names, network ids, members and the roster, with
//! lookups by author key and by PeerId. No file I/O: `datadir::roster_file` reads and writes
//! roster.toml, and the running node holds its roster in a [`RosterCell`].
//!
//! Per member: a name, the author public key that signs its records, the PeerIds its nodes may connect
//! from, optional bootstrap addresses, and the X25519 keys records sealed to it are encrypted to; plus the network id that separates federations and
//! testnets. Records by authors not in the roster are ignored and connections from PeerIds not in it
//! refused, so lookups by author key and by PeerId are the roster's main job.

mod cell;

pub use cell::RosterCell;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use certnet_protocol::keys::AuthorKey;
use certnet_protocol::sealed::EncryptionKey;
use libp2p_identity::PeerId;

/// Network id used when none is given.
pub const DEFAULT_NETWORK: &str = "certnet-dev";

/// Member name used when no name is given and the host name is not a valid one.
pub const FALLBACK_MEMBER_NAME: &str = "certnet-node";

/// Longest member name or network id, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Why a member name or network id is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// It is empty.
    #[error("must not be empty")]
    Empty,
    /// It is too long.
    #[error("must be at most {MAX_NAME_CHARS} characters")]
    TooLong,
    /// A member name starts or ends with whitespace or holds a control character.
    #[error("must not start or end with spaces or contain control characters")]
    BadMemberName,
    /// A network id holds something other than `a-z`, `0-9` and `-`.
    #[error("may contain only lowercase letters a-z, digits and `-` (found `{0}`)")]
    BadNetworkChar(char),
}

/// A member's name, e.g. `CERT-EU`: non-empty, at most 64 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberName(String);

impl MemberName {
    /// The host name if it is a valid member name, else [`FALLBACK_MEMBER_NAME`].
    pub fn from_hostname(hostname: Option<&str>) -> Self {
        hostname
            .and_then(|h| h.trim().parse().ok())
            .unwrap_or_else(|| Self(FALLBACK_MEMBER_NAME.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for MemberName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        check_length(s)?;
        if s.trim() != s || s.chars().any(char::is_control) {
            return Err(NameError::BadMemberName);
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for MemberName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The network id, e.g. `certnet-dev`: separates federations and testnets. `[a-z0-9-]+`, ≤ 64.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NetworkId(String);

impl NetworkId {
    /// [`DEFAULT_NETWORK`], the network id used when none is given.
    pub fn dev() -> Self {
        Self(DEFAULT_NETWORK.to_owned())
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for NetworkId {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        check_length(s)?;
        if let Some(bad) = s
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(NameError::BadNetworkChar(bad));
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for NetworkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn check_length(s: &str) -> Result<(), NameError> {
    if s.is_empty() {
        return Err(NameError::Empty);
    }
    if s.chars().count() > MAX_NAME_CHARS {
        return Err(NameError::TooLong);
    }
    Ok(())
}

/// One federation member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    name: MemberName,
    author_key: AuthorKey,
    peer_ids: Vec<PeerId>,
    addrs: Vec<String>,
    encryption_keys: Vec<EncryptionKey>,
}

impl Member {
    /// A member with its author key, allowed node PeerIds and bootstrap multiaddrs.
    ///
    /// Uniqueness is checked when the member is added to a [`Roster`].
    pub fn new(
        name: MemberName,
        author_key: AuthorKey,
        peer_ids: Vec<PeerId>,
        addrs: Vec<String>,
    ) -> Self {
        Self {
            name,
            author_key,
            peer_ids,
            addrs,
            encryption_keys: Vec::new(),
        }
    }

    /// The member with these encryption keys, newest first (records are sealed to the first).
    pub fn with_encryption_keys(mut self, keys: Vec<EncryptionKey>) -> Self {
        self.encryption_keys = keys;
        self
    }

    /// The member's X25519 encryption keys, newest first: records sealed to the member are
    /// encrypted to the first; the others are kept so hints of older records still match.
    pub fn encryption_keys(&self) -> &[EncryptionKey] {
        &self.encryption_keys
    }

    /// The member's name.
    pub fn name(&self) -> &MemberName {
        &self.name
    }

    /// The key that signs the member's records and checkpoints.
    pub fn author_key(&self) -> &AuthorKey {
        &self.author_key
    }

    /// The PeerIds the member's nodes may connect from.
    pub fn peer_ids(&self) -> &[PeerId] {
        &self.peer_ids
    }

    /// Bootstrap addresses of the member's nodes (multiaddrs, validated by the network layer).
    pub fn addrs(&self) -> &[String] {
        &self.addrs
    }
}

/// Why a change to the roster was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MembershipError {
    /// A member with this name is already listed.
    #[error("a member named `{0}` is already in the roster")]
    DuplicateName(MemberName),
    /// This author key already belongs to a member.
    #[error("author key {key} is already in the roster, as member `{member}`")]
    DuplicateAuthorKey {
        /// The key.
        key: AuthorKey,
        /// The member it belongs to.
        member: MemberName,
    },
    /// This PeerId is already allowed for a member.
    #[error("peer id {peer_id} is already in the roster, for member `{member}`")]
    DuplicatePeerId {
        /// The PeerId.
        peer_id: PeerId,
        /// The member it belongs to.
        member: MemberName,
    },
    /// No member has this name.
    #[error("no member named `{0}` in the roster")]
    UnknownMember(String),
}

/// Who this node is: the facts every status and log line needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIdentity {
    /// Member name (config.toml `name`, matching the roster).
    pub name: MemberName,
    /// Network id (roster.toml `network`).
    pub network: NetworkId,
    /// This node's author public key.
    pub author_key: AuthorKey,
    /// This node's libp2p PeerId.
    pub peer_id: PeerId,
}

/// The federation's member list with lookups by author key and by PeerId.
///
/// Invariant: names, author keys and PeerIds are unique across members.
#[derive(Debug, Clone)]
pub struct Roster {
    network: NetworkId,
    members: Vec<Member>,
    by_author: HashMap<AuthorKey, usize>,
    by_peer: HashMap<PeerId, usize>,
}

impl Roster {
    /// An empty roster for `network`.
    pub fn new(network: NetworkId) -> Self {
        Self {
            network,
            members: Vec::new(),
            by_author: HashMap::new(),
            by_peer: HashMap::new(),
        }
    }

    /// The network id.
    pub fn network(&self) -> &NetworkId {
        &self.network
    }

    /// All members, in file order.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// The member whose author key this is.
    pub fn member_by_author(&self, key: &AuthorKey) -> Option<&Member> {
        self.by_author.get(key).map(|&i| &self.members[i])
    }

    /// The member whose nodes may use this PeerId.
    pub fn member_by_peer(&self, peer_id: &PeerId) -> Option<&Member> {
        self.by_peer.get(peer_id).map(|&i| &self.members[i])
    }

    /// The member with this name.
    pub fn member_by_name(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name.as_str() == name)
    }

    /// Adds a member, refusing a duplicate name, author key or PeerId.
    pub fn add_member(&mut self, member: Member) -> Result<(), MembershipError> {
        if self.member_by_name(member.name.as_str()).is_some() {
            return Err(MembershipError::DuplicateName(member.name));
        }
        if let Some(existing) = self.member_by_author(&member.author_key) {
            return Err(MembershipError::DuplicateAuthorKey {
                key: member.author_key,
                member: existing.name.clone(),
            });
        }
        for (i, peer_id) in member.peer_ids.iter().enumerate() {
            let owner = match self.member_by_peer(peer_id) {
                Some(existing) => Some(existing.name.clone()),
                None if member.peer_ids[..i].contains(peer_id) => Some(member.name.clone()),
                None => None,
            };
            if let Some(owner) = owner {
                return Err(MembershipError::DuplicatePeerId {
                    peer_id: *peer_id,
                    member: owner,
                });
            }
        }
        let index = self.members.len();
        self.by_author.insert(member.author_key, index);
        for peer_id in &member.peer_ids {
            self.by_peer.insert(*peer_id, index);
        }
        self.members.push(member);
        Ok(())
    }

    /// Removes the member with this name and returns it.
    pub fn remove_member(&mut self, name: &str) -> Result<Member, MembershipError> {
        let index = self
            .members
            .iter()
            .position(|m| m.name.as_str() == name)
            .ok_or_else(|| MembershipError::UnknownMember(name.to_owned()))?;
        let removed = self.members.remove(index);
        self.reindex();
        Ok(removed)
    }

    fn reindex(&mut self) {
        self.by_author.clear();
        self.by_peer.clear();
        for (i, member) in self.members.iter().enumerate() {
            self.by_author.insert(member.author_key, i);
            for peer_id in &member.peer_ids {
                self.by_peer.insert(*peer_id, i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use certnet_protocol::keys::AuthorSecret;

    use super::*;
    use crate::datadir::keys::NodeSecret;

    fn key(n: u8) -> AuthorKey {
        AuthorSecret::from_seed(&[n; 32]).public()
    }

    fn peer(n: u8) -> PeerId {
        NodeSecret::from_seed(&[n; 32]).unwrap().peer_id()
    }

    fn member(name: &str, n: u8) -> Member {
        Member::new(
            name.parse().unwrap(),
            key(n),
            vec![peer(n)],
            vec!["/ip4/127.0.0.1/tcp/4471".into()],
        )
    }

    fn sample() -> Roster {
        let mut roster = Roster::new("certnet-dev".parse().unwrap());
        roster.add_member(member("CERT-EU", 1)).unwrap();
        roster.add_member(member("CERT-FR \"ANSSI\"", 2)).unwrap();
        roster
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(DEFAULT_NETWORK.parse::<NetworkId>(), Ok(NetworkId::dev()));
        let fallback = MemberName::from_hostname(None);
        assert_eq!(
            FALLBACK_MEMBER_NAME.parse::<MemberName>(),
            Ok(fallback.clone())
        );
        assert_eq!(MemberName::from_hostname(Some("\n")), fallback);
        assert_eq!(
            MemberName::from_hostname(Some("host-1\n")).as_str(),
            "host-1"
        );
    }

    #[test]
    fn names_and_network_ids() {
        assert!("CERT-EU".parse::<MemberName>().is_ok());
        assert_eq!("".parse::<MemberName>(), Err(NameError::Empty));
        assert_eq!(" x".parse::<MemberName>(), Err(NameError::BadMemberName));
        assert_eq!("a\nb".parse::<MemberName>(), Err(NameError::BadMemberName));
        assert_eq!(
            "x".repeat(65).parse::<MemberName>(),
            Err(NameError::TooLong)
        );
        assert!("certnet-dev-2".parse::<NetworkId>().is_ok());
        assert_eq!("".parse::<NetworkId>(), Err(NameError::Empty));
        assert_eq!(
            "Dev".parse::<NetworkId>(),
            Err(NameError::BadNetworkChar('D'))
        );
        assert_eq!(
            "a_b".parse::<NetworkId>(),
            Err(NameError::BadNetworkChar('_'))
        );
    }

    #[test]
    fn lookups() {
        let roster = sample();
        assert_eq!(roster.network().as_str(), "certnet-dev");
        assert_eq!(
            roster.member_by_author(&key(2)).unwrap().name().as_str(),
            "CERT-FR \"ANSSI\""
        );
        assert_eq!(
            roster.member_by_peer(&peer(1)).unwrap().name().as_str(),
            "CERT-EU"
        );
        assert!(roster.member_by_author(&key(3)).is_none());
        assert!(roster.member_by_peer(&peer(3)).is_none());
    }

    #[test]
    fn add_refuses_duplicates() {
        let mut roster = sample();
        assert!(matches!(
            roster.add_member(member("CERT-EU", 9)),
            Err(MembershipError::DuplicateName(_))
        ));
        let err = roster
            .add_member(Member::new("X".parse().unwrap(), key(1), vec![], vec![]))
            .unwrap_err();
        assert!(
            matches!(&err, MembershipError::DuplicateAuthorKey { member, .. } if member.as_str() == "CERT-EU")
        );
        let err = roster
            .add_member(Member::new(
                "X".parse().unwrap(),
                key(5),
                vec![peer(2)],
                vec![],
            ))
            .unwrap_err();
        assert!(matches!(err, MembershipError::DuplicatePeerId { .. }));
        let err = roster
            .add_member(Member::new(
                "X".parse().unwrap(),
                key(5),
                vec![peer(5), peer(5)],
                vec![],
            ))
            .unwrap_err();
        assert!(
            matches!(err, MembershipError::DuplicatePeerId { member, .. } if member.as_str() == "X")
        );
        assert_eq!(roster.members().len(), 2);
    }

    #[test]
    fn remove_reindexes() {
        let mut roster = sample();
        let removed = roster.remove_member("CERT-EU").unwrap();
        assert_eq!(removed.name().as_str(), "CERT-EU");
        assert!(roster.member_by_author(&key(1)).is_none());
        assert!(roster.member_by_peer(&peer(1)).is_none());
        assert_eq!(
            roster.member_by_peer(&peer(2)).unwrap().name().as_str(),
            "CERT-FR \"ANSSI\""
        );
        assert!(matches!(
            roster.remove_member("CERT-EU"),
            Err(MembershipError::UnknownMember(_))
        ));
        // The freed key can be added again.
        roster.add_member(member("CERT-EU", 1)).unwrap();
    }
}
