//! `GET /v1/export`: the export file (PROTOCOL.md §15) at a checkpoint signed for the current log size,
//! streamed from a blocking task through a bounded channel: memory stays flat however long the log.

use std::io::{self, BufWriter, Write};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;
use tracing::{debug, error};

use super::wire::{CBOR_SEQ, SIZE_HEADER};
use super::{ApiError, ApiState, blocking};
use crate::export::{ExportStreamError, write_export};

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

pub(super) async fn get_export(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let services = state.services.clone();
    let checkpoint = blocking(move || services.checkpoint_now()).await??;
    let size = checkpoint.checkpoint.size();
    let header = state.services.export_header(&checkpoint);
    let file_name = format!("certnet-{}-{size}.cbor", state.services.net());

    let (sender, mut receiver) = mpsc::channel::<io::Result<Bytes>>(QUEUE);
    let store = state.services.store().clone();
    // Owned by the response: when the client goes, the receiver drops and the writer stops.
    drop(tokio::task::spawn_blocking(move || {
        let out = BufWriter::with_capacity(CHUNK, ChannelWriter(sender.clone()));
        match write_export(&store, &header, size, out) {
            Ok(stats) => debug!(entries = stats.entries, forks = stats.forks, "export sent"),
            Err(ExportStreamError::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
                debug!("export abandoned by the client");
            }
            Err(e) => {
                error!(error = %e, "export failed part way: the client gets a truncated file");
                let _ = sender.blocking_send(Err(io::Error::other(e.to_string())));
            }
        }
    }));
    let stream = futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx));
    Ok((
        [
            (header::CONTENT_TYPE, CBOR_SEQ.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
            (
                header::HeaderName::from_static(SIZE_HEADER),
                size.to_string(),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
