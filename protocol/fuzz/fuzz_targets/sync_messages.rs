//! Fuzz: decoding arbitrary sync messages never panics and what decodes re-encodes exactly.
#![no_main]

use certnet_protocol::sync::{SyncRequest, SyncResponse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = SyncRequest::from_cbor(data) {
        assert_eq!(req.to_cbor(), data);
    }
    if let Ok(resp) = SyncResponse::from_cbor(data) {
        assert_eq!(resp.to_cbor(), data);
    }
});
