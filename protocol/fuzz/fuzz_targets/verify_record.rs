//! Fuzz: mutations of a valid signed record never panic and never verify unless unchanged.
#![no_main]

use std::sync::OnceLock;

use certnet_protocol::keys::AuthorSecret;
use certnet_protocol::record::{FeedPosition, sample, sign_record, verify_record};
use libfuzzer_sys::fuzz_target;

fn valid() -> &'static [u8] {
    static RECORD: OnceLock<Vec<u8>> = OnceLock::new();
    RECORD.get_or_init(|| {
        let secret = AuthorSecret::from_seed(&[7; 32]);
        let at = FeedPosition { seq: 1, prev: None, time: 1_795_000_000_000 };
        sign_record("fuzz", sample::incident(1), at, &secret)
            .map(|r| r.into_bytes())
            .unwrap_or_default()
    })
}

fuzz_target!(|edits: Vec<(u16, u8)>| {
    let mut bytes = valid().to_vec();
    for (pos, xor) in edits {
        let i = usize::from(pos) % bytes.len().max(1);
        if let Some(b) = bytes.get_mut(i) {
            *b ^= xor;
        }
    }
    if verify_record(&bytes, "fuzz").is_ok() {
        assert_eq!(bytes, valid());
    }
});
