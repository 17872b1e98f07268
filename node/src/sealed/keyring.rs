//! This node's encryption secrets and what it derives from them: the recipients of a record it
//! seals, and the opening of sealed records addressed to it (PROTOCOL.md §20).
//!
//! Hint keys (one X25519 per pair of keys) are made once per pair and cached, so a sealed record
//! not addressed to this node costs a few HMACs, never a public-key operation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use certnet_protocol::keys::AuthorKey;
use certnet_protocol::record::{Payload, Record};
use certnet_protocol::sealed::{
    EncryptionKey, EncryptionSecret, HintKey, OpenError, OpenKeys, Opened, Recipient, open,
};
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::{Digest as _, Sha256};

use crate::membership::Roster;

/// Why a publish could not be sealed to the audience asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AudienceError {
    /// `to` is empty.
    #[error(
        "`to` is empty: name the roster members to seal the record to (e.g. \"to\": [\"CERT-EU\"]), or leave `to` out to publish to every member"
    )]
    Empty,
    /// A name that is not a roster member.
    #[error(
        "`{0}` is not a member in roster.toml: `to` takes member names as `certnet roster list` shows them"
    )]
    UnknownMember(String),
    /// A member whose roster entry has no encryption key.
    #[error(
        "member `{0}` has no encryption key in roster.toml: ask its operator for the `encryption_key` that `certnet keys` prints, and add it to the member's encryption_keys"
    )]
    NoKey(String),
    /// More members than a sealed record holds.
    #[error("a sealed record goes to at most {max} members (the author included), not {count}")]
    TooMany {
        /// Members asked for, the author included.
        count: usize,
        /// The bound.
        max: usize,
    },
    /// This node has no encryption key.
    #[error("this node has no encryption key (encryption.key): it cannot seal records")]
    NoOwnKey,
}

/// What this node can read of a sealed record.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    /// Not a sealed record.
    Clear,
    /// Opened: addressed to this node.
    Opened(Box<Opened>),
    /// Not addressed to this node.
    NotForUs,
    /// Addressed to this node (or garbled past telling) but it does not open: why.
    Unopenable(OpenError),
}

/// This node's encryption secrets (newest first) and the hint keys made from them.
#[derive(Debug)]
pub struct Keyring {
    author: AuthorKey,
    secrets: Vec<EncryptionSecret>,
    /// Hint keys of every own secret with one key of another member, by that key.
    hints: Mutex<HashMap<EncryptionKey, Arc<Vec<HintKey>>>>,
    /// Keys the indicator index's entries for opened sealed records (see [`Keyring::index_digest`]).
    index_key: Option<zeroize::Zeroizing<[u8; 32]>>,
}

impl Keyring {
    /// The keyring of the node whose author key is `author`; `secrets` newest first (may be empty:
    /// then nothing is sealed or opened).
    pub fn new(author: AuthorKey, secrets: Vec<EncryptionSecret>) -> Self {
        let index_key = secrets.first().map(|newest| {
            let mut h = Sha256::new();
            h.update(b"certnet sealed indicator index key v1\0");
            h.update(newest.to_bytes());
            zeroize::Zeroizing::new(<[u8; 32]>::from(h.finalize()))
        });
        Self {
            author,
            secrets,
            hints: Mutex::new(HashMap::new()),
            index_key,
        }
    }

    /// The digest under which the indicator index files `value` for a sealed record this node
    /// opened: HMAC-SHA-256 keyed by a key derived from the newest encryption secret, first 8 bytes.
    /// A plain hash of a low-entropy value (an IPv4 address) would give the value away to anyone
    /// holding the store; this one needs the key. `None` without encryption keys.
    pub fn index_digest(&self, value: &str) -> Option<[u8; 8]> {
        let key = self.index_key.as_ref()?;
        let mut mac = Hmac::<Sha256>::new_from_slice(key.as_slice()).ok()?;
        mac.update(value.as_bytes());
        let full = mac.finalize().into_bytes();
        let mut d = [0u8; 8];
        d.copy_from_slice(&full[..8]);
        Some(d)
    }

    /// Names the index key without revealing it: the `opened` tree is rebuilt when it changes (a
    /// rotation of the encryption key). Zero without encryption keys.
    pub fn index_key_fingerprint(&self) -> [u8; 8] {
        let mut fp = [0u8; 8];
        if let Some(key) = &self.index_key {
            let mut h = Sha256::new();
            h.update(b"certnet sealed indicator index key fingerprint v1\0");
            h.update(key.as_slice());
            fp.copy_from_slice(&h.finalize()[..8]);
        }
        fp
    }

