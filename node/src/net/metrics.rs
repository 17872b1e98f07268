//! The network's Prometheus metrics (prometheus-client): records received, accepted, ignored and
//! rejected per path and reason, publish→receive latency, sync lag per member, peers, orphans, forks,
//! sync traffic and peer offences.
//!
//! [`NetMetrics`] is cheap to clone (every metric is shared); the event loop updates one clone and
//! [`NetMetrics::register`] adds the same metrics to the node's registry. Names are registered
//! without a prefix: the node's registry adds `certnet_`.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// How a record reached this node (label values `gossip`, `sync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Via {
    /// A gossipsub message.
    Gossip,
    /// A sync `Records` response.
    Sync,
}

impl Via {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Gossip => "gossip",
            Via::Sync => "sync",
        }
    }
}

impl EncodeLabelValue for Via {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

/// Labels: the path only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ViaLabels {
    /// How the record arrived.
    pub via: Via,
}

/// Labels: the path and a stable reason (`RecordError::reason` or `Outcome::label`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReasonLabels {
    /// How the record arrived.
    pub via: Via,
    /// Why it was rejected or ignored.
    pub reason: String,
}

/// Labels: one roster member.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct MemberLabels {
    /// The member's name in the roster.
    pub member: String,
}

/// Labels: a sync request kind and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct SyncLabels {
    /// `heads` or `range`.
    pub kind: &'static str,
    /// `ok`, `timeout`, `failed`, `invalid` (the peer broke the protocol), `refused` (inbound
    /// request dropped: the peer or the node was at its limit).
    pub result: &'static str,
}

/// Labels: why a peer was penalised.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct OffenceLabels {
    /// `invalid_record`, `protocol` (malformed or out-of-order sync data).
    pub kind: &'static str,
}

/// Labels: outcome of a gossip publish.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct PublishLabels {
    /// `sent`, `no_peers`, `duplicate`, `queues_full`, `failed`.
    pub result: &'static str,
}

/// Every network metric. Clones share the same underlying values.
#[derive(Debug, Clone)]
pub struct NetMetrics {
    /// Records received, per path (before any validation).
    pub records_received: Family<ViaLabels, Counter>,
    /// Records appended to the log, per path.
    pub records_accepted: Family<ViaLabels, Counter>,
    /// Records rejected as invalid, per path and `RecordError::reason`.
    pub records_rejected: Family<ReasonLabels, Counter>,
    /// Records ignored (duplicate, orphan, not a member, frozen author, ...), per path and outcome.
    pub records_ignored: Family<ReasonLabels, Counter>,
    /// Seconds from a record's `time` (author's clock) to its acceptance here, per path.
    pub record_latency: Family<ViaLabels, Histogram, fn() -> Histogram>,
    /// Accepted records whose `time` is ahead of this node's clock.
    pub records_ahead_of_clock: Counter,
    /// Records kept as orphans (a gap in their author's feed; sync fetches the rest).
    pub records_orphaned: Counter,
    /// Forks (equivocations) detected here.
    pub forks_detected: Counter,
    /// Per member: how many records the last peer compared holds beyond ours.
    pub sync_lag: Family<MemberLabels, Gauge>,
    /// Sync requests this node sent, per kind and result.
    pub sync_requests: Family<SyncLabels, Counter>,
    /// Sync requests this node served, per kind and result.
    pub sync_served: Family<SyncLabels, Counter>,
    /// Peers penalised for what they sent, per kind of offence.
    pub peer_offences: Family<OffenceLabels, Counter>,
    /// Peers connected now.
    pub peers_connected: Gauge,
    /// Connections refused (peer not on the roster, blocked, or a second connection).
    pub connections_denied: Counter,
    /// Gossip publishes of own records, per result.
    pub gossip_published: Family<PublishLabels, Counter>,
    /// Gossip messages dropped unvalidated because the ingest queue was full.
    pub gossip_dropped: Counter,
    /// Gossip messages ignored unvalidated because their author's gossip budget was spent.
    pub gossip_over_budget: Counter,
    /// Peers disconnected and refused for a while after repeated offences.
    pub peers_banned: Counter,
    /// Bytes of gossip waiting for validation.
    pub intake_bytes: Gauge,
    /// Sync requests of peers refused (budget spent or too many at once), by kind and reason.
    pub serve_refused: Family<SyncLabels, Counter>,
}

/// 10 ms to ~5800 s, doubling: from LAN gossip to a node catching up after a long outage.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.0, 20))
}

impl Default for NetMetrics {
    fn default() -> Self {
        Self {
            records_received: Family::default(),
            records_accepted: Family::default(),
            records_rejected: Family::default(),
            records_ignored: Family::default(),
            record_latency: Family::new_with_constructor(latency_histogram),
            records_ahead_of_clock: Counter::default(),
            records_orphaned: Counter::default(),
            forks_detected: Counter::default(),
            sync_lag: Family::default(),
            sync_requests: Family::default(),
            sync_served: Family::default(),
            peer_offences: Family::default(),
            peers_connected: Gauge::default(),
            connections_denied: Counter::default(),
            gossip_published: Family::default(),
            gossip_dropped: Counter::default(),
            gossip_over_budget: Counter::default(),
            peers_banned: Counter::default(),
            intake_bytes: Gauge::default(),
            serve_refused: Family::default(),
        }
    }
}

