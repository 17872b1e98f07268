//! Fuzz: reading and auditing arbitrary export files never panics.
#![no_main]

use certnet_protocol::audit::{AuditOptions, audit};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = audit(data, &AuditOptions::default(), |_, _| {});
});
