//! What the API and the node's tasks share: the store, the roster, this node's author and encryption
//! keys and metrics, and the operations that take more than one store call: publishing an own record
//! ([`publish`]: signing, sealing) and making checkpoints ([`checkpoints`]).
//!
//! Everything here blocks (sled reads, fsync, signing): async code calls it through
//! `tokio::task::spawn_blocking`. The clock is read by the caller ([`now_ms`]) and passed in, so the
//! rules about it are testable.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use certnet_protocol::checkpoint::{CheckpointError, VerifierKey};
use certnet_protocol::export::log_origin;
use certnet_protocol::id::RecordId;
use certnet_protocol::keys::{AuthorKey, AuthorSecret};
use certnet_protocol::record::Record;
use certnet_protocol::sealed::EncryptionSecret;
use tracing::error;

use crate::membership::Roster;
use crate::membership::RosterCell;
use crate::metrics::Metrics;
use crate::sealed::Keyring;
use crate::store::{Store, StoreError};

/// 2025-01-01T00:00:00Z in ms: a clock before this is clearly wrong.
pub const CLOCK_MIN_MS: u64 = 1_735_689_600_000;
/// 2100-01-01T00:00:00Z in ms: a clock after this is clearly wrong.
pub const CLOCK_MAX_MS: u64 = 4_102_444_800_000;

/// The system clock in ms since the Unix epoch (0 if it reads before the epoch).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

mod checkpoints;
mod indicators;
mod misp;
mod publish;
mod recent;

pub use checkpoints::{CheckpointFailure, SignedCheckpoint};
pub use indicators::{Hit, Lookup, Reporter, Role};
pub use misp::{EventOutcome, Imported};
pub use publish::{PublishError, Published};

/// The node's shared state and the operations on it.
pub struct NodeServices {
    store: Arc<Store>,
    roster: RosterCell,
    author: AuthorSecret,
    net: String,
    origin: String,
    verifier: VerifierKey,
    metrics: Arc<Metrics>,
    /// Serialises checkpoint making (periodic task, API, shutdown): one signature per size.
    checkpointing: Mutex<()>,
    /// Whether a publish succeeded since start (after it, the own-feed check is not repeated).
    own_feed_checked: std::sync::atomic::AtomicBool,
    /// This node's encryption keys: sealing its records, opening those addressed to it.
    keyring: Keyring,
    /// A publish identical to a live own record this recent is refused (zero: never).
    duplicate_window: std::time::Duration,
    /// Own records within that window, by what they say (`recent.rs`).
    recent: Mutex<recent::Recent>,
}

impl fmt::Debug for NodeServices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeServices")
            .field("net", &self.net)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl NodeServices {
    /// Services over an open store, for the author `author` on the roster's network.
    pub fn new(
        store: Arc<Store>,
        roster: RosterCell,
        author: AuthorSecret,
        metrics: Arc<Metrics>,
    ) -> Result<Self, CheckpointFailure> {
        let net = roster.get().network().as_str().to_owned();
        let origin = log_origin(&net, &author.public());
        let verifier = VerifierKey::new(origin.clone(), author.public())
            .map_err(|_| CheckpointError::InvalidKeyName)?;
        Ok(Self {
            store,
            roster,
            net,
            origin,
            verifier,
            metrics,
            checkpointing: Mutex::new(()),
            own_feed_checked: std::sync::atomic::AtomicBool::new(false),
            keyring: Keyring::new(author.public(), Vec::new()),
            duplicate_window: std::time::Duration::ZERO,
            recent: Mutex::new(recent::Recent::default()),
            author,
        })
    }

    /// The services with this node's encryption secrets (newest first), to seal and open records.
    pub fn with_encryption(mut self, secrets: Vec<EncryptionSecret>) -> Self {
        self.keyring = Keyring::new(self.author.public(), secrets);
        self
    }

    /// The services refusing a publish identical to a live own record signed within `window`
    /// (config `[api] duplicate_window_secs`; zero, the default here, never refuses).
    pub fn with_duplicate_window(mut self, window: std::time::Duration) -> Self {
        self.duplicate_window = window;
        self
    }

    /// This node's encryption keys.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// `record` as this node reads it: opened if it is sealed to this node (see [`Keyring::present`]).
    pub fn present(&self, record: Record) -> Record {
        self.keyring.present(&self.roster(), record)
    }

    /// Bytes the store holds, decoded and read as this node reads them (opened if sealed to it).
    pub fn read_stored(&self, bytes: &[u8]) -> Result<Record, StoreError> {
        Record::decode(bytes)
            .map(|r| self.present(r))
            .map_err(|e| StoreError::Corrupt(format!("a stored record no longer decodes: {e}")))
    }

    /// Every record whose refs name `target`, as this node reads them: clear ones from the log's
    /// index, and sealed ones this node opened (their bodies' refs).
    pub fn referrers(&self, target: &RecordId) -> Result<Vec<Record>, StoreError> {
        self.referrers_as(target, true)
    }

    /// [`NodeServices::referrers`] for a reader who may or may not read sealed records: without
    /// `sealed`, only the clear ones (a sealed update's content never reaches such a reader through
    /// its target's current view).
    pub fn referrers_as(&self, target: &RecordId, sealed: bool) -> Result<Vec<Record>, StoreError> {
        let mut bytes = self.store.referrers(target)?;
        if sealed {
            bytes.extend(self.store.sealed_referrers(target)?);
        }
        bytes.iter().map(|b| self.read_stored(b)).collect()
    }

    /// Whether this node has published since start (the own-feed check before the first publish is
    /// then done).
    pub fn own_feed_checked(&self) -> bool {
        self.own_feed_checked
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The roster as it is now (reloads replace it; the network id never changes).
    pub fn roster(&self) -> Arc<Roster> {
        self.roster.get()
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The network id.
    pub fn net(&self) -> &str {
        &self.net
    }

    /// This node's author key.
    pub fn author_key(&self) -> AuthorKey {
        self.author.public()
    }

    /// The log's origin: checkpoint origin line and note key name.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The verifier key of this node's checkpoints, in the text auditors configure.
    pub fn verifier(&self) -> &VerifierKey {
        &self.verifier
    }

    /// The member name the roster gives `author`, if it is a member.
    pub fn member_name(&self, author: &AuthorKey) -> Option<String> {
        self.roster
            .get()
            .member_by_author(author)
            .map(|m| m.name().to_string())
    }

    /// Counts and logs a failed store write; returns the error.
    pub fn store_write_failed(&self, err: StoreError) -> StoreError {
        self.metrics.store_write_failed();
        error!(error = %err, "store write failed");
        err
    }
}

#[cfg(test)]
pub(crate) mod testing {

    use super::*;
    use crate::membership::{Member, NetworkId};
    use crate::store::StoreConfig;

    pub(crate) fn services(dir: &std::path::Path) -> NodeServices {
        let author = AuthorSecret::from_seed(&[7; 32]);
        let net = NetworkId::dev();
        let mut roster = Roster::new(net.clone());
        roster
            .add_member(Member::new(
                "CERT-T".parse().unwrap(),
                author.public(),
                vec![],
                vec![],
            ))
            .unwrap();
        let store = Store::open(&StoreConfig {
            path: dir.join("store"),
            cache_capacity: 8 << 20,
            net: net.as_str().to_owned(),
            max_orphans: 100,
            disk: None,
        })
        .unwrap();
        NodeServices::new(
            Arc::new(store),
            RosterCell::new(roster),
            author,
            Arc::new(Metrics::new()),
        )
        .unwrap()
    }

    pub(crate) const NOW: u64 = 1_767_225_600_000; // 2026-01-01
}
