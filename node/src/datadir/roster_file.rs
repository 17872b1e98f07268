//! roster.toml: reading, checking and writing the roster file (the model is `membership`).
//!
//! ```toml
//! network = "certnet-dev"
//!
//! [[member]]
//! name = "CERT-EU"
//! author_key = "ed25519:..."
//! peer_ids = ["12D3KooW..."]
//! addrs = ["/ip4/192.0.2.10/tcp/4471"]
//! ```

use std::io;
use std::path::{Path, PathBuf};

use certnet_protocol::keys::AuthorKey;
use certnet_protocol::sealed::EncryptionKey;
use libp2p_identity::PeerId;
use serde::Deserialize;
use toml::Spanned;

use super::fsutil;
use super::tomlfile::{FileProblem, quote};
use crate::membership::{Member, MemberName, MembershipError, NetworkId, Roster};

/// Mode of roster.toml: public, but writable by its owner only.
pub(crate) const PUBLIC_MODE: u32 = 0o644;

/// Why a roster could not be read, written or changed.
#[derive(Debug, thiserror::Error)]
pub enum RosterError {
    /// The file could not be read.
    #[error("cannot read roster {}", .path.display())]
    Read {
        /// The roster file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The file could not be written.
    #[error("cannot write roster {}", .path.display())]
    Write {
        /// The roster file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The file exists already and was to be created.
    #[error("{} already exists: refusing to overwrite the roster", .path.display())]
    Exists {
        /// The roster file.
        path: PathBuf,
    },
    /// The file is not valid TOML or not a valid roster; says where and what to fix.
    #[error(transparent)]
    Invalid(FileProblem),
    /// The change asked for breaks a roster rule.
    #[error(transparent)]
    Membership(#[from] MembershipError),
}

/// Reading and writing a [`Roster`] as roster.toml (bring the trait into scope to call
/// `Roster::load(path)` and the others).
pub trait RosterFile: Sized {
    /// Reads and validates a roster file.
    fn load(path: &Path) -> Result<Self, RosterError>;
    /// Parses and validates roster text; `path` names the file in error messages.
    fn from_toml(path: &Path, text: &str) -> Result<Self, RosterError>;
    /// The roster as TOML, with a header comment explaining the format.
    fn to_toml(&self) -> String;
    /// Writes a new roster file (mode 0644, atomically), refusing to replace an existing one.
    fn write_new(&self, path: &Path) -> Result<(), RosterError>;
    /// Replaces the roster file atomically (for roster changes of a running federation).
    fn save(&self, path: &Path) -> Result<(), RosterError>;
}

impl RosterFile for Roster {
    /// Reads and validates a roster file.
    fn load(path: &Path) -> Result<Self, RosterError> {
        let text = std::fs::read_to_string(path).map_err(|source| RosterError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(path, &text)
    }

    /// Parses and validates roster text; `path` names the file in error messages.
    fn from_toml(path: &Path, text: &str) -> Result<Self, RosterError> {
        let file: RosterToml = toml::from_str(text)
            .map_err(|err| RosterError::Invalid(FileProblem::from_toml(path, text, &err)))?;
        let problem = |span: std::ops::Range<usize>, message: String| {
            RosterError::Invalid(FileProblem::at(path, text, span.start, message))
        };

        let network = file.network.get_ref().parse::<NetworkId>().map_err(|err| {
            problem(
                file.network.span(),
                format!("network id `{}` {err}", file.network.get_ref()),
            )
        })?;
        let mut roster = Roster::new(network);

        for entry in file.member {
            let name = entry.name.get_ref().parse::<MemberName>().map_err(|err| {
                problem(
                    entry.name.span(),
                    format!("member name `{}` {err}", entry.name.get_ref()),
                )
            })?;
            let Some(key_text) = entry.author_key else {
                return Err(problem(
                    entry.name.span(),
                    format!(
                        "member `{name}` has no author_key (add the `author_key` that `certnet keys` prints on their node)"
                    ),
                ));
            };
            let author_key = key_text.get_ref().parse::<AuthorKey>().map_err(|err| {
                problem(
                    key_text.span(),
                    format!("member `{name}` has an invalid author_key: {err}"),
                )
            })?;
            let mut peer_ids = Vec::with_capacity(entry.peer_ids.len());
            for text_id in &entry.peer_ids {
                let peer_id = text_id.get_ref().parse::<PeerId>().map_err(|err| {
                    problem(
                        text_id.span(),
                        format!(
                            "member `{name}` has an invalid peer id `{}`: {err} (use the `peer_id` that `certnet keys` prints)",
                            text_id.get_ref()
                        ),
                    )
                })?;
                peer_ids.push(peer_id);
            }
            let mut addrs = Vec::with_capacity(entry.addrs.len());
            for addr in entry.addrs {
                if !addr.get_ref().starts_with('/') {
                    return Err(problem(
                        addr.span(),
                        format!(
                            "member `{name}` has an invalid address `{}`: addresses are multiaddrs like \"/ip4/192.0.2.10/tcp/4471\"",
                            addr.get_ref()
                        ),
                    ));
                }
                addrs.push(addr.into_inner());
            }
            let mut encryption_keys = Vec::with_capacity(entry.encryption_keys.len());
            for text in &entry.encryption_keys {
                let key = text.get_ref().parse::<EncryptionKey>().map_err(|err| {
                    problem(
                        text.span(),
                        format!(
                            "member `{name}` has an invalid encryption key `{}`: {err}",
                            text.get_ref()
                        ),
                    )
                })?;
                if encryption_keys.contains(&key) {
                    return Err(problem(
                        text.span(),
                        format!("member `{name}` lists encryption key {key} twice"),
                    ));
                }
                encryption_keys.push(key);
            }
            let span = entry.name.span();
            roster
                .add_member(
                    Member::new(name, author_key, peer_ids, addrs)
                        .with_encryption_keys(encryption_keys),
                )
                .map_err(|err| problem(span, err.to_string()))?;
        }
        Ok(roster)
    }

    /// The roster as TOML, with a header comment explaining the format.
    fn to_toml(&self) -> String {
        let mut out = format!(
            "# certnet roster: the members of federation `{}`.\n\
             # Every operator keeps their own copy, agreed out of band. Per member: its name, the\n\
             # author_key, peer_ids and encryption_keys that `certnet keys` prints on its node (encryption\n\
             # keys newest first: records sealed to the member go to the first), and optional bootstrap\n\
             # addrs (multiaddrs such as \"/ip4/192.0.2.10/tcp/4471\"). Records by authors not listed\n\
             # here are ignored; connections from peer ids not listed here are refused.\n\
             network = {}\n",
            self.network(),
            quote(self.network().as_str())
        );
        for member in self.members() {
            let list = |items: Vec<String>| {
                let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
                format!("[{}]", quoted.join(", "))
            };
            out.push_str(&format!(
                "\n[[member]]\nname = {}\nauthor_key = {}\npeer_ids = {}\naddrs = {}\nencryption_keys = {}\n",
                quote(member.name().as_str()),
                quote(&member.author_key().to_string()),
                list(member.peer_ids().iter().map(PeerId::to_string).collect()),
                list(member.addrs().to_vec()),
                list(
                    member
                        .encryption_keys()
                        .iter()
                        .map(ToString::to_string)
                        .collect()
                ),
            ));
        }
        out
    }

    /// Writes a new roster file (mode 0644, atomically), refusing to replace an existing one.
    fn write_new(&self, path: &Path) -> Result<(), RosterError> {
        fsutil::write_new(path, self.to_toml().as_bytes(), PUBLIC_MODE).map_err(|source| {
            if source.kind() == io::ErrorKind::AlreadyExists {
                RosterError::Exists {
                    path: path.to_owned(),
                }
            } else {
                RosterError::Write {
                    path: path.to_owned(),
                    source,
                }
            }
        })
    }

    /// Replaces the roster file atomically (for roster changes of a running federation).
    fn save(&self, path: &Path) -> Result<(), RosterError> {
        fsutil::write_replace(path, self.to_toml().as_bytes(), PUBLIC_MODE).map_err(|source| {
            RosterError::Write {
                path: path.to_owned(),
                source,
            }
        })
    }
}

/// roster.toml as written; every field keeps its place for error messages.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RosterToml {
    network: Spanned<String>,
    #[serde(default)]
    member: Vec<MemberFile>,
}

/// One `[[member]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberFile {
    name: Spanned<String>,
    author_key: Option<Spanned<String>>,
    #[serde(default)]
    peer_ids: Vec<Spanned<String>>,
    #[serde(default)]
    addrs: Vec<Spanned<String>>,
    #[serde(default)]
    encryption_keys: Vec<Spanned<String>>,
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

    fn sample() -> Roster {
        let mut roster = Roster::new("certnet-dev".parse().unwrap());
        for (name, n) in [("CERT-EU", 1), ("CERT-FR \"ANSSI\"", 2)] {
            let member = Member::new(
                name.parse().unwrap(),
                key(n),
                vec![peer(n)],
                vec!["/ip4/127.0.0.1/tcp/4471".into()],
            );
            roster.add_member(member).unwrap();
        }
        roster
    }

    fn parse(text: &str) -> Result<Roster, RosterError> {
        Roster::from_toml(Path::new("roster.toml"), text)
    }

    fn problem(text: &str) -> String {
        match parse(text) {
            Err(RosterError::Invalid(p)) => p.to_string(),
            other => panic!("expected an invalid roster, got {other:?}"),
        }
    }

    #[test]
    fn toml_round_trip() {
        let roster = sample();
        let text = roster.to_toml();
        let back = parse(&text).unwrap();
        assert_eq!(back.network(), roster.network());
        assert_eq!(back.members(), roster.members());
    }

    #[test]
    fn file_errors_name_member_and_line() {
        let good_key = key(1).to_string();
        let text = "network = \"certnet-dev\"\n\n[[member]]\nname = \"CERT-EU\"\nauthor_key = \"ed25519:nope\"\n";
        let msg = problem(text);
        assert!(
            msg.starts_with("roster.toml:5:14: member `CERT-EU` has an invalid author_key:"),
            "{msg}"
        );

        let text = "network = \"Dev\"\n";
        assert!(problem(text).starts_with("roster.toml:1:11: network id `Dev`"));

        let text = format!(
            "network = \"n\"\n[[member]]\nname = \"A\"\nauthor_key = \"{good_key}\"\nbogus = 1\n"
        );
        let msg = problem(&text);
        assert!(
            msg.starts_with("roster.toml:5:1: unknown field `bogus`"),
            "{msg}"
        );

        let text = "network = \"n\"\n[[member]]\nname = \"A\"\n";
        let msg = problem(text);
        assert!(msg.contains("member `A` has no author_key"), "{msg}");

        let text = format!(
            "network = \"n\"\n[[member]]\nname = \"A\"\nauthor_key = \"{good_key}\"\n[[member]]\nname = \"B\"\nauthor_key = \"{good_key}\"\n"
        );
        let msg = problem(&text);
        assert!(msg.starts_with("roster.toml:6:8: author key"), "{msg}");
        assert!(msg.contains("as member `A`"), "{msg}");

        let text = format!(
            "network = \"n\"\n[[member]]\nname = \"A\"\nauthor_key = \"{good_key}\"\npeer_ids = [\"xyz\"]\n"
        );
        let msg = problem(&text);
        assert!(
            msg.starts_with("roster.toml:5:13: member `A` has an invalid peer id `xyz`"),
            "{msg}"
        );

        let text = "network = \"n\"\n[[member\n";
        let msg = problem(text);
        assert!(msg.starts_with("roster.toml:2:"), "{msg}");
    }
}
