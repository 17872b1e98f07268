//! `certnet verify FILE`: audit an export file offline, trusting nothing but the file and what the
//! auditor brings (`--key`, `--checkpoint`). Exit 0 when it verifies, 1 when it does not (naming the
//! entry: index, author, seq and reason), 2 when it cannot be read.

use std::fs::File;
use std::io::{BufReader, IsTerminal as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use certnet_protocol::audit::{AuditOptions, AuditSummary, audit};
use certnet_protocol::keys::AuthorKey;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::out::{print_json, print_text};
use super::verify_sealed;
use super::{IoFailure, UsageError};
use certnet_node::datadir::keys::load_encryption_keys;
use certnet_node::datadir::roster_file::RosterFile as _;
use certnet_node::membership::Roster;

/// Files at least this large get a progress bar (when stderr is a terminal).
const PROGRESS_MIN_BYTES: u64 = 8 * 1024 * 1024;

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The export file (from `certnet export` or `GET /v1/export`).
    file: PathBuf,

    /// An older signed checkpoint note of the same log (from `certnet checkpoint`): the file must
    /// extend it, or the log rewrote history.
    #[arg(long, value_name = "OLD_NOTE_FILE")]
    checkpoint: Option<PathBuf>,

    /// The author key the log must be signed by (ed25519:…, as `certnet keys` prints it); without
    /// it the key named in the file is used.
    #[arg(long, value_name = "ed25519:…")]
    key: Option<AuthorKey>,

    /// The federation's roster.toml as the auditor holds it: the log must be signed by a member's
    /// author key, and every author in it must be a member (else exit 1, naming them).
    #[arg(long, value_name = "ROSTER_FILE")]
    roster: Option<PathBuf>,

    /// An encryption key file (encryption.key of a member's node, X25519 PKCS#8 PEM): open the
    /// sealed records addressed to it and check their bodies; others are reported "not a recipient".
    /// A sealed record addressed to it that does not open fails the verification (exit 1).
    #[arg(long, value_name = "KEY_FILE")]
    open_with: Option<PathBuf>,

    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(args: &VerifyArgs) -> anyhow::Result<()> {
    let old_checkpoint = args
        .checkpoint
        .as_ref()
        .map(|path| {
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the older checkpoint {}", path.display()))
        })
        .transpose()?;
    let options = AuditOptions {
        expected_key: args.key,
        old_checkpoint,
    };
    let secrets = args
        .open_with
        .as_ref()
        .map(|path| load_encryption_keys(path).map_err(|e| UsageError(format!("--open-with: {e}"))))
        .transpose()?;
    let roster = args
        .roster
        .as_ref()
        .map(|path| Roster::load(path).map_err(|e| UsageError(format!("--roster: {e}"))))
        .transpose()?;
    let summary = audit_file(&args.file, &options, "verifying")?;
    let signer = match &roster {
        Some(roster) => Some(check_roster(&args.file, &summary, roster)?),
        None => None,
    };
    let sealed = secrets
        .map(|secrets| verify_sealed::open_all(&args.file, &secrets))
        .transpose()?;
    let key_checked = args.key.is_some() || signer.is_some();
    let failed = sealed
        .as_ref()
        .map_or(0, |s| s.iter().filter(|e| e.failed()).count());
    if args.json {
        let mut json = SummaryJson::new(&args.file, &summary, key_checked);
        if signer.is_some() && args.key.is_none() {
            json.key_source = "--roster";
        }
        json.member = signer.clone();
        json.ok = failed == 0;
        json.sealed = sealed;
        print_json(&json)?;
    } else {
        let mut text = match &signer {
            Some(member) if args.key.is_none() => render_with_member(&args.file, &summary, member),
            _ => render(&args.file, &summary, key_checked),
        };
        if let Some(sealed) = &sealed {
            text.push('\n');
            text.push_str(&verify_sealed::render(sealed).join("\n"));
        }
        print_text(&text);
    }
    if failed > 0 {
        anyhow::bail!(
            "{failed} sealed record(s) addressed to the --open-with key do not open: the signed log is intact, but their content is not what a recipient can read"
        );
    }
    Ok(())
}

/// Audits the export at `path`, with a progress bar on large files when stderr is a terminal.
/// A file that does not verify is an error saying where; one that cannot be read is an [`IoFailure`].
pub(super) fn audit_file(
    path: &Path,
    options: &AuditOptions,
    verb: &str,
) -> anyhow::Result<AuditSummary> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = file
        .metadata()
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    let bar = (len >= PROGRESS_MIN_BYTES && std::io::stderr().is_terminal()).then(|| {
        // A spinner until the first batch is verified and the checkpoint's size is known.
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} the first entries…") {
            bar.set_style(style);
        }
        bar.set_message(verb.to_owned());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    });
    let result = audit(
        BufReader::with_capacity(1 << 20, file),
        options,
        |done, total| {
            if let Some(bar) = &bar {
                if bar.length() != Some(total) {
                    if let Ok(style) = ProgressStyle::with_template(
                        "{msg} [{bar:40}] {pos}/{len} entries ({per_sec}, {eta} left)",
                    ) {
                        bar.set_style(style.progress_chars("=> "));
                    }
                    bar.set_length(total);
                }
                bar.set_position(done);
            }
        },
    );
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    result.map_err(|err| {
        if err.is_io() {
            anyhow::Error::new(IoFailure(format!("cannot read {}: {err}", path.display())))
        } else if err.is_bad_input() {
            anyhow::Error::new(UsageError(format!(
                "{err}: the --checkpoint file is not a signed checkpoint note (keep one with `certnet checkpoint > FILE`)"
            )))
        } else {
            anyhow::anyhow!("{} does not verify: {err}", path.display())
        }
    })
}

