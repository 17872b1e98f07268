//! `bench hostile` and `certnet-testnet hostile`: one compromised member at a time against N honest
//! nodes, and what the honest members' exchange looks like meanwhile.
//!
//! The roster lists the honest nodes and one extra member per attack (`CERT-EVIL-FLOOD`, …) whose
//! keys the benchmark holds; each runs a bare libp2p peer ([`crate::hostile`]) instead of a node. An
//! honest load — R records/s, round-robin over the honest nodes' APIs, for T seconds — runs first on
//! a quiet federation, then once during each attack, each attack by its own member (a member banned
//! in one attack stays banned a while; the threat model is one compromised member at a time).
//!
//! | attack | what the member does |
//! |---|---|
//! | `flood` | publishes valid records of its own feed at full rate (as fast as gossip takes them), and serves them by sync like an honest member |
//! | `garbage` | publishes garbage and records with bad signatures at full rate |
//! | `orphans` | publishes records whose predecessors never come, far past its orphan share |
//! | `forged-heads` | answers Heads claiming each node's own feed is at seq u64::MAX, others' at 10⁶ |
//! | `tiny-items` | claims a far head and answers the fetch with 4 MiB of one-byte records |
//! | `connections` | opens TCP connections to every node's p2p port and never handshakes |
//!
//! Per phase: honest publish → every node latency (p50, p99, from `added_us` as in `bench gossip`),
//! delivery, publish answer time; the nodes' reaction (offences, bans, records refused, orphans
//! held, connections denied); each node's peak RSS growth over the phase (`VmHWM` after, the peak
//! reset at the start through `/proc/PID/clear_refs`).

use std::collections::HashMap;
use std::net::TcpStream;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use certnet_protocol::id::RecordId;
use certnet_protocol::keys::AuthorKey;
use certnet_protocol::sync::Head;
use libp2p::multiaddr::Protocol;

use super::corpus::raw_verify_rate;
use super::cpu::{CpuSnapshot, CpuUse, memory_kib};
use super::gossip::{self, Deliveries, Load, Sent, ms};
use super::report::{Line, Series};
use super::stats::{Summary, cdf};
use super::{
    BenchConfig, BenchError, Progress, Report, added_times_of, create, now_us, start, warm_up,
};
use crate::client::metric_value;
use crate::error::Error;
use crate::federation::Federation;
use crate::hostile::{self, HostileError, HostilePeer, Member, Reply, Script};

/// Publishes this long after the flood began count as its steady state (the flooder's burst is
/// taken by then).
const STEADY_AFTER: Duration = Duration::from_secs(5);
/// How long after a phase's last publish every node may take to hold its records.
const GRACE: Duration = Duration::from_secs(60);
/// How long the hostile peer may take to connect and see the nodes subscribed.
const SETUP: Duration = Duration::from_secs(30);
/// Messages per flood call: the peer takes a prefix, the rest is offered again.
const FLOOD_CHUNK: usize = 500;
/// Orphans the `orphans` attack sends: far more than one author's share of the orphan space.
const ORPHANS: u64 = 20_000;
/// Raw TCP connections per node in the `connections` attack.
const SOCKETS_PER_NODE: usize = 200;
/// Points per CDF line.
const CDF_POINTS: usize = 300;
/// The memory bound for a sync answer of tiny items.
const TINY_ITEMS_MIB: f64 = 64.0;

/// One attack of a compromised member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attack {
    /// Valid records of its own feed at full rate.
    Flood,
    /// Garbage and badly signed records at full rate.
    Garbage,
    /// Records whose predecessors never come.
    Orphans,
    /// Heads claiming feeds far beyond what it holds, the nodes' own included.
    ForgedHeads,
    /// A 4 MiB sync answer of one-byte records.
    TinyItems,
    /// Connections that never finish a handshake.
    Connections,
}

impl Attack {
    /// Every attack, in the order they run.
    pub const ALL: [Self; 6] = [
        Self::Flood,
        Self::Garbage,
        Self::Orphans,
        Self::ForgedHeads,
        Self::TinyItems,
        Self::Connections,
    ];

