//! `certnet-testnet demo`: a guided tour of a five-CERT federation on real processes —
//! incidents from several CERTs, a partition and its heal, an update and a revocation propagating,
//! an export verified offline, a tampered copy rejected. Every step is checked (the demo fails
//! loudly, naming the step, when something does not hold) and narrated through a callback, so the
//! library prints nothing itself.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::content;
use crate::error::Error;
use crate::federation::{Federation, FederationConfig, Spawn};

/// Nodes in the demo federation.
pub const NODES: usize = 5;
/// How long a record may take to reach the nodes it should reach.
const PROPAGATE: Duration = Duration::from_secs(120);
/// The text the tampered copy changes (one letter of a signed incident title).
pub const TAMPER_FROM: &[u8] = b"Ransomware at a regional hospital";
/// What it becomes.
pub const TAMPER_TO: &[u8] = b"ransomware at a regional hospital";

/// What the demo needs.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// An empty or missing directory for the nodes, the export and the logs.
    pub work_dir: PathBuf,
    /// The `certnet` binary.
    pub certnet_bin: PathBuf,
    /// RUST_LOG for the nodes.
    pub rust_log: Option<String>,
}

/// Why the demo stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Driving the testnet failed.
    #[error(transparent)]
    Testnet(#[from] Error),
    /// A step's check did not hold.
    #[error("step {step}: {what}")]
    Check {
        /// The step.
        step: &'static str,
        /// What did not hold.
        what: String,
    },
    /// A file could not be read or written.
    #[error("cannot {action} {}", .path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Where the demo narrates (one paragraph at a time).
pub type Say<'a> = &'a mut dyn FnMut(&str);

fn check(step: &'static str, holds: bool, what: impl FnOnce() -> String) -> Result<(), DemoError> {
    if holds {
        Ok(())
    } else {
        Err(DemoError::Check { step, what: what() })
    }
}

/// Runs the demo; stops every node before returning (also on error: they are owned processes).
pub fn run(config: &DemoConfig, say: Say<'_>) -> Result<(), DemoError> {
    let mut fed_config =
        FederationConfig::new(config.work_dir.join("testnet"), NODES, &config.certnet_bin);
    fed_config.spawn = Spawn::Owned;
    fed_config.rust_log.clone_from(&config.rust_log);
    let mut fed = Federation::create(&fed_config)?;

    say("Step 1/7 — five CERTs start their nodes.\n\
         Each CERT has its own author key (signs records) and node key (its libp2p PeerId); one \
         roster lists all five, and nodes refuse connections from PeerIds not on it.");
    fed.start_all()?;
    let took = match fed.wait_mesh(PROPAGATE)? {
        crate::Mesh::Formed(took) => took,
        crate::Mesh::NoNetworking => {
            return Err(DemoError::Check {
                step: "1",
                what: "this certnet has no networking (GET /v1/peers answers 404)".into(),
            });
        }
    };
    for i in 0..NODES {
        say(&format!(
            "  {}  peer {}  API {}",
            fed.name(i),
            fed.peer_id(i),
            fed.client(i).base_url()
        ));
    }
    say(&format!(
        "  every node is connected to the four others (mesh formed in {:.1} s)",
        took.as_secs_f64()
    ));
    say(&format!(
        "  watch it live in the console while the demo runs: {}/ui/ (sign in with the token in {})",
        fed.client(0).base_url(),
        fed.node(0).data_dir.join("api.token").display()
    ));

    say("\nStep 2/7 — incidents from three CERTs.\n\
         CERT-01 reports a phishing wave, CERT-02 a ransomware attack on a hospital, CERT-03 a \
         command-and-control domain. Each node signs its record, stores it durably, then gossips it.");
    let phishing = publish(&fed, 0, &content::phishing_incident(1), say)?;
    let ransomware = publish(&fed, 1, &content::ransomware_incident(2), say)?;
    let indicator = publish(&fed, 2, &content::c2_indicator(3), say)?;
    let all: Vec<usize> = (0..NODES).collect();
    let took = wait_everywhere(&fed, &[&phishing, &ransomware, &indicator], &all)?;
    say(&format!(
        "  all five nodes hold the three records ({:.0} ms after the last publish)",
        took.as_secs_f64() * 1000.0
    ));

    say("\nStep 3/7 — a partition: CERT-01..03 | CERT-04..05.\n\
         Each side blocks the other (block lists), as a cut link would. Both sides keep working.");
    fed.partition(&[vec![0, 1, 2], vec![3, 4]])?;
    let ddos = publish(&fed, 3, &content::ddos_incident(4), say)?;
    let advisory = publish(&fed, 0, &content::vpn_advisory(5), say)?;
    wait_everywhere(&fed, &[&ddos], &[3, 4])?;
    wait_everywhere(&fed, &[&advisory], &[0, 1, 2])?;
    for i in 0..3 {
        check("3", !has(&fed, i, &ddos)?, || {
            format!("{} got CERT-04's record across the partition", fed.name(i))
        })?;
    }
    for i in 3..5 {
        check("3", !has(&fed, i, &advisory)?, || {
            format!("{} got CERT-01's record across the partition", fed.name(i))
        })?;
    }
    say("  each side has its own new record and not the other side's: the partition holds");

    say("\nStep 4/7 — heal.\n\
         The blocks are lifted; nodes reconnect and anti-entropy sync (heads, then ranges) fills \
         what gossip could not deliver.");
    fed.heal()?;
    let took = wait_everywhere(&fed, &[&ddos, &advisory], &all)?;
    let sets: Vec<BTreeSet<String>> = (0..NODES)
        .map(|i| record_ids(&fed, i))
        .collect::<Result<_, _>>()?;
    check("4", sets.windows(2).all(|w| w[0] == w[1]), || {
        "the nodes hold different record sets after the heal".into()
    })?;
    say(&format!(
        "  after {:.1} s every node holds the same {} records",
        took.as_secs_f64(),
        sets[0].len()
    ));

    say("\nStep 5/7 — an update and a revocation.\n\
         CERT-02 contains the ransomware and loosens its TLP from AMBER to GREEN (an `update` \
         carries the full new content); CERT-03 withdraws its indicator as a false positive (a \
         `revoke`). Both are records in their author's signed chain, so they travel like any other.");
    let update = publish(
        &fed,
        1,
        &content::update(
            &ransomware,
            "green",
            "incident",
            content::ransomware_content(2, "contained"),
        ),
        say,
    )?;
    let reason = "false positive: the domain belongs to a software vendor's update service";
    let revoke = publish(&fed, 2, &content::revoke(&indicator, reason), say)?;
    wait_everywhere(&fed, &[&update, &revoke], &all)?;
    let view = fed
        .client(4)
        .record(&ransomware)
        .map_err(|source| api(&fed, 4, source))?;
    check("5", view["view"]["tlp"] == "green", || {
        format!(
            "CERT-05 shows the ransomware incident with TLP {}",
            view["view"]["tlp"]
        )
    })?;
    check(
        "5",
        view["view"]["content"]["status"] == "contained",
        || format!("CERT-05 shows status {}", view["view"]["content"]["status"]),
    )?;
    let revoked = fed
        .client(4)
        .record(&indicator)
        .map_err(|source| api(&fed, 4, source))?;
    check("5", revoked["view"]["revoked"] == true, || {
        format!(
            "CERT-05 does not show the indicator revoked: {}",
            revoked["view"]
        )
    })?;
    say(&format!(
        "  CERT-05's view of the ransomware incident: status {}, TLP:{} (signed as TLP:{}, then \
         updated by its author);\n  of the indicator: revoked ({})",
        view["view"]["content"]["status"].as_str().unwrap_or("?"),
        view["view"]["tlp"].as_str().unwrap_or("?").to_uppercase(),
        view["tlp"].as_str().unwrap_or("?").to_uppercase(),
        revoked["view"]["revoked_reason"].as_str().unwrap_or(reason)
    ));

    say("\nStep 6/7 — an export, verified offline.\n\
         CERT-05 exports its whole log with a checkpoint it signs (the Merkle root of its log). \
         Then every node is stopped: the auditor needs only the file and CERT-05's public key.");
    let export = config.work_dir.join("cert-05-export.cbor");
    let data = fed.node(4).data_dir.display().to_string();
    let out = export.display().to_string();
    certnet(
        &config.certnet_bin,
        &["--data-dir", &data, "export", "--out", &out],
    )?
    .ok("6")?;
    let key = fed.node(4).author_key.clone();
    fed.down()?;
    check("6", fed.running().is_empty(), || "a node still runs".into())?;
    say("  all five nodes are stopped");
    let verified = certnet(
        &config.certnet_bin,
        &["verify", &out, "--key", &key, "--json"],
    )?
    .ok("6")?;
    let summary: Value = serde_json::from_str(&verified.stdout).map_err(|e| DemoError::Check {
        step: "6",
        what: format!("certnet verify --json printed no JSON: {e}"),
    })?;
    check(
        "6",
        summary["ok"] == true && summary["entries"].as_u64() == Some(sets[0].len() as u64 + 2),
        || format!("unexpected verify summary {summary}"),
    )?;
    say(&format!(
        "  $ certnet verify {} --key {key}\n  OK: {} entries, {} authors, every signature and \
         chain valid, root {} matches the signed checkpoint",
        export.display(),
        summary["entries"],
        summary["authors"].as_array().map_or(0, Vec::len),
        summary["root"].as_str().unwrap_or("?")
    ));

    say("\nStep 7/7 — a tampered copy is rejected.\n\
         One letter of the ransomware incident's title is changed in a copy of the export (what \
         an attacker editing a stored log would do).");
    let tampered = config.work_dir.join("cert-05-export-tampered.cbor");
    let at = tamper(&export, &tampered)?;
    let tampered_text = tampered.display().to_string();
    let rejected = certnet(
        &config.certnet_bin,
        &["verify", &tampered_text, "--key", &key],
    )?;
    check("7", rejected.code == Some(1), || {
        format!(
            "certnet verify of the tampered copy exited {:?} (expected 1): {}",
            rejected.code, rejected.stderr
        )
    })?;
    let reason = rejected.stderr.trim().to_owned();
    check("7", reason.contains("entry"), || {
        format!("the rejection does not name the entry: {reason}")
    })?;
    say(&format!(
        "  byte {at} changed; $ certnet verify {} → exit 1:\n  {reason}",
        tampered.display()
    ));

    say(
        "\nDone: records from three CERTs reached every node, survived a partition, an update and \
         a revocation propagated, and an auditor verified CERT-05's log offline and caught the \
         tampered copy. No node process is left running; the files named above are in the work \
         directory, which is removed now unless the demo runs with --keep.",
    );
    Ok(())
}

fn api(fed: &Federation, i: usize, source: crate::ApiError) -> DemoError {
    DemoError::Testnet(Error::Api {
        node: fed.name(i).to_owned(),
        source,
    })
}

/// Publishes `record` on node `i`, narrating it; the record id.
fn publish(fed: &Federation, i: usize, record: &Value, say: Say<'_>) -> Result<String, DemoError> {
    let published = fed.publish_full(i, record)?;
    let what = record["content"]["title"]
        .as_str()
        .or_else(|| record["content"]["value"].as_str())
        .map_or_else(String::new, |t| format!(": {t}"));
    say(&format!(
        "  {} published {} {} (TLP:{}, seq {}){what}",
        fed.name(i),
        record["kind"].as_str().unwrap_or("record"),
        &published.id[..12],
        record["tlp"].as_str().unwrap_or("?").to_uppercase(),
        published.seq.unwrap_or(0),
    ));
    Ok(published.id)
}

/// Whether node `i` holds record `id`.
fn has(fed: &Federation, i: usize, id: &str) -> Result<bool, DemoError> {
    match fed.client(i).record(id) {
        Ok(_) => Ok(true),
        Err(err) if err.is_not_found() => Ok(false),
        Err(source) => Err(api(fed, i, source)),
    }
}

/// Waits until every node of `nodes` holds every record of `ids`.
fn wait_everywhere(fed: &Federation, ids: &[&str], nodes: &[usize]) -> Result<Duration, DemoError> {
    let start = Instant::now();
    fed.wait_until(PROPAGATE, "the records to reach every node", |fed| {
        for &i in nodes {
            for id in ids {
                if !has(fed, i, id)? {
                    return Ok(false);
                }
            }
        }
        Ok::<_, DemoError>(true)
    })?;
    Ok(start.elapsed())
}

/// The ids of every record node `i` holds.
fn record_ids(fed: &Federation, i: usize) -> Result<BTreeSet<String>, DemoError> {
    Ok(fed
        .records(i)?
        .iter()
        .filter_map(|r| r["id"].as_str().map(str::to_owned))
        .collect())
}

/// Copies `from` to `to` with the first [`TAMPER_FROM`] replaced by [`TAMPER_TO`]; the offset.
pub fn tamper(from: &Path, to: &Path) -> Result<usize, DemoError> {
    let mut bytes = std::fs::read(from).map_err(|source| DemoError::Io {
        action: "read",
        path: from.to_owned(),
        source,
    })?;
    let at = bytes
        .windows(TAMPER_FROM.len())
        .position(|w| w == TAMPER_FROM)
        .ok_or_else(|| DemoError::Check {
            step: "7",
            what: format!("{} holds no incident titled as expected", from.display()),
        })?;
    bytes[at..at + TAMPER_TO.len()].copy_from_slice(TAMPER_TO);
    std::fs::write(to, &bytes).map_err(|source| DemoError::Io {
        action: "write",
        path: to.to_owned(),
        source,
    })?;
    Ok(at)
}

/// A finished `certnet` command.
struct Ran {
    command: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Ran {
    /// The command if it exited 0, else the step's failure.
    fn ok(self, step: &'static str) -> Result<Self, DemoError> {
        check(step, self.code == Some(0), || {
            format!(
                "`{}` exited {:?}: {}",
                self.command,
                self.code,
                self.stderr.trim()
            )
        })?;
        Ok(self)
    }
}

fn certnet(bin: &Path, args: &[&str]) -> Result<Ran, DemoError> {
    let output = Command::new(bin)
        .args(args)
        .env_remove("CERTNET_DATA_DIR")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| DemoError::Io {
            action: "run",
            path: bin.to_owned(),
            source,
        })?;
    Ok(Ran {
        command: format!("certnet {}", args.join(" ")),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn tampering_changes_one_letter_of_the_title() {
        let tmp = tempfile::tempdir().unwrap();
        let from = tmp.path().join("a");
        let to = tmp.path().join("b");
        let mut bytes = b"xx".to_vec();
        bytes.extend_from_slice(TAMPER_FROM);
        bytes.extend_from_slice(b"yy");
        std::fs::write(&from, &bytes).unwrap();
        assert_eq!(tamper(&from, &to).unwrap(), 2);
        let changed = std::fs::read(&to).unwrap();
        assert_eq!(changed.len(), bytes.len());
        let diff: Vec<usize> = (0..bytes.len())
            .filter(|&i| bytes[i] != changed[i])
            .collect();
        assert_eq!(diff, [2]);
        std::fs::write(&from, b"nothing here").unwrap();
        assert!(matches!(tamper(&from, &to), Err(DemoError::Check { .. })));
    }

    #[test]
    fn the_demo_content_is_what_the_tamper_step_looks_for() {
        let title = content::ransomware_content(2, "contained")["title"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(title.as_bytes().starts_with(TAMPER_FROM), "{title}");
    }
}
