//! The `certnet-testnet` binary: parses the command line, runs one command on the testnet library,
//! maps its outcome to an exit code.
//!
//! Exit codes:
//! - 0: success;
//! - 1: the command failed (a node did not come up, a node refused a request, a process survived);
//! - 2: usage error (bad arguments, an unknown node, no testnet in `--dir`, no `certnet` binary).
//!
//! Errors go to stderr as `error: ` and the whole cause chain; stdout holds only command output.

mod cli;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    // clap exits by itself: 0 for --help and --version, 2 for usage errors.
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(cli::exit_code(&err))
        }
    }
}
