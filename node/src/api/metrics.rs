//! `GET /metrics` (Prometheus text) and the middleware counting requests by route and status.

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::principal::{Action, Principal};
use super::{ApiError, ApiState};
use crate::metrics::CONTENT_TYPE;

pub(super) async fn get_metrics(
    State(state): State<ApiState>,
    principal: Principal,
) -> Result<Response, ApiError> {
    principal.require(Action::Metrics)?;
    let services = state.services.clone();
    let text = state
        .blocking(move || {
            let store = services.store();
            services.metrics().observe_store(
                store.log_size(),
                store.orphan_count(),
                store.frozen().len() as u64,
            );
            let (disk, free, _) = store.disk();
            services.metrics().observe_disk(free, disk as u8);
            services.metrics().encode()
        })
        .await?
        .map_err(|_| ApiError::internal("metrics_failed", "the metrics could not be encoded"))?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response())
}

/// Counts every answer by route template (`unmatched` for unknown routes) and status.
pub(super) async fn count_request(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let response = next.run(request).await;
    state
        .services
        .metrics()
        .api_request(&route, response.status().as_u16());
    response
}
