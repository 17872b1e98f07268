//! JSON bodies of the API, shared by the server and the client so both sides agree by construction.
//!
//! Hashes, ids, roots and proofs are lowercase hex; keys are `ed25519:…` text; times are ms since
//! the Unix epoch. Record content is carried as JSON in the shape of PROTOCOL.md §5.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Default page size of `GET /v1/records`.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest page size of `GET /v1/records`.
pub const MAX_LIMIT: usize = 500;
/// Content type of `GET /v1/records/{id}/raw`: the record's COSE_Sign1 bytes.
pub const COSE_CONTENT_TYPE: &str = "application/cose; cose-type=\"cose-sign1\"";
/// Content type of `GET /v1/export`: a CBOR sequence (RFC 8742).
pub const CBOR_SEQ: &str = "application/cbor-seq";
/// Response header of `GET /v1/export` carrying the export's checkpoint size.
pub const SIZE_HEADER: &str = "x-certnet-checkpoint-size";

/// Every error response: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// The error.
    pub error: ErrorBody,
}

/// What went wrong: a stable machine-readable code and a message saying what to fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable identifier, e.g. `unauthorized`, `not_found`, `bad_json`.
    pub code: String,
    /// For people: what is wrong and what to do.
    pub message: String,
}

/// `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusResponse {
    /// Member name.
    pub name: String,
    /// Network id.
    pub network: String,
    /// Author public key, `ed25519:...`.
    pub author_key: String,
    /// libp2p PeerId.
    pub peer_id: String,
    /// certnet version.
    pub version: String,
    /// Whole seconds since the node started.
    pub uptime_secs: u64,
    /// Entries in the log.
    pub log_size: u64,
    /// Merkle root of the whole log, hex.
    pub root: String,
    /// Size of the newest signed checkpoint, if any.
    pub checkpoint_size: Option<u64>,
    /// Authors with records in the log.
    pub heads: u64,
    /// Records waiting for their predecessors.
    pub orphans: u64,
    /// Authors frozen after a fork.
    pub forks: Vec<FrozenAuthor>,
    /// Bytes the store occupies on disk.
    pub store_bytes: u64,
    /// The store's disk: free space and whether records are taken.
    pub disk: DiskJson,
}

/// The store's disk in `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskJson {
    /// `ok`; `low` (below the watermark: records from peers are refused, own publishes go on);
    /// `full` (below the floor: every write is refused).
    pub state: String,
    /// Free bytes on the store's file system.
    pub free_bytes: u64,
    /// The watermark, in bytes.
    pub watermark_bytes: Option<u64>,
    /// The floor, in bytes.
    pub floor_bytes: Option<u64>,
}

/// An author frozen after signing two records at one seq.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrozenAuthor {
    /// Author key.
    pub author: String,
    /// Member name, if in the roster.
    pub author_name: Option<String>,
    /// The seq signed twice.
    pub seq: u64,
}

/// `POST /v1/records`: a record for this node to sign. The node assigns seq, prev and time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    /// `incident`, `indicator`, `advisory`, `sighting`, `update` or `revoke`.
    pub kind: String,
    /// `clear`, `green`, `amber`, `amber+strict`, or `red` (only with `to`).
    pub tlp: String,
    /// Ids of related records (for `update` and `revoke`: exactly the target).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refs: Vec<String>,
    /// Kind-specific content (PROTOCOL.md §5).
    pub content: Value,
    /// Roster member names to seal the record to (PROTOCOL.md §20); this node is always added.
    /// Absent: every member reads it (an update or revoke of a sealed record goes to its target's
    /// audience anyway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<String>>,
    /// Publish even if a live record of this node is identical (signed within `[api]
    /// duplicate_window_secs`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
}

/// `201` answer to `POST /v1/records`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishResponse {
    /// Record id, hex.
    pub id: String,
    /// Seq in this node's feed.
    pub seq: u64,
    /// Index in the node's log.
    pub index: u64,
}

