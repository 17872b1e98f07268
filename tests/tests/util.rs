//! Test helpers: the cargo-built binaries, testnets in temporary directories whose node logs are
//! printed when a test fails, a `certnet-testnet` command wrapper that prints everything on failure,
//! and helpers over the records API's JSON.
//!
//! Readiness and convergence are polled until a deadline (the testnet library's `wait_until`), never
//! awaited with a fixed sleep. Deadlines are generous bounds, not timing assertions.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use certnet_testnet::error::chain;
use certnet_testnet::federation::{Federation, FederationConfig, Spawn};
use certnet_testnet::{CERTNET, CERTNET_TESTNET, Error};
use serde_json::{Value, json};

/// How long records may take to reach every node they should reach.
pub(crate) const CONVERGE: Duration = Duration::from_secs(120);

/// Lines of each node log printed when a test fails.
const LOG_LINES_ON_FAILURE: usize = 80;

/// The `certnet` binary: `CERTNET_BIN`, else cargo's `target/<profile>/certnet` beside this test
/// binary, refused if older than its sources.
pub(crate) fn certnet_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().ok();
        let env = std::env::var_os(CERTNET.env_var);
        ok(CERTNET.locate(None, env.as_deref(), exe.as_deref()))
    })
}

/// The `certnet-testnet` binary, found like [`certnet_bin`].
pub(crate) fn testnet_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().ok();
        let env = std::env::var_os(CERTNET_TESTNET.env_var);
        ok(CERTNET_TESTNET.locate(None, env.as_deref(), exe.as_deref()))
    })
}

/// The value, or a panic printing the error with all its causes (and, for a timeout, the logs).
pub(crate) fn ok<T, E: std::error::Error>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|err| panic!("{}", chain(&err)))
}

/// A testnet of owned `certnet` processes in a temporary directory: the processes are killed when
/// it drops, and every node's log tail is printed if the test is failing.
pub(crate) struct TestNet {
    // Dropped first: the processes die before their directory is removed.
    fed: Federation,
    _tmp: tempfile::TempDir,
}

impl TestNet {
    /// `nodes` members, set up but not started.
    pub(crate) fn new(nodes: usize) -> Self {
        Self::with_outsiders(nodes, 0)
    }

    /// `nodes` members and `outsiders` nodes left out of the members' roster, not started.
    pub(crate) fn with_outsiders(nodes: usize, outsiders: usize) -> Self {
        let tmp = ok(tempfile::tempdir());
        let mut config = FederationConfig::new(tmp.path().join("testnet"), nodes, certnet_bin());
        config.outsiders = outsiders;
        config.rust_log = std::env::var("RUST_LOG").ok();
        let fed = ok(Federation::create(&config));
        Self { fed, _tmp: tmp }
    }

    /// `nodes` members, all started and ready.
    pub(crate) fn started(nodes: usize) -> Self {
        let mut net = Self::new(nodes);
        ok(net.start_all());
        net
    }
}

impl Deref for TestNet {
    type Target = Federation;

    fn deref(&self) -> &Federation {
        &self.fed
    }
}

impl DerefMut for TestNet {
    fn deref_mut(&mut self) -> &mut Federation {
        &mut self.fed
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.fed.log_tails(LOG_LINES_ON_FAILURE));
        }
    }
}

/// A temporary directory for `certnet-testnet` commands (`--dir` is its `testnet-data`). When it
/// drops, any testnet left in it is brought down, and its logs are printed if the test is failing.
pub(crate) struct TestDir {
    tmp: tempfile::TempDir,
}

impl TestDir {
    pub(crate) fn new() -> Self {
        Self {
            tmp: ok(tempfile::tempdir()),
        }
    }

    /// The testnet directory the commands use.
    pub(crate) fn testnet_dir(&self) -> PathBuf {
        self.tmp.path().join("testnet-data")
    }

