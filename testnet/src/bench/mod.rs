//! `certnet-testnet bench SCENARIO`: measurements on real `certnet` processes.
//!
//! | scenario | what it measures |
//! |---|---|
//! | `ingest` | one node: `certnet import` of M pre-signed records (audit, then the ingest path) |
//! | `gossip` | N nodes, R records/s for T s: publish → each node and → every node latency, delivery |
//! | `catchup` | a node offline while M records enter the federation; time to converge, records/s |
//! | `verify` | `certnet verify` of an export of M records vs raw all-core `verify_strict` |
//! | `soak` | load plus random kills, restarts and partitions for T s; convergence, zero loss |
//! | `api` | one node holding M records: STIX bundle and export peak RSS, TAXII first vs last page, a sparse collection's poll |
//! | `hostile` | N nodes and one compromised member at a time (flood, garbage, orphans, forged heads, tiny items, connections): honest latency and delivery vs a quiet phase, the nodes' reaction and memory |
//!
//! - [`stats`]: percentiles, CDFs, rates. [`cpu`]: machine and node CPU use from `/proc`. [`report`]: the [`Report`] every scenario returns (table
//!   and JSON). [`plot`]: its series as SVG. [`corpus`]: pre-signed records and the raw verify rate.
//! - Times: the benchmark's clock for sends and acknowledgements, each node's `added_us` (when it
//!   appended the record to its log, from `GET /v1/records`) for arrivals; one machine, one clock.
//! - Nodes are owned processes: dropped (on error or panic) they are killed; a Ctrl-C at the
//!   terminal reaches them too (same process group) and they stop cleanly.

pub mod corpus;
pub mod cpu;
pub mod plot;
pub mod report;
pub mod stats;

mod api;
mod catchup;
mod gossip;
mod hostile;
mod ingest;
mod soak;
mod verify;

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

pub use hostile::Attack;
pub use report::Report;

use crate::client::RecordQuery;
use crate::error::Error;
use crate::federation::{Federation, FederationConfig, Spawn};
use crate::roster::RosterMember;

/// How long a federation may take to come up and form its mesh.
const UP_TIMEOUT: Duration = Duration::from_secs(90);

/// A benchmark scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// One node importing pre-signed records.
    Ingest,
    /// Publish → every node latency and delivery.
    Gossip,
    /// A node catching up after being offline.
    Catchup,
    /// Offline verification of an export.
    Verify,
    /// Load with faults; convergence and zero loss.
    Soak,
    /// The read side on a large log: streaming memory, TAXII paging.
    Api,
    /// One compromised member at a time: honest latency and delivery under each attack.
    Hostile,
}

impl Scenario {
    /// Every scenario, in documentation order.
    pub const ALL: [Self; 7] = [
        Self::Ingest,
        Self::Gossip,
        Self::Catchup,
        Self::Verify,
        Self::Soak,
        Self::Api,
        Self::Hostile,
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ingest => "ingest",
            Self::Gossip => "gossip",
            Self::Catchup => "catchup",
            Self::Verify => "verify",
            Self::Soak => "soak",
            Self::Api => "api",
            Self::Hostile => "hostile",
        }
    }
}

impl FromStr for Scenario {
    type Err = BenchError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|sc| sc.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                BenchError::Invalid(format!(
                    "no scenario `{s}`: use one of {}",
                    Self::ALL.map(Self::name).join(", ")
                ))
            })
    }
}

/// What to run; `None` takes the scenario's default.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The scenario.
    pub scenario: Scenario,
    /// An empty (or missing) directory for the nodes, files and logs.
    pub work_dir: PathBuf,
    /// The `certnet` binary.
    pub certnet_bin: PathBuf,
    /// Nodes.
    pub nodes: Option<usize>,
    /// Records per second of the load (gossip, soak).
    pub rate: Option<f64>,
    /// How long the load runs (gossip, soak).
    pub duration: Option<Duration>,
    /// Pre-signed records (ingest, catchup, verify).
    pub records: Option<u64>,
    /// Seed of the soak's fault schedule and of the signers' keys.
    pub seed: u64,
    /// The attacks of `hostile` (`None`: every one).
    pub attacks: Option<Vec<Attack>>,
    /// RUST_LOG for the nodes.
    pub rust_log: Option<String>,
}

