//! The `certnet-testnet` command line (binary only): arguments, dispatch to the library, exit codes.

mod output;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use certnet_testnet::bench::{self, Attack, BenchConfig, BenchError, Scenario};
use certnet_testnet::demo::{self, DemoConfig};
use certnet_testnet::federation::{Federation, FederationConfig, Spawn};
use certnet_testnet::{CERTNET, Error, LocateError};
use clap::{Args, Parser, Subcommand};
use serde_json::Value;

/// Exit code for usage errors.
const EXIT_USAGE: u8 = 2;
/// Exit code for every other failure.
const EXIT_FAILURE: u8 = 1;

/// certnet-testnet: a local federation of real `certnet` nodes on 127.0.0.1, to break and measure.
///
/// Exit codes: 0 success; 1 the command failed; 2 usage error.
#[derive(Debug, Parser)]
#[command(name = "certnet-testnet", version)]
pub(crate) struct Cli {
    /// Testnet directory: node data directories, logs/, and testnet.json (the state every command
    /// reads).
    #[arg(
        long,
        global = true,
        default_value = "testnet-data",
        value_name = "DIR"
    )]
    dir: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create N nodes (keys, one shared roster, configs), start them detached, and return once every
    /// API answers and every node sees the others; print each node's name, PeerId, API and data dir.
    Up(UpArgs),
    /// Show every node: its process, its API, and what the API reports.
    Status,
    /// Publish a record on one node.
    Publish {
        /// Node name (CERT-01) or number (1).
        node: String,
        /// JSON file holding the record `{kind, tlp, refs?, content}`; `-` reads stdin.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
    /// SIGKILL one node: a crash, with no flush and no cleanup.
    Kill {
        /// Node name (CERT-01) or number (1).
        node: String,
    },
    /// Stop one node if it runs (SIGTERM), then start it again with the same data dir and ports.
    Restart {
        /// Node name (CERT-01) or number (1).
        node: String,
    },
    /// Split the testnet with block lists, e.g. `1,2|3,4,5`: every node blocks the nodes of the
    /// other groups.
    Partition {
        /// Groups separated by `|`, nodes by `,` (names or numbers); every node in exactly one group.
        groups: String,
    },
    /// Lift every block a partition set.
    Heal,
    /// Stop every node (SIGTERM, then SIGKILL after the timeout) and check that no process is left.
    Down {
        /// Then delete what `up` created: data directories, logs and testnet.json.
        #[arg(long)]
        purge: bool,
    },
    /// A guided tour on 5 fresh nodes, over in seconds (read the narration afterwards): incidents
    /// from several CERTs, a partition and heal, an update and a revocation, an export verified
    /// offline, a tampered copy rejected. Every step is checked; every node is stopped at the end,
    /// and the work directory (nodes, exports, logs) is removed unless --keep.
    Demo(DemoArgs),
    /// Measure a scenario on fresh nodes: ingest, gossip, catchup, verify, soak, api or hostile.
    /// Prints a table; --json and --svg write the report and its plots.
    Bench(BenchArgs),
    /// Fresh nodes and one compromised member at a time (a roster member running a bare libp2p
    /// peer): it floods valid records, garbage, orphans; forges heads; answers a fetch with 4 MiB of
    /// tiny items; holds connections open. Reports the honest members' delivery and latency per
    /// attack against a quiet phase, and how the nodes reacted (the `bench hostile` scenario).
    Hostile(HostileArgs),
    /// Redraw the SVG plots of a report saved with `bench --json`.
    Plot {
        /// The report (JSON from `bench --json FILE`).
        #[arg(value_name = "REPORT")]
        report: PathBuf,
        /// Directory to draw the plots into.
        #[arg(long, value_name = "DIR")]
        svg: PathBuf,
    },
    /// Print one node's log (stdout and stderr of every run, appended).
    Logs {
        /// Node name (CERT-01) or number (1).
        node: String,
        /// Keep printing what the node writes until interrupted (Ctrl-C).
        #[arg(long, short)]
        follow: bool,
        /// Print only the last N lines.
        #[arg(long, short = 'n', value_name = "N")]
        lines: Option<usize>,
    },
}