    /// Its name on the command line and in report keys.
    pub fn name(self) -> &'static str {
        match self {
            Self::Flood => "flood",
            Self::Garbage => "garbage",
            Self::Orphans => "orphans",
            Self::ForgedHeads => "forged-heads",
            Self::TinyItems => "tiny-items",
            Self::Connections => "connections",
        }
    }

    fn key(self) -> String {
        self.name().replace('-', "_")
    }

    fn member_name(self) -> String {
        format!("CERT-EVIL-{}", self.name().to_ascii_uppercase())
    }
}

impl FromStr for Attack {
    type Err = BenchError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                BenchError::Invalid(format!(
                    "no attack `{s}`: use one of {}",
                    Self::ALL.map(Self::name).join(", ")
                ))
            })
    }
}

/// What a phase's attacker got out.
#[derive(Debug, Default)]
struct Volume {
    /// Gossip messages the peer took (or sockets opened).
    sent: u64,
    /// Why the attack stopped early, if it did.
    error: Option<String>,
}

/// One node's counters, read from its metrics and status.
#[derive(Debug, Default, Clone)]
struct Counters {
    banned: f64,
    offences: f64,
    rejected: f64,
    dropped: f64,
    orphan_limit: f64,
    denied: f64,
    orphans: u64,
    log_size: u64,
}

impl Counters {
    fn read(fed: &Federation, i: usize) -> Result<Self, Error> {
        let api = |source| Error::Api {
            node: fed.name(i).to_owned(),
            source,
        };
        let text = fed.client(i).metrics().map_err(api)?;
        let one = |sample: &str| metric_value(&text, sample).unwrap_or(0.0);
        let family = |name: &str| -> f64 {
            text.lines()
                .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{'))
                .filter_map(|l| l.rsplit_once(' ')?.1.trim().parse::<f64>().ok())
                .sum()
        };
        let status = fed.status(i)?;
        let number = |key: &str| status.extra.get(key).and_then(serde_json::Value::as_u64);
        Ok(Self {
            banned: one("certnet_peers_banned_total"),
            offences: family("certnet_peer_offences_total"),
            rejected: family("certnet_records_rejected_total"),
            dropped: one("certnet_gossip_dropped_total"),
            orphan_limit: one(
                "certnet_records_ignored_total{via=\"gossip\",reason=\"orphan_limit\"}",
            ),
            denied: one("certnet_connections_denied_total"),
            orphans: number("orphans").unwrap_or(0),
            log_size: number("log_size").unwrap_or(0),
        })
    }
}

/// One phase of the run: its load, and how the nodes fared.
#[derive(Debug)]
struct Phase {
    attack: Option<Attack>,
    load: Load,
    before: Vec<Counters>,
    after: Vec<Counters>,
    /// Per node: peak RSS over the phase minus RSS at its start, MiB (`None`: not measurable).
    rss_growth_mib: Vec<Option<f64>>,
    volume: Volume,
    converged: bool,
    /// CPU use during the load.
    cpu: CpuUse,
}

impl Phase {
    fn key(&self) -> String {
        self.attack.map_or_else(|| "quiet".to_owned(), Attack::key)
    }

    fn label(&self) -> String {
        self.attack
            .map_or_else(|| "quiet".to_owned(), |a| a.name().to_owned())
    }

    /// Sum over nodes of how much `field` grew during the phase.
    fn delta(&self, field: impl Fn(&Counters) -> f64) -> f64 {
        self.before
            .iter()
            .zip(&self.after)
            .map(|(b, a)| field(a) - field(b))
            .sum()
    }