impl BenchConfig {
    /// A config for `scenario` with every default.
    pub fn new(scenario: Scenario, work_dir: PathBuf, certnet_bin: PathBuf, seed: u64) -> Self {
        Self {
            scenario,
            work_dir,
            certnet_bin,
            nodes: None,
            rate: None,
            duration: None,
            records: None,
            seed,
            attacks: None,
            rust_log: None,
        }
    }
}

/// Why a benchmark could not run or finish.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The request makes no sense; the message says what to change.
    #[error("{0}")]
    Invalid(String),
    /// Driving the testnet failed.
    #[error(transparent)]
    Testnet(#[from] Error),
    /// Pre-signed records could not be made.
    #[error(transparent)]
    Corpus(#[from] corpus::CorpusError),
    /// The hostile member's peer failed.
    #[error(transparent)]
    Hostile(#[from] crate::hostile::HostileError),
    /// A `certnet` command failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// How it exited.
        status: String,
        /// The end of its stderr.
        stderr: String,
    },
    /// A node's answer lacks what the benchmark needs.
    #[error("{0}")]
    Node(String),
    /// A file operation failed.
    #[error("cannot {action} {}", .path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl BenchError {
    /// Whether the caller asked for something impossible (a usage error).
    pub fn is_usage(&self) -> bool {
        match self {
            Self::Invalid(_) => true,
            Self::Testnet(err) => err.is_usage(),
            _ => false,
        }
    }
}

/// Where a benchmark reports its progress (one line at a time).
pub type Progress<'a> = &'a mut dyn FnMut(&str);

/// Runs the configured scenario.
pub fn run(config: &BenchConfig, progress: Progress<'_>) -> Result<Report, BenchError> {
    if let Some(n) = config.nodes
        && n == 0
    {
        return Err(BenchError::Invalid("--nodes must be at least 1".into()));
    }
    if let Some(rate) = config.rate
        && !(rate > 0.0 && rate <= 100_000.0)
    {
        return Err(BenchError::Invalid(
            "--rate must be a number of records per second above 0 (and at most 100000)".into(),
        ));
    }
    if config.duration.is_some_and(|d| d.is_zero()) {
        return Err(BenchError::Invalid("--duration must be above 0".into()));
    }
    if config.records == Some(0) {
        return Err(BenchError::Invalid("--records must be at least 1".into()));
    }
    match config.scenario {
        Scenario::Ingest => ingest::run(config, progress),
        Scenario::Gossip => gossip::run(config, progress),
        Scenario::Catchup => catchup::run(config, progress),
        Scenario::Verify => verify::run(config, progress),
        Scenario::Soak => soak::run(config, progress),
        Scenario::Api => api::run(config, progress),
        Scenario::Hostile => hostile::run(config, progress),
    }
}

/// Microseconds since the Unix epoch on this machine's clock.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Creates a federation of `nodes` (plus `extra` roster members without a node) under the work
/// directory, owned by this process; not started.
fn create(
    config: &BenchConfig,
    nodes: usize,
    extra: Vec<RosterMember>,
) -> Result<Federation, BenchError> {
    let mut fed_config =
        FederationConfig::new(config.work_dir.join("testnet"), nodes, &config.certnet_bin);
    fed_config.extra_members = extra;
    fed_config.spawn = Spawn::Owned;
    fed_config.rust_log.clone_from(&config.rust_log);
    fed_config.ready_timeout = UP_TIMEOUT;
    Ok(Federation::create(&fed_config)?)
}

/// Starts every node and waits for the mesh.
fn start(fed: &mut Federation, progress: Progress<'_>) -> Result<(), BenchError> {
    progress(&format!("starting {} nodes", fed.len()));
    fed.start_all()?;
    if fed.len() > 1 {
        fed.wait_mesh(UP_TIMEOUT)?;
    }
    Ok(())
}

/// Node `i`'s log size from `GET /v1/status`.
fn log_size(fed: &Federation, i: usize) -> Result<u64, Error> {
    let status = fed.status(i)?;
    status
        .extra
        .get("log_size")
        .and_then(Value::as_u64)
        .ok_or_else(|| {
            Error::Invalid(format!(
                "{} reports no log_size in GET /v1/status",
                fed.name(i)
            ))
        })
}

/// Every running node publishes one record, then every running node holds them all: the first
/// publish after a start waits for peers' heads (the own-feed check), and gossip meshes settle, before
/// anything is measured. The log size every node then has.
fn warm_up(fed: &Federation, progress: Progress<'_>) -> Result<u64, BenchError> {
    let running = fed.running();
    progress("warm-up: one record from every node");
    let before = running
        .iter()
        .map(|&i| log_size(fed, i))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .max()
        .unwrap_or(0);
    for (k, &i) in running.iter().enumerate() {
        fed.publish(i, &crate::content::load_record(1_000_000 + k as u64))?;
    }
    let want = before + running.len() as u64;
    wait_log_sizes(fed, &running, want, Duration::from_secs(60))?;
    Ok(want)
}

/// Waits until every node of `nodes` holds at least `want` log entries.
fn wait_log_sizes(
    fed: &Federation,
    nodes: &[usize],
    want: u64,
    timeout: Duration,
) -> Result<Duration, Error> {
    fed.wait_until(
        timeout,
        &format!("every node to hold {want} log entries"),
        |fed| {
            for &i in nodes {
                if log_size(fed, i)? < want {
                    return Ok(false);
                }
            }
            Ok::<_, Error>(true)
        },
    )
}

/// Node `i`'s log: record id → `added_us` (when the node appended it).
fn added_times(fed: &Federation, i: usize) -> Result<HashMap<String, u64>, BenchError> {
    added_times_of(fed, i, None)
}

/// Node `i`'s records (of `author` only, if given): record id → `added_us`.
fn added_times_of(
    fed: &Federation,
    i: usize,
    author: Option<&str>,
) -> Result<HashMap<String, u64>, BenchError> {
    let query = RecordQuery {
        author: author.map(str::to_owned),
        limit: Some(500),
        ..RecordQuery::default()
    };
    let records = fed.client(i).records(&query).map_err(|source| Error::Api {
        node: fed.name(i).to_owned(),
        source,
    })?;
    let mut out = HashMap::with_capacity(records.len());
    for r in records {
        let id = r.get("id").and_then(Value::as_str);
        let added = r.get("added_us").and_then(Value::as_u64);
        match (id, added) {
            (Some(id), Some(added)) => {
                out.insert(id.to_owned(), added);
            }
            _ => {
                return Err(BenchError::Node(format!(
                    "{}: GET /v1/records lists a record without `id` and `added_us` (this certnet \
                     is older than the per-entry add times): rebuild it with `cargo build --release -p certnet-node`",
                    fed.name(i)
                )));
            }
        }
    }
    Ok(out)
}

/// A finished `certnet` command: its output, how long it took, and when a marker line appeared on
/// stderr (e.g. the end of the audit phase of `certnet import`).
#[derive(Debug)]
struct Timed {
    stdout: String,
    elapsed: Duration,
    marker_at: Option<Duration>,
    success: bool,
    status: String,
    stderr: String,
}

/// Runs `bin ARGS`, timing it; `marker` is looked for in stderr lines as they come.
fn run_timed(bin: &Path, args: &[&str], marker: Option<&str>) -> Result<Timed, BenchError> {
    let io_err = |source| BenchError::Io {
        action: "run",
        path: bin.to_owned(),
        source,
    };
    let start = Instant::now();
    let mut child = Command::new(bin)
        .args(args)
        .env_remove("CERTNET_DATA_DIR")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io_err)?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let out_thread = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut out) = stdout {
            let _ = std::io::Read::read_to_string(&mut out, &mut text);
        }
        text
    });
    let mut marker_at = None;
    let mut err_text = String::new();
    if let Some(err) = stderr {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if marker_at.is_none() && marker.is_some_and(|m| line.contains(m)) {
                marker_at = Some(start.elapsed());
            }
            err_text.push_str(&line);
            err_text.push('\n');
        }
    }
    let status = child.wait().map_err(io_err)?;
    let elapsed = start.elapsed();
    let stdout = out_thread.join().unwrap_or_default();
    Ok(Timed {
        stdout,
        elapsed,
        marker_at,
        success: status.success(),
        status: status.to_string(),
        stderr: err_text,
    })
}

