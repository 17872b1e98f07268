//! The `certnet` command line (binary only): arguments, the data directory, dispatch, exit codes.

mod checkpoint;
mod consumer;
mod export;
mod import;
mod init;
mod keys;
mod misp;
mod out;
mod peers;
mod publish;
mod records;
mod roster;
mod run;
mod search;
mod status;
mod verify;
mod verify_sealed;

use std::path::PathBuf;

use certnet_node::api::client::ClientError;
use certnet_node::datadir::{self, DataDir};
use clap::{Parser, Subcommand};

/// Exit code for usage and I/O errors.
const EXIT_USAGE_OR_IO: u8 = 2;
/// Exit code for every other failure.
const EXIT_FAILURE: u8 = 1;

/// certnet: share incident information between CERTs, signed and verifiable, with no central hub.
///
/// Exit codes: 0 success; 1 the command failed; 2 usage error or I/O error.
#[derive(Debug, Parser)]
#[command(name = "certnet", version)]
pub(crate) struct Cli {
    /// Data directory holding the keys, config.toml, roster.toml, the API token and the store.
    /// Default: $XDG_DATA_HOME/certnet if XDG_DATA_HOME is an absolute path, else
    /// $HOME/.local/share/certnet.
    #[arg(long, global = true, env = "CERTNET_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a new node: author and node keys, config.toml, roster.toml and an API token.
    Init(init::InitArgs),
    /// Print this node's name, author key and PeerId: what other members put in their roster.
    Keys(keys::KeysArgs),
    /// Run the node until SIGINT or SIGTERM (initialising an empty data directory first).
    Run(run::RunArgs),
    /// Show the running node's status: identity, log size, root, checkpoint, forks, disk use.
    Status(status::StatusArgs),
    /// Have the running node sign and store a record (from a JSON file, or an incident from flags);
    /// prints its id.
    Publish(Box<publish::PublishArgs>),
    /// List the running node's log, filtered, as a table or JSON.
    Records(records::RecordsArgs),
    /// Look up an indicator (IP, domain, URL, hash, CVE, …): every live record that reports or sighted
    /// it, and every member that did, with first and last seen.
    Search(search::SearchArgs),
    /// Show one record with its current view (after updates and revocations) and history.
    Show(records::ShowArgs),
    /// Print the running node's newest signed checkpoint (`--new`: sign one for the current log).
    Checkpoint(checkpoint::CheckpointArgs),
    /// Download the running node's log as an export file, for `certnet verify` and `certnet import`.
    Export(export::ExportArgs),
    /// Verify an export file offline: every signature, every chain, the root against the signed
    /// checkpoint. Exit 0 ok, 1 does not verify, 2 unreadable.
    Verify(verify::VerifyArgs),
    /// Verify an export file, then add its records to this data directory's store (node stopped).
    Import(import::ImportArgs),
    /// List the running node's peers, or block/unblock one.
    Peers(peers::PeersArgs),
    /// Edit roster.toml (add, remove, list members) and make the running node reload it.
    Roster(roster::RosterArgs),
    /// Bring MISP events into the federation (node/MISP.md): `certnet misp import FILE|DIR`.
    Misp(misp::MispArgs),
    /// Manage who may read which TLP bands without the API token (TAXII clients, SIEMs, MISP).
    Consumer(consumer::ConsumerArgs),
}

/// A mistake in how certnet was called, found after argument parsing (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UsageError(pub(crate) String);

/// A file could not be read or written, described in the message (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct IoFailure(pub(crate) String);

