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
//!
//! `attack`: the attacks (what each member sends, prepared before its phase); `report`: the
//! figures, targets and plots a run yields.

mod attack;
mod report;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::corpus::raw_verify_rate;
use super::cpu::{CpuSnapshot, CpuUse, memory_kib};
use super::gossip::{self, Load, Sent};
use super::{
    BenchConfig, BenchError, Progress, Report, added_times_of, create, now_us, start, warm_up,
};
use crate::client::metric_value;
use crate::error::Error;
use crate::federation::Federation;
use crate::hostile::{self, Member};

pub use attack::Attack;
use attack::prepare;
use report::fill;

/// How long after a phase's last publish every node may take to hold its records.
const GRACE: Duration = Duration::from_secs(60);
/// How long the hostile peer may take to connect and see the nodes subscribed.
const SETUP: Duration = Duration::from_secs(30);

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
