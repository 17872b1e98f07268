//! The network state the event loop owns, and how it reacts to Swarm events, finished jobs, timer
//! ticks and commands.
//!
//! Every handler is short and never blocks: store work goes to blocking jobs ([`super::jobs`]) whose
//! results come back as events. After every event, [`Network::pump`] sends what the sync client has
//! ready and starts the next ingest batch if none is running (one at a time: the store has one
//! writer, and batching gossip messages that arrived meanwhile gives group commit for free).

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use certnet_protocol::keys::AuthorKey;
use certnet_protocol::sync::{SyncRequest, SyncResponse};
use futures::StreamExt as _;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, PublishError, TopicHash};
use libp2p::identity::Keypair;
use libp2p::request_response::{self, InboundFailure, OutboundFailure, ResponseChannel};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, DialError as SwarmDialError, ListenError, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, identify, kad, mdns, ping};
use tokio::sync::oneshot;
use tokio::task::{Id as TaskId, JoinError, JoinSet};
use tracing::{debug, error, info, warn};

use super::behaviour::{Behaviour, BehaviourEvent, build_swarm, kad_protocol};
use super::jobs::{self, Batch, Facts, Gap, GossipItem, Ingested, JobDone, SyncPage};
use super::metrics::{MemberLabels, NetMetrics, ReasonLabels, Via, ViaLabels};
use super::peers::PeerTable;
use super::reports::{
    AnnounceOutcome, DialError, PeerInfo, PeersSnapshot, RosterChange, RosterReloadError,
};
use super::sync::{SyncClient, Want};
use super::{NetConfig, NetError, blocklist, gossip};
use crate::ingest::Outcome;
use crate::membership::RosterCell;
use crate::membership::{MemberName, NetworkId, Roster};
use crate::store::{Ingest, Store};

/// Gossip messages waiting for validation; beyond this they are ignored (sync delivers them).
const MAX_GOSSIP_QUEUE: usize = 4096;
/// Most gossip messages in one ingest batch.
const MAX_GOSSIP_BATCH: usize = 512;
/// Sync requests served at once for one peer; more are refused.
const MAX_SERVING_PER_PEER: usize = 4;
/// Sync requests served at once, all peers together.
const MAX_SERVING: usize = 16;
/// Peers with this many recent offences are no longer asked for records.
const SYNC_TRUST_LIMIT: u32 = 3;
/// Every this often, each peer's offence count drops by one.
const FORGIVE_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Timer resolution of the loop (re-dials, sync rounds).
const TICK: Duration = Duration::from_secs(1);
/// Most listen addresses kept (and given to Kademlia) per peer.
const MAX_PEER_ADDRS: usize = 16;
/// Most random extra delay added to a re-dial.
const REDIAL_JITTER: Duration = Duration::from_secs(2);

/// What the loop waits for on the network's side.
#[derive(Debug)]
pub(crate) enum NetEvent {
    /// Something happened in the Swarm.
    Swarm(Box<SwarmEvent<BehaviourEvent>>),
    /// A blocking job ended.
    Job(Result<(TaskId, JobDone), JoinError>),
    /// The timer fired.
    Tick(Instant),
}

/// What a running job is for, so its slot is released even if it panics.
#[derive(Debug, Clone, Copy)]
enum JobKind {
    IngestGossip,
    IngestSync { peer: PeerId, author: AuthorKey },
    Serve { peer: PeerId },
    Compare,
    Roster,
    BlockList,
}

/// The next network event; never completes when networking is off.
pub(crate) async fn next_event(net: Option<&mut Network>) -> NetEvent {
    match net {
        Some(net) => net.next().await,
        None => std::future::pending().await,
    }
}

/// The Swarm and everything the node knows about the network.
pub(crate) struct Network {
    swarm: Swarm<Behaviour>,
    jobs: JoinSet<JobDone>,
    running: HashMap<TaskId, JobKind>,
    tick: tokio::time::Interval,
    store: Arc<Store>,
    roster: RosterCell,
    net: NetworkId,
    topic: IdentTopic,
    topic_hash: TopicHash,
    kad_protocol: StreamProtocol,
    config: NetConfig,
    metrics: NetMetrics,
    peers: PeerTable,
    sync: SyncClient,
    gossip_queue: VecDeque<GossipItem>,
    sync_pages: VecDeque<SyncPage>,
    ingesting: bool,
    serving: HashMap<PeerId, usize>,
    serving_total: usize,
    blocked: BTreeSet<PeerId>,
    block_list_saving: bool,
    block_list_dirty: bool,
    dials: HashMap<ConnectionId, oneshot::Sender<Result<PeerId, DialError>>>,
    listen_addrs: Vec<Multiaddr>,
    next_sync_round: Instant,
    next_forgive: Instant,
    /// The highest seq any peer announced in a Heads answer, per roster member's author key
    /// (members only, so it stays as small as the roster).
    peer_heads: HashMap<AuthorKey, u64>,
    /// Heads answers received since start.
    heads_answers: u64,
}