/// A record as signed, with its log index and its author's roster name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordJson {
    /// Record id, hex.
    pub id: String,
    /// Index in this node's log.
    pub index: Option<u64>,
    /// When this node added the record to its log: µs since the Unix epoch, by this node's clock
    /// (differs between nodes; never decreases along the log).
    #[serde(default)]
    pub added_us: Option<u64>,
    /// Author key.
    pub author: String,
    /// Author's member name, if in the roster.
    pub author_name: Option<String>,
    /// Seq in the author's feed.
    pub seq: u64,
    /// Id of the author's previous record (null for seq 1).
    pub prev: Option<String>,
    /// Author's clock at signing, ms since the epoch.
    pub time: u64,
    /// Kind.
    pub kind: String,
    /// TLP label as signed.
    pub tlp: String,
    /// Related record ids.
    pub refs: Vec<String>,
    /// Content as signed (as opened, for a sealed record this node reads; `{}` for one it cannot).
    pub content: Value,
    /// Sealed to named members (PROTOCOL.md §20): `kind`, `tlp`, `refs` and `content` are then the
    /// opened body's, if this node is a recipient.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sealed: bool,
    /// A sealed record this node opened: the member names it is sealed to (an author key for one
    /// no longer in the roster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipients: Option<Vec<String>>,
    /// A sealed record this node cannot read: the size of its encrypted content, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_size: Option<usize>,
    /// A sealed record addressed to this node that does not open: why (it stays in the log).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_error: Option<String>,
    /// In lists: the record as it stands now, after its author's updates and revocation (for
    /// incidents, indicators, advisories and sightings; the fields above are the record as signed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<Current>,
}

/// A listed record as it stands now (PROTOCOL.md §8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Current {
    /// TLP after updates (an update may only loosen it).
    pub tlp: String,
    /// Withdrawn by its author.
    pub revoked: bool,
    /// The revocation reason, when the caller may read the revoke.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_reason: Option<String>,
    /// Updates applied.
    pub updates: u32,
    /// Severity now (incidents, advisories).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// Status now (incidents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Content now, when an update changed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Value>,
}

/// `GET /v1/records`: one page of the log, filtered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordList {
    /// Matching records in log order.
    pub records: Vec<RecordJson>,
    /// Pass as `cursor` for the next page; null at the end of the log.
    pub next_cursor: Option<u64>,
}

/// `GET /v1/records/{id}`: one record, checked again, with its current view and history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordView {
    /// The record as signed.
    #[serde(flatten)]
    pub record: RecordJson,
    /// The signature and every rule verified again on this read.
    pub verified: bool,
    /// Why not, when `verified` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_error: Option<String>,
    /// The record's time is more than 5 minutes ahead of this node's clock.
    pub time_ahead_of_clock: bool,
    /// The record as it stands after its author's updates and revocations.
    pub view: CurrentView,
    /// Every record referring to it, in the order applied, with its effect.
    pub history: Vec<HistoryItem>,
}

/// The current view of a record (PROTOCOL.md §8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurrentView {
    /// Current content.
    pub content: Value,
    /// Current TLP.
    pub tlp: String,
    /// Withdrawn by its author.
    pub revoked: bool,
    /// The revocation reason.
    pub revoked_reason: Option<String>,
}

/// One record referring to another, and what it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryItem {
    /// Its id, hex.
    pub id: String,
    /// Its log index.
    pub index: Option<u64>,
    /// Its author.
    pub author: String,
    /// Its kind.
    pub kind: String,
    /// Its seq.
    pub seq: u64,
    /// Its time.
    pub time: u64,
    /// `updated`, `revoked`, `referenced` or `ignored`.
    pub effect: String,
    /// Why it was ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `GET` and `POST /v1/log/checkpoint`: a signed checkpoint of this node's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointResponse {
    /// Entries covered.
    pub size: u64,
    /// Merkle root of those entries, hex.
    pub root: String,
    /// The log's origin (also the note's key name).
    pub origin: String,
    /// The signing author key.
    pub key: String,
    /// The note verifier key (`<name>+<key id>+<key>`), for tools that read C2SP notes.
    pub verifier_key: String,
    /// The signed note text.
    pub note: String,
    /// `POST` only: whether this request signed it (false: one existed for this size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<bool>,
}