impl Timed {
    /// The command's result as an error unless it succeeded.
    fn check(self, command: String) -> Result<Self, BenchError> {
        if self.success {
            Ok(self)
        } else {
            let tail: Vec<&str> = self.stderr.lines().rev().take(20).collect();
            Err(BenchError::Command {
                command,
                status: self.status,
                stderr: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
            })
        }
    }
}

/// `certnet import FILE --json` into node `i` (stopped); the timed command.
fn import(fed: &Federation, i: usize, file: &Path) -> Result<Timed, BenchError> {
    let data = fed.node(i).data_dir.display().to_string();
    let file = file.display().to_string();
    let args = [
        "--data-dir",
        data.as_str(),
        "import",
        file.as_str(),
        "--json",
    ];
    let timed = run_timed(fed.certnet_bin(), &args, Some("importing"))?;
    timed.check(format!("certnet {}", args.join(" ")))
}

/// Signs `count` records by `signers` on the federation's network and writes them as an export file
/// in the work directory; the records and the file.
fn corpus_file(
    config: &BenchConfig,
    fed: &Federation,
    signers: &corpus::Signers,
    count: u64,
    report: &mut Report,
    progress: Progress<'_>,
) -> Result<(Vec<Vec<u8>>, PathBuf), BenchError> {
    progress(&format!(
        "signing {count} records by {} signers (no node runs for them) on all cores",
        signers.len()
    ));
    let start = Instant::now();
    let time_ms = now_us() / 1000;
    let records = signers.sign(fed.network(), count, time_ms)?;
    let secs = start.elapsed().as_secs_f64();
    report.figure(
        "sign_rate",
        "pre-signing (bench process, all cores)",
        stats::rate(count, secs),
        "records/s",
    );
    let path = config.work_dir.join("corpus.cbor");
    signers.write_export(&path, fed.network(), &records)?;
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    report.figure(
        "corpus_mib",
        "export file of the pre-signed records",
        bytes as f64 / (1024.0 * 1024.0),
        "MiB",
    );
    Ok((records, path))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn scenarios_parse_and_unknown_ones_name_the_choices() {
        for sc in Scenario::ALL {
            assert_eq!(sc.name().parse::<Scenario>().unwrap(), sc);
        }
        assert_eq!("GOSSIP".parse::<Scenario>().unwrap(), Scenario::Gossip);
        let err = "gosip".parse::<Scenario>().unwrap_err();
        assert!(err.is_usage());
        assert_eq!(
            err.to_string(),
            "no scenario `gosip`: use one of ingest, gossip, catchup, verify, soak, api, hostile"
        );
    }

    #[test]
    fn bad_parameters_are_usage_errors() {
        let mut config = BenchConfig::new(
            Scenario::Gossip,
            PathBuf::from("/nonexistent"),
            PathBuf::from("/nonexistent/certnet"),
            1,
        );
        config.rate = Some(0.0);
        let err = run(&config, &mut |_| {}).unwrap_err();
        assert!(
            err.is_usage() && err.to_string().contains("--rate"),
            "{err}"
        );
        config.rate = None;
        config.records = Some(0);
        let err = run(&config, &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("--records"), "{err}");
    }

    #[test]
    fn a_command_is_timed_and_its_marker_seen() {
        let sh = Path::new("/bin/sh");
        let timed = run_timed(
            sh,
            &["-c", "echo out; echo 'x importing y' >&2; echo done >&2"],
            Some("importing"),
        )
        .unwrap();
        assert!(timed.success);
        assert_eq!(timed.stdout, "out\n");
        assert!(timed.marker_at.is_some());
        assert!(timed.marker_at.unwrap() <= timed.elapsed);
        let failed = run_timed(sh, &["-c", "echo bad >&2; exit 3"], None).unwrap();
        let err = failed.check("sh".into()).unwrap_err();
        assert!(err.to_string().contains("bad"), "{err}");
    }
}