/// What peers have said about one author's feed (for the own-feed check before a first publish).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeerHeadView {
    /// Heads answers received from any peer since start.
    pub answers: u64,
    /// The highest seq of the author any peer announced, if any did.
    pub seq: Option<u64>,
    /// Peers connected now.
    pub connected: usize,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("local_peer_id", self.swarm.local_peer_id())
            .field("net", &self.net)
            .field("peers", &self.peers.len())
            .finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// An error and its sources, `: `-separated (libp2p's transport errors often print empty).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(e) = source {
        parts.push(e.to_string());
        source = e.source();
    }
    parts.retain(|p| !p.is_empty());
    parts.dedup();
    if parts.is_empty() {
        format!("{err:?}")
    } else {
        parts.join(": ")
    }
}

/// A random duration in `[0, max)`.
fn jitter(max: Duration) -> Duration {
    let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX).max(1);
    Duration::from_nanos(getrandom::u64().unwrap_or(0) % nanos)
}

/// Every PeerId the roster allows.
fn allowed_peers(roster: &Roster) -> HashSet<PeerId> {
    roster
        .members()
        .iter()
        .flat_map(|m| m.peer_ids().iter().copied())
        .collect()
}

/// The roster's bootstrap addresses that parse; the others are logged once per load.
fn member_addrs(roster: &Roster, warn_bad: bool) -> Vec<(PeerId, Vec<Multiaddr>)> {
    let mut out = Vec::new();
    for member in roster.members() {
        let addrs: Vec<Multiaddr> = member
            .addrs()
            .iter()
            .filter_map(|text| match text.parse::<Multiaddr>() {
                Ok(addr) => Some(addr),
                Err(e) => {
                    if warn_bad {
                        warn!(member = %member.name(), addr = %text, error = %e, "roster address is not a valid multiaddr: ignored (fix it in roster.toml)");
                    }
                    None
                }
            })
            .collect();
        for peer in member.peer_ids() {
            out.push((*peer, addrs.clone()));
        }
    }
    out
}

impl Network {
    /// Builds the Swarm, applies the roster and block list, subscribes, and starts listening.
    pub(crate) fn new(
        key: Keypair,
        store: Arc<Store>,
        roster: RosterCell,
        config: NetConfig,
        metrics: NetMetrics,
    ) -> Result<Self, NetError> {
        let snapshot = roster.get();
        let net = snapshot.network().clone();
        let blocked = match &config.block_list {
            Some(path) => blocklist::load(path)?,
            None => BTreeSet::new(),
        };
        let mut swarm = build_swarm(key, &net, &config)?;
        let local = *swarm.local_peer_id();
        let topic = gossip::topic(&net);
        let behaviour = swarm.behaviour_mut();
        for peer in allowed_peers(&snapshot) {
            behaviour.allowed.allow_peer(peer);
        }
        for peer in &blocked {
            behaviour.blocked.block_peer(*peer);
        }
        behaviour
            .gossipsub
            .subscribe(&topic)
            .map_err(|e| NetError::Build(format!("gossip subscription: {e}")))?;
        for (peer, addrs) in member_addrs(&snapshot, true) {
            if peer != local {
                for addr in addrs {
                    behaviour.kad.add_address(&peer, addr);
                }
            }
        }
        for addr in &config.listen {
            swarm
                .listen_on(addr.clone())
                .map_err(|e| NetError::Listen {
                    addr: addr.clone(),
                    reason: error_chain(&e),
                })?;
        }
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let now = Instant::now();
        Ok(Self {
            swarm,
            jobs: JoinSet::new(),
            running: HashMap::new(),
            tick,
            store,
            roster,
            topic_hash: topic.hash(),
            topic,
            kad_protocol: kad_protocol(&net)?,
            net,
            next_sync_round: now + config.sync_interval,
            config,
            metrics,
            peers: PeerTable::default(),
            sync: SyncClient::default(),
            gossip_queue: VecDeque::new(),
            sync_pages: VecDeque::new(),
            ingesting: false,
            serving: HashMap::new(),
            serving_total: 0,
            blocked,
            block_list_saving: false,
            block_list_dirty: false,
            dials: HashMap::new(),
            listen_addrs: Vec::new(),
            next_forgive: now + FORGIVE_INTERVAL,
            peer_heads: HashMap::new(),
            heads_answers: 0,
        })
    }

    /// Waits for the next Swarm event, finished job or tick. Cancel-safe.
    async fn next(&mut self) -> NetEvent {
        tokio::select! {
            biased;
            Some(done) = self.jobs.join_next_with_id(), if !self.jobs.is_empty() => NetEvent::Job(done),
            event = self.swarm.select_next_some() => NetEvent::Swarm(Box::new(event)),
            now = self.tick.tick() => NetEvent::Tick(now.into_std()),
        }
    }

    /// Handles one event, then sends and starts whatever became possible.
    pub(crate) fn handle(&mut self, event: NetEvent) {
        match event {
            NetEvent::Swarm(event) => self.on_swarm(*event),
            NetEvent::Job(done) => self.on_job(done),
            NetEvent::Tick(now) => self.on_tick(now),
        }
        self.pump();
    }

