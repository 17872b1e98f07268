//! The node's Prometheus metrics (`prometheus-client`), served as text by `GET /metrics`.
//!
//! [`Metrics`] owns the [`Registry`] and the metrics every part of the node updates. Subsystems that
//! come later (networking, sync) register their own metrics with [`Metrics::register`] or under a
//! prefix with [`Metrics::with_registry`]; everything ends up in the one text the API serves.
//!
//! Gauges that mirror the store (records in log, orphans, forks) are set from the store just before
//! each scrape ([`Metrics::observe_store`]), so they are never stale and nothing has to remember to
//! update them.

use std::fmt;
use std::sync::{Mutex, MutexGuard};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Metric, Registry};

/// Prefix of every metric name.
pub const PREFIX: &str = "certnet";

/// The content type of [`Metrics::encode`]'s output (OpenMetrics text, which Prometheus reads).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels of `certnet_api_requests_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ApiRequestLabels {
    /// The route template, such as `/v1/records/{id}`, or `unmatched`.
    pub route: String,
    /// The HTTP status code of the answer.
    pub status: u16,
}

/// The node's metrics and the registry that encodes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    records_published: Counter,
    records_in_log: Gauge,
    orphans: Gauge,
    forks: Gauge,
    checkpoints_made: Counter,
    api_requests: Family<ApiRequestLabels, Counter>,
    store_write_failures: Counter,
    disk_free: Gauge,
    disk_state: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every node metric registered at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix(PREFIX);
        let records_published = Counter::default();
        registry.register(
            "records_published",
            "Records this node signed and stored (API publishes)",
            records_published.clone(),
        );
        let records_in_log = Gauge::default();
        registry.register(
            "records_in_log",
            "Entries in the node's log (its Merkle tree size)",
            records_in_log.clone(),
        );
        let orphans = Gauge::default();
        registry.register(
            "orphans",
            "Records kept aside until their author's earlier records arrive",
            orphans.clone(),
        );
        let forks = Gauge::default();
        registry.register(
            "forks",
            "Authors frozen after signing two records at one seq (fork proofs held)",
            forks.clone(),
        );
        let checkpoints_made = Counter::default();
        registry.register(
            "checkpoints_made",
            "Signed checkpoints made by this node since it started",
            checkpoints_made.clone(),
        );
        let api_requests = Family::<ApiRequestLabels, Counter>::default();
        registry.register(
            "api_requests",
            "HTTP API requests answered, by route template and status",
            api_requests.clone(),
        );
        let store_write_failures = Counter::default();
        registry.register(
            "store_write_failures",
            "Store writes that failed (the store refuses writes after the first)",
            store_write_failures.clone(),
        );
        let disk_free = Gauge::default();
        registry.register(
            "disk_free_bytes",
            "Free bytes on the file system holding the store",
            disk_free.clone(),
        );
        let disk_state = Gauge::default();
        registry.register(
            "disk_state",
            "The store's disk: 0 ok, 1 below the watermark (records from peers refused), 2 below the floor (every write refused)",
            disk_state.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            disk_free,
            disk_state,
            records_published,
            records_in_log,
            orphans,
            forks,
            checkpoints_made,
            api_requests,
            store_write_failures,
        }
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        // Registering or encoding cannot leave the registry half-changed: recover from a poisoned lock.
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers another metric (for subsystems added later, such as networking). The name gets the
    /// `certnet_` prefix.
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.registry().register(name, help, metric);
    }

    /// Runs `f` on the registry, for sub-registries and collectors.
    pub fn with_registry<T>(&self, f: impl FnOnce(&mut Registry) -> T) -> T {
        f(&mut self.registry())
    }

    /// One more record published by this node.
    pub fn record_published(&self) {
        self.records_published.inc();
    }

    /// One more checkpoint signed.
    pub fn checkpoint_made(&self) {
        self.checkpoints_made.inc();
    }

    /// A store write failed.
    pub fn store_write_failed(&self) {
        self.store_write_failures.inc();
    }

    /// An API request on `route` was answered with `status`.
    pub fn api_request(&self, route: &str, status: u16) {
        self.api_requests
            .get_or_create(&ApiRequestLabels {
                route: route.to_owned(),
                status,
            })
            .inc();
    }

    /// Sets the gauges that mirror the store.
    pub fn observe_store(&self, log_size: u64, orphans: u64, forks: u64) {
        let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.records_in_log.set(clamp(log_size));
        self.orphans.set(clamp(orphans));
        self.forks.set(clamp(forks));
    }

    /// Sets the disk gauges: free bytes and state (0 ok, 1 low, 2 full).
    pub fn observe_disk(&self, free: u64, state: u8) {
        self.disk_free.set(i64::try_from(free).unwrap_or(i64::MAX));
        self.disk_state.set(i64::from(state));
    }

    /// The OpenMetrics text of every registered metric.
    pub fn encode(&self) -> Result<String, fmt::Error> {
        let mut out = String::new();
        encode(&mut out, &self.registry())?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_in_the_text() {
        let metrics = Metrics::new();
        metrics.record_published();
        metrics.checkpoint_made();
        metrics.store_write_failed();
        metrics.api_request("/v1/records", 201);
        metrics.observe_store(7, 2, 1);
        let extra = Counter::<u64>::default();
        metrics.register("peers_connected", "Peers", extra.clone());
        extra.inc();
        let text = metrics.encode().unwrap();
        for line in [
            "certnet_records_published_total 1",
            "certnet_records_in_log 7",
            "certnet_orphans 2",
            "certnet_forks 1",
            "certnet_checkpoints_made_total 1",
            "certnet_api_requests_total{route=\"/v1/records\",status=\"201\"} 1",
            "certnet_store_write_failures_total 1",
            "certnet_peers_connected_total 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
