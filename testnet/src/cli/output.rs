//! What `certnet-testnet` prints on stdout: tables, one-line results, logs. The only place that
//! writes to stdout. A closed stdout (`certnet-testnet status | head -1`) ends the output quietly
//! instead of panicking like `println!`.

use std::fs::File;
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use certnet_testnet::Published;
use certnet_testnet::federation::{Federation, Mesh, NodeOutcome};

/// How often `logs --follow` looks for new output.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// One line of `status`.
pub(super) struct StatusRow {
    pub(super) name: String,
    pub(super) pid: Option<u32>,
    pub(super) api: String,
    pub(super) uptime: Option<u64>,
    pub(super) records: Option<u64>,
    pub(super) peers: Option<usize>,
    pub(super) note: String,
}

/// Columns padded to their widest cell, two spaces apart.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push('\n');
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

pub(super) fn print_up(fed: &Federation, mesh: Mesh) {
    let rows: Vec<Vec<String>> = fed
        .nodes()
        .iter()
        .enumerate()
        .map(|(i, n)| {
            vec![
                n.name.clone(),
                n.peer_id.clone(),
                fed.client(i).base_url(),
                n.data_dir.display().to_string(),
            ]
        })
        .collect();
    emit(&table(&["NAME", "PEER ID", "API", "DATA DIR"], &rows));
    emit("");
    match mesh {
        Mesh::Formed(took) => emit(&format!(
            "{} nodes up on network {}; every node sees the others (mesh formed in {:.1} s).",
            fed.len(),
            fed.network(),
            took.as_secs_f64()
        )),
        Mesh::NoNetworking => emit(&format!(
            "{} nodes up on network {}; every API answers. This certnet has no networking yet \
             (GET /v1/peers answers 404), so there is no mesh to wait for.",
            fed.len(),
            fed.network()
        )),
    }
    if let Some(first) = fed.nodes().first() {
        emit(&format!(
            "Console: {}/ui/ (every node serves one at /ui/ on its API); sign in with the token in {}",
            fed.client(0).base_url(),
            first.data_dir.join("api.token").display()
        ));
    }
    let dir = fed.dir().display();
    emit(&format!(
        "Logs: {dir}/logs/. Stop everything with: certnet-testnet down --dir {dir}"
    ));
}

pub(super) fn print_status(fed: &Federation, rows: &[StatusRow], networking: bool) {
    let others = fed.members().len().saturating_sub(1);
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                r.pid
                    .map_or_else(|| "stopped".to_owned(), |p| p.to_string()),
                r.api.clone(),
                r.uptime.map_or_else(|| "-".to_owned(), |s| format!("{s}s")),
                r.records.map_or_else(|| "-".to_owned(), |n| n.to_string()),
                match (networking, r.peers) {
                    (true, Some(n)) => format!("{n}/{others}"),
                    _ => "-".to_owned(),
                },
                r.note.clone(),
            ]
        })
        .collect();
    emit(&table(
        &["NAME", "PID", "API", "UPTIME", "LOG SIZE", "PEERS", "NOTE"],
        &cells,
    ));
    if !fed.blocked().is_empty() {
        let blocks: Vec<String> = fed
            .blocked()
            .iter()
            .map(|b| format!("{} refuses {}", b.by, b.peer))
            .collect();
        emit(&format!("\npartitioned: {}", blocks.join(", ")));
    }
    emit(&format!(
        "\nnetwork {}; directory {}",
        fed.network(),
        fed.dir().display()
    ));
}

pub(super) fn print_published(node: &str, published: &Published) {
    let mut line = format!("published {} on {node}", published.id);
    if let Some(seq) = published.seq {
        line.push_str(&format!(" (seq {seq}"));
        if let Some(index) = published.index {
            line.push_str(&format!(", log index {index}"));
        }
        line.push(')');
    }
    emit(&line);
}

pub(super) fn print_down(outcomes: &[(String, NodeOutcome)], pids: &[Option<u32>]) {
    for ((name, outcome), pid) in outcomes.iter().zip(pids) {
        let pid = pid.map_or_else(String::new, |p| format!(" (pid {p})"));
        let what = match outcome {
            NodeOutcome::NotRunning => "was not running".to_owned(),
            NodeOutcome::Stopped(Some(status)) => format!("stopped{pid}: {status}"),
            NodeOutcome::Stopped(None) => format!("stopped{pid}"),
            NodeOutcome::Killed => format!("killed{pid}: it ignored SIGTERM"),
        };
        emit(&format!("{name} {what}"));
    }
    emit("no node process is left running");
}

pub(super) fn print_line(line: &str) {
    emit(line);
}

/// Writes `text` and a newline to stdout; a closed stdout is not an error.
fn emit(text: &str) {
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "{text}").and_then(|()| stdout.flush());
}

/// Prints a log file (or its last `lines` lines), then, with `follow`, what is appended to it.
pub(super) fn print_log(path: &Path, lines: Option<usize>, follow: bool) -> anyhow::Result<()> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut text = Vec::new();
    file.read_to_end(&mut text)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut pos = u64::try_from(text.len()).unwrap_or(u64::MAX);
    let shown = match lines {
        Some(n) => {
            let text = String::from_utf8_lossy(&text);
            let all: Vec<&str> = text.lines().collect();
            let mut out = all[all.len().saturating_sub(n)..].join("\n");
            if !out.is_empty() {
                out.push('\n');
            }
            out.into_bytes()
        }
        None => text,
    };
    let mut stdout = io::stdout().lock();
    if let Err(err) = stdout.write_all(&shown).and_then(|()| stdout.flush()) {
        return quiet_on_closed_stdout(err);
    }
    if !follow {
        return Ok(());
    }
    loop {
        std::thread::sleep(FOLLOW_POLL);
        let len = file.metadata()?.len();
        if len < pos {
            pos = 0; // truncated: start over
        }
        if len > pos {
            file.seek(SeekFrom::Start(pos))?;
            let mut new = Vec::new();
            file.read_to_end(&mut new)?;
            pos += u64::try_from(new.len()).unwrap_or(0);
            if let Err(err) = stdout.write_all(&new).and_then(|()| stdout.flush()) {
                return quiet_on_closed_stdout(err);
            }
        }
    }
}

/// A reader that went away (`logs -f | head`) ends the output without an error.
fn quiet_on_closed_stdout(err: io::Error) -> anyhow::Result<()> {
    if err.kind() == io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(anyhow::Error::new(err).context("cannot write to stdout"))
    }
}
