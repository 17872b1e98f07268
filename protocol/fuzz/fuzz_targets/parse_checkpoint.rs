//! Fuzz: parsing and opening arbitrary signed notes never panics.
#![no_main]

use certnet_protocol::checkpoint::{self, Checkpoint, VerifierKey};
use certnet_protocol::keys::AuthorSecret;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = AuthorSecret::from_seed(&[7; 32]).public();
    if let Ok(verifier) = VerifierKey::new("certnet/fuzz", key) {
        let _ = checkpoint::open(data, &verifier);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Checkpoint::parse_body(text);
        let _ = text.parse::<VerifierKey>();
    }
});
