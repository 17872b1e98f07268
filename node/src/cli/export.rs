//! `certnet export --out FILE`: download the running node's log as an export file (header with a
//! checkpoint signed for the current log size, every entry, fork proofs) for `certnet verify`.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::PathBuf;

use anyhow::Context as _;
use certnet_node::api::client::Client;
use certnet_node::api::wire::SIZE_HEADER;
use certnet_node::datadir::DataDir;
use clap::Args;

use super::out::print_text;

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// Where to write the export file (written to FILE.part first, renamed when complete).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

pub(super) fn run(dir: &DataDir, args: &ExportArgs) -> anyhow::Result<()> {
    let client = Client::from_data_dir(dir)?;
    let mut part = args.out.clone().into_os_string();
    part.push(".part");
    let part = PathBuf::from(part);
    let file = File::create(&part).with_context(|| format!("cannot create {}", part.display()))?;
    let mut out = BufWriter::new(file);
    let downloaded = client.download("/v1/export", &mut out);
    let finished = downloaded.and_then(|(bytes, headers)| {
        out.flush()
            .and_then(|()| out.get_ref().sync_all())
            .map_err(|source| certnet_node::api::client::ClientError::Transfer {
                addr: client.addr(),
                source,
            })?;
        Ok((bytes, headers))
    });
    let (bytes, headers) = match finished {
        Ok(done) => done,
        Err(err) => {
            let _ = std::fs::remove_file(&part);
            return Err(err.into());
        }
    };
    std::fs::rename(&part, &args.out)
        .with_context(|| format!("cannot rename {} to {}", part.display(), args.out.display()))?;
    let size = headers
        .get(SIZE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("?");
    print_text(&format!(
        "wrote {}: {bytes} bytes, checkpoint of {size} entries (check it with `certnet verify {}`)",
        args.out.display(),
        args.out.display()
    ));
    Ok(())
}
