//! `certnet checkpoint [--new]`: the running node's newest signed checkpoint, or a new one for the
//! current log size. Prints the signed note itself, so `certnet checkpoint > old.note` keeps a note
//! that `certnet verify FILE --checkpoint old.note` later checks a newer export against.

use certnet_node::api::client::{Client, ClientError};
use certnet_node::api::wire::CheckpointResponse;
use certnet_node::datadir::DataDir;
use clap::Args;

use super::out::{print_json, print_text};

#[derive(Debug, Args)]
pub(crate) struct CheckpointArgs {
    /// Sign a checkpoint for the current log size now (if the newest one is older).
    #[arg(long)]
    new: bool,

    /// Print JSON (size, root, origin, key, verifier_key, note) instead of the note.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(dir: &DataDir, args: &CheckpointArgs) -> anyhow::Result<()> {
    let client = Client::from_data_dir(dir)?;
    // Without --new the newest note; a node that has signed none yet (younger than its checkpoint
    // interval) signs its first, so `certnet checkpoint > monday.note` always keeps a note.
    let checkpoint: CheckpointResponse = if args.new {
        client.post_empty("/v1/log/checkpoint")?
    } else {
        match client.get_json("/v1/log/checkpoint") {
            Err(ClientError::Api { status: 404, .. }) => client.post_empty("/v1/log/checkpoint")?,
            other => other?,
        }
    };
    if args.json {
        return print_json(&checkpoint);
    }
    match checkpoint.created {
        Some(true) => eprintln!("signed a new checkpoint of {} entries", checkpoint.size),
        Some(false) => eprintln!(
            "the newest checkpoint already covers all {} entries",
            checkpoint.size
        ),
        None => {}
    }
    // The note ends with a newline already.
    print_text(checkpoint.note.trim_end_matches('\n'));
    Ok(())
}
