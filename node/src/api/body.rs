//! Response bodies written by blocking code (exports, bundles): a writer that sends chunks through a
//! bounded channel, so memory stays flat and a slow client slows the writer instead of filling RAM.

use std::io::{self, BufWriter, Write};

use axum::body::{Body, Bytes};
use tokio::sync::{OwnedSemaphorePermit, mpsc};

/// Bytes per chunk sent to the client.
const CHUNK: usize = 64 * 1024;
/// Chunks that may wait for a slow client before the writer waits too.
const QUEUE: usize = 16;

/// Writes into the response body's channel; fails once the client has gone.
struct ChannelWriter(mpsc::Sender<io::Result<Bytes>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A body that `write` fills from a blocking task holding `permit` (one of the API's blocking
/// permits) until it returns. An error `write` returns after the client went away is ignored; any
/// other ends the body with an error (the client sees a truncated transfer).
pub(super) fn streamed<E: std::fmt::Display + Send + 'static>(
    permit: OwnedSemaphorePermit,
    what: &'static str,
    write: impl FnOnce(&mut dyn Write) -> Result<(), E> + Send + 'static,
) -> Body {
    let (sender, mut receiver) = mpsc::channel::<io::Result<Bytes>>(QUEUE);
    let errors = sender.clone();
    // Owned by the response: when the client goes, the receiver drops and the writer stops.
    drop(tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let mut out = BufWriter::with_capacity(CHUNK, ChannelWriter(sender));
        match write(&mut out).map(|()| out.flush()) {
            Ok(Ok(())) => tracing::debug!(what, "stream sent"),
            Ok(Err(_)) => tracing::debug!(what, "stream abandoned by the client"),
            Err(e) if errors.is_closed() => {
                tracing::debug!(what, error = %e, "stream abandoned by the client");
            }
            Err(e) => {
                tracing::error!(what, error = %e, "stream failed part way: the client gets a truncated body");
                let _ = errors.blocking_send(Err(io::Error::other(e.to_string())));
            }
        }
    }));
    Body::from_stream(futures_util::stream::poll_fn(move |cx| {
        receiver.poll_recv(cx)
    }))
}