    /// Nodes whose `field` grew.
    fn nodes_where(&self, field: impl Fn(&Counters) -> f64) -> usize {
        self.before
            .iter()
            .zip(&self.after)
            .filter(|(b, a)| field(a) > field(b))
            .count()
    }
}

pub(super) fn run(config: &BenchConfig, progress: Progress<'_>) -> Result<Report, BenchError> {
    let nodes = config.nodes.unwrap_or(5);
    if nodes < 2 {
        return Err(BenchError::Invalid(
            "bench hostile needs at least 2 honest nodes (--nodes N)".into(),
        ));
    }
    let per_second = config.rate.unwrap_or(20.0);
    let duration = config.duration.unwrap_or(Duration::from_secs(15));
    let flood_records = config.records.unwrap_or(100_000);
    let attacks: Vec<Attack> = config
        .attacks
        .clone()
        .unwrap_or_else(|| Attack::ALL.to_vec());
    let members: Vec<(Attack, Member)> = attacks
        .iter()
        .map(|&a| (a, Member::new(&a.member_name(), config.seed)))
        .collect();

    let mut report = Report::new("hostile", &config.certnet_bin);
    report.param("nodes", nodes);
    report.param("rate_per_s", per_second);
    report.param("duration_s", duration.as_secs_f64());
    report.param(
        "attacks",
        attacks
            .iter()
            .map(|a| a.name())
            .collect::<Vec<_>>()
            .join(","),
    );
    report.param("flood_records", flood_records);

    let mut fed = create(
        config,
        nodes,
        members.iter().map(|(_, m)| m.roster()).collect(),
    )?;
    start(&mut fed, progress)?;
    warm_up(&fed, progress)?;

    // The machine's own reference, measured in this run.
    let sample = hostile::chain(
        fed.network(),
        &Member::new("VERIFY-SAMPLE", config.seed).secret,
        1,
        20_000,
        None,
        now_us() / 1000,
    )
    .map_err(|e| BenchError::Node(format!("cannot sign the verify sample: {e}")))?;
    let (raw, _) = raw_verify_rate(&sample)?;
    report.figure(
        "raw_verify_rate",
        "raw verify_strict, all cores (this machine, this run)",
        raw,
        "sig/s",
    );

    let all: Vec<usize> = (0..nodes).collect();
    let clients = gossip::clients(&fed, &all);
    let total = (per_second * duration.as_secs_f64()).round().max(1.0) as u64;
    let mut phases = Vec::new();
    let mut first_index = 0;
    let plan = std::iter::once(None).chain(members.iter().map(Some));
    for entry in plan {
        let name = entry.map_or("quiet", |(a, _)| a.name());
        progress(&format!(
            "phase {name}: {total} honest records at {per_second}/s over {nodes} nodes"
        ));
        let phase = run_phase(
            &fed,
            &clients,
            entry.map(|(a, m)| (*a, m)),
            &PhaseLoad {
                total,
                per_second,
                duration,
                first_index,
                flood_records,
            },
            progress,
        )?;
        first_index += total;
        phases.push(phase);
    }

    progress("reading the honest records' arrival times on every node");
    let authors: Vec<String> = (0..nodes).map(|i| fed.node(i).author_key.clone()).collect();
    let mut logs = Vec::with_capacity(nodes);
    for i in 0..nodes {
        let mut log = HashMap::new();
        for author in &authors {
            log.extend(added_times_of(&fed, i, Some(author))?);
        }
        logs.push(log);
    }
    fed.down()?;
    fill(&mut report, &phases, &logs);
    Ok(report)
}

/// The honest load of one phase.
#[derive(Debug, Clone, Copy)]
struct PhaseLoad {
    total: u64,
    per_second: f64,
    duration: Duration,
    first_index: u64,
    flood_records: u64,
}

fn run_phase(
    fed: &Federation,
    clients: &[(usize, crate::client::ApiClient)],
    attack: Option<(Attack, &Member)>,
    load: &PhaseLoad,
    progress: Progress<'_>,
) -> Result<Phase, BenchError> {
    let nodes = clients.len();
    let prepared = match attack {
        Some((a, member)) => Some(prepare(fed, a, member, load, progress)?),
        None => None,
    };
    let pids: Vec<Option<u32>> = (0..nodes).map(|i| fed.pid(i)).collect();
    let start_rss: Vec<Option<u64>> = pids.iter().map(|p| p.and_then(reset_peak)).collect();
    let before = (0..nodes)
        .map(|i| Counters::read(fed, i))
        .collect::<Result<Vec<_>, _>>()?;
    let node_pids: Vec<u32> = pids.iter().flatten().copied().collect();
    let cpu_before = CpuSnapshot::take(&node_pids);
    let stop = AtomicBool::new(false);
    let stop_at = Instant::now() + load.duration + Duration::from_secs(30);
    let (sent, volume) = std::thread::scope(|scope| {
        let attacker = prepared.as_ref().map(|p| {
            scope.spawn(|| {
                crate::hostile::yield_cpu_to_the_nodes();
                p.run(fed, &stop)
            })
        });
        let sent = gossip::send_load(
            clients,
            load.total,
            load.per_second,
            stop_at,
            load.first_index,
        );
        stop.store(true, Ordering::SeqCst);
        let volume = attacker.map(|h| {
            h.join().unwrap_or_else(|_| Volume {
                sent: 0,
                error: Some("the attack thread panicked".into()),
            })
        });
        (sent, volume.unwrap_or_default())
    });
    let cpu = cpu_before.until(&CpuSnapshot::take(&node_pids));
    drop(prepared);
    let converged = wait_delivered(fed, &sent).is_ok();
    let after = (0..nodes)
        .map(|i| Counters::read(fed, i))
        .collect::<Result<Vec<_>, _>>()?;
    let rss_growth_mib = pids
        .iter()
        .zip(&start_rss)
        .map(|(pid, start)| {
            let (_, peak) = memory_kib((*pid)?)?;
            Some(peak.saturating_sub((*start)?) as f64 / 1024.0)
        })
        .collect();
    Ok(Phase {
        attack: attack.map(|(a, _)| a),
        load: sent,
        before,
        after,
        rss_growth_mib,
        volume,
        converged,
        cpu,
    })
}

/// Resets process `pid`'s peak RSS to its current RSS (`/proc/PID/clear_refs`); its RSS now, KiB.
fn reset_peak(pid: u32) -> Option<u64> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").ok()?;
    memory_kib(pid).map(|(rss, _)| rss)
}