#[derive(Debug, Args)]
struct UpArgs {
    /// Number of nodes.
    #[arg(value_name = "N", value_parser = clap::value_parser!(u16).range(1..=500))]
    nodes: u16,

    /// Fixed ports: node i (from 0) gets API P+2i and p2p P+2i+1 (TCP and QUIC) [default: free
    /// ports].
    #[arg(long, value_name = "P")]
    base_port: Option<u16>,

    /// The `certnet` binary [default: the one next to certnet-testnet].
    #[arg(long, env = "CERTNET_BIN", value_name = "PATH")]
    certnet: Option<PathBuf>,

    /// RUST_LOG filter for the nodes, e.g. `info,certnet_node=debug` [default: the node's own].
    #[arg(long, env = "CERTNET_TESTNET_RUST_LOG", value_name = "FILTER")]
    rust_log: Option<String>,

    /// Network id [default: a new random `testnet-…`].
    #[arg(long, value_name = "ID")]
    network: Option<String>,

    /// Listen on TCP only, without QUIC.
    #[arg(long)]
    no_quic: bool,

    /// Seconds to wait for every node to answer, and again for the mesh to form.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    timeout: u64,
}

/// Where demo and bench run, and which `certnet` they run.
#[derive(Debug, Args)]
struct WorkArgs {
    /// The `certnet` binary [default: the one next to certnet-testnet].
    #[arg(long, env = "CERTNET_BIN", value_name = "PATH")]
    certnet: Option<PathBuf>,

    /// Directory for the nodes, files and logs; must be empty or missing [default: a new directory
    /// under the system temp dir].
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,

    /// Keep the work directory (node data and logs) afterwards; it is always kept on failure.
    #[arg(long)]
    keep: bool,

    /// RUST_LOG filter for the nodes [default: the node's own].
    #[arg(long, env = "CERTNET_TESTNET_RUST_LOG", value_name = "FILTER")]
    rust_log: Option<String>,
}

#[derive(Debug, Args)]
struct DemoArgs {
    #[command(flatten)]
    work: WorkArgs,
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// ingest | gossip | catchup | verify | soak | api | hostile.
    #[arg(value_name = "SCENARIO")]
    scenario: String,

    #[command(flatten)]
    run: RunArgs,

    /// Pre-signed records (ingest, catchup, verify; hostile: the flooding member's records)
    /// [default: ingest 20000, catchup and verify 50000, hostile 100000].
    #[arg(long, value_name = "M")]
    records: Option<u64>,

    /// Attacks of `hostile`, comma-separated or repeated [default: all].
    #[arg(long = "attack", value_name = "ATTACK", value_delimiter = ',')]
    attacks: Vec<String>,
}

#[derive(Debug, Args)]
struct HostileArgs {
    #[command(flatten)]
    run: RunArgs,

    /// Records the flooding member pre-signs [default: 100000].
    #[arg(long, value_name = "M")]
    records: Option<u64>,

    /// Attacks to run, comma-separated or repeated: flood, garbage, orphans, forged-heads,
    /// tiny-items, connections [default: all].
    #[arg(long = "attack", value_name = "ATTACK", value_delimiter = ',')]
    attacks: Vec<String>,
}

/// What every measured run takes.
#[derive(Debug, Args)]
struct RunArgs {
    /// Nodes [default: gossip 5, catchup 3, soak 5, hostile 5; ingest and verify use 1].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=200))]
    nodes: Option<u16>,

    /// Records per second of the load (gossip, soak, hostile) [default: gossip 200, soak 20,
    /// hostile 20].
    #[arg(long, value_name = "R")]
    rate: Option<f64>,

    /// Seconds the load runs (gossip, soak; hostile: per phase) [default: gossip 30, soak 60,
    /// hostile 15].
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,

    /// Seed of the soak's fault schedule and of the signers' keys [default: from the clock].
    #[arg(long, value_name = "SEED")]
    seed: Option<u64>,

    /// Write the report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,

    /// Draw the report's plots as SVG files into DIR.
    #[arg(long, value_name = "DIR")]
    svg: Option<PathBuf>,

