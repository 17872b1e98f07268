//! Running a loaded node: the store, the event loop, the checkpoint task and the API server as owned
//! tasks, and their ordered stop.
//!
//! Start: open the store at `D/store` (this takes its lock: a second node on the same directory stops
//! here), spawn the event loop and the checkpoint task, spawn the API on the already-bound listener,
//! write `api.addr`.
//! Stop (when `shutdown` completes): stop the API gracefully (bounded wait), stop the checkpoint task,
//! stop the loop, sign a last checkpoint if the log grew, flush the store, remove `api.addr`.
//! The Swarm's stop slots in after the API's when networking lands.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinError, JoinHandle};
use tokio::time::MissedTickBehavior;
use tracing::{error, info, warn};

use crate::api::serve::{Listener, TlsSetupError, tls_acceptor};
use crate::api::{self, AccessPolicy, ApiState};
use crate::datadir::DataDir;
use crate::datadir::fsutil;
use crate::datadir::load::LoadedNode;
use crate::membership::RosterCell;
use crate::metrics::Metrics;
use crate::net::NetError;
use crate::net::metrics::NetMetrics;
use crate::node::Node;
use crate::node::{NodeHandle, NodeSetup};
use crate::services::{CheckpointFailure, NodeServices};
use crate::store::{Store, StoreConfig, StoreError};

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

/// How long open API requests may take to finish after a stop is requested.
pub const API_GRACE: Duration = Duration::from_secs(10);