/// Waits until every node holds the last acknowledged record of every publishing node (a feed is
/// appended in order, so that record held means the ones before it are).
fn wait_delivered(fed: &Federation, load: &Load) -> Result<(), Error> {
    let mut last: HashMap<usize, &Sent> = HashMap::new();
    for s in load.sent.iter().filter(|s| s.id.is_some()) {
        let slot = last.entry(s.node).or_insert(s);
        if s.sent_us > slot.sent_us {
            *slot = s;
        }
    }
    let ids: Vec<&str> = last.values().filter_map(|s| s.id.as_deref()).collect();
    fed.wait_until(GRACE, "every node to hold the phase's records", |fed| {
        for i in 0..fed.len() {
            for id in &ids {
                match fed.client(i).record(id) {
                    Ok(_) => {}
                    Err(e) if e.is_not_found() => return Ok(false),
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(true)
    })?;
    Ok(())
}

/// An attack ready to run: its peer connected, its messages signed.
struct Prepared {
    attack: Attack,
    peer: Option<HostilePeer>,
    messages: Arc<Vec<Vec<u8>>>,
    member: Member,
    sockets: Vec<(String, u16)>,
}

fn prepare(
    fed: &Federation,
    attack: Attack,
    member: &Member,
    load: &PhaseLoad,
    progress: Progress<'_>,
) -> Result<Prepared, BenchError> {
    let nodes = fed.len();
    let net = fed.network().to_owned();
    let now_ms = now_us() / 1000;
    let sign_err = |e: certnet_protocol::record::RecordError| {
        BenchError::Node(format!("cannot sign the attack's records: {e}"))
    };
    let messages = match attack {
        Attack::Flood => {
            progress(&format!(
                "signing {} records of {} for the flood",
                load.flood_records, member.name
            ));
            hostile::chain(&net, &member.secret, 1, load.flood_records, None, now_ms)
                .map_err(sign_err)?
        }
        Attack::Orphans => {
            hostile::chain(&net, &member.secret, 2, ORPHANS, None, now_ms).map_err(sign_err)?
        }
        _ => Vec::new(),
    };
    let mut prepared = Prepared {
        attack,
        peer: None,
        messages: Arc::new(messages),
        member: member.clone(),
        sockets: Vec::new(),
    };
    if attack == Attack::Connections {
        for i in 0..nodes {
            let (_, addr) = hostile::node_address(fed, i)?;
            let port = addr.iter().find_map(|p| match p {
                Protocol::Tcp(port) => Some(port),
                _ => None,
            });
            if let Some(port) = port {
                prepared.sockets.push(("127.0.0.1".to_owned(), port));
            }
        }
        return Ok(prepared);
    }
    let peer = member.start(fed)?;
    if attack == Attack::Flood {
        // A flooder that answers for its feed like an honest member: nothing to ban it for.
        peer.serve(member.secret.public(), Arc::clone(&prepared.messages))?;
    }
    let authors: Vec<AuthorKey> = (0..nodes)
        .map(|i| {
            AuthorKey::from_str(&fed.node(i).author_key)
                .map_err(|e| BenchError::Node(format!("{}: bad author key: {e}", fed.name(i))))
        })
        .collect::<Result<_, _>>()?;
    for i in 0..nodes {
        let (id, _) = hostile::node_address(fed, i)?;
        match attack {
            Attack::ForgedHeads => peer.script(id, forged_heads(&authors, i))?,
            Attack::TinyItems => peer.script(
                id,
                Script {
                    heads: vec![Head {
                        author: authors[(i + 1) % nodes],
                        seq: 1_000_000,
                        id: RecordId::of_payload(b"tiny items"),
                    }],
                    ranges: std::iter::repeat_with(
                        || Reply::Framed(hostile::tiny_items_response()),
                    )
                    .take(5)
                    .collect(),
                },
            )?,
            _ => {}
        }
        hostile::connect(fed, &peer, i, SETUP)?;
        hostile::wait_subscribed(fed, &peer, i, SETUP)?;
    }
    prepared.peer = Some(peer);
    Ok(prepared)
}

/// Heads claiming node `i`'s own feed is at u64::MAX and every other node's at 1,000,000.
fn forged_heads(authors: &[AuthorKey], i: usize) -> Script {
    let heads = authors
        .iter()
        .enumerate()
        .map(|(j, author)| Head {
            author: *author,
            seq: if j == i { u64::MAX } else { 1_000_000 },
            id: RecordId::of_payload(b"forged"),
        })
        .collect();
    Script {
        heads,
        ranges: Default::default(),
    }
}

impl Prepared {
    /// Runs the attack until `stop`.
    fn run(&self, fed: &Federation, stop: &AtomicBool) -> Volume {
        let result = match (self.attack, &self.peer) {
            (Attack::Flood | Attack::Orphans, Some(peer)) => flood(peer, &self.messages, stop),
            (Attack::Garbage, Some(peer)) => self.garbage(fed, peer, stop),
            (Attack::ForgedHeads | Attack::TinyItems, Some(peer)) => reconnect(fed, peer, stop),
            (Attack::Connections, _) => Ok(hold_sockets(&self.sockets, stop)),
            (_, None) => Ok(0),
        };
        match result {
            Ok(sent) => Volume { sent, error: None },
            Err(e) => Volume {
                sent: 0,
                error: Some(e.to_string()),
            },
        }
    }

    /// Garbage and badly signed records, in chunks, until `stop`.
    fn garbage(
        &self,
        fed: &Federation,
        peer: &HostilePeer,
        stop: &AtomicBool,
    ) -> Result<u64, HostileError> {
        let mut sent = 0u64;
        let mut seq = 1;
        while !stop.load(Ordering::SeqCst) {
            let mut messages = hostile::garbage(FLOOD_CHUNK / 2, 600);
            messages.extend(
                hostile::bad_signatures(
                    fed.network(),
                    &self.member.secret,
                    seq,
                    (FLOOD_CHUNK / 2) as u64,
                    now_us() / 1000,
                )
                .unwrap_or_default(),
            );
            seq += (FLOOD_CHUNK / 2) as u64;
            let offered = messages.len();
            let taken = peer.flood(messages)?;
            sent += taken as u64;
            if taken < offered {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        Ok(sent)
    }
}

/// Floods `messages` in order, as fast as gossip takes them, until `stop` or the end.
fn flood(peer: &HostilePeer, messages: &[Vec<u8>], stop: &AtomicBool) -> Result<u64, HostileError> {
    let mut next = 0;
    while next < messages.len() && !stop.load(Ordering::SeqCst) {
        let end = (next + FLOOD_CHUNK).min(messages.len());
        let taken = peer.flood(messages[next..end].to_vec())?;
        next += taken;
        if next < end {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    Ok(next as u64)
}

/// Reconnects to every node every half second (each new connection makes a node ask for heads
/// again, and fetch what they claim), until `stop`; a node that banned the peer refuses it.
fn reconnect(fed: &Federation, peer: &HostilePeer, stop: &AtomicBool) -> Result<u64, HostileError> {
    let mut rounds = 0;
    while !stop.load(Ordering::SeqCst) {
        for i in 0..fed.len() {
            let Ok((id, addr)) = hostile::node_address(fed, i) else {
                continue;
            };
            peer.disconnect(id)?;
            let _ = peer.dial(id, addr)?;
        }
        rounds += 1;
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(rounds)
}

/// Opens up to [`SOCKETS_PER_NODE`] TCP connections to each address and holds them until `stop`;
/// how many opened.
fn hold_sockets(addrs: &[(String, u16)], stop: &AtomicBool) -> u64 {
    let mut held = Vec::new();
    for (host, port) in addrs {
        for _ in 0..SOCKETS_PER_NODE {
            if let Ok(s) = TcpStream::connect((host.as_str(), *port)) {
                held.push(s);
            }
        }
    }
    let opened = held.len() as u64;
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
    }
    opened
}

/// Figures, targets, notes and plots of a run.
fn fill(report: &mut Report, phases: &[Phase], logs: &[HashMap<String, u64>]) {
    let mut quiet: Option<Summary> = None;
    let mut lines = Vec::new();
    let mut timeline = Vec::new();
    for phase in phases {
        let key = phase.key();
        let label = phase.label();
        let acked: Vec<(&Sent, &str)> = phase.load.acked().collect();
        let d = Deliveries::of(&acked, logs);
        let every = Summary::of(&d.every);
        let acks: Vec<f64> = acked
            .iter()
            .map(|(s, _)| ms(s.answered_us, s.sent_us))
            .collect();
        report.figure(
            &format!("{key}_delivery_pct"),
            &format!("{label}: honest records delivered (record × other node)"),
            d.pct(),
            "%",
        );
        if let Some(s) = every {
            report.figure(
                &format!("{key}_every_p50_ms"),
                &format!("{label}: honest publish → every node, p50"),
                s.p50,
                "ms",
            );
            report.figure(
                &format!("{key}_every_p99_ms"),
                &format!("{label}: honest publish → every node, p99"),
                s.p99,
                "ms",
            );
        }
        if let Some(s) = Summary::of(&d.each) {
            report.figure(
                &format!("{key}_each_p99_ms"),
                &format!("{label}: honest publish → each other node, p99"),
                s.p99,
                "ms",
            );
        }
        if let Some(s) = Summary::of(&d.origin) {
            report.figure(
                &format!("{key}_origin_p99_ms"),
                &format!("{label}: stored on the publishing node, p99"),
                s.p99,
                "ms",
            );
        }
        if let Some(s) = Summary::of(&acks) {
            report.figure(
                &format!("{key}_ack_p99_ms"),
                &format!("{label}: publish answered, p99"),
                s.p99,
                "ms",
            );
        }
        let growth = phase
            .rss_growth_mib
            .iter()
            .flatten()
            .copied()
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        if let Some(g) = growth {
            report.figure(
                &format!("{key}_peak_rss_growth_mib"),
                &format!("{label}: largest node peak RSS growth over the phase"),
                g,
                "MiB",
            );
        }
        if let Some(busy) = phase.cpu.machine_busy_pct {
            report.figure(
                &format!("{key}_machine_busy_pct"),
                &format!("{label}: machine CPU busy (all processes, the attacker's included)"),
                busy,
                "%",
            );
        }
        report.figure(
            &format!("{key}_nodes_cpu_cores"),
            &format!("{label}: CPU used by the honest nodes"),
            phase.cpu.process_cpu_s / phase.cpu.wall_s.max(1e-9),
            "cores",
        );
        let failed = phase.load.sent.len() - acked.len();
        if phase.attack.is_some() {
            reaction(report, phase, &key, &label);
        }
        let target_delivery = d.delivered == d.expected && d.expected > 0 && phase.converged;
        report.target(
            &format!("{label}: honest records delivered"),
            "100%",
            format!("{:.3}% ({} of {})", d.pct(), d.delivered, d.expected),
            target_delivery,
        );
        if failed > 0 {
            report.note(format!(
                "{label}: {failed} honest publishes failed, e.g. {}",
                phase.load.errors.join("; ")
            ));
        }
        if let Some(e) = &phase.volume.error {
            report.note(format!("{label}: the attack stopped early: {e}"));
        }
        match phase.attack {
            None => quiet = every,
            Some(Attack::Flood) => {
                if let (Some(q), Some(f)) = (quiet, every) {
                    for (p, qv, fv) in [("p50", q.p50, f.p50), ("p99", q.p99, f.p99)] {
                        let ratio = fv / qv.max(1e-9);
                        report.figure(
                            &format!("flood_vs_quiet_{p}"),
                            &format!("flood / quiet, honest publish → every node {p}"),
                            ratio,
                            "×",
                        );
                        report.target(
                            &format!("honest publish → every node {p}, one member flooding"),
                            "≤ 2× quiet",
                            format!("{ratio:.2}× ({fv:.1} ms vs {qv:.1} ms)"),
                            ratio <= 2.0,
                        );
                    }
                }
                // The same records without those published while every node took the flooder's
                // burst (`[p2p] author_burst`): the flood's steady state.
                let start = d.every_at.iter().map(|(at, _)| *at).min().unwrap_or(0);
                let after: Vec<f64> = d
                    .every_at
                    .iter()
                    .filter(|(at, _)| at - start >= STEADY_AFTER.as_micros() as u64)
                    .map(|(_, l)| *l)
                    .collect();
                if let (Some(q), Some(f)) = (quiet, Summary::of(&after)) {
                    let secs = STEADY_AFTER.as_secs();
                    for (p, qv, fv) in [("p50", q.p50, f.p50), ("p99", q.p99, f.p99)] {
                        report.figure(
                            &format!("flood_steady_vs_quiet_{p}"),
                            &format!(
                                "flood from {secs} s on / quiet, honest publish → every node {p}"
                            ),
                            fv / qv.max(1e-9),
                            "×",
                        );
                    }
                }
            }
            Some(Attack::TinyItems) => {
                if let Some(g) = growth {
                    report.target(
                        "peak RSS growth under 4 MiB answers of tiny items",
                        &format!("< {TINY_ITEMS_MIB} MiB"),
                        format!("{g:.1} MiB"),
                        g < TINY_ITEMS_MIB,
                    );
                }
            }
            Some(Attack::ForgedHeads) => report.target(
                "publishes while a member forges heads",
                "all acknowledged",
                format!("{} of {}", acked.len(), phase.load.sent.len()),
                failed == 0 && !acked.is_empty(),
            ),
            Some(Attack::Garbage) => {
                let banned = phase.nodes_where(|c| c.banned);
                report.target(
                    "garbage flooder banned",
                    "by every node",
                    format!("by {banned} of {}", phase.before.len()),
                    banned == phase.before.len(),
                );
            }
            Some(_) => {}
        }
        let start = d.every_at.iter().map(|(at, _)| *at).min().unwrap_or(0);
        let mut over_time: Vec<(f64, f64)> = d
            .every_at
            .iter()
            .map(|(at, l)| ((at - start) as f64 / 1e6, *l))
            .collect();
        over_time.sort_by(|a, b| a.0.total_cmp(&b.0));
        timeline.push(Line {
            label: label.to_string(),
            points: over_time,
        });
        lines.push(Line {
            label: format!("{label} (n = {})", d.every.len()),
            points: cdf(&d.every, CDF_POINTS)
                .into_iter()
                .map(|p| (p.value, p.fraction))
                .collect(),
        });
    }
    report.series.push(Series {
        name: "hostile-latency-cdf".into(),
        title: "honest publish → every node, per phase".into(),
        x_label: "latency (ms, log scale)".into(),
        y_label: "fraction of records".into(),
        x_log: true,
        lines,
    });
    report.series.push(Series {
        name: "hostile-latency-over-time".into(),
        title: "honest publish → every node, over each phase".into(),
        x_label: "seconds since the phase's first publish".into(),
        y_label: "latency (ms)".into(),
        x_log: false,
        lines: timeline,
    });
    report.note(
        "each attack is made by its own roster member (CERT-EVIL-…), a bare libp2p peer driven by \
         the benchmark, its threads at nice 19 (it stands in for a machine of its own: on one \
         machine it takes the CPU the nodes leave idle; it still sends as fast as it can, see \
         `messages the attacker got out`); the honest load is the same in every phase; latency = the receiving node's \
         added_us minus the time the benchmark sent POST /v1/records (one machine, one clock); \
         peak RSS growth = VmHWM at the phase's end minus VmRSS at its start (peak reset through \
         /proc/PID/clear_refs)",
    );
}

/// The nodes' reaction to one attack.
fn reaction(report: &mut Report, phase: &Phase, key: &str, label: &str) {
    let nodes = phase.before.len() as f64;
    report.figure(
        &format!("{key}_attacker_sent"),
        &format!("{label}: messages (or sockets) the attacker got out"),
        phase.volume.sent as f64,
        if phase.attack == Some(Attack::Connections) {
            "sockets"
        } else {
            "messages"
        },
    );
    report.figure(
        &format!("{key}_banned_by"),
        &format!("{label}: nodes that banned the attacker"),
        phase.nodes_where(|c| c.banned) as f64,
        "nodes",
    );
    report.figure(
        &format!("{key}_offences"),
        &format!("{label}: offences counted (all nodes)"),
        phase.delta(|c| c.offences),
        "offences",
    );
    match phase.attack {
        Some(Attack::Flood) => {
            let honest = phase.load.acked().count() as f64;
            let stored = phase.delta(|c| c.log_size as f64) / nodes - honest;
            report.figure(
                "flood_records_stored",
                "flood: the flooder's records stored, per node",
                stored.max(0.0),
                "records",
            );
            report.figure(
                "flood_dropped",
                "flood: gossip messages dropped at a full intake lane (all nodes)",
                phase.delta(|c| c.dropped),
                "messages",
            );
        }
        Some(Attack::Garbage) => report.figure(
            "garbage_rejected",
            "garbage: records rejected as invalid (all nodes)",
            phase.delta(|c| c.rejected),
            "records",
        ),
        Some(Attack::Orphans) => {
            let held = phase.after.iter().map(|c| c.orphans).max().unwrap_or(0);
            report.figure(
                "orphans_held_max",
                "orphans: most orphans one node holds after the phase",
                held as f64,
                "records",
            );
            report.figure(
                "orphans_over_share",
                "orphans: records ignored as over the author's orphan share (all nodes)",
                phase.delta(|c| c.orphan_limit),
                "records",
            );
        }
        Some(Attack::Connections) => report.figure(
            "connections_denied",
            "connections: connections denied (all nodes)",
            phase.delta(|c| c.denied),
            "connections",
        ),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn attacks_parse_and_unknown_ones_name_the_choices() {
        for a in Attack::ALL {
            assert_eq!(a.name().parse::<Attack>().unwrap(), a);
        }
        let err = "ddos".parse::<Attack>().unwrap_err();
        assert!(err.is_usage());
        assert!(err.to_string().contains("flood, garbage"), "{err}");
        assert_eq!(Attack::ForgedHeads.member_name(), "CERT-EVIL-FORGED-HEADS");
    }

    #[test]
    fn forged_heads_claim_the_nodes_own_feed_at_the_end_of_time() {
        let authors: Vec<AuthorKey> = (0..3u8)
            .map(|i| certnet_protocol::keys::AuthorSecret::from_seed(&[i; 32]).public())
            .collect();
        let script = forged_heads(&authors, 1);
        assert_eq!(script.heads[1].seq, u64::MAX);
        assert_eq!(script.heads[0].seq, 1_000_000);
        assert!(script.ranges.is_empty());
    }
}