    /// Waits for running store jobs to finish (blocking jobs cannot be cut short).
    pub(crate) async fn shutdown(&mut self) {
        self.jobs.shutdown().await;
        self.running.clear();
    }

    fn spawn(&mut self, kind: JobKind, job: impl FnOnce() -> JobDone + Send + 'static) {
        let handle = self.jobs.spawn_blocking(job);
        self.running.insert(handle.id(), kind);
    }

    // ---- commands ----

    /// Publishes one of this node's records, already durably stored.
    pub(crate) fn announce(&mut self, bytes: Vec<u8>) -> AnnounceOutcome {
        let result = self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(self.topic.clone(), bytes);
        let outcome = match result {
            Ok(_) => AnnounceOutcome::Sent,
            Err(PublishError::NoPeersSubscribedToTopic) => AnnounceOutcome::NoPeers,
            Err(PublishError::Duplicate) => AnnounceOutcome::Duplicate,
            Err(PublishError::AllQueuesFull(_)) => AnnounceOutcome::QueuesFull,
            Err(e) => AnnounceOutcome::Failed(e.to_string()),
        };
        match &outcome {
            AnnounceOutcome::Failed(e) => {
                error!(error = %e, "gossip refused one of this node's records: peers will get it by sync")
            }
            other => debug!(result = other.label(), "own record announced"),
        }
        self.metrics
            .gossip_published
            .get_or_create(&super::metrics::PublishLabels {
                result: outcome.label(),
            })
            .inc();
        outcome
    }

    /// Connected peers, listen addresses and the block list.
    /// What peers have announced of `author`'s feed so far.
    pub(crate) fn peer_head(&self, author: &AuthorKey) -> PeerHeadView {
        PeerHeadView {
            answers: self.heads_answers,
            seq: self.peer_heads.get(author).copied(),
            connected: self.swarm.connected_peers().count(),
        }
    }

    pub(crate) fn peers(&self) -> PeersSnapshot {
        let roster = self.roster.get();
        let gossipsub = &self.swarm.behaviour().gossipsub;
        let subscribed: HashSet<PeerId> = gossipsub
            .all_peers()
            .filter(|(_, topics)| topics.contains(&&self.topic_hash))
            .map(|(peer, _)| *peer)
            .collect();
        let mut peers: Vec<PeerInfo> = self
            .peers
            .iter()
            .map(|(peer, c)| {
                let mut addrs = vec![c.remote.clone()];
                for addr in &c.listen {
                    if !addrs.contains(addr) {
                        addrs.push(addr.clone());
                    }
                }
                PeerInfo {
                    peer_id: *peer,
                    member: roster.member_by_peer(peer).map(|m| m.name().clone()),
                    addrs,
                    connected_since: c.since,
                    outbound: c.outbound,
                    ping: c.rtt,
                    subscribed: subscribed.contains(peer),
                    gossip_score: gossipsub.peer_score(peer),
                    offences: self.peers.offences(peer),
                }
            })
            .collect();
        peers.sort_by(|a, b| (&a.member, a.peer_id).cmp(&(&b.member, b.peer_id)));
        PeersSnapshot {
            local_peer_id: *self.swarm.local_peer_id(),
            listen_addrs: self.listen_addrs.clone(),
            peers,
            blocked: self.blocked.iter().copied().collect(),
        }
    }

    /// Blocks `peer`: closes its connection and refuses it from now on. Returns whether it was new.
    pub(crate) fn block(&mut self, peer: PeerId) -> bool {
        let new = self.blocked.insert(peer);
        self.swarm.behaviour_mut().blocked.block_peer(peer);
        self.sync.peer_gone(&peer);
        if new {
            info!(peer = %peer, "peer blocked by the operator");
            self.save_block_list();
        }
        new
    }

    /// Unblocks `peer`; members are dialed again at once. Returns whether it was blocked.
    pub(crate) fn unblock(&mut self, peer: PeerId) -> bool {
        let was = self.blocked.remove(&peer);
        self.swarm.behaviour_mut().blocked.unblock_peer(peer);
        if was {
            info!(peer = %peer, "peer unblocked by the operator");
            self.peers.redial_now(&peer);
            self.save_block_list();
        }
        was
    }

    fn save_block_list(&mut self) {
        let Some(path) = self.config.block_list.clone() else {
            return;
        };
        if self.block_list_saving {
            self.block_list_dirty = true;
            return;
        }
        self.block_list_saving = true;
        self.block_list_dirty = false;
        let peers = self.blocked.clone();
        self.spawn(JobKind::BlockList, move || {
            jobs::save_block_list(path, peers)
        });
    }

    /// Re-reads roster.toml off the loop; the answer goes to `reply` (or the log) once applied.
    pub(crate) fn reload_roster(
        &mut self,
        reply: Option<oneshot::Sender<Result<RosterChange, RosterReloadError>>>,
    ) {
        let Some(path) = self.config.roster_file.clone() else {
            if let Some(reply) = reply {
                let _ = reply.send(Err(RosterReloadError::NoFile));
            }
            return;
        };
        self.spawn(JobKind::Roster, move || jobs::load_roster(path, reply));
    }

