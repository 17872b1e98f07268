//! One tracing span per API request, and a debug line with its status and duration.
//!
//! Only method and path are recorded: never headers (the token) or bodies (record payloads).

use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use tracing::{Instrument as _, debug, info_span, warn};

pub(super) async fn request_span(request: Request, next: Next) -> Response {
    let span = info_span!("api", method = %request.method(), path = %request.uri().path());
    async move {
        let started = Instant::now();
        let response = next.run(request).await;
        let status = response.status().as_u16();
        let elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        if response.status().is_server_error() {
            warn!(status, elapsed_us, "request failed");
        } else {
            debug!(status, elapsed_us, "request");
        }
        response
    }
    .instrument(span)
    .await
}
