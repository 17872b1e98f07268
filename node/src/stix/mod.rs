//! The deterministic STIX 2.1 mapping of certnet records (node/STIX.md): every node derives byte-identical
//! STIX objects from the same signed records, so nothing here reads the clock, the roster or any other
//! node-local state.
//!
//! - [`ids`]: name-based object ids, RFC 3339 timestamps, the TLP 2.0 marking-definitions.
//! - [`map`]: records → STIX object versions (updates are new versions, a revoke sets `revoked`).
//! - [`log`]: the objects each log entry adds to a TAXII collection, read from the store.
//! - [`stream`]: a bundle of the log, written as it is read (flat memory).
//! - [`bundle`] wraps objects in a STIX bundle whose id is derived from what it holds.
//!
//! The mapping produces `serde_json::Value`s: STIX *is* JSON, so the JSON lives here; `node::api`
//! decides only how it travels over HTTP.

pub mod ids;
pub mod log;
pub mod map;
pub mod stream;

use std::collections::BTreeSet;

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

pub use ids::{marking_definition, marking_id, timestamp, timestamp_us};
pub use map::{Lookup, StixVersion, identity, record_versions};

/// The STIX media type, as TAXII and HTTP name it.
pub const STIX_MEDIA_TYPE: &str = "application/stix+json;version=2.1";

/// A STIX 2.1 bundle of `objects`, with the TLP marking-definitions they reference added once each
/// (first, in label order). The bundle id is derived from the ids and versions of what it holds, so
/// the same objects always make the same bytes.
pub fn bundle(objects: Vec<Value>) -> Value {
    let mut tlps = BTreeSet::new();
    for object in &objects {
        if let Some(refs) = object.get("object_marking_refs").and_then(Value::as_array) {
            for r in refs {
                if let Some(tlp) = r.as_str().and_then(ids::tlp_of_marking) {
                    tlps.insert(tlp);
                }
            }
        }
    }
    let mut all: Vec<Value> = tlps.into_iter().map(marking_definition).collect();
    all.extend(objects);
    let mut hash = Sha256::new();
    for object in &all {
        for key in ["id", "modified", "created"] {
            if let Some(v) = object.get(key).and_then(Value::as_str) {
                hash.update(v.as_bytes());
            }
            hash.update([0]);
        }
    }
    let digest = hash.finalize();
    let id = format!(
        "bundle--{}",
        ids::uuid_from_name(&format!("bundle/{}", hex::encode(digest)))
    );
    if all.is_empty() {
        // STIX: `objects`, when present, holds at least one object.
        return json!({ "type": "bundle", "id": id });
    }
    json!({ "type": "bundle", "id": id, "objects": all })
}
