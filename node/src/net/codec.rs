//! The sync protocol's stream codec: one length-prefixed deterministic-CBOR frame each way.
//!
//! A frame is a 4-byte big-endian length and that many bytes of a `protocol::sync` message
//! (PROTOCOL.md §13.1). The announced length is checked against the message's bound
//! (`MAX_REQUEST_BYTES`, `MAX_RESPONSE_BYTES`) before anything is allocated, and the body is read
//! through a `take` so memory grows only with bytes that actually arrive. libp2p's stock CBOR codec
//! is not used: it speaks serde through cbor4ii with its own 1 MiB / 10 MiB limits, not our
//! deterministic encoding and bounds.
//!
//! Every error is an `io::Error`; malformed input from the peer is `ErrorKind::InvalidData`, which
//! the event loop counts against the peer.

use std::io;

use certnet_protocol::sync::{
    MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, SyncError, SyncRequest, SyncResponse,
};
use futures::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use libp2p::StreamProtocol;
use libp2p::request_response;

/// Bytes of the length prefix.
pub const LENGTH_BYTES: usize = 4;

/// Most bytes reserved up front for a frame body; beyond this the buffer grows as bytes arrive.
const INITIAL_BUFFER: usize = 64 * 1024;

/// Reads one frame of at most `max` body bytes.
///
/// Errors: `InvalidData` if the prefix announces more than `max` (nothing further is read or
/// allocated); `UnexpectedEof` if the stream ends inside the prefix or the body.
pub async fn read_frame<T>(io: &mut T, max: usize) -> io::Result<Vec<u8>>
where
    T: AsyncRead + Unpin,
{
    let mut prefix = [0u8; LENGTH_BYTES];
    io.read_exact(&mut prefix).await?;
    let announced = u32::from_be_bytes(prefix);
    let len = usize::try_from(announced).unwrap_or(usize::MAX);
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame announces {announced} bytes, the limit is {max}"),
        ));
    }
    let mut body = Vec::with_capacity(len.min(INITIAL_BUFFER));
    io.take(u64::from(announced)).read_to_end(&mut body).await?;
    if body.len() != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("frame ends after {} of {len} bytes", body.len()),
        ));
    }
    Ok(body)
}

/// Writes one frame; refuses a body over `max` (it would be refused by the reader anyway).
pub async fn write_frame<T>(io: &mut T, body: &[u8], max: usize) -> io::Result<()>
where
    T: AsyncWrite + Unpin,
{
    let len = u32::try_from(body.len())
        .ok()
        .filter(|_| body.len() <= max)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("frame of {} bytes is over the limit of {max}", body.len()),
            )
        })?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(body).await?;
    io.flush().await
}

fn invalid(err: SyncError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, err)
}

/// The request-response codec for `/certnet/<net>/sync/1`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncCodec;

impl request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = SyncRequest;
    type Response = SyncResponse;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<SyncRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        let frame = read_frame(io, MAX_REQUEST_BYTES).await?;
        SyncRequest::from_cbor(&frame).map_err(invalid)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<SyncResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        let frame = read_frame(io, MAX_RESPONSE_BYTES).await?;
        SyncResponse::from_cbor(&frame).map_err(invalid)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: SyncRequest,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &request.to_cbor(), MAX_REQUEST_BYTES).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: SyncResponse,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &response.to_cbor(), MAX_RESPONSE_BYTES).await
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use certnet_protocol::keys::AuthorSecret;
    use futures::executor::block_on;
    use futures::io::Cursor;
    use libp2p::request_response::Codec as _;

    use super::*;

    fn protocol() -> StreamProtocol {
        StreamProtocol::new("/certnet/test/sync/1")
    }

    fn framed(body: &[u8]) -> Vec<u8> {
        let mut out = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
        out.extend_from_slice(body);
        out
    }

    /// A reader that announces `u32::MAX` bytes and would then produce zeros forever, counting
    /// what it hands out.
    struct Endless {
        served: usize,
    }

    impl AsyncRead for Endless {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            for byte in buf.iter_mut() {
                *byte = if self.served < LENGTH_BYTES { 0xff } else { 0 };
                self.served += 1;
            }
            Poll::Ready(Ok(buf.len()))
        }
    }

    #[test]
    fn heads_request_frame_matches_the_spec_example() {
        // PROTOCOL.md §13.1: the Heads request is framed `00000002 8100`.
        let mut out = Vec::new();
        block_on(SyncCodec.write_request(&protocol(), &mut out, SyncRequest::Heads)).unwrap();
        assert_eq!(out, [0, 0, 0, 2, 0x81, 0x00]);
    }

    #[test]
    fn requests_and_responses_round_trip() {
        let request = SyncRequest::Range {
            author: AuthorSecret::from_seed(&[1; 32]).public(),
            from_seq: 3,
            max: 17,
        };
        let mut wire = Vec::new();
        block_on(SyncCodec.write_request(&protocol(), &mut wire, request.clone())).unwrap();
        let read = block_on(SyncCodec.read_request(&protocol(), &mut Cursor::new(wire))).unwrap();
        assert_eq!(read, request);

        let response = SyncResponse::Records(vec![vec![1, 2, 3], vec![4; 1000]]);
        let mut wire = Vec::new();
        block_on(SyncCodec.write_response(&protocol(), &mut wire, response.clone())).unwrap();
        let read = block_on(SyncCodec.read_response(&protocol(), &mut Cursor::new(wire))).unwrap();
        assert_eq!(read, response);
    }

    #[test]
    fn oversize_announced_length_is_refused_before_reading_the_body() {
        let mut reader = Endless { served: 0 };
        let err = block_on(read_frame(&mut reader, MAX_RESPONSE_BYTES)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(reader.served, LENGTH_BYTES, "only the prefix may be read");

        // One byte over each bound.
        let over = |max: usize| {
            let mut wire = u32::try_from(max + 1).unwrap().to_be_bytes().to_vec();
            wire.extend_from_slice(&[0; 8]);
            wire
        };
        let err = block_on(
            SyncCodec.read_request(&protocol(), &mut Cursor::new(over(MAX_REQUEST_BYTES))),
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let err = block_on(
            SyncCodec.read_response(&protocol(), &mut Cursor::new(over(MAX_RESPONSE_BYTES))),
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn a_frame_at_the_bound_is_read() {
        let body = vec![7u8; MAX_REQUEST_BYTES];
        let read = block_on(read_frame(
            &mut Cursor::new(framed(&body)),
            MAX_REQUEST_BYTES,
        ))
        .unwrap();
        assert_eq!(read, body);
    }

    #[test]
    fn truncated_frames_are_eof_errors() {
        for wire in [vec![], vec![0, 0], framed(&[0x81, 0x00])[..5].to_vec()] {
            let err = block_on(read_frame(&mut Cursor::new(wire.clone()), 1024)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{wire:?}");
        }
    }

    #[test]
    fn malformed_messages_are_invalid_data() {
        // Unknown request type `8102`, non-canonical `811800`, and a response to a request.
        for body in [&[0x81, 0x02][..], &[0x81, 0x18, 0x00], &[0x82, 0x01, 0x80]] {
            let err = block_on(SyncCodec.read_request(&protocol(), &mut Cursor::new(framed(body))))
                .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{body:?}");
        }
        let err =
            block_on(SyncCodec.read_response(&protocol(), &mut Cursor::new(framed(&[0x81, 0x00]))))
                .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn writing_over_the_bound_is_refused() {
        let mut out = Vec::new();
        let err = block_on(write_frame(&mut out, &[0; 11], 10)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(out.is_empty());
    }
}
