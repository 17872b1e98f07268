//! A hostile sync response cannot make the node allocate much more than its own size: every list count
//! and byte length is checked against its bound and against the bytes that arrived before anything is
//! allocated for it. Counted by this binary's global allocator (peak bytes live), not timed.
#![allow(clippy::unwrap_used)] // a test binary: panics fail it

use certnet_node::net::codec::SyncCodec;
use certnet_protocol::sync::{MAX_RESPONSE_BYTES, SyncResponse};
use futures::executor::block_on;
use futures::io::Cursor;
use libp2p::StreamProtocol;
use libp2p::request_response::Codec as _;
use peak_alloc::PeakAlloc;

#[global_allocator]
static ALLOCATOR: PeakAlloc = PeakAlloc;

const MIB: usize = 1024 * 1024;

/// Peak bytes allocated beyond what was live before, while `f` runs.
fn peak_growth(f: impl FnOnce()) -> usize {
    let base = ALLOCATOR.current_usage();
    ALLOCATOR.reset_peak_usage();
    f();
    ALLOCATOR.peak_usage().saturating_sub(base)
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// A CBOR array header for `n` items (shortest form).
fn array_head(n: usize) -> Vec<u8> {
    match n {
        0..=23 => vec![0x80 | n as u8],
        24..=0xff => vec![0x98, n as u8],
        0x100..=0xffff => {
            let mut v = vec![0x99];
            v.extend_from_slice(&(n as u16).to_be_bytes());
            v
        }
        _ => {
            let mut v = vec![0x9a];
            v.extend_from_slice(&(n as u32).to_be_bytes());
            v
        }
    }
}

/// `[tag, [item × n]]`, about `MAX_RESPONSE_BYTES` long.
fn tiny_items(tag: u8, item: &[u8]) -> Vec<u8> {
    let n = (MAX_RESPONSE_BYTES - 16) / item.len();
    let mut body = vec![0x82, tag];
    body.extend(array_head(n));
    for _ in 0..n {
        body.extend_from_slice(item);
    }
    assert!(body.len() <= MAX_RESPONSE_BYTES);
    body
}

fn read(wire: Vec<u8>) -> std::io::Result<SyncResponse> {
    let protocol = StreamProtocol::new("/certnet/test/sync/1");
    block_on(SyncCodec.read_response(&protocol, &mut Cursor::new(wire)))
}

/// One test function: the allocator's counts are process-wide, so nothing may run beside it.
#[test]
fn hostile_responses_are_refused_and_valid_ones_cost_their_size() {
    four_mib_of_tiny_items_are_refused_without_growing_the_heap();
    a_full_valid_response_costs_about_its_size();
}

fn four_mib_of_tiny_items_are_refused_without_growing_the_heap() {
    let cases: [(&str, Vec<u8>); 4] = [
        // Records: 2 M one-byte byte strings.
        ("records of one byte", tiny_items(1, &[0x41, 0x00])),
        // Records: 4 M empty byte strings.
        ("empty records", tiny_items(1, &[0x40])),
        // Heads: 4 M one-byte items where heads are expected.
        ("heads of one byte", tiny_items(0, &[0x00])),
        // Heads: 1 M empty arrays.
        ("empty heads", tiny_items(0, &[0x80])),
    ];
    for (what, body) in cases {
        let wire = framed(&body);
        drop(body);
        let mut result = None;
        let growth = peak_growth(|| result = Some(read(wire)));
        let err = result.unwrap().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{what}");
        // The frame itself is read into one buffer (≤ 4 MiB); nothing else may come near 64 MiB.
        assert!(
            growth < 64 * MIB,
            "{what}: the heap grew by {} MiB",
            growth / MIB
        );
        assert!(growth < 2 * MAX_RESPONSE_BYTES, "{what}: {growth} bytes");
    }
}

fn a_full_valid_response_costs_about_its_size() {
    // 1024 records of 4000 bytes: about 4 MiB, the most a Range answer carries.
    let records: Vec<Vec<u8>> = (0..1000).map(|i| vec![i as u8; 4000]).collect();
    let wire = framed(&SyncResponse::Records(records).to_cbor());
    let mut result = None;
    let growth = peak_growth(|| result = Some(read(wire)));
    assert!(matches!(result.unwrap().unwrap(), SyncResponse::Records(r) if r.len() == 1000));
    assert!(growth < 3 * MAX_RESPONSE_BYTES, "{} MiB", growth / MIB);
}
