//! Test helpers: a temporary data directory, the real `certnet` binary, and a running node that is
//! polled until ready (never a fixed sleep) and stopped on drop.
// Test-only code, outside `#[test]` functions: a failed unwrap here is a failed test.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a node may take to come up or to stop.
pub(crate) const DEADLINE: Duration = Duration::from_secs(30);

/// Pause between polls.
const POLL: Duration = Duration::from_millis(20);

/// A temporary data directory, removed when dropped.
pub(crate) struct TestDir {
    tmp: tempfile::TempDir,
}

impl TestDir {
    pub(crate) fn new() -> Self {
        Self {
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    /// The data directory itself (a child of the temp dir, so `init` creates it).
    pub(crate) fn data(&self) -> PathBuf {
        self.tmp.path().join("data")
    }

    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.data().join(name)
    }

    /// A path in the temp dir, outside the data directory (for inputs and outputs of commands).
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// Runs `certnet ARGS --data-dir D` to completion.
    pub(crate) fn certnet(&self, args: &[&str]) -> Outcome {
        let output = self.command(args).output().unwrap();
        Outcome::new(args, output)
    }

    /// `certnet init` with the API and libp2p (TCP only) on 127.0.0.1 port 0, so tests running
    /// in parallel never compete for a port; asserting success.
    pub(crate) fn init(&self, name: &str) -> Outcome {
        self.certnet(&[
            "init",
            "--name",
            name,
            "--api",
            "127.0.0.1:0",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
        ])
        .success()
    }

    /// Runs `certnet ARGS --data-dir D` with `input` on stdin.
    pub(crate) fn certnet_with_stdin(&self, args: &[&str], input: &[u8]) -> Outcome {
        use std::io::Write as _;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        Outcome::new(args, child.wait_with_output().unwrap())
    }

    /// Runs `certnet ARGS --data-dir D` whose stdout reader is gone before it writes (`| head`
    /// that stopped): its exit status and stderr.
    pub(crate) fn certnet_with_closed_stdout(&self, args: &[&str]) -> (ExitStatus, String) {
        use std::io::Read as _;
        let mut child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (child.wait().unwrap(), stderr)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_certnet"));
        command
            .args(args)
            .arg("--data-dir")
            .arg(self.data())
            .env_remove("CERTNET_DATA_DIR")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        command
    }

    /// Starts `certnet run ARGS` and waits until its API answers `GET /v1/status`.
    pub(crate) fn run_node(&self, args: &[&str]) -> RunningNode {
        let log = self.tmp.path().join("node.log");
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        let mut command = self.command(&all);
        command
            .stdout(Stdio::from(fs::File::create(&log).unwrap()))
            .stderr(Stdio::from(
                fs::OpenOptions::new().append(true).open(&log).unwrap(),
            ));
        let child = command.spawn().unwrap();
        let mut node = RunningNode {
            child,
            log,
            api_addr_file: self.file("api.addr"),
            token_file: self.file("api.token"),
            addr: None,
        };
        node.wait_ready();
        node
    }
}

/// A finished command's status and output.
pub(crate) struct Outcome {
    args: String,
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stdout_bytes: Vec<u8>,
    pub(crate) stderr: String,
}

impl Outcome {
    fn new(args: &[&str], output: Output) -> Self {
        Self {
            args: args.join(" "),
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stdout_bytes: output.stdout,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    fn describe(&self) -> String {
        format!(
            "`certnet {}` exited with {}\n--- stdout\n{}\n--- stderr\n{}",
            self.args, self.status, self.stdout, self.stderr
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

    /// Asserts stderr contains `needle`.
    pub(crate) fn stderr_has(self, needle: &str) -> Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n{}",
            self.describe()
        );
        self
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|err| panic!("stdout is not JSON: {err}\n{}", self.describe()))
    }
}

/// A `certnet run` child process, killed on drop if still running; its log printed if a test fails.
pub(crate) struct RunningNode {
    child: Child,
    log: PathBuf,
    api_addr_file: PathBuf,
    token_file: PathBuf,
    addr: Option<SocketAddr>,
}

impl RunningNode {
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr.unwrap()
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    /// `Bearer <api.token>`: reading anything above TLP:CLEAR needs the node's credentials.
    pub(crate) fn bearer(&self) -> String {
        format!(
            "Bearer {}",
            fs::read_to_string(&self.token_file).unwrap().trim()
        )
    }

    pub(crate) fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap()
    }

    /// Polls for api.addr, then for a 200 from `/v1/status`, until [`DEADLINE`].
    fn wait_ready(&mut self) {
        let start = Instant::now();
        let agent = agent();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("certnet run exited early with {status}\n{}", self.log());
            }
            if self.addr.is_none()
                && let Ok(text) = fs::read_to_string(&self.api_addr_file)
            {
                self.addr = text.trim().parse().ok();
            }
            if self.addr.is_some()
                && let Ok(response) = agent.get(self.url("/v1/status")).call()
                && response.status() == 200
            {
                return;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "node not ready after {DEADLINE:?}\n{}",
                self.log()
            );
            std::thread::sleep(POLL);
        }
    }

    /// Sends `signal` and waits for the process to exit, until [`DEADLINE`].
    pub(crate) fn stop_with(&mut self, signal: rustix::process::Signal) -> ExitStatus {
        let pid = rustix::process::Pid::from_raw(self.pid()).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "node did not stop after {DEADLINE:?}\n{}",
                self.log()
            );
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for RunningNode {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- certnet run log\n{}", self.log());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP agent that returns error statuses as responses and ignores proxy settings.
pub(crate) fn agent() -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(10)))
        .build();
    ureq::Agent::new_with_config(config)
}

/// Reads a response as (status, JSON body).
pub(crate) fn read(response: ureq::http::Response<ureq::Body>) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.into_body().read_to_string().unwrap();
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|err| panic!("body is not JSON ({err}): {text:?}"));
    (status, json)
}

/// Asserts a JSON error body with this status and code, and a non-empty message.
pub(crate) fn assert_error(got: &(u16, Value), status: u16, code: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error"]["code"], code, "{}", got.1);
    assert!(
        !got.1["error"]["message"].as_str().unwrap().is_empty(),
        "{}",
        got.1
    );
}

/// Permission bits of a file.
pub(crate) fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// 1-based number of the first line of `text` that starts with `prefix`.
pub(crate) fn line_of(text: &str, prefix: &str) -> usize {
    text.lines().position(|l| l.starts_with(prefix)).unwrap() + 1
}