/// Runs the command `args` names.
pub(crate) fn run(args: Cli) -> anyhow::Result<()> {
    // Offline verification needs no data directory.
    if let Command::Verify(a) = &args.command {
        return verify::run(a);
    }
    let dir = resolve_data_dir(args.data_dir)?;
    match args.command {
        Command::Init(a) => init::run(&dir, a),
        Command::Keys(a) => keys::run(&dir, &a),
        Command::Run(a) => run::run(&dir, &a),
        Command::Status(a) => status::run(&dir, &a),
        Command::Publish(a) => publish::run(&dir, *a),
        Command::Records(a) => records::run_records(&dir, &a),
        Command::Show(a) => records::run_show(&dir, &a),
        Command::Search(a) => search::run(&dir, &a),
        Command::Checkpoint(a) => checkpoint::run(&dir, &a),
        Command::Export(a) => export::run(&dir, &a),
        Command::Verify(a) => verify::run(&a),
        Command::Import(a) => import::run(&dir, &a),
        Command::Peers(a) => peers::run(&dir, &a),
        Command::Roster(a) => roster::run(&dir, a),
        Command::Consumer(a) => consumer::run(&dir, &a),
        Command::Misp(a) => misp::run(&dir, &a),
    }
}

/// The data directory from `--data-dir`/`CERTNET_DATA_DIR`, else the default, made absolute.
fn resolve_data_dir(given: Option<PathBuf>) -> anyhow::Result<DataDir> {
    let dir = match given {
        Some(dir) => dir,
        None => datadir::default_data_dir(
            std::env::var_os("XDG_DATA_HOME").as_deref(),
            std::env::var_os("HOME").as_deref(),
        )
        .ok_or_else(|| {
            UsageError(
                "no default data directory: neither XDG_DATA_HOME nor HOME is an absolute path; pass --data-dir DIR".into(),
            )
        })?,
    };
    let dir = std::path::absolute(&dir).map_err(|err| {
        UsageError(format!(
            "cannot resolve data directory {}: {err}",
            dir.display()
        ))
    })?;
    Ok(DataDir::new(dir))
}

/// The exit code for an error: 2 for usage and I/O errors anywhere in its chain, else 1.
pub(crate) fn exit_code(err: &anyhow::Error) -> u8 {
    let usage_or_io = err.chain().any(|cause| {
        cause.is::<std::io::Error>()
            || cause.is::<UsageError>()
            || cause.is::<IoFailure>()
            || matches!(
                cause.downcast_ref::<ClientError>(),
                Some(
                    ClientError::NotRunning { .. }
                        | ClientError::ReadAddr { .. }
                        | ClientError::Unreachable { .. }
                        | ClientError::Transfer { .. }
                )
            )
            // A filter or option the node refused as malformed is the caller's mistake.
            || matches!(
                cause.downcast_ref::<ClientError>(),
                Some(ClientError::Api { code, .. })
                    if matches!(
                        code.as_str(),
                        "bad_query" | "bad_id" | "ambiguous_id" | "no_effect" | "unknown_target"
                            | "bad_audience" | "tlp_red" | "duplicate" | "bad_indicator"
                    )
            )
    });
    if usage_or_io {
        EXIT_USAGE_OR_IO
    } else {
        EXIT_FAILURE
    }
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
        let io = anyhow::Error::new(std::io::Error::other("disk")).context("writing");
        assert_eq!(exit_code(&io), 2);
        let usage = anyhow::Error::new(UsageError("bad".into()));
        assert_eq!(exit_code(&usage), 2);
        let unreadable = anyhow::Error::new(IoFailure("cannot read".into()));
        assert_eq!(exit_code(&unreadable), 2);
        let failed = anyhow::anyhow!("refused");
        assert_eq!(exit_code(&failed), 1);
        let bad_filter = anyhow::Error::new(ClientError::Api {
            status: 400,
            code: "bad_query".into(),
            message: "kind `incidents` is not one of …".into(),
        });
        assert_eq!(exit_code(&bad_filter), 2);
        let refused = anyhow::Error::new(ClientError::Api {
            status: 422,
            code: "invalid_record".into(),
            message: "…".into(),
        });
        assert_eq!(exit_code(&refused), 1);
    }
}