/// Why a running node stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The store could not be opened.
    #[error(
        "cannot open the store at {} (is another `certnet run` or `certnet import` using this data directory?)",
        .path.display()
    )]
    OpenStore {
        /// The store directory.
        path: PathBuf,
        /// The store error.
        source: StoreError,
    },
    /// The store failed to flush on the way out.
    #[error(
        "the store failed its final flush: records acknowledged before are safe, check the disk"
    )]
    Flush(#[source] StoreError),
    /// The node's own checkpoint key name was refused (a bug).
    #[error("cannot set up checkpoints")]
    Checkpoints(#[source] CheckpointFailure),
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
    /// HTTPS could not be set up from `[api] tls_cert` and `tls_key`.
    #[error("cannot serve HTTPS")]
    Tls(#[source] TlsSetupError),
    /// The HTTPS listener could not be bound.
    #[error("cannot listen for HTTPS on {addr} (change [api] tls_listen in config.toml)")]
    BindTls {
        /// The address.
        addr: std::net::SocketAddr,
        /// The I/O error.
        source: io::Error,
    },
    /// A task ended before it was asked to.
    #[error("the {0} stopped unexpectedly")]
    Stopped(&'static str),
    /// Networking could not start.
    #[error(transparent)]
    Network(#[from] NetError),
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

/// The store's directory inside a data directory.
pub fn store_path(dir: &DataDir) -> PathBuf {
    dir.root().join("store")
}

/// How a node opens its store.
pub fn store_config(node: &LoadedNode) -> StoreConfig {
    StoreConfig {
        path: store_path(node.data_dir()),
        cache_capacity: node.config().store().cache_capacity_bytes(),
        net: node.roster().network().as_str().to_owned(),
        max_orphans: node.config().store().max_orphans(),
        disk: node.config().store().disk_limits(),
    }
}

/// Opens the store for `node` (blocking: sled reads its log).
pub fn open_store(node: &LoadedNode) -> Result<Store, RunError> {
    let config = store_config(node);
    Store::open(&config).map_err(|source| RunError::OpenStore {
        path: config.path,
        source,
    })
}

/// Runs the node until `shutdown` completes, serving the API on `listener` (bound by the caller, so
/// tests can bind port 0). Writes the bound address to `api.addr` and removes it on the way out.
pub async fn run(
    node: LoadedNode,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let addr_files = [node.data_dir().api_addr(), node.data_dir().api_tls_addr()];
    let mut wrote_api_addr = false;
    let result = run_tasks(node, listener, shutdown, &mut wrote_api_addr).await;
    // Only our own: a node that failed to start (say, on a store another node holds) must not remove
    // the running node's api.addr.
    if wrote_api_addr {
        for file in addr_files {
            match std::fs::remove_file(&file) {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => {
                    warn!(path = %file.display(), %err, "cannot remove the API address file")
                }
            }
        }
    }
    result
}

async fn run_tasks(
    node: LoadedNode,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    wrote_api_addr: &mut bool,
) -> Result<(), RunError> {
    let addr = listener.local_addr().map_err(RunError::Listener)?;
    if !addr.ip().is_loopback() {
        warn!(%addr, "the API serves plain HTTP beyond loopback: credentials and records cross the network in clear; serve other hosts over HTTPS ([api] tls_listen) and keep [api] listen on loopback");
    }
    let mut listening = vec![addr];
    let mut listeners = vec![Listener::plain(listener)];
    let mut tls_addr = None;
    if let Some(tls) = node.config().api().tls() {
        let acceptor = tls_acceptor(tls.cert(), tls.key()).map_err(RunError::Tls)?;
        let tcp = TcpListener::bind(tls.listen())
            .await
            .map_err(|source| RunError::BindTls {
                addr: tls.listen(),
                source,
            })?;
        let bound = tcp.local_addr().map_err(RunError::Listener)?;
        listening.push(bound);
        listeners.push(Listener::tls(tcp, acceptor));
        tls_addr = Some(bound);
    }
    let access = AccessPolicy::new(
        node.config().api(),
        &listening,
        node.token().clone(),
        node.config().taxii().consumers().to_vec(),
    );

    let node = Arc::new(node);
    let opening = node.clone();
    let store = tokio::task::spawn_blocking(move || open_store(&opening))
        .await
        .map_err(|source| RunError::Panicked {
            task: "store",
            source,
        })??;
    info!(
        path = %store_path(node.data_dir()).display(),
        log_size = store.log_size(),
        "store open"
    );
    let metrics = Arc::new(Metrics::new());
    let roster = RosterCell::new(node.roster().clone());
    let services = Arc::new(
        NodeServices::new(
            Arc::new(store),
            roster.clone(),
            node.author().clone(),
            metrics.clone(),
        )
        .map_err(RunError::Checkpoints)?
        .with_encryption(node.encryption().to_vec())
        .with_duplicate_window(node.config().api().duplicate_window()),
    );

    // Networking: the event loop owns the Swarm; it shares the store and the roster cell.
    let net_metrics = NetMetrics::default();
    metrics.with_registry(|registry| net_metrics.register(registry));
    let setup = NodeSetup::from_loaded(&node, services.store().clone(), roster, net_metrics)?;
    let (handle, event_loop) = Node::start(setup)?;
    let _sighup = Owned(tokio::spawn(reload_on_sighup(handle.clone())));
    let (stop_loop, loop_stop) = oneshot::channel::<()>();
    let mut loop_task = Owned(tokio::spawn(event_loop.run(async {
        let _ = loop_stop.await;
    })));

    let (stop_checkpoints, checkpoints_stop) = oneshot::channel::<()>();
    let mut checkpoint_task = Owned(tokio::spawn(checkpoint_loop(
        services.clone(),
        node.config().store().checkpoint_interval(),
        checkpoints_stop,
    )));

    // Opens sealed records addressed to this node as they enter the log (any path).
    let (stop_follower, follower_stop) = oneshot::channel::<()>();
    let mut follower_task = Owned(tokio::spawn(crate::sealed::follower::follow(
        services.clone(),
        async {
            let _ = follower_stop.await;
        },
    )));

    let (stop_api, api_stop) = oneshot::channel::<()>();
    let router = api::router(ApiState::new(handle.clone(), services.clone(), access));
    let mut api_task = Owned(tokio::spawn(api::serve::serve(listeners, router, async {
        let _ = api_stop.await;
    })));

    *wrote_api_addr = true;
    for (path, bound) in [
        (node.data_dir().api_addr(), Some(addr)),
        (node.data_dir().api_tls_addr(), tls_addr),
    ] {
        if let Some(bound) = bound {
            fsutil::write_replace(&path, format!("{bound}\n").as_bytes(), 0o644)
                .map_err(|source| RunError::ApiAddr { path, source })?;
        }
    }
    match tls_addr {
        Some(https) => {
            info!(api = %addr, https = %https, data_dir = %node.data_dir().root().display(), "node running")
        }
        None => info!(api = %addr, data_dir = %node.data_dir().root().display(), "node running"),
    }

    tokio::select! {
        () = shutdown => info!("stop requested"),
        done = &mut api_task.0 => return Err(ended("API server", done.map(|r| r.err()))),
        done = &mut loop_task.0 => return Err(ended("event loop", done.map(|()| None))),
        done = &mut checkpoint_task.0 => {
            return Err(ended("checkpoint task", done.map(|()| None)));
        }
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

    let _ = stop_follower.send(());
    (&mut follower_task.0)
        .await
        .map_err(|source| RunError::Panicked {
            task: "sealed-record follower",
            source,
        })?;

    let _ = stop_checkpoints.send(());
    (&mut checkpoint_task.0)
        .await
        .map_err(|source| RunError::Panicked {
            task: "checkpoint task",
            source,
        })?;

    // The loop also ends when every handle is gone; keep ours until now so it stops on request.
    drop(handle);
    let _ = stop_loop.send(());
    (&mut loop_task.0)
        .await
        .map_err(|source| RunError::Panicked {
            task: "event loop",
            source,
        })?;

    let closing = services.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(err) = closing.checkpoint_if_grown() {
            error!(error = %err, "cannot sign the final checkpoint");
        }
        closing.store().flush()
    })
    .await
    .map_err(|source| RunError::Panicked {
        task: "store",
        source,
    })?
    .map_err(RunError::Flush)?;
    info!("store flushed");
    info!("node stopped");
    Ok(())
}

/// Every `interval`, signs a checkpoint if the log grew since the newest one, until `stop` fires.
async fn checkpoint_loop(
    services: Arc<NodeServices>,
    interval: Duration,
    mut stop: oneshot::Receiver<()>,
) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => break,
            _ = ticks.tick() => {
                let services = services.clone();
                match tokio::task::spawn_blocking(move || services.checkpoint_if_grown()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(err)) => error!(error = %err, "periodic checkpoint failed"),
                    Err(err) => error!(%err, "periodic checkpoint task failed"),
                }
            }
        }
    }
}

/// The error for a task that ended before it was told to; `failure` is its own error, if any.
fn ended(task: &'static str, done: Result<Option<io::Error>, JoinError>) -> RunError {
    match done {
        Ok(Some(err)) => RunError::Api(err),
        Ok(None) => RunError::Stopped(task),
        Err(source) => RunError::Panicked { task, source },
    }
}