    #[command(flatten)]
    work: WorkArgs,
}

/// Runs the command `cli` names.
pub(crate) fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Up(args) => up(&cli.dir, &args),
        Command::Status => status(&cli.dir),
        Command::Publish { node, file } => publish(&cli.dir, &node, &file),
        Command::Kill { node } => kill(&cli.dir, &node),
        Command::Restart { node } => restart(&cli.dir, &node),
        Command::Partition { groups } => partition(&cli.dir, &groups),
        Command::Heal => heal(&cli.dir),
        Command::Down { purge } => down(&cli.dir, purge),
        Command::Demo(args) => demo(&args),
        Command::Bench(args) => bench(&args),
        Command::Hostile(args) => hostile(&args),
        Command::Plot { report, svg } => plot(&report, &svg),
        Command::Logs {
            node,
            follow,
            lines,
        } => logs(&cli.dir, &node, follow, lines),
    }
}

/// The exit code for an error: 2 for usage errors anywhere in its chain, else 1.
pub(crate) fn exit_code(err: &anyhow::Error) -> u8 {
    let usage = err.chain().any(|cause| {
        cause.is::<LocateError>()
            || cause.downcast_ref::<Error>().is_some_and(Error::is_usage)
            || cause
                .downcast_ref::<BenchError>()
                .is_some_and(BenchError::is_usage)
    });
    if usage { EXIT_USAGE } else { EXIT_FAILURE }
}

fn open(dir: &Path) -> anyhow::Result<Federation> {
    Ok(Federation::open(dir, Spawn::Detached)?)
}

fn up(dir: &Path, args: &UpArgs) -> anyhow::Result<()> {
    let exe = std::env::current_exe().ok();
    let bin = CERTNET.locate(args.certnet.as_deref(), None, exe.as_deref())?;
    let timeout = Duration::from_secs(args.timeout);
    let mut config = FederationConfig::new(dir, usize::from(args.nodes), bin);
    config.base_port = args.base_port;
    config.network.clone_from(&args.network);
    config.rust_log.clone_from(&args.rust_log);
    config.quic = !args.no_quic;
    config.spawn = Spawn::Detached;
    config.ready_timeout = timeout;
    let mut fed = Federation::create(&config)?;
    let came_up = fed
        .start_all()
        .and_then(|()| fed.wait_mesh(timeout))
        .context("the testnet did not come up");
    match came_up {
        Ok(mesh) => {
            output::print_up(&fed, mesh);
            Ok(())
        }
        Err(err) => {
            // Leave nothing running behind a failed `up`; the directory stays for its logs.
            if let Err(down) = fed.down() {
                eprintln!("error: stopping the nodes after the failure: {down:#}");
            }
            Err(err.context(format!(
                "its nodes were stopped; logs are in {}",
                fed.dir().join("logs").display()
            )))
        }
    }
}

fn status(dir: &Path) -> anyhow::Result<()> {
    let fed = open(dir)?;
    let networking = fed.supports_networking().unwrap_or(false);
    let mut rows = Vec::new();
    for i in 0..fed.len() {
        let mut row = output::StatusRow {
            name: fed.name(i).to_owned(),
            pid: fed.pid(i),
            api: fed.client(i).base_url(),
            uptime: None,
            records: None,
            peers: None,
            note: String::new(),
        };
        if fed.is_running(i) {
            match fed.status(i) {
                Ok(status) => {
                    row.uptime = Some(status.uptime_secs);
                    row.records = status.extra.get("log_size").and_then(Value::as_u64);
                }
                Err(err) => row.note = format!("{:#}", anyhow::Error::from(err)),
            }
            if networking {
                match fed.connected_peers(i) {
                    Ok(peers) => row.peers = Some(peers.len()),
                    Err(err) => row.note = format!("{:#}", anyhow::Error::from(err)),
                }
            }
        }
        if !fed.node(i).on_roster {
            row.note.insert_str(0, "outsider (not on the roster) ");
        }
        rows.push(row);
    }
    output::print_status(&fed, &rows, networking);
    Ok(())
}