    /// Dials `addr`; the answer comes when a connection is up or the dial failed.
    pub(crate) fn dial(
        &mut self,
        addr: Multiaddr,
        reply: oneshot::Sender<Result<PeerId, DialError>>,
    ) {
        let opts = DialOpts::unknown_peer_id().address(addr).build();
        let id = opts.connection_id();
        match self.swarm.dial(opts) {
            Ok(()) => {
                self.dials.insert(id, reply);
            }
            Err(e) => {
                let _ = reply.send(Err(DialError(e.to_string())));
            }
        }
    }

    // ---- swarm events ----

    fn on_swarm(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(event) => self.on_behaviour(event),
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => {
                if num_established.get() == 1 {
                    self.on_connected(
                        peer_id,
                        endpoint.get_remote_address().clone(),
                        endpoint.is_dialer(),
                    );
                }
                if let Some(reply) = self.dials.remove(&connection_id) {
                    let _ = reply.send(Ok(peer_id));
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                cause,
                ..
            } => self.on_disconnected(peer_id, cause.map(|e| e.to_string())),
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => {
                if matches!(error, SwarmDialError::Denied { .. }) {
                    self.metrics.connections_denied.inc();
                }
                debug!(peer = ?peer_id, error = %error, "dial failed");
                if let Some(reply) = self.dials.remove(&connection_id) {
                    let _ = reply.send(Err(DialError(error.to_string())));
                }
            }
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error,
                peer_id,
                ..
            } => {
                if let ListenError::Denied { cause } = &error {
                    self.metrics.connections_denied.inc();
                    info!(peer = ?peer_id, addr = %send_back_addr, cause = %cause, "incoming connection refused");
                } else {
                    debug!(addr = %send_back_addr, error = %error, "incoming connection failed");
                }
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                info!(addr = %address, "listening");
                self.listen_addrs.push(address);
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen_addrs.retain(|a| *a != address);
            }
            SwarmEvent::ListenerError { error, .. } => {
                warn!(error = %error, "a listener failed");
            }
            SwarmEvent::ListenerClosed {
                addresses, reason, ..
            } => {
                if let Err(e) = reason {
                    error!(addrs = ?addresses, error = %e, "a listener closed: peers cannot dial these addresses any more");
                }
                self.listen_addrs.retain(|a| !addresses.contains(a));
            }
            _ => {}
        }
    }

    fn member_name(&self, peer: &PeerId) -> Option<String> {
        self.roster
            .get()
            .member_by_peer(peer)
            .map(|m| m.name().to_string())
    }

    fn on_connected(&mut self, peer: PeerId, remote: Multiaddr, outbound: bool) {
        self.peers.connected(peer, remote.clone(), outbound);
        self.metrics.peers_connected.set(self.peers.len() as i64);
        let member = self.member_name(&peer);
        info!(peer = %peer, member = member.as_deref().unwrap_or("-"), addr = %remote, outbound, "peer connected");
        let score = gossip::member_score(self.peers.offences(&peer));
        let behaviour = self.swarm.behaviour_mut();
        behaviour.gossipsub.set_application_score(&peer, score);
        if outbound {
            behaviour.kad.add_address(&peer, remote);
        }
        // Catch up with every new peer (PROTOCOL.md §13: on every new connection).
        self.sync.want_heads(peer);
    }

    fn on_disconnected(&mut self, peer: PeerId, cause: Option<String>) {
        if self.peers.disconnected(&peer, Instant::now()) {
            self.sync.peer_gone(&peer);
            self.metrics.peers_connected.set(self.peers.len() as i64);
            let member = self.member_name(&peer);
            info!(peer = %peer, member = member.as_deref().unwrap_or("-"), cause = cause.as_deref().unwrap_or("closed"), "peer disconnected");
        }
    }

    fn on_behaviour(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Gossipsub(event) => self.on_gossip(event),
            BehaviourEvent::Sync(event) => self.on_sync(event),
            BehaviourEvent::Identify(identify::Event::Received {
                peer_id, mut info, ..
            }) => {
                info.listen_addrs.truncate(MAX_PEER_ADDRS);
                if info.protocols.contains(&self.kad_protocol) {
                    for addr in &info.listen_addrs {
                        self.swarm
                            .behaviour_mut()
                            .kad
                            .add_address(&peer_id, addr.clone());
                    }
                }
                self.peers.set_listen(&peer_id, info.listen_addrs);
            }
            BehaviourEvent::Ping(ping::Event {
                peer,
                result: Ok(rtt),
                ..
            }) => self.peers.set_rtt(&peer, rtt),
            BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                result: kad::QueryResult::GetClosestPeers(Ok(found)),
                ..
            }) => {
                let roster = self.roster.get();
                for info in found.peers {
                    if roster.member_by_peer(&info.peer_id).is_some()
                        && !self.peers.is_connected(&info.peer_id)
                        && !info.addrs.is_empty()
                    {
                        debug!(peer = %info.peer_id, "found a member's addresses in the DHT");
                        self.dial_member(info.peer_id, info.addrs, Instant::now());
                    }
                }
            }
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                let roster = self.roster.get();
                for (peer, addr) in found {
                    if roster.member_by_peer(&peer).is_some() {
                        self.swarm
                            .behaviour_mut()
                            .kad
                            .add_address(&peer, addr.clone());
                        if !self.peers.is_connected(&peer) {
                            self.dial_member(peer, vec![addr], Instant::now());
                        }
                    }
                }
            }
            _ => {}
        }
    }

    // ---- gossip ----

    fn on_gossip(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => {
                self.metrics
                    .records_received
                    .get_or_create(&ViaLabels { via: Via::Gossip })
                    .inc();
                let full = self.gossip_queue.len() >= MAX_GOSSIP_QUEUE;
                if message.topic != self.topic_hash || full {
                    if full {
                        self.metrics.gossip_dropped.inc();
                        debug!(peer = %propagation_source, "gossip queue full: message ignored (sync delivers it)");
                    }
                    self.swarm
                        .behaviour_mut()
                        .gossipsub
                        .report_message_validation_result(
                            &message_id,
                            &propagation_source,
                            MessageAcceptance::Ignore,
                        );
                    return;
                }
                self.gossip_queue.push_back(GossipItem {
                    id: message_id,
                    source: propagation_source,
                    data: message.data,
                });
            }
            gossipsub::Event::Subscribed { peer_id, .. } => {
                debug!(peer = %peer_id, "peer subscribed to records");
            }
            gossipsub::Event::GossipsubNotSupported { peer_id } => {
                warn!(peer = %peer_id, "peer does not speak gossipsub: it gets records by sync only");
            }
            _ => {}
        }
    }

    // ---- sync ----

    fn on_sync(&mut self, event: request_response::Event<SyncRequest, SyncResponse>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => self.serve(peer, request, channel),
                request_response::Message::Response {
                    request_id,
                    response,
                } => self.on_response(request_id, response),
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                let Some((_, want)) = self.sync.failed(&request_id) else {
                    return;
                };
                let result = match &error {
                    OutboundFailure::Timeout => "timeout",
                    OutboundFailure::Io(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                        "invalid"
                    }
                    _ => "failed",
                };
                self.metrics.sync_request(want.kind(), result);
                if result == "invalid" {
                    self.offend(peer, "protocol", &error.to_string());
                } else {
                    debug!(peer = %peer, kind = want.kind(), error = %error, "sync request failed");
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => match &error {
                InboundFailure::Io(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    self.offend(peer, "protocol", &error.to_string());
                }
                _ => debug!(peer = %peer, error = %error, "serving a sync request failed"),
            },
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn serve(
        &mut self,
        peer: PeerId,
        request: SyncRequest,
        channel: ResponseChannel<SyncResponse>,
    ) {
        let kind = match request {
            SyncRequest::Heads => "heads",
            SyncRequest::Range { .. } => "range",
        };
        let busy = self.serving.get(&peer).copied().unwrap_or(0);
        if busy >= MAX_SERVING_PER_PEER || self.serving_total >= MAX_SERVING {
            // Dropping the channel tells the peer; it asks again later.
            self.metrics.sync_served(kind, "refused");
            debug!(peer = %peer, kind, "sync request refused: too many in progress");
            return;
        }
        *self.serving.entry(peer).or_default() += 1;
        self.serving_total += 1;
        let store = self.store.clone();
        self.spawn(JobKind::Serve { peer }, move || {
            jobs::serve(&store, peer, request, channel)
        });
    }

    fn on_response(&mut self, id: request_response::OutboundRequestId, response: SyncResponse) {
        let Some((peer, want)) = self.sync.answered(&id) else {
            return;
        };
        match (want, response) {
            (Want::Heads, SyncResponse::Heads(heads)) => {
                self.sync.finished(peer);
                self.metrics.sync_request("heads", "ok");
                let store = self.store.clone();
                let roster = self.roster.get();
                self.heads_answers += 1;
                for head in heads
                    .iter()
                    .filter(|h| roster.member_by_author(&h.author).is_some())
                {
                    let seen = self.peer_heads.entry(head.author).or_default();
                    *seen = (*seen).max(head.seq);
                }
                self.spawn(JobKind::Compare, move || {
                    jobs::compare(&store, &roster, peer, heads)
                });
            }
            (
                Want::Range {
                    author,
                    from_seq,
                    target,
                },
                SyncResponse::Records(records),
            ) => {
                self.metrics.sync_request("range", "ok");
                self.metrics
                    .records_received
                    .get_or_create(&ViaLabels { via: Via::Sync })
                    .inc_by(records.len() as u64);
                // The slot stays taken until the page is ingested: memory stays bounded.
                self.sync_pages.push_back(SyncPage {
                    peer,
                    author,
                    from_seq,
                    target,
                    records,
                });
            }
            (want, _) => {
                self.sync.finished(peer);
                if let Want::Range { author, .. } = &want {
                    self.sync.release(peer, author);
                }
                self.metrics.sync_request(want.kind(), "invalid");
                self.offend(
                    peer,
                    "protocol",
                    &format!("answered a {} request with the wrong message", want.kind()),
                );
            }
        }
    }

    fn on_compared(&mut self, peer: PeerId, gaps: Vec<Gap>) {
        let trusted = self.peers.offences(&peer) < SYNC_TRUST_LIMIT;
        for gap in gaps {
            let lag = gap.theirs.saturating_sub(gap.ours);
            self.metrics
                .sync_lag
                .get_or_create(&MemberLabels {
                    member: gap.member.to_string(),
                })
                .set(i64::try_from(lag).unwrap_or(i64::MAX));
            if !trusted || !self.peers.is_connected(&peer) {
                continue;
            }
            if gap.theirs > gap.ours {
                debug!(peer = %peer, member = %gap.member, ours = gap.ours, theirs = gap.theirs, "peer is ahead: fetching");
                self.sync
                    .want_range(peer, gap.author, gap.ours + 1, Some(gap.theirs));
            } else if gap.conflict {
                warn!(peer = %peer, member = %gap.member, seq = gap.ours, "peer holds a different record at our head seq: fetching it to check for a fork");
                self.sync
                    .want_range(peer, gap.author, gap.ours, Some(gap.ours));
            }
        }
    }

    /// Counts an offence against `peer` and lowers its application score.
    fn offend(&mut self, peer: PeerId, kind: &'static str, detail: &str) {
        let count = self.peers.offend(peer);
        self.metrics.offence(kind);
        let member = self.member_name(&peer);
        warn!(peer = %peer, member = member.as_deref().unwrap_or("-"), kind, offences = count, detail, "peer sent invalid sync data: penalised");
        self.swarm
            .behaviour_mut()
            .gossipsub
            .set_application_score(&peer, gossip::member_score(count));
    }

    // ---- jobs ----

    fn on_job(&mut self, done: Result<(TaskId, JobDone), JoinError>) {
        let (id, done) = match done {
            Ok(done) => done,
            Err(e) => {
                let kind = self.running.remove(&e.id());
                error!(job = ?kind, error = %e, "a store job failed");
                if let Some(kind) = kind {
                    self.release_job(kind, true);
                }
                return;
            }
        };
        if let Some(kind) = self.running.remove(&id) {
            self.release_job(kind, false);
        }
        match done {
            JobDone::Ingest { batch, result } => self.on_ingested(batch, result),
            JobDone::Served {
                peer,
                kind,
                channel,
                result,
            } => match result {
                Ok(response) => {
                    let sent = self
                        .swarm
                        .behaviour_mut()
                        .sync
                        .send_response(channel, response)
                        .is_ok();
                    self.metrics
                        .sync_served(kind, if sent { "ok" } else { "failed" });
                }
                Err(e) => {
                    self.metrics.sync_served(kind, "failed");
                    error!(peer = %peer, error = %e, "cannot read the store to answer a sync request");
                }
            },
            JobDone::Compared { peer, gaps } => self.on_compared(peer, gaps),
            JobDone::RosterLoaded { result, reply } => {
                let outcome = result
                    .map_err(RosterReloadError::from)
                    .and_then(|roster| self.apply_roster(roster));
                if let Err(e) = &outcome {
                    warn!(error = %e, "roster not reloaded: the running roster stays");
                }
                if let Some(reply) = reply {
                    let _ = reply.send(outcome);
                }
            }
            JobDone::BlockListSaved { path, result } => {
                if let Err(e) = result {
                    error!(path = %path.display(), error = %e, "cannot save the block list: blocks last until restart");
                }
                if self.block_list_dirty {
                    self.save_block_list();
                }
            }
        }
    }

    /// Frees what a job held. `lost`: it panicked, so its result will not come.
    fn release_job(&mut self, kind: JobKind, lost: bool) {
        match kind {
            JobKind::IngestGossip => self.ingesting = false,
            JobKind::IngestSync { peer, author } => {
                self.ingesting = false;
                if lost {
                    self.sync.finished(peer);
                    self.sync.release(peer, &author);
                }
            }
            JobKind::Serve { peer } => {
                self.serving_total = self.serving_total.saturating_sub(1);
                if let Some(n) = self.serving.get_mut(&peer) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.serving.remove(&peer);
                    }
                }
            }
            JobKind::BlockList => self.block_list_saving = false,
            JobKind::Compare | JobKind::Roster => {}
        }
    }

    fn on_ingested(&mut self, batch: Batch, result: Ingested) {
        match batch {
            Batch::Gossip(meta) => {
                let outcomes = match result {
                    Ingested::Done(outcomes) => outcomes,
                    Ingested::Failed(e) => {
                        error!(error = %e, "the store refused gossip records: they are ignored (sync fetches them once the store works)");
                        Vec::new()
                    }
                    Ingested::Violation(_) => Vec::new(),
                };
                let mut outcomes = outcomes.into_iter();
                for (id, source) in meta {
                    let acceptance = match outcomes.next() {
                        Some((outcome, facts)) => {
                            self.account(Via::Gossip, source, &outcome, facts);
                            if let (Outcome::Stored(Ingest::Orphan { need_from }), Some(f)) =
                                (&outcome, facts)
                                && self.peers.is_connected(&source)
                                && self.peers.offences(&source) < SYNC_TRUST_LIMIT
                            {
                                // Ask the peer that had the record for what comes before it (unless
                                // it lost our trust: then a sync round with another peer fills it).
                                self.sync.want_range(source, f.author, *need_from, None);
                            }
                            gossip::acceptance(&outcome)
                        }
                        None => MessageAcceptance::Ignore,
                    };
                    self.swarm
                        .behaviour_mut()
                        .gossipsub
                        .report_message_validation_result(&id, &source, acceptance);
                }
            }
            Batch::Sync {
                peer,
                author,
                from_seq,
                target,
            } => {
                self.sync.finished(peer);
                match result {
                    Ingested::Violation(why) => {
                        self.sync.release(peer, &author);
                        self.metrics.sync_request("range", "invalid");
                        self.offend(peer, "protocol", &why);
                    }
                    Ingested::Failed(e) => {
                        self.sync.release(peer, &author);
                        error!(error = %e, "the store refused synced records");
                    }
                    Ingested::Done(outcomes) => {
                        let count = outcomes.len() as u64;
                        let mut rejected = 0u64;
                        let mut stop = false;
                        for (outcome, facts) in &outcomes {
                            self.account(Via::Sync, peer, outcome, *facts);
                            match outcome {
                                Outcome::Rejected(_) => rejected += 1,
                                Outcome::Stored(Ingest::Fork { .. } | Ingest::Frozen)
                                | Outcome::NotMember(_) => stop = true,
                                _ => {}
                            }
                        }
                        if rejected > 0 {
                            stop = true;
                            self.offend(
                                peer,
                                "invalid_record",
                                &format!("{rejected} invalid records in a range of {author} from seq {from_seq}"),
                            );
                        }
                        let next = from_seq.saturating_add(count);
                        let more = count > 0 && !stop && target.is_none_or(|t| next <= t);
                        if more && self.peers.is_connected(&peer) {
                            self.sync.next_page(peer, author, next, target);
                        } else {
                            self.sync.release(peer, &author);
                        }
                    }
                }
            }
        }
    }

    /// Logs and counts one record's outcome.
    fn account(&mut self, via: Via, peer: PeerId, outcome: &Outcome, facts: Option<Facts>) {
        match outcome {
            Outcome::Stored(Ingest::Appended { unblocked, .. }) => {
                self.metrics
                    .records_accepted
                    .get_or_create(&ViaLabels { via })
                    .inc_by(1 + unblocked);
                if let Some(f) = facts {
                    let now = now_ms();
                    if f.time > now {
                        self.metrics.records_ahead_of_clock.inc();
                    } else {
                        self.metrics
                            .record_latency
                            .get_or_create(&ViaLabels { via })
                            .observe((now - f.time) as f64 / 1000.0);
                    }
                    debug!(peer = %peer, via = via.as_str(), author = %f.author, seq = f.seq, unblocked, "record accepted");
                }
            }
            Outcome::Stored(Ingest::Fork { author, seq }) => {
                self.metrics.forks_detected.inc();
                let member = self
                    .roster
                    .get()
                    .member_by_author(author)
                    .map(|m| m.name().to_string());
                error!(member = member.as_deref().unwrap_or("-"), author = %author, seq, peer = %peer, via = via.as_str(), "fork: this author signed two different records at one seq; author frozen, both records kept as proof (see /v1/forks)");
            }
            Outcome::Rejected(e) => {
                self.metrics
                    .records_rejected
                    .get_or_create(&ReasonLabels {
                        via,
                        reason: e.reason().to_owned(),
                    })
                    .inc();
                warn!(peer = %peer, via = via.as_str(), reason = e.reason(), error = %e, "invalid record from peer");
            }
            other => {
                if matches!(other, Outcome::Stored(Ingest::Orphan { .. })) {
                    self.metrics.records_orphaned.inc();
                }
                self.metrics
                    .records_ignored
                    .get_or_create(&ReasonLabels {
                        via,
                        reason: other.label().to_owned(),
                    })
                    .inc();
                debug!(peer = %peer, via = via.as_str(), outcome = other.label(), "record ignored");
            }
        }
    }

    // ---- roster ----

    fn apply_roster(&mut self, new: Roster) -> Result<RosterChange, RosterReloadError> {
        let old = self.roster.get();
        if new.network() != old.network() {
            return Err(RosterReloadError::NetworkChanged {
                running: old.network().clone(),
                new: new.network().clone(),
            });
        }
        let old_peers = allowed_peers(&old);
        let new_peers = allowed_peers(&new);
        let names = |r: &Roster| -> BTreeSet<MemberName> {
            r.members().iter().map(|m| m.name().clone()).collect()
        };
        let (old_names, new_names) = (names(&old), names(&new));
        let added: Vec<MemberName> = new_names.difference(&old_names).cloned().collect();
        let removed: Vec<MemberName> = old_names.difference(&new_names).cloned().collect();
        let addrs = member_addrs(&new, true);
        let members = new.members().len();
        self.roster.replace(new);

        let local = *self.swarm.local_peer_id();
        let mut disconnected = Vec::new();
        for peer in old_peers.difference(&new_peers) {
            if self.peers.is_connected(peer) {
                disconnected.push(*peer);
            }
            let behaviour = self.swarm.behaviour_mut();
            // Closes its connections too.
            behaviour.allowed.disallow_peer(*peer);
            behaviour.kad.remove_peer(peer);
            self.peers.forget(peer);
            self.sync.peer_gone(peer);
        }
        for peer in new_peers.difference(&old_peers) {
            self.swarm.behaviour_mut().allowed.allow_peer(*peer);
            self.peers.redial_now(peer);
        }
        for (peer, addrs) in addrs {
            if peer != local {
                for addr in addrs {
                    self.swarm.behaviour_mut().kad.add_address(&peer, addr);
                }
            }
        }
        info!(members, added = ?added, removed = ?removed, disconnected = disconnected.len(), "roster reloaded");
        Ok(RosterChange {
            members,
            added,
            removed,
            disconnected,
        })
    }

    // ---- timers ----

    fn on_tick(&mut self, now: Instant) {
        let roster = self.roster.get();
        let local = *self.swarm.local_peer_id();
        for (peer, addrs) in member_addrs(&roster, false) {
            if peer != local && !self.blocked.contains(&peer) && self.peers.redial_due(&peer, now) {
                self.dial_member(peer, addrs, now);
            }
        }
        if now >= self.next_sync_round {
            let interval = self.config.sync_interval;
            self.next_sync_round = now + interval * 3 / 4 + jitter(interval / 2);
            let candidates: Vec<PeerId> = self
                .peers
                .iter()
                .map(|(peer, _)| *peer)
                .filter(|peer| {
                    roster.member_by_peer(peer).is_some()
                        && self.peers.offences(peer) < SYNC_TRUST_LIMIT
                })
                .collect();
            if !candidates.is_empty() {
                let pick = getrandom::u64().unwrap_or(0) % candidates.len() as u64;
                let peer = candidates[usize::try_from(pick).unwrap_or(0)];
                debug!(peer = %peer, "periodic sync round");
                self.sync.want_heads(peer);
            }
        }
        if now >= self.next_forgive {
            self.next_forgive = now + FORGIVE_INTERVAL;
            for (peer, count) in self.peers.forgive() {
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .set_application_score(&peer, gossip::member_score(count));
            }
        }
    }

    /// Dials a member at its known addresses (plus whatever Kademlia knows); with none known, looks
    /// it up in the DHT.
    fn dial_member(&mut self, peer: PeerId, addrs: Vec<Multiaddr>, now: Instant) {
        if self.blocked.contains(&peer) {
            return;
        }
        let opts = DialOpts::peer_id(peer)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .addresses(addrs)
            .extend_addresses_through_behaviour()
            .build();
        match self.swarm.dial(opts) {
            Ok(()) => debug!(peer = %peer, "dialing member"),
            Err(SwarmDialError::NoAddresses) => {
                debug!(peer = %peer, "no address known for member: asking the DHT");
                self.swarm.behaviour_mut().kad.get_closest_peers(peer);
            }
            Err(SwarmDialError::DialPeerConditionFalse(_)) => {}
            Err(e) => debug!(peer = %peer, error = %e, "cannot dial member"),
        }
        self.peers.dialed(peer, now, jitter(REDIAL_JITTER));
    }

    // ---- pumping ----

    /// Sends the sync requests the limits allow and starts the next ingest batch.
    fn pump(&mut self) {
        while let Some((peer, want)) = self.sync.next() {
            if !self.peers.is_connected(&peer) || self.blocked.contains(&peer) {
                self.sync.dropped(peer, &want);
                continue;
            }
            let id = self
                .swarm
                .behaviour_mut()
                .sync
                .send_request(&peer, want.request());
            self.sync.sent(id, peer, want);
        }
        if self.ingesting {
            return;
        }
        let net = self.net.as_str().to_owned();
        if !self.gossip_queue.is_empty() {
            let take = self.gossip_queue.len().min(MAX_GOSSIP_BATCH);
            let items: Vec<GossipItem> = self.gossip_queue.drain(..take).collect();
            let (store, roster) = (self.store.clone(), self.roster.get());
            self.ingesting = true;
            self.spawn(JobKind::IngestGossip, move || {
                jobs::ingest_gossip(&store, &roster, &net, items)
            });
        } else if let Some(page) = self.sync_pages.pop_front() {
            let (store, roster) = (self.store.clone(), self.roster.get());
            let kind = JobKind::IngestSync {
                peer: page.peer,
                author: page.author,
            };
            self.ingesting = true;
            self.spawn(kind, move || jobs::ingest_page(&store, &roster, &net, page));
        }
    }
}
