//! The network state the event loop owns, and the routing of every event to the state machine that
//! decides about it:
//!
//! | state machine | decides |
//! |---|---|
//! | [`PeerTable`] (`peers`) | who is connected, offences, bans, re-dials |
//! | [`Scheduler`] (`scheduler`) | which sync request goes to whom, timeouts and backoff |
//! | [`OwnFeed`] (`own_feed`) | which claims about this node's own feed were proven |
//! | [`ServeLimiter`] (`serving`) | which sync requests of peers are served |
//! | [`Intake`] (`intake`) | what the store's writer ingests next, fairly |
//!
//! The files here only route: `events` (connections, identify, ping, Kademlia, mDNS), `records`
//! (gossip messages in, ingest outcomes out), `sync` (requests served and sent, answers), `commands`
//! (the node's callers: announce, peers, block, roster, dial), `offences` (penalties, bans, timers).
//! Every handler is short and never blocks: store work goes to blocking jobs ([`super::jobs`]) whose
//! results come back as events. After every event, [`Network::pump`] sends what the scheduler has
//! ready and starts the next ingest job if the writer's slot is free.

mod commands;
mod events;
mod offences;
mod records;
mod sync;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use certnet_protocol::keys::AuthorKey;
use futures::StreamExt as _;
use libp2p::gossipsub::{IdentTopic, TopicHash};
use libp2p::identity::Keypair;
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm};
use tokio::sync::oneshot;
use tokio::task::{Id as TaskId, JoinError, JoinSet};
use tracing::error;

use super::author_rate::AuthorRates;
use super::behaviour::{Behaviour, BehaviourEvent, build_swarm, kad_protocol};
use super::intake::{Intake, Work};
use super::jobs::{self, JobDone};
use super::limits::DenialLog;
use super::metrics::NetMetrics;
use super::own_feed::OwnFeed;
pub(super) use super::own_feed::OwnFeedView;
use super::peers::PeerTable;
use super::permit::KeyedSlots;
use super::reports::DialError;
use super::scheduler::Scheduler;
use super::serving::ServeLimiter;
use super::{NetConfig, NetError, blocklist, gossip};
use crate::membership::{NetworkId, Roster, RosterCell};
use crate::store::{DiskState, Store};

/// Peers with this many recent offences are no longer asked for records.
const SYNC_TRUST_LIMIT: u32 = 3;
/// Every this often, each peer's offence count drops by one.
const FORGIVE_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Timer resolution of the loop (re-dials, sync rounds, bans, proof deadlines).
const TICK: Duration = Duration::from_secs(1);
/// Most listen addresses kept (and given to Kademlia) per peer.
const MAX_PEER_ADDRS: usize = 16;
/// How often expired orphans are swept.
const ORPHAN_SWEEP: Duration = Duration::from_secs(60);
/// Most random extra delay added to a re-dial.
const REDIAL_JITTER: Duration = Duration::from_secs(2);

/// What the loop waits for on the network's side.
#[derive(Debug)]
pub(crate) enum NetEvent {
    /// Something happened in the Swarm.
    Swarm(Box<SwarmEvent<BehaviourEvent>>),
    /// A blocking job ended.
    Job(Box<Result<(TaskId, JobDone), JoinError>>),
    /// The timer fired.
    Tick(Instant),
}

