//! certnet-protocol: everything two certnet nodes, or a node and an auditor, must agree on.
//!
//! It is pure: no async runtime, network, storage, files, clock or randomness. Callers pass in `now`,
//! keys and bytes. An auditor needs to trust only this crate.
//!
//! - [`keys`]: Ed25519 author keys and their one textual encoding.
//! - [`id`]: `RecordId` (SHA-256 of the payload) and the `Hash` type.
//! - [`merkle`]: RFC 9162 Merkle tree hashes, inclusion and consistency proofs, incremental tree.
//! - [`checkpoint`]: C2SP tlog-checkpoints signed as C2SP signed notes.

pub mod audit;
pub mod cbor;
pub mod chain;
pub mod checkpoint;
pub mod export;
pub mod id;
pub mod keys;
pub mod merkle;
pub mod record;
pub mod sync;
