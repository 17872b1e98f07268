//! The `certnet` binary: parses the command line, runs one command, maps its outcome to an exit code.
//!
//! Exit codes:
//! - 0: success;
//! - 1: the command failed (invalid file contents, a refused operation, an error from the node);
//! - 2: usage error, or an I/O error (a file or the node's API could not be read, written or reached).
//!
//! Errors go to stderr as `error: ` and the whole cause chain; logs (from `run`) go to stderr too, so
//! stdout holds only command output.

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
