//! `certnet export --out FILE`: have the running node sign a checkpoint for its current log size,
//! then download the log up to it as an export file (header with that checkpoint, every entry, fork
//! proofs) for `certnet verify`; or, with `--format stix`, as one STIX 2.1 bundle (filtered by
//! `--tlp` and `--kind`).

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::PathBuf;

use anyhow::Context as _;
use certnet_node::api::client::Client;
use certnet_node::api::wire::{CheckpointResponse, SIZE_HEADER};
use certnet_node::datadir::DataDir;
use clap::{Args, ValueEnum};

use super::UsageError;
use super::out::print_text;

/// What `certnet export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// The auditable export file (CBOR sequence) for `certnet verify` and `certnet import`.
    Certnet,
    /// One STIX 2.1 bundle (JSON) of every record's objects, for CTI tools.
    Stix,
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// Where to write the export file (written to FILE.part first, renamed when complete).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// What to write: the auditable certnet export, or a STIX 2.1 bundle.
    #[arg(long, value_enum, default_value_t = Format::Certnet)]
    format: Format,
    /// With --format stix: only objects marked with these TLP labels (comma-separated; default
    /// clear, green and amber: amber+strict, for the organisation only, must be named).
    #[arg(long, value_name = "TLP,...")]
    tlp: Option<String>,
    /// With --format stix: only objects of these record kinds (incident, indicator, advisory,
    /// sighting; comma-separated).
    #[arg(long, value_name = "KIND,...")]
    kind: Option<String>,
}

pub(super) fn run(dir: &DataDir, args: &ExportArgs) -> anyhow::Result<()> {
    if args.format == Format::Certnet && (args.tlp.is_some() || args.kind.is_some()) {
        return Err(UsageError("--tlp and --kind filter only --format stix: the certnet export always holds the whole log, so it can be audited".into()).into());
    }
    let client = Client::from_data_dir(dir)?;
    let path = match args.format {
        Format::Certnet => {
            // GET /v1/export changes nothing: it exports up to the newest checkpoint, so sign one
            // for the log as it is now.
            client
                .post_empty::<CheckpointResponse>("/v1/log/checkpoint")
                .context("cannot have the node sign a checkpoint for the export")?;
            "/v1/export".to_owned()
        }
        Format::Stix => {
            let mut query = Vec::new();
            if let Some(t) = &args.tlp {
                query.push(format!("tlp={}", encode(t)));
            }
            if let Some(k) = &args.kind {
                query.push(format!("kind={}", encode(k)));
            }
            if query.is_empty() {
                "/v1/stix".to_owned()
            } else {
                format!("/v1/stix?{}", query.join("&"))
            }
        }
    };
    let mut part = args.out.clone().into_os_string();
    part.push(".part");
    let part = PathBuf::from(part);
    let file = File::create(&part).with_context(|| format!("cannot create {}", part.display()))?;
    let mut out = BufWriter::new(file);
    let downloaded = client.download(&path, &mut out);
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
    if args.format == Format::Stix {
        print_text(&format!(
            "wrote {}: a STIX 2.1 bundle of {bytes} bytes",
            args.out.display()
        ));
        return Ok(());
    }
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

/// Percent-encodes a query value (`+` in `amber+strict` included).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b',' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
