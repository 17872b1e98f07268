//! The HTTP API (axum): the only module that knows HTTP and JSON.
//!
//! - [`router`] builds the routes of [`route_table`] on an [`ApiState`]; [`serve::serve`] runs them
//!   on already-bound listeners (so tests bind port 0), plain or HTTPS, until a shutdown future
//!   completes.
//! - Every request passes the guard first ([`guard`]): its `Host` must be one of the node's names,
//!   a browser request must come from the node's own origin, and its credentials become a
//!   [`Principal`]. One rule ([`Principal::may`]) decides every read and write of every route.
//! - Every error a client can cause is a 4xx with a JSON body `{"error": {"code", "message"}}`
//!   ([`ApiError`]); unknown routes and methods included (`/taxii2/` answers in TAXII's format).
//! - Blocking work (store reads, exports, Argon2) runs on tokio's blocking pool under one semaphore
//!   ([`ApiState::blocking`]), never on the async workers. Every limit is in [`limits`].
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
//! | `GET /v1/records/stream` | the live stream: records as they are added (Server-Sent Events) |
//! | `GET /v1/records/{id}/stix` | the record's STIX 2.1 bundle: every version of its objects |
//! | `GET /v1/indicators/{value}` | live records reporting or sighting a value, who and when (`type=`) |
//! | `POST /v1/misp/events` | publish one MISP event as `certnet misp import` maps it; idempotent (node/MISP.md) |
//! | `POST /v1/misp/withdraw` | `{source, present}`: revoke the events imported from a feed that it no longer lists |
//! | `GET /v1/stix` | a STIX 2.1 bundle of the log, streamed (`tlp=`, `kind=` comma-separated filters) |
//! | `/taxii2/…` | TAXII 2.1, read-only ([`taxii`]) |
//! | `GET`, `POST /v1/log/checkpoint` | the newest signed checkpoint; sign one now (POST) |
//! | `GET /v1/log/proof/inclusion` | `id=` or `index=`, `size=` (default: newest checkpoint) |
//! | `GET /v1/log/proof/consistency` | `old=`, `new=` (default: newest checkpoint) |
//! | `GET /v1/export` | the export file (`application/cbor-seq`) at the newest checkpoint, streamed |
//! | `GET /v1/forks` | every equivocation proof held |
//! | `GET /metrics` | Prometheus (OpenMetrics) text |
//! | `GET /v1/peers`, `POST /v1/peers/{peer}/block`, `.../unblock` | peers; operator bans ([`peers`]) |
//! | `POST /v1/roster/reload` | reload roster.toml without a restart |
//! | `/ui/…` | the analyst's console: HTML pages, signed in with a session cookie ([`console`]) |

mod access;
mod body;
pub mod client;
mod console;
mod error;
mod export;
mod guard;
mod indicators;
pub mod limits;
mod log;
mod metrics;
mod misp;
pub mod misp_client;
pub mod peers;
mod principal;
mod records;
pub mod serve;
mod status;
mod stix;
mod stream;
pub mod taxii;
mod trace;
pub mod wire;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::middleware;
use axum::routing::{MethodRouter, get};
use tokio::sync::Semaphore;

pub use access::{AccessPolicy, ConnInfo, hash_password};
pub use error::{ApiError, ApiJson, ApiPath, ApiQuery};
pub use limits::MAX_BODY_BYTES;
pub use principal::{Action, Denied, Principal};

use crate::node::NodeHandle;
use crate::services::NodeServices;

/// What every handler can reach: the node's handle, the store and keys, the access policy, and the
/// permits that bound blocking work and live streams.
#[derive(Debug, Clone)]
pub struct ApiState {
    node: NodeHandle,
    services: Arc<NodeServices>,
    access: Arc<AccessPolicy>,
    blocking: Arc<Semaphore>,
    live: Arc<Semaphore>,
    console: Arc<console::Sessions>,
}

impl ApiState {
    /// State for a router talking to `node` and `services`, guarded by `access`.
    pub fn new(node: NodeHandle, services: Arc<NodeServices>, access: AccessPolicy) -> Self {
        Self {
            node,
            services,
            access: Arc::new(access),
            blocking: Arc::new(Semaphore::new(limits::BLOCKING_PERMITS)),
            live: Arc::new(Semaphore::new(limits::MAX_LIVE_STREAMS)),
            console: Arc::new(console::Sessions::default()),
        }
    }

