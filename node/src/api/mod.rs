//! The HTTP API (axum): the only module that knows HTTP and JSON.
//!
//! - [`router`] builds the routes on an [`ApiState`]; [`serve`] runs them on an already-bound
//!   listener (so tests bind port 0) until a shutdown future completes.
//! - Every error a client can cause is a 4xx with a JSON body `{"error": {"code", "message"}}`
//!   ([`ApiError`]); unknown routes and methods included.
//! - Reads (GET, HEAD) are open on loopback; everything else, and everything when the API listens
//!   beyond loopback, needs `Authorization: Bearer <api.token>` ([`ApiAuth`]).
//! - [`client`] is the other side: what CLI commands use to talk to a running node.
//!
//! Routes: `GET /v1/status`; peers and roster ([`peers`]): `GET /v1/peers`,
//! `POST /v1/peers/{peer}/block`, `POST /v1/peers/{peer}/unblock`, `POST /v1/roster/reload`.

mod auth;
pub mod client;
mod error;
pub mod peers;
mod status;
mod trace;
pub mod wire;

use std::future::Future;
use std::io;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::middleware;
use axum::routing::get;
use tokio::net::TcpListener;

pub use auth::ApiAuth;
pub use error::{ApiError, ApiJson};

use crate::node::NodeHandle;

/// Largest request body accepted; larger ones get 413.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// What every handler can reach: the node's handle and the token policy.
#[derive(Debug, Clone)]
pub struct ApiState {
    node: NodeHandle,
    auth: Arc<ApiAuth>,
}

impl ApiState {
    /// State for a router talking to `node`, guarded by `auth`.
    pub fn new(node: NodeHandle, auth: ApiAuth) -> Self {
        Self {
            node,
            auth: Arc::new(auth),
        }
    }
}

/// All routes of the API, with JSON errors, the body limit, the token check and request spans.
pub fn router(state: ApiState) -> Router {
    let routes = Router::new()
        .route("/v1/status", get(status::get_status))
        .merge(peers::routes());
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
        .with_state(state)
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

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route for {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::method_not_allowed(format!("{} does not accept {method}", uri.path()))
}

#[cfg(test)]
mod tests;