/// `GET /v1/log/proof/inclusion`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProofResponse {
    /// Leaf index.
    pub index: u64,
    /// Tree size the proof is for.
    pub size: u64,
    /// The record's id, hex.
    pub id: String,
    /// The RFC 9162 leaf hash of the record's bytes, hex.
    pub leaf_hash: String,
    /// Root of the tree of `size` entries, hex.
    pub root: String,
    /// Sibling hashes from the leaf up, hex.
    pub path: Vec<String>,
    /// The signed checkpoint for `size`, if this node made one.
    pub checkpoint: Option<String>,
}

/// `GET /v1/log/proof/consistency`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProofResponse {
    /// Older tree size.
    pub old: u64,
    /// Newer tree size.
    pub new: u64,
    /// Root of the older tree, hex.
    pub old_root: String,
    /// Root of the newer tree, hex.
    pub new_root: String,
    /// Proof hashes, hex.
    pub path: Vec<String>,
    /// The signed checkpoint for `old`, if this node made one.
    pub old_checkpoint: Option<String>,
    /// The signed checkpoint for `new`, if this node made one.
    pub new_checkpoint: Option<String>,
}

/// `GET /v1/forks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForksResponse {
    /// Every equivocation proof this node holds.
    pub forks: Vec<ForkJson>,
}

/// One equivocation proof: two records by one author at one seq.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkJson {
    /// The author.
    pub author: String,
    /// Member name, if in the roster.
    pub author_name: Option<String>,
    /// The seq signed twice.
    pub seq: u64,
    /// The two record ids, lower first.
    pub ids: Vec<String>,
    /// The proof's CBOR (PROTOCOL.md §10), hex: anyone can verify it.
    pub proof: String,
}

/// `GET /v1/indicators/{value}`: every live record that reports or sighted a value, and who.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndicatorReport {
    /// The value's type (`ipv4`, `domain`, `sha256`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// The value in canonical form (what was asked, normalised).
    pub value: String,
    /// Earliest first seen among the records, ms since the epoch (null: none found).
    pub first_seen: Option<u64>,
    /// Latest last seen among the records, ms since the epoch.
    pub last_seen: Option<u64>,
    /// Every member that reported or sighted it, earliest first.
    pub reporters: Vec<IndicatorReporter>,
    /// The records, latest last seen first.
    pub records: Vec<IndicatorRecord>,
    /// The index held more entries than one lookup reads (`limit`): the oldest were left out.
    pub truncated: bool,
}

/// One member in an [`IndicatorReport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndicatorReporter {
    /// `ed25519:…` author key.
    pub author: String,
    /// Its member name, if it is in the roster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_name: Option<String>,
    /// Its live records that report the value.
    pub reported: u32,
    /// Its live sightings of the value (or of a record reporting it).
    pub sighted: u32,
    /// First seen, ms since the epoch.
    pub first_seen: u64,
    /// Last seen, ms since the epoch.
    pub last_seen: u64,
}

/// One record in an [`IndicatorReport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndicatorRecord {
    /// `reported` or `sighted`.
    pub role: String,
    /// First seen, ms since the epoch (the content's, else the record's time).
    pub first_seen: u64,
    /// Last seen, ms since the epoch.
    pub last_seen: u64,
    /// The record as signed, with `current`.
    pub record: RecordJson,
}

/// The answer to `POST /v1/misp/events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MispImportResponse {
    /// The MISP event's UUID.
    pub uuid: String,
    /// `new`, `updated`, `superseded` or `unchanged`.
    pub outcome: crate::services::EventOutcome,
    /// The incident the event is now.
    pub incident: String,
    /// Sighting records published now.
    pub sightings: u32,
}
