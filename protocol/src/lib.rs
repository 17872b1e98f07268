//! certnet-protocol: everything two certnet nodes, or a node and an auditor, must agree on.
//!
//! It is pure: no async runtime, network, storage, files, clock or randomness. Callers pass in `now`,
//! keys and bytes. An auditor needs to trust only this crate.
//!
//! - [`keys`]: Ed25519 author keys and their one textual encoding.
//! - [`id`]: `RecordId` (SHA-256 of the payload) and the `Hash` type.
//! - [`merkle`]: RFC 9162 Merkle tree hashes, inclusion and consistency proofs, incremental tree.
//! - [`checkpoint`]: C2SP tlog-checkpoints signed as C2SP signed notes.
//! - [`cbor`]: the deterministic CBOR subset every structure uses; [`cbor_reader`]: reading it in
//!   place, without allocating (sync responses, a record's author).
//! - [`record`]: the record model, content validation, COSE_Sign1 signing and the one acceptance check.
//! - [`sealed`]: sealed records: a record body encrypted to named members (COSE_Encrypt, HPKE).
//! - [`chain`]: per-author chain links and equivocation proofs.
//! - [`view`]: the current view of a record after its author's updates and revocations.
//! - [`sync`]: sync wire messages and their bounds.
//! - [`export`]: the export file (CBOR sequence), streamed both ways.
//! - [`audit`]: offline verification of an export file.

pub mod audit;
pub mod cbor;
pub mod cbor_reader;
pub mod chain;
pub mod checkpoint;
pub mod export;
pub mod id;
pub mod keys;
pub mod merkle;
pub mod record;
pub mod sealed;
pub mod sync;
pub mod view;