fn publish(dir: &Path, node: &str, file: &Path) -> anyhow::Result<()> {
    let fed = open(dir)?;
    let i = fed.find(node)?;
    let text = if file == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the record from stdin")?;
        text
    } else {
        std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the record from {}", file.display()))?
    };
    let record: Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not JSON (a record is {{\"kind\", \"tlp\", \"content\"}})",
            file.display()
        )
    })?;
    let published = fed.publish_full(i, &record)?;
    output::print_published(fed.name(i), &published);
    Ok(())
}

fn kill(dir: &Path, node: &str) -> anyhow::Result<()> {
    let mut fed = open(dir)?;
    let i = fed.find(node)?;
    let pid = fed.pid(i);
    fed.kill(i)?;
    output::print_line(&format!(
        "killed {} (pid {}) with SIGKILL; `certnet-testnet restart {}` starts it again",
        fed.name(i),
        pid.unwrap_or_default(),
        fed.name(i)
    ));
    Ok(())
}

fn restart(dir: &Path, node: &str) -> anyhow::Result<()> {
    let mut fed = open(dir)?;
    let i = fed.find(node)?;
    fed.restart(i)?;
    output::print_line(&format!(
        "{} is running (pid {}), API {}",
        fed.name(i),
        fed.pid(i).unwrap_or_default(),
        fed.client(i).base_url()
    ));
    Ok(())
}

