//! Sealed records on this node (PROTOCOL.md §20): its encryption keys ([`keyring`]), and the task
//! that opens what arrives addressed to it ([`follower`]).
//!
//! Invariant: plaintext of a sealed record exists only on its recipients, and there only in memory:
//! a recipient opens the record again whenever it serves it; what it keeps on disk is the signed
//! (encrypted) record and, from its body, only the refs (record ids) and why a record failed to open.

pub mod follower;
pub mod keyring;

pub use keyring::{AudienceError, Keyring, Reading};

/// The bytes every sealed record's payload holds: CBOR text `kind` then text `sealed`. A record
/// without them is not sealed (a cheap test before decoding; a match is confirmed by decoding).
pub(crate) const SEALED_KIND_BYTES: &[u8] = b"\x64kind\x66sealed";

/// Whether `bytes` (a signed record) may be a sealed record.
pub(crate) fn may_be_sealed(bytes: &[u8]) -> bool {
    bytes
        .windows(SEALED_KIND_BYTES.len())
        .any(|w| w == SEALED_KIND_BYTES)
}
