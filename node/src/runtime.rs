//! Running a loaded node: the event loop and the API server as owned tasks, and their ordered stop.
//!
//! Start: spawn the event loop, spawn the API on the already-bound listener, write `api.addr`.
//! Stop (when `shutdown` completes): stop the API gracefully (bounded wait), then stop the loop,
//! then remove `api.addr`. The store's final flush and the Swarm's stop slot in between later.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinError, JoinHandle};
use tracing::{info, warn};

use crate::api::{self, ApiAuth, ApiState};
use crate::fsutil;
use crate::load::LoadedNode;
use crate::node::Node;
// ---- networking (wip-net) ----
use std::sync::Arc;

use crate::net::NetError;
use crate::net::metrics::NetMetrics;
use crate::node::{NodeHandle, NodeSetup};
use crate::roster_cell::RosterCell;
use crate::store::{Store, StoreConfig, StoreError};

/// Most records the store keeps while waiting for their predecessors.
pub const MAX_ORPHANS: u64 = 10_000;

/// Opens the store at `D/store` (blocking: sled reads its log).
pub fn open_store(node: &LoadedNode) -> Result<Store, RunError> {
    let path = node.data_dir().root().join("store");
    Store::open(&StoreConfig {
        path: path.clone(),
        cache_capacity: node.config().store().cache_capacity_bytes(),
        net: node.roster().network().as_str().to_owned(),
        max_orphans: MAX_ORPHANS,
    })
    .map_err(|source| RunError::OpenStore { path, source })
}

/// Reloads the roster on every SIGHUP until the task is dropped.
async fn reload_on_sighup(handle: NodeHandle) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "cannot listen for SIGHUP: reload the roster with `certnet roster reload`");
            return;
        }
    };
    while hangups.recv().await.is_some() {
        info!(signal = "SIGHUP", "reloading the roster");
        match handle.reload_roster().await {
            Ok(Ok(change)) => info!(
                members = change.members,
                added = change.added.len(),
                removed = change.removed.len(),
                "roster reloaded"
            ),
            Ok(Err(e)) => warn!(error = %e, "roster not reloaded"),
            Err(_) => return,
        }
    }
}
// ---- end networking ----

/// How long open API requests may take to finish after a stop is requested.
pub const API_GRACE: Duration = Duration::from_secs(10);

/// Why a running node stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The listener's address could not be read.
    #[error("cannot read the API listener's address")]
    Listener(#[source] io::Error),
    /// `api.addr` could not be written.
    #[error("cannot write {}", .path.display())]
    ApiAddr {
        /// The api.addr file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The API server failed.
    #[error("the HTTP API server failed")]
    Api(#[source] io::Error),
    /// A task ended before it was asked to.
    #[error("the {0} stopped unexpectedly")]
    Stopped(&'static str),
    // ---- networking (wip-net) ----
    /// The store could not be opened.
    #[error("cannot open the store at {}", .path.display())]
    OpenStore {
        /// The store directory.
        path: PathBuf,
        /// The store error.
        source: StoreError,
    },
    /// Networking could not start.
    #[error(transparent)]
    Network(#[from] NetError),
    // ---- end networking ----
    /// A task panicked.
    #[error("the {task} panicked")]
    Panicked {
        /// Which task.
        task: &'static str,
        /// The panic.
        source: JoinError,
    },
}

/// Aborts the task when dropped, so no task outlives an early return.
struct Owned<T>(JoinHandle<T>);

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs the node until `shutdown` completes, serving the API on `listener` (bound by the caller, so
/// tests can bind port 0). Writes the bound address to `api.addr` and removes it on the way out.
pub async fn run(
    node: LoadedNode,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let api_addr_file = node.data_dir().api_addr();
    let result = run_tasks(node, listener, shutdown).await;
    match std::fs::remove_file(&api_addr_file) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => warn!(path = %api_addr_file.display(), %err, "cannot remove api.addr"),
    }
    result
}

async fn run_tasks(
    node: LoadedNode,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let addr = listener.local_addr().map_err(RunError::Listener)?;
    let auth = ApiAuth::new(node.token().clone(), addr);
    if auth.reads_need_token() {
        warn!(%addr, "the API listens beyond loopback: every request needs the API token");
    }
    // ---- networking (wip-net): store, shared roster, Swarm, SIGHUP ----
    let node = Arc::new(node);
    let opening = node.clone();
    let store = tokio::task::spawn_blocking(move || open_store(&opening))
        .await
        .map_err(|source| RunError::Panicked {
            task: "store",
            source,
        })??;
    let setup = NodeSetup::from_loaded(
        &node,
        Arc::new(store),
        RosterCell::new(node.roster().clone()),
        NetMetrics::default(),
    )?;
    let (handle, event_loop) = Node::start(setup)?;
    let _sighup = Owned(tokio::spawn(reload_on_sighup(handle.clone())));
    // ---- end networking ----

    let (stop_loop, loop_stop) = oneshot::channel::<()>();
    let mut loop_task = Owned(tokio::spawn(event_loop.run(async {
        let _ = loop_stop.await;
    })));

    let (stop_api, api_stop) = oneshot::channel::<()>();
    let router = api::router(ApiState::new(handle.clone(), auth));
    let mut api_task = Owned(tokio::spawn(api::serve(listener, router, async {
        let _ = api_stop.await;
    })));

    let path = node.data_dir().api_addr();
    fsutil::write_replace(&path, format!("{addr}\n").as_bytes(), 0o644)
        .map_err(|source| RunError::ApiAddr { path, source })?;
    info!(api = %addr, data_dir = %node.data_dir().root().display(), "node running");

    tokio::select! {
        () = shutdown => info!("stop requested"),
        done = &mut api_task.0 => return Err(ended("API server", done.map(|r| r.err()))),
        done = &mut loop_task.0 => return Err(ended("event loop", done.map(|()| None))),
    }

    let _ = stop_api.send(());
    match tokio::time::timeout(API_GRACE, &mut api_task.0).await {
        Ok(Ok(Ok(()))) => info!("API stopped"),
        Ok(Ok(Err(err))) => warn!(%err, "API server failed while stopping"),
        Ok(Err(source)) => {
            return Err(RunError::Panicked {
                task: "API server",
                source,
            });
        }
        Err(_) => warn!(
            grace_secs = API_GRACE.as_secs(),
            "API requests still open after the grace period: closing them"
        ),
    }

    // The loop also ends when every handle is gone; keep ours until now so it stops on request.
    drop(handle);
    let _ = stop_loop.send(());
    (&mut loop_task.0)
        .await
        .map_err(|source| RunError::Panicked {
            task: "event loop",
            source,
        })?;
    info!("node stopped");
    Ok(())
}

/// The error for a task that ended before it was told to; `failure` is its own error, if any.
fn ended(task: &'static str, done: Result<Option<io::Error>, JoinError>) -> RunError {
    match done {
        Ok(Some(err)) => RunError::Api(err),
        Ok(None) => RunError::Stopped(task),
        Err(source) => RunError::Panicked { task, source },
    }
}
