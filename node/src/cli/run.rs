//! `certnet run`: set up logging, initialise an empty data directory, load it, and run the node
//! until SIGINT or SIGTERM.

use std::future::Future;
use std::io::IsTerminal as _;

use anyhow::Context as _;
use certnet_node::datadir::DataDir;
use certnet_node::datadir::{init, load};
use certnet_node::runtime;
use clap::{Args, ValueEnum};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tracing::info;
use tracing_subscriber::EnvFilter;

use super::UsageError;

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Log line format on stderr. Verbosity comes from RUST_LOG (default: info).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

pub(super) fn run(dir: &DataDir, args: &RunArgs) -> anyhow::Result<()> {
    init_logging(args.log_format)?;

    if let Some(report) = init::ensure_initialised(dir, &super::init::default_options())? {
        info!(
            data_dir = %dir.root().display(),
            name = %report.name,
            network = %report.network,
            author_key = %report.author_key,
            peer_id = %report.peer_id,
            "initialised a new node with defaults (see config.toml and roster.toml there)"
        );
    }
    let node = load::load(dir)?;
    let listen = node.config().api().listen();
    let config_path = dir.config();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let shutdown = shutdown_signal().context("cannot install the SIGINT/SIGTERM handlers")?;
        let listener = TcpListener::bind(listen).await.with_context(|| {
            format!(
                "cannot listen on {listen} for the API (change [api] listen in {})",
                config_path.display()
            )
        })?;
        runtime::run(node, listener, shutdown).await?;
        Ok(())
    })
}

/// Completes on the first SIGINT or SIGTERM.
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => info!(signal = "SIGINT", "stopping"),
            _ = terminate.recv() => info!(signal = "SIGTERM", "stopping"),
        }
    })
}

/// Logs to stderr, filtered by RUST_LOG (default `info`); a bad RUST_LOG is a usage error.
fn init_logging(format: LogFormat) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) => EnvFilter::try_new(&spec).map_err(|err| {
            UsageError(format!(
                "RUST_LOG={spec:?} is not a valid log filter: {err}"
            ))
        })?,
        Err(std::env::VarError::NotPresent) => EnvFilter::new("info"),
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(UsageError("RUST_LOG is not valid UTF-8".into()).into());
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    installed.map_err(|err| anyhow::anyhow!("cannot install the logger: {err}"))
}
