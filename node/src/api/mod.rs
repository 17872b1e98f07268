//! The HTTP API (axum): the only module that knows HTTP and JSON.
//!
//! - [`router`] builds the routes on an [`ApiState`]; [`serve`] runs them on an already-bound
//!   listener (so tests bind port 0) until a shutdown future completes.
//! - Every error a client can cause is a 4xx with a JSON body `{"error": {"code", "message"}}`
//!   ([`ApiError`]); unknown routes and methods included.
//! - Reads (GET, HEAD) are open on loopback; everything else, and everything when the API listens
//!   beyond loopback, needs `Authorization: Bearer <api.token>` ([`ApiAuth`]). `/taxii2/` checks
//!   its own consumers' credentials instead ([`taxii`]).
//! - Store work runs on tokio's blocking pool ([`blocking`]), never on the async workers.
//! - [`client`] is the other side: what CLI commands use to talk to a running node.
//!
//! Routes (JSON unless said otherwise; bodies in [`wire`]):
//!
//! | route | what |
//! |---|---|
//! | `GET /v1/status` | identity, uptime, log size, root, checkpoint, heads, orphans, forks, disk |
//! | `POST /v1/records` | sign and store a record `{kind, tlp, refs?, content}` → 201 `{id, seq, index}` |
//! | `GET /v1/records` | the log, filtered (`author`, `kind`, `tlp`, `since`), `cursor`/`limit` pages |
//! | `GET /v1/records/{id}` | one record, verified again, with its current view and history |
//! | `GET /v1/records/{id}/raw` | the exact COSE_Sign1 bytes (`application/cose`) |
//! | `GET /v1/records/{id}/stix` | the record's STIX 2.1 bundle: every version of its objects |
//! | `GET /v1/stix` | a STIX 2.1 bundle of the whole log (`tlp=`, `kind=` comma-separated filters) |
//! | `/taxii2/…` | TAXII 2.1, read-only, with its own credentials ([`taxii`]) |
//! | `GET`, `POST /v1/log/checkpoint` | the newest signed checkpoint; make one now |
//! | `GET /v1/log/proof/inclusion` | `id=` or `index=`, `size=` (default: newest checkpoint) |
//! | `GET /v1/log/proof/consistency` | `old=`, `new=` (default: newest checkpoint) |
//! | `GET /v1/export` | the export file (`application/cbor-seq`), streamed |
//! | `GET /v1/forks` | every equivocation proof held |
//! | `GET /metrics` | Prometheus (OpenMetrics) text |
//! | `GET /v1/peers`, `POST /v1/peers/{peer}/block`, `.../unblock` | peers; operator bans ([`peers`]) |
//! | `POST /v1/roster/reload` | reload roster.toml without a restart |

mod auth;
pub mod client;
mod error;
mod export;
mod log;
mod metrics;
pub mod peers;
mod records;
mod status;
mod stix;
pub mod taxii;
mod trace;
pub mod wire;

use std::future::Future;
use std::io;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{Method, Uri};
use axum::middleware;
use axum::routing::get;
use tokio::net::TcpListener;

pub use auth::ApiAuth;
pub use error::{ApiError, ApiJson, ApiPath, ApiQuery};

use crate::node::NodeHandle;
use crate::services::NodeServices;

/// Largest request body accepted; larger ones get 413.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// What every handler can reach: the node's handle, the store and keys, and the token policy.
#[derive(Debug, Clone)]
pub struct ApiState {
    node: NodeHandle,
    services: Arc<NodeServices>,
    auth: Arc<ApiAuth>,
}

impl ApiState {
    /// State for a router talking to `node` and `services`, guarded by `auth`.
    pub fn new(node: NodeHandle, services: Arc<NodeServices>, auth: ApiAuth) -> Self {
        Self {
            node,
            services,
            auth: Arc::new(auth),
        }
    }
}

/// All routes of the API, with JSON errors, the body limit, the token check, request spans and
/// request counts.
pub fn router(state: ApiState) -> Router {
    let routes = Router::new()
        .route("/v1/status", get(status::get_status))
        .route("/v1/records", get(records::list).post(records::publish))
        .route("/v1/records/{id}", get(records::get_one))
        .route("/v1/records/{id}/raw", get(records::get_raw))
        .route("/v1/records/{id}/stix", get(stix::get_record_stix))
        .route("/v1/stix", get(stix::get_bundle))
        .route(
            "/v1/log/checkpoint",
            get(log::get_checkpoint).post(log::post_checkpoint),
        )
        .route("/v1/log/proof/inclusion", get(log::inclusion))
        .route("/v1/log/proof/consistency", get(log::consistency))
        .route("/v1/export", get(export::get_export))
        .route("/v1/forks", get(log::forks))
        .route("/metrics", get(metrics::get_metrics))
        .merge(peers::routes())
        .merge(taxii::routes());
    finish(routes, state)
}

/// Adds the fallbacks and layers every route shares.
fn finish(routes: Router<ApiState>, state: ApiState) -> Router {
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .layer(middleware::from_fn(trace::request_span))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::count_request,
        ))
        .with_state(state)
}

/// Runs blocking store work on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(|err| {
        tracing::error!(%err, "a blocking API task failed");
        ApiError::internal(
            "task_failed",
            "the node failed while answering: see its log",
        )
    })
}

/// Serves `router` on `listener` until `shutdown` completes, then lets open requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn not_found(
    State(state): State<ApiState>,
    method: Method,
    uri: Uri,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    if taxii::is_taxii_path(uri.path()) {
        return taxii::unrouted(&state, &headers, axum::http::StatusCode::NOT_FOUND);
    }
    ApiError::not_found(format!("no route for {method} {}", uri.path())).into_response()
}

async fn method_not_allowed(
    State(state): State<ApiState>,
    method: Method,
    uri: Uri,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    if taxii::is_taxii_path(uri.path()) {
        return taxii::unrouted(&state, &headers, axum::http::StatusCode::METHOD_NOT_ALLOWED);
    }
    ApiError::method_not_allowed(format!("{} does not accept {method}", uri.path())).into_response()
}

#[cfg(test)]
mod tests;