/// What a running job is for (for its error log, and the block list's save flag).
#[derive(Debug, Clone, Copy)]
enum JobKind {
    Ingest,
    Serve,
    Compare,
    Roster,
    BlockList,
    Sweep,
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
    own: AuthorKey,
    topic: IdentTopic,
    topic_hash: TopicHash,
    kad_protocol: StreamProtocol,
    config: NetConfig,
    metrics: NetMetrics,
    peers: PeerTable,
    sync: Scheduler,
    own_feed: OwnFeed,
    serving: ServeLimiter,
    intake: Intake,
    author_rates: AuthorRates,
    /// The store's writer: one ingest job at a time.
    writer: KeyedSlots<()>,
    denials: DenialLog<(PeerId, &'static str)>,
    refused_connections: DenialLog<String>,
    blocked: BTreeSet<PeerId>,
    block_list_saving: bool,
    block_list_dirty: bool,
    dials: HashMap<ConnectionId, oneshot::Sender<Result<PeerId, DialError>>>,
    listen_addrs: Vec<Multiaddr>,
    next_sync_round: Instant,
    next_forgive: Instant,
    next_orphan_sweep: Instant,
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
                        tracing::warn!(member = %member.name(), addr = %text, error = %e, "roster address is not a valid multiaddr: ignored (fix it in roster.toml)");
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
        own: AuthorKey,
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
            own,
            topic_hash: topic.hash(),
            topic,
            kad_protocol: kad_protocol(&net)?,
            net,
            next_sync_round: now + config.sync_interval,
            author_rates: AuthorRates::new(own, config.author_budget),
            config,
            metrics,
            peers: PeerTable::default(),
            sync: Scheduler::default(),
            own_feed: OwnFeed::default(),
            serving: ServeLimiter::default(),
            intake: Intake::default(),
            writer: KeyedSlots::new(1, 1),
            denials: DenialLog::default(),
            refused_connections: DenialLog::default(),
            blocked,
            block_list_saving: false,
            block_list_dirty: false,
            dials: HashMap::new(),
            listen_addrs: Vec::new(),
            next_forgive: now + FORGIVE_INTERVAL,
            next_orphan_sweep: now + ORPHAN_SWEEP,
        })
    }

    /// Waits for the next Swarm event, finished job or tick. Cancel-safe.
    async fn next(&mut self) -> NetEvent {
        tokio::select! {
            biased;
            Some(done) = self.jobs.join_next_with_id(), if !self.jobs.is_empty() => NetEvent::Job(Box::new(done)),
            event = self.swarm.select_next_some() => NetEvent::Swarm(Box::new(event)),
            now = self.tick.tick() => NetEvent::Tick(now.into_std()),
        }
    }

    /// Handles one event, then sends and starts whatever became possible.
    pub(crate) fn handle(&mut self, event: NetEvent) {
        match event {
            NetEvent::Swarm(event) => self.on_swarm(*event),
            NetEvent::Job(done) => self.on_job(*done),
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

    /// The member name of `peer`, for logs.
    fn member_name(&self, peer: &PeerId) -> Option<String> {
        self.roster
            .get()
            .member_by_peer(peer)
            .map(|m| m.name().to_string())
    }

    /// Whether `peer` is a node of the member whose author key is `author`: the link on which the
    /// author budget applies (others relay only what they took).
    fn is_authors_own_node(&self, peer: &PeerId, author: &AuthorKey) -> bool {
        authors_own_node(&self.roster.get(), peer, author)
    }

    /// Whether `peer` may be asked for records now.
    fn trusted(&self, peer: &PeerId, now: Instant) -> bool {
        self.peers.is_connected(peer)
            && !self.blocked.contains(peer)
            && !self.peers.is_banned(peer, now)
            && self.peers.offences(peer) < SYNC_TRUST_LIMIT
    }

    /// Sends the sync requests the limits allow and starts the next ingest job.
    fn pump(&mut self) {
        let now = Instant::now();
        let usable: HashSet<PeerId> = self
            .peers
            .iter()
            .map(|(peer, _)| *peer)
            .filter(|peer| self.trusted(peer, now))
            .collect();
        // While the disk is low, records from others are refused: fetch none (heads still flow).
        let fetch = self.store.disk_state() == DiskState::Ok;
        loop {
            let rates = &mut self.author_rates;
            let roster = self.roster.get();
            let Some((peer, want, permit)) = self.sync.next(
                now,
                fetch,
                |p| usable.contains(p),
                |p, a| {
                    if authors_own_node(&roster, p, a) {
                        rates.allowance(a, now)
                    } else {
                        u64::MAX
                    }
                },
            ) else {
                break;
            };
            let request = want.request(&self.own);
            let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
            self.sync.sent(id, peer, want, permit);
        }
        self.metrics
            .intake_bytes
            .set(i64::try_from(self.intake.bytes()).unwrap_or(i64::MAX));
        let Some(permit) = self.writer.try_take(&()) else {
            return;
        };
        let Some(work) = self.intake.next() else {
            return;
        };
        let net = self.net.as_str().to_owned();
        let (store, roster) = (self.store.clone(), self.roster.get());
        match work {
            Work::Gossip(items) => self.spawn(JobKind::Ingest, move || {
                jobs::ingest_gossip(&store, &roster, &net, items, permit)
            }),
            Work::Page(page) => self.spawn(JobKind::Ingest, move || {
                jobs::ingest_page(&store, &roster, &net, *page, permit)
            }),
        }
    }

    /// A finished job: its result goes to the handler of its kind.
    fn on_job(&mut self, done: Result<(TaskId, JobDone), JoinError>) {
        let (id, done) = match done {
            Ok(done) => done,
            Err(e) => {
                // Its permits were dropped with its closure: nothing else to release.
                let kind = self.running.remove(&e.id());
                error!(job = ?kind, error = %e, "a store job failed");
                if matches!(kind, Some(JobKind::BlockList)) {
                    self.block_list_saving = false;
                }
                return;
            }
        };
        self.running.remove(&id);
        match done {
            JobDone::Ingest {
                batch,
                result,
                permit,
            } => {
                self.on_ingested(batch, result);
                drop(permit);
            }
            JobDone::Served {
                peer,
                kind,
                channel,
                result,
                permit,
            } => {
                self.on_served(peer, kind, channel, result);
                drop(permit);
            }
            JobDone::Compared { peer, gaps } => self.on_compared(peer, gaps),
            JobDone::Swept { expired } => {
                if let Err(e) = expired {
                    error!(error = %e, "cannot sweep expired orphans");
                }
            }
            JobDone::RosterLoaded { result, reply } => self.on_roster_loaded(result, reply),
            JobDone::BlockListSaved { path, result } => {
                self.block_list_saving = false;
                if let Err(e) = result {
                    error!(path = %path.display(), error = %e, "cannot save the block list: blocks last until restart");
                }
                if self.block_list_dirty {
                    self.save_block_list();
                }
            }
        }
    }
}

/// Whether `peer` is one of the nodes of the member whose author key is `author`.
fn authors_own_node(roster: &Roster, peer: &PeerId, author: &AuthorKey) -> bool {
    roster
        .member_by_peer(peer)
        .is_some_and(|m| m.author_key() == author)
}