fn partition(dir: &Path, spec: &str) -> anyhow::Result<()> {
    let mut fed = open(dir)?;
    let groups = fed.parse_groups(spec)?;
    fed.check_groups(&groups)?;
    if !fed.supports_networking()? {
        return Err(Error::NoNetworking {
            action: "block peers to make a partition",
        }
        .into());
    }
    fed.partition(&groups)?;
    let names: Vec<String> = groups
        .iter()
        .map(|g| {
            g.iter()
                .map(|&i| fed.name(i).to_owned())
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    output::print_line(&format!(
        "partitioned: {} ({} blocks); `certnet-testnet heal` lifts them",
        names.join(" | "),
        fed.blocked().len()
    ));
    Ok(())
}

fn heal(dir: &Path) -> anyhow::Result<()> {
    let mut fed = open(dir)?;
    let before = fed.blocked().len();
    fed.heal()?;
    output::print_line(&format!("healed: {before} blocks lifted"));
    Ok(())
}

fn down(dir: &Path, purge: bool) -> anyhow::Result<()> {
    let mut fed = open(dir)?;
    let pids: Vec<Option<u32>> = (0..fed.len()).map(|i| fed.pid(i)).collect();
    let outcomes = fed.down()?;
    output::print_down(&outcomes, &pids);
    if purge {
        let dir = fed.dir().to_owned();
        fed.purge()?;
        output::print_line(&format!("removed the testnet in {}", dir.display()));
    }
    Ok(())
}

/// The work directory (given, or new under the temp dir), checked to be empty or missing.
fn work_dir(given: Option<&Path>, what: &str) -> anyhow::Result<PathBuf> {
    let dir = match given {
        Some(dir) => {
            std::path::absolute(dir).with_context(|| format!("cannot resolve {}", dir.display()))?
        }
        None => {
            let seed = bench::now_us();
            std::env::temp_dir().join(format!("certnet-{what}-{}-{seed}", std::process::id()))
        }
    };
    if let Ok(mut entries) = std::fs::read_dir(&dir)
        && entries.next().is_some()
    {
        return Err(Error::Invalid(format!(
            "{} is not empty: give --work-dir an empty or new directory",
            dir.display()
        ))
        .into());
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// Removes the work directory after success unless `--keep`; says where it is otherwise.
fn finish_work_dir(dir: &Path, keep: bool, ok: bool) {
    if ok && !keep {
        if let Err(err) = std::fs::remove_dir_all(dir) {
            eprintln!("warning: cannot remove {}: {err}", dir.display());
        }
    } else {
        eprintln!("node data and logs kept in {}", dir.display());
    }
}

fn locate_certnet(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().ok();
    Ok(CERTNET.locate(given, None, exe.as_deref())?)
}

fn demo(args: &DemoArgs) -> anyhow::Result<()> {
    let bin = locate_certnet(args.work.certnet.as_deref())?;
    let dir = work_dir(args.work.work_dir.as_deref(), "demo")?;
    let config = DemoConfig {
        work_dir: dir.clone(),
        certnet_bin: bin,
        rust_log: args.work.rust_log.clone(),
    };
    let result = demo::run(&config, &mut |text| output::print_line(text));
    finish_work_dir(&dir, args.work.keep, result.is_ok());
    result.context("the demo stopped")
}

fn bench(args: &BenchArgs) -> anyhow::Result<()> {
    let scenario: Scenario = args.scenario.parse()?;
    if scenario != Scenario::Hostile && !args.attacks.is_empty() {
        return Err(BenchError::Invalid("--attack applies to `bench hostile` only".into()).into());
    }
    measure(scenario, &args.run, args.records, &args.attacks)
}

fn hostile(args: &HostileArgs) -> anyhow::Result<()> {
    measure(Scenario::Hostile, &args.run, args.records, &args.attacks)
}

/// Runs `scenario` on fresh nodes and prints (and writes) its report.
fn measure(
    scenario: Scenario,
    args: &RunArgs,
    records: Option<u64>,
    attacks: &[String],
) -> anyhow::Result<()> {
    if let Some(d) = args.duration
        && !(d > 0.0 && d <= 86_400.0)
    {
        return Err(BenchError::Invalid(
            "--duration must be a number of seconds above 0 (at most 86400)".into(),
        )
        .into());
    }
    let attacks = if attacks.is_empty() {
        None
    } else {
        Some(
            attacks
                .iter()
                .map(|a| a.parse::<Attack>())
                .collect::<Result<Vec<_>, _>>()?,
        )
    };
    let bin = locate_certnet(args.work.certnet.as_deref())?;
    let dir = work_dir(args.work.work_dir.as_deref(), "bench")?;
    let seed = args.seed.unwrap_or_else(bench::now_us);
    let mut config = BenchConfig::new(scenario, dir.clone(), bin.clone(), seed);
    config.nodes = args.nodes.map(usize::from);
    config.rate = args.rate;
    config.duration = args.duration.map(Duration::from_secs_f64);
    config.records = records;
    config.attacks = attacks;
    config.rust_log.clone_from(&args.work.rust_log);
    let result = bench::run(&config, &mut |line| eprintln!("bench: {line}"));
    finish_work_dir(&dir, args.work.keep, result.is_ok());
    let mut report = result.with_context(|| format!("bench {} stopped", scenario.name()))?;
    if bin.components().any(|c| c.as_os_str() == "debug") {
        report.note(format!(
            "{} looks like a debug build: figures are not representative (use `cargo build --release`)",
            bin.display()
        ));
    }
    output::print_line(&report.table());
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).context("cannot encode the report")?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
        output::print_line(&format!("report written to {}", path.display()));
    }
    if let Some(dir) = &args.svg {
        for path in bench::plot::draw_all(&report, dir)? {
            output::print_line(&format!("plot written to {}", path.display()));
        }
    }
    Ok(())
}

fn plot(report: &Path, dir: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(report)
        .with_context(|| format!("cannot read {}", report.display()))?;
    let report: bench::Report = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a bench report (write one with `certnet-testnet bench SCENARIO --json FILE`)",
            report.display()
        )
    })?;
    for path in bench::plot::draw_all(&report, dir)? {
        output::print_line(&format!("plot written to {}", path.display()));
    }
    Ok(())
}

fn logs(dir: &Path, node: &str, follow: bool, lines: Option<usize>) -> anyhow::Result<()> {
    let fed = open(dir)?;
    let i = fed.find(node)?;
    let path = fed.node(i).log.clone();
    output::print_log(&path, lines, follow)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn exit_codes() {
        let unknown = anyhow::Error::new(Error::UnknownNode {
            given: "x".into(),
            names: "CERT-01".into(),
            count: 1,
        })
        .context("kill");
        assert_eq!(exit_code(&unknown), EXIT_USAGE);
        let timeout = anyhow::Error::new(Error::NoneRunning);
        assert_eq!(exit_code(&timeout), EXIT_FAILURE);
    }
}