    /// Runs `certnet-testnet ARGS --dir D` to completion, with this build's `certnet`.
    pub(crate) fn testnet(&self, args: &[&str]) -> Outcome {
        let output = ok(Command::new(testnet_bin())
            .args(args)
            .arg("--dir")
            .arg(self.testnet_dir())
            .env(CERTNET.env_var, certnet_bin())
            .env_remove("CERTNET_TESTNET_RUST_LOG")
            .stdin(Stdio::null())
            .output());
        Outcome {
            program: "certnet-testnet",
            args: args.join(" "),
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// The state file `certnet-testnet` keeps, as JSON.
    pub(crate) fn state(&self) -> Value {
        let text = ok(std::fs::read_to_string(
            self.testnet_dir().join("testnet.json"),
        ));
        ok(serde_json::from_str(&text))
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let dir = self.testnet_dir();
        if !dir.join("testnet.json").exists() {
            return;
        }
        if let Ok(mut fed) = Federation::open(&dir, Spawn::Detached) {
            if std::thread::panicking() {
                eprintln!("{}", fed.log_tails(LOG_LINES_ON_FAILURE));
            }
            if let Err(err) = fed.down() {
                eprintln!("cleanup: {}", chain(&err));
            }
        }
    }
}

/// Runs `certnet --data-dir DIR ARGS` to completion, as an operator types it.
pub(crate) fn certnet_in(dir: &Path, args: &[&str]) -> Outcome {
    let output = ok(Command::new(certnet_bin())
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output());
    Outcome {
        program: "certnet",
        args: format!("--data-dir {} {}", dir.display(), args.join(" ")),
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A finished command's status and output.
pub(crate) struct Outcome {
    program: &'static str,
    args: String,
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Outcome {
    fn describe(&self) -> String {
        format!(
            "`{} {}` exited with {}\n--- stdout\n{}\n--- stderr\n{}",
            self.program, self.args, self.status, self.stdout, self.stderr
        )
    }

    /// Asserts exit code 0.
    pub(crate) fn success(self) -> Self {
        assert!(self.status.success(), "{}", self.describe());
        self
    }

    /// Asserts exit code `code`.
    pub(crate) fn code(self, code: i32) -> Self {
        assert_eq!(self.status.code(), Some(code), "{}", self.describe());
        self
    }

    /// Asserts stdout contains `needle`.
    pub(crate) fn stdout_has(self, needle: &str) -> Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n{}",
            self.describe()
        );
        self
    }

    /// Stdout as JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{}", self.describe()))
    }

    /// Asserts stderr contains `needle`.
    pub(crate) fn stderr_has(self, needle: &str) -> Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n{}",
            self.describe()
        );
        self
    }
}

/// State of process `pid` from `/proc/PID/stat` (`R`, `S`, `Z`, ...), or `None` if there is none.
pub(crate) fn proc_state(pid: u32) -> Option<char> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    text[text.rfind(')')? + 1..].trim_start().chars().next()
}

/// A valid `incident` record for `POST /v1/records`.
pub(crate) fn incident(title: &str) -> Value {
    json!({
        "kind": "incident",
        "tlp": "green",
        "content": {
            "title": title,
            "summary": "Phishing wave against ministries, end-to-end test record.",
            "severity": "medium",
            "status": "new"
        }
    })
}

/// The ids of `records`.
pub(crate) fn ids(records: &[Value]) -> BTreeSet<String> {
    records
        .iter()
        .map(|r| {
            r["id"]
                .as_str()
                .unwrap_or_else(|| panic!("record without an id: {r}"))
                .to_owned()
        })
        .collect()
}

/// Per author, the highest seq and its record id.
pub(crate) fn heads(records: &[Value]) -> BTreeMap<String, (u64, String)> {
    let mut out: BTreeMap<String, (u64, String)> = BTreeMap::new();
    for (author, seq, id) in records.iter().map(author_seq_id) {
        let head = out.entry(author).or_insert((0, String::new()));
        if seq > head.0 {
            *head = (seq, id);
        }
    }
    out
}

/// `author`'s records in `records` as (seq, id), sorted by seq.
pub(crate) fn feed(records: &[Value], author: &str) -> Vec<(u64, String)> {
    let mut out: Vec<(u64, String)> = records
        .iter()
        .map(author_seq_id)
        .filter(|(a, _, _)| a == author)
        .map(|(_, seq, id)| (seq, id))
        .collect();
    out.sort();
    out
}

fn author_seq_id(record: &Value) -> (String, u64, String) {
    let field = |key: &str| {
        record
            .get(key)
            .unwrap_or_else(|| panic!("record without `{key}`: {record}"))
    };
    (
        field("author")
            .as_str()
            .unwrap_or_else(|| panic!("author is not a string: {record}"))
            .to_owned(),
        field("seq")
            .as_u64()
            .unwrap_or_else(|| panic!("seq is not a number: {record}")),
        field("id")
            .as_str()
            .unwrap_or_else(|| panic!("id is not a string: {record}"))
            .to_owned(),
    )
}

/// Waits until each of `nodes` holds exactly the records `want`; on timeout, panics with every
/// node's count and the log tails.
pub(crate) fn wait_for_records(net: &Federation, nodes: &[usize], want: &BTreeSet<String>) {
    let what = format!(
        "{} to hold the same {} records",
        nodes
            .iter()
            .map(|&i| net.name(i))
            .collect::<Vec<_>>()
            .join(", "),
        want.len()
    );
    let result = net.wait_until(CONVERGE, &what, |fed| {
        for &i in nodes {
            if ids(&fed.records(i)?) != *want {
                return Ok(false);
            }
        }
        Ok::<_, Error>(true)
    });
    if let Err(err) = result {
        let counts: Vec<String> = nodes
            .iter()
            .map(|&i| match net.records(i) {
                Ok(records) => {
                    let have = ids(&records);
                    format!(
                        "{}: {} records, {} missing, {} unexpected",
                        net.name(i),
                        have.len(),
                        want.difference(&have).count(),
                        have.difference(want).count()
                    )
                }
                Err(err) => format!("{}: {}", net.name(i), chain(&err)),
            })
            .collect();
        panic!("{}\n{}", counts.join("\n"), chain(&err));
    }
}
