//! Fuzz: decoding arbitrary bytes as a record never panics, and whatever decodes re-encodes exactly.
#![no_main]

use certnet_protocol::record::Record;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = Record::decode(data) {
        assert_eq!(record.payload().to_cbor(), record.payload_bytes());
    }
});