/// With `--roster`: the log's key must be a member's, on the roster's network, and every author a
/// member. The signer's name, or an error naming what is not in the roster (exit 1).
fn check_roster(path: &Path, s: &AuditSummary, roster: &Roster) -> anyhow::Result<String> {
    if s.header.net != roster.network().as_str() {
        anyhow::bail!(
            "{} is a log of network `{}`, the roster is for `{}`",
            path.display(),
            s.header.net,
            roster.network()
        );
    }
    let Some(signer) = roster.member_by_author(&s.header.key) else {
        anyhow::bail!(
            "{} is signed by {}, which is no member's author key in the roster: the log is not one of this federation's",
            path.display(),
            s.header.key
        );
    };
    let strangers: Vec<String> = s
        .heads
        .iter()
        .filter(|(author, _, _)| roster.member_by_author(author).is_none())
        .map(|(author, seq, _)| format!("{author} (up to seq {seq})"))
        .collect();
    if !strangers.is_empty() {
        anyhow::bail!(
            "{} verifies, but {} of its authors are not in the roster: {}",
            path.display(),
            strangers.len(),
            strangers.join(", ")
        );
    }
    Ok(signer.name().to_string())
}

/// The result with `--roster`: whose log it is, as the roster names the key.
fn render_with_member(path: &Path, s: &AuditSummary, member: &str) -> String {
    let text = render(path, s, true);
    let first = format!(
        "OK: {} verifies, signed by {member}'s author key as the roster lists it; every author is a member",
        path.display()
    );
    match text.split_once('\n') {
        Some((_, rest)) => format!("{first}\n{rest}"),
        None => first,
    }
}

fn render(path: &Path, s: &AuditSummary, key_checked: bool) -> String {
    let verdict = if key_checked {
        format!(
            "OK: {} verifies, signed by the key given with --key",
            path.display()
        )
    } else {
        format!(
            "OK: {} verifies with the key named in the file itself ({}): compare it with the CERT's author key obtained out of band, or pass --key",
            path.display(),
            s.header.key
        )
    };
    let mut lines = vec![
        verdict,
        format!("  network      {}", s.header.net),
        format!("  origin       {}", s.header.origin),
        format!("  key          {}", s.header.key),
        format!("  entries      {}", s.entries),
        format!("  root         {}", hex::encode(s.checkpoint.root())),
        format!(
            "  checkpoint   {} entries, signature valid",
            s.checkpoint.size()
        ),
        format!("  authors      {}", s.heads.len()),
    ];
    for (author, seq, id) in &s.heads {
        lines.push(format!("    {author}  head seq {seq}  {id}"));
    }
    if s.forks.is_empty() {
        lines.push("  forks        none".to_owned());
    } else {
        lines.push(format!(
            "  forks        {} (valid equivocation proofs)",
            s.forks.len()
        ));
        for (author, seq) in &s.forks {
            lines.push(format!("    {author}  signed two records at seq {seq}"));
        }
    }
    lines.push(match s.consistent_with {
        Some(size) => format!(
            "  consistency  extends the older checkpoint of {size} entries (no history rewritten)"
        ),
        None => "  consistency  not checked (pass --checkpoint OLD_NOTE_FILE)".to_owned(),
    });
    lines.join("\n")
}

/// `certnet verify --json`.
#[derive(Debug, Serialize)]
struct SummaryJson {
    ok: bool,
    file: String,
    network: String,
    origin: String,
    key: String,
    /// `--key` when the auditor named the key, `--roster` when a roster member's key signed it,
    /// `file` when the file's own key was used.
    key_source: &'static str,
    /// With `--roster`: the member whose key signed the log.
    #[serde(skip_serializing_if = "Option::is_none")]
    member: Option<String>,
    entries: u64,
    root: String,
    checkpoint_size: u64,
    authors: Vec<AuthorHead>,
    forks: Vec<ForkAt>,
    consistent_with: Option<u64>,
    /// With `--open-with`: each sealed record and what opening it gave.
    #[serde(skip_serializing_if = "Option::is_none")]
    sealed: Option<Vec<verify_sealed::SealedEntry>>,
}

#[derive(Debug, Serialize)]
struct AuthorHead {
    author: String,
    seq: u64,
    id: String,
}

#[derive(Debug, Serialize)]
struct ForkAt {
    author: String,
    seq: u64,
}

impl SummaryJson {
    fn new(path: &Path, s: &AuditSummary, key_checked: bool) -> Self {
        Self {
            ok: true,
            file: path.display().to_string(),
            network: s.header.net.clone(),
            origin: s.header.origin.clone(),
            key: s.header.key.to_string(),
            key_source: if key_checked { "--key" } else { "file" },
            member: None,
            entries: s.entries,
            root: hex::encode(s.checkpoint.root()),
            checkpoint_size: s.checkpoint.size(),
            authors: s
                .heads
                .iter()
                .map(|(author, seq, id)| AuthorHead {
                    author: author.to_string(),
                    seq: *seq,
                    id: id.to_string(),
                })
                .collect(),
            forks: s
                .forks
                .iter()
                .map(|(author, seq)| ForkAt {
                    author: author.to_string(),
                    seq: *seq,
                })
                .collect(),
            consistent_with: s.consistent_with,
            sealed: None,
        }
    }
}