impl NetMetrics {
    /// Registers every network metric in `registry` (names without a prefix).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "peers_banned",
            "Peers disconnected and refused for a while after repeated offences",
            self.peers_banned.clone(),
        );
        registry.register(
            "intake_bytes",
            "Bytes of gossip waiting for validation",
            self.intake_bytes.clone(),
        );
        registry.register(
            "sync_serve_refused",
            "Sync requests of peers refused, by kind and reason (over_budget, busy)",
            self.serve_refused.clone(),
        );
        registry.register(
            "records_received",
            "Records received from peers, before validation, by path (gossip or sync)",
            self.records_received.clone(),
        );
        registry.register(
            "records_accepted",
            "Records from peers appended to the log, by path",
            self.records_accepted.clone(),
        );
        registry.register(
            "records_rejected",
            "Invalid records from peers (the sender is penalised), by path and reason",
            self.records_rejected.clone(),
        );
        registry.register(
            "records_ignored",
            "Valid records from peers not appended (duplicate, orphan, not_member, frozen, ...), by path and reason",
            self.records_ignored.clone(),
        );
        registry.register(
            "record_latency_seconds",
            "Time from a record's signing (its author's clock) to its acceptance on this node",
            self.record_latency.clone(),
        );
        registry.register(
            "records_ahead_of_clock",
            "Accepted records whose time is ahead of this node's clock",
            self.records_ahead_of_clock.clone(),
        );
        registry.register(
            "records_orphaned",
            "Records kept aside until the earlier records of their author arrive",
            self.records_orphaned.clone(),
        );
        registry.register(
            "forks_detected",
            "Equivocations (two records by one author at one seq) detected by this node",
            self.forks_detected.clone(),
        );
        registry.register(
            "sync_lag",
            "Records of a member the last compared peer holds beyond this node's head",
            self.sync_lag.clone(),
        );
        registry.register(
            "sync_requests",
            "Sync requests sent, by kind and result",
            self.sync_requests.clone(),
        );
        registry.register(
            "sync_served",
            "Sync requests answered for peers, by kind and result",
            self.sync_served.clone(),
        );
        registry.register(
            "peer_offences",
            "Invalid records or protocol violations received from peers, by kind",
            self.peer_offences.clone(),
        );
        registry.register(
            "peers_connected",
            "Peers connected now",
            self.peers_connected.clone(),
        );
        registry.register(
            "connections_denied",
            "Connections refused: peer not on the roster, blocked, or already connected",
            self.connections_denied.clone(),
        );
        registry.register(
            "gossip_published",
            "Gossip publishes of this node's own records, by result",
            self.gossip_published.clone(),
        );
        registry.register(
            "gossip_dropped",
            "Gossip messages dropped without validation because the ingest queue was full",
            self.gossip_dropped.clone(),
        );
        registry.register(
            "gossip_over_budget",
            "Gossip messages ignored without validation because their author's gossip budget was spent (sync fetches them)",
            self.gossip_over_budget.clone(),
        );
    }

    /// Counts a sync request this node sent.
    pub(crate) fn sync_request(&self, kind: &'static str, result: &'static str) {
        self.sync_requests
            .get_or_create(&SyncLabels { kind, result })
            .inc();
    }

    /// Counts a sync request this node served.
    pub(crate) fn sync_served(&self, kind: &'static str, result: &'static str) {
        self.sync_served
            .get_or_create(&SyncLabels { kind, result })
            .inc();
    }

    /// Counts an offence by a peer.
    pub(crate) fn offence(&self, kind: &'static str) {
        self.peer_offences
            .get_or_create(&OffenceLabels { kind })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::text::encode;

    use super::*;

    #[test]
    fn every_metric_is_exported_under_the_prefix() {
        let metrics = NetMetrics::default();
        let mut registry = Registry::with_prefix("certnet");
        metrics.register(&mut registry);
        metrics
            .records_rejected
            .get_or_create(&ReasonLabels {
                via: Via::Gossip,
                reason: "bad_signature".into(),
            })
            .inc();
        metrics
            .record_latency
            .get_or_create(&ViaLabels { via: Via::Sync })
            .observe(0.2);
        metrics.sync_request("heads", "ok");
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        for needle in [
            "certnet_records_rejected_total{via=\"gossip\",reason=\"bad_signature\"} 1",
            "certnet_record_latency_seconds_count{via=\"sync\"} 1",
            "certnet_sync_requests_total{kind=\"heads\",result=\"ok\"} 1",
            "# TYPE certnet_peers_connected gauge",
            "# TYPE certnet_forks_detected counter",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
    }
}
