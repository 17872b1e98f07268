//! `GET /v1/status`: who the node is and how long it has run.

use axum::Json;
use axum::extract::State;

use super::{ApiError, ApiState};
use crate::api::wire::StatusResponse;

pub(super) async fn get_status(
    State(state): State<ApiState>,
) -> Result<Json<StatusResponse>, ApiError> {
    let status = state.node.status().await?;
    Ok(Json(status.into()))
}