    /// Runs blocking work on tokio's blocking pool once one of the API's blocking permits is free
    /// (waiting at most [`limits::BLOCKING_WAIT`], else 503). The permit is held until `work` ends,
    /// even if the request is dropped.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = self.blocking_permit().await?;
        tokio::task::spawn_blocking(move || {
            let result = work();
            drop(permit);
            result
        })
        .await
        .map_err(|err| {
            tracing::error!(%err, "a blocking API task failed");
            ApiError::internal(
                "task_failed",
                "the node failed while answering: see its log",
            )
        })
    }

    /// One blocking permit, for work that outlives a handler (streamed bodies).
    pub(crate) async fn blocking_permit(
        &self,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
        match tokio::time::timeout(limits::BLOCKING_WAIT, self.blocking.clone().acquire_owned())
            .await
        {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ApiError::busy(
                "the node is busy answering other requests: retry in a few seconds",
            )),
        }
    }
}

/// One route: its path, the methods it answers, and its handlers.
pub(crate) struct Route {
    path: &'static str,
    methods: &'static [Method],
    handler: MethodRouter<ApiState>,
}

impl Route {
    pub(crate) fn new(
        path: &'static str,
        methods: &'static [Method],
        handler: MethodRouter<ApiState>,
    ) -> Self {
        Self {
            path,
            methods,
            handler,
        }
    }
}

fn routes() -> Vec<Route> {
    use Method as M;
    let mut routes = vec![
        Route::new("/v1/status", &[M::GET], get(status::get_status)),
        Route::new(
            "/v1/records",
            &[M::GET, M::POST],
            get(records::list).post(records::publish),
        ),
        Route::new("/v1/records/stream", &[M::GET], get(stream::live)),
        Route::new("/v1/records/{id}", &[M::GET], get(records::get_one)),
        Route::new("/v1/records/{id}/raw", &[M::GET], get(records::get_raw)),
        Route::new(
            "/v1/records/{id}/stix",
            &[M::GET],
            get(stix::get_record_stix),
        ),
        Route::new("/v1/stix", &[M::GET], get(stix::get_bundle)),
        Route::new(
            "/v1/misp/events",
            &[M::POST],
            axum::routing::post(misp::import_event),
        ),
        Route::new(
            "/v1/misp/withdraw",
            &[M::POST],
            axum::routing::post(misp::withdraw),
        ),
        Route::new(
            "/v1/indicators/{*value}",
            &[M::GET],
            get(indicators::lookup),
        ),
        Route::new(
            "/v1/log/checkpoint",
            &[M::GET, M::POST],
            get(log::get_checkpoint).post(log::post_checkpoint),
        ),
        Route::new("/v1/log/proof/inclusion", &[M::GET], get(log::inclusion)),
        Route::new(
            "/v1/log/proof/consistency",
            &[M::GET],
            get(log::consistency),
        ),
        Route::new("/v1/export", &[M::GET], get(export::get_export)),
        Route::new("/v1/forks", &[M::GET], get(log::forks)),
        Route::new("/metrics", &[M::GET], get(metrics::get_metrics)),
    ];
    routes.extend(peers::routes());
    routes.extend(taxii::routes());
    routes.extend(console::routes());
    routes
}

/// Every route: path template and the methods it answers (for tests and documentation).
pub fn route_table() -> Vec<(&'static str, Vec<Method>)> {
    routes()
        .into_iter()
        .map(|r| (r.path, r.methods.to_vec()))
        .collect()
}

/// All routes of the API, with JSON errors, the body limit, the guard (host, origin, principal),
/// request spans and request counts.
pub fn router(state: ApiState) -> Router {
    let mut router = Router::new();
    for route in routes() {
        router = router.route(route.path, route.handler);
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), guard::guard))
        .layer(middleware::from_fn(console::security_headers))
        .layer(middleware::from_fn(trace::request_span))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::count_request,
        ))
        .with_state(state)
}

async fn not_found(method: Method, uri: Uri, principal: Principal) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    if taxii::is_taxii_path(uri.path()) {
        return taxii::unrouted(&principal, axum::http::StatusCode::NOT_FOUND);
    }
    ApiError::not_found(format!("no route for {method} {}", uri.path())).into_response()
}

async fn method_not_allowed(
    method: Method,
    uri: Uri,
    principal: Principal,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    if taxii::is_taxii_path(uri.path()) {
        return taxii::unrouted(&principal, axum::http::StatusCode::METHOD_NOT_ALLOWED);
    }
    ApiError::method_not_allowed(format!("{} does not accept {method}", uri.path())).into_response()
}

#[cfg(test)]
mod tests;
