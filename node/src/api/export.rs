//! `GET /v1/export`: the export file (PROTOCOL.md §15) at the newest signed checkpoint, streamed from
//! a blocking task through a bounded channel: memory stays flat however long the log. A GET changes
//! nothing: to export everything up to now, sign a checkpoint first (`POST /v1/log/checkpoint`, as
//! `certnet export` does). The audit export holds every entry whatever its band (an auditor checks
//! every signature and the root), so only the operator may take it.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use tracing::debug;

use super::body::streamed;
use super::principal::{Action, Principal};
use super::wire::{CBOR_SEQ, SIZE_HEADER};
use super::{ApiError, ApiState};
use crate::export::write_export;

pub(super) async fn get_export(
    State(state): State<ApiState>,
    principal: Principal,
) -> Result<Response, ApiError> {
    principal.require(Action::Export)?;
    let services = state.services.clone();
    let checkpoint = state
        .blocking(move || services.latest_checkpoint())
        .await??
        .ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "no_checkpoint",
                "this node has not signed a checkpoint yet: POST /v1/log/checkpoint (`certnet checkpoint --new`) signs one, then export",
            )
        })?;
    let size = checkpoint.checkpoint.size();
    let header = state.services.export_header(&checkpoint);
    let file_name = format!("certnet-{}-{size}.cbor", state.services.net());

    let store = state.services.store().clone();
    let permit = state.blocking_permit().await?;
    let body = streamed(permit, "export", move |out| {
        write_export(&store, &header, size, out).map(|stats| {
            debug!(
                entries = stats.entries,
                forks = stats.forks,
                "export written"
            );
        })
    });
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
        body,
    )
        .into_response())
}