    /// The newest public encryption key, if any.
    pub fn own_key(&self) -> Option<EncryptionKey> {
        self.secrets.first().map(EncryptionSecret::public)
    }

    fn hint_keys(&self, theirs: &EncryptionKey) -> Arc<Vec<HintKey>> {
        let mut cache = self.hints.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry(*theirs)
            .or_insert_with(|| {
                Arc::new(
                    self.secrets
                        .iter()
                        .filter_map(|s| HintKey::new(s, theirs))
                        .collect(),
                )
            })
            .clone()
    }

    /// The encryption keys `author` may have sealed with: the roster's for a member, this node's
    /// own for itself.
    fn author_keys(&self, roster: &Roster, author: &AuthorKey) -> Option<Vec<EncryptionKey>> {
        if *author == self.author {
            return Some(self.secrets.iter().map(EncryptionSecret::public).collect());
        }
        let keys = roster.member_by_author(author)?.encryption_keys().to_vec();
        (!keys.is_empty()).then_some(keys)
    }

    /// What this node can read of `payload`.
    pub fn read(&self, roster: &Roster, payload: &Payload) -> Reading {
        if !matches!(payload.kind, certnet_protocol::record::Kind::Sealed) {
            return Reading::Clear;
        }
        if self.secrets.is_empty() {
            return Reading::NotForUs;
        }
        // Hint keys for every key the author lists. A member that lists none cannot seal to this
        // node (its entries are never tried: no one makes this node decapsulate blindly).
        let Some(author_keys) = self.author_keys(roster, &payload.author) else {
            return Reading::NotForUs;
        };
        let hints: Vec<HintKey> = author_keys
            .iter()
            .flat_map(|k| self.hint_keys(k).as_ref().clone())
            .collect();
        let keys = OpenKeys {
            secrets: &self.secrets,
            hints: Some(&hints),
        };
        match open(payload, keys) {
            Ok(opened) => Reading::Opened(Box::new(opened)),
            Err(OpenError::NotRecipient) => Reading::NotForUs,
            Err(other) => Reading::Unopenable(other),
        }
    }

    /// `record` as this node reads it: a sealed record addressed to this node becomes its opened
    /// body (same bytes, id and signature; see `Record::with_opened`); anything else is unchanged.
    pub fn present(&self, roster: &Roster, record: Record) -> Record {
        match self.read(roster, record.payload()) {
            Reading::Opened(opened) => record.with_opened(*opened),
            _ => record,
        }
    }

    /// The recipients of a record sealed to the members named `names` (roster names) and to this
    /// node itself, always.
    pub fn recipients_by_name(
        &self,
        roster: &Roster,
        names: &[String],
    ) -> Result<Vec<Recipient>, AudienceError> {
        if names.is_empty() {
            return Err(AudienceError::Empty);
        }
        let mut authors = Vec::with_capacity(names.len());
        for name in names {
            let member = roster
                .member_by_name(name)
                .ok_or_else(|| AudienceError::UnknownMember(name.clone()))?;
            authors.push(*member.author_key());
        }
        self.recipients(roster, &authors)
    }

    /// The recipients of a record sealed to these members (by author key) and to this node itself.
    pub fn recipients(
        &self,
        roster: &Roster,
        authors: &[AuthorKey],
    ) -> Result<Vec<Recipient>, AudienceError> {
        let own = self.secrets.first().ok_or(AudienceError::NoOwnKey)?;
        let mut out = vec![Recipient::new(self.author, own.public(), own)];
        for author in authors {
            if *author == self.author || out.iter().any(|r| r.author == *author) {
                continue;
            }
            let member = roster.member_by_author(author).ok_or_else(|| {
                AudienceError::UnknownMember(format!("{author} (no longer in the roster)"))
            })?;
            let key = member
                .encryption_keys()
                .first()
                .ok_or_else(|| AudienceError::NoKey(member.name().to_string()))?;
            out.push(Recipient::new(*author, *key, own));
        }
        let max = certnet_protocol::sealed::MAX_RECIPIENTS;
        if out.len() > max {
            return Err(AudienceError::TooMany {
                count: out.len(),
                max,
            });
        }
        Ok(out)
    }
}
