//! Two real `certnet` processes federated by hand, as the README tells operators to: `init`, `keys`,
//! `roster add`, `run`, then `peers`, `peers block`/`unblock`, `roster remove` + `roster reload`,
//! and `roster add` + SIGHUP.
//! Readiness and every change are polled with a deadline, never waited for with a fixed sleep.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(50);

/// One node's data directory, and its `certnet run` process once started.
struct Dir {
    tmp: tempfile::TempDir,
    child: Option<Child>,
}

impl Dir {
    fn init(name: &str) -> Self {
        let dir = Self {
            tmp: tempfile::tempdir().unwrap(),
            child: None,
        };
        dir.ok(&[
            "init",
            "--name",
            name,
            "--api",
            "127.0.0.1:0",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
        ]);
        dir
    }

    fn data(&self) -> PathBuf {
        self.tmp.path().join("data")
    }

    fn log(&self) -> PathBuf {
        self.tmp.path().join("node.log")
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

    fn certnet(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs a command that must succeed; returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.certnet(args);
        assert!(
            out.status.success(),
            "certnet {args:?} failed with {}\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }

    /// Starts `certnet run` and polls `certnet status` until it answers.
    fn run(&mut self) {
        let log = fs::File::create(self.log()).unwrap();
        let child = self
            .command(&["run"])
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        self.child = Some(child);
        self.until("the node answers", || {
            self.certnet(&["status"]).status.success().then_some(())
        });
    }

    fn until<T>(&self, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
        let start = Instant::now();
        loop {
            if let Some(value) = check() {
                return value;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "timed out waiting for: {what}\n--- log\n{}",
                fs::read_to_string(self.log()).unwrap_or_default()
            );
            std::thread::sleep(POLL);
        }
    }

    /// PeerIds of connected peers, from `certnet peers --json`.
    fn connected(&self) -> Vec<String> {
        self.json(&["peers", "--json"])["peers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["peer_id"].as_str().unwrap().to_owned())
            .collect()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if std::thread::panicking() {
                eprintln!(
                    "--- certnet run log of {}\n{}",
                    self.data().display(),
                    fs::read_to_string(self.log()).unwrap_or_default()
                );
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn keys(dir: &Dir) -> (String, String, String) {
    let keys = dir.json(&["keys", "--json"]);
    let field = |k: &str| keys[k].as_str().unwrap().to_owned();
    (field("name"), field("author_key"), field("peer_id"))
}

#[test]
fn two_operators_federate_by_hand_then_block_unblock_and_remove() {
    let mut a = Dir::init("CERT-A");
    let mut b = Dir::init("CERT-B");
    let (a_name, a_key, a_peer) = keys(&a);
    let (b_name, b_key, b_peer) = keys(&b);

    // A lists B (no address: B will dial), runs, and reports where it listens.
    a.ok(&[
        "roster",
        "add",
        "--name",
        &b_name,
        "--author-key",
        &b_key,
        "--peer-id",
        &b_peer,
    ]);
    a.run();
    let listen = a.until("A listens", || {
        a.json(&["peers", "--json"])["listen_addrs"][0]
            .as_str()
            .map(str::to_owned)
    });

    // B lists A with that address and runs: it dials A at start.
    b.ok(&[
        "roster",
        "add",
        "--name",
        &a_name,
        "--author-key",
        &a_key,
        "--peer-id",
        &a_peer,
        "--addr",
        &listen,
    ]);
    let list = b.json(&["roster", "list", "--json"]);
    assert_eq!(list["members"][1]["name"], a_name.as_str());
    assert_eq!(list["members"][1]["addrs"][0], listen.as_str());
    b.run();
    a.until("A and B connected", || {
        (a.connected() == [b_peer.clone()] && b.connected() == [a_peer.clone()]).then_some(())
    });
    let text = a.ok(&["peers"]);
    assert!(text.contains(&b_name) && text.contains(&b_peer), "{text}");
    let status = a.ok(&["status"]);
    assert!(
        status.contains("members     1 of 1 others connected"),
        "{status}"
    );

    // Block and unblock (what the testnet uses for partitions).
    let blocked = a.json(&["peers", "block", &b_peer, "--json"]);
    assert_eq!(blocked["changed"], true);
    a.until("B dropped", || a.connected().is_empty().then_some(()));
    let status = a.ok(&["status"]);
    assert!(
        status.contains(&format!(
            "members     0 of 1 others connected (not connected: {b_name})"
        )),
        "{status}"
    );
    assert_eq!(a.json(&["peers", "--json"])["blocked"][0], b_peer.as_str());
    // `peers --all` lists every member, the missing ones too.
    let all = a.ok(&["peers", "--all"]);
    assert!(all.starts_with("0 of 1 other members connected"), "{all}");
    assert!(
        all.lines()
            .any(|l| l.starts_with(&b_name) && l.contains("blocked")),
        "{all}"
    );
    // A member's name works wherever a PeerId does; an unknown one lists the members.
    let again = a.ok(&["peers", "block", &b_name]);
    assert!(again.contains("already blocked"), "{again}");
    let unknown = a.certnet(&["peers", "block", "CERT-NOBODY"]);
    assert_eq!(unknown.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        stderr.contains("neither a PeerId nor a member") && stderr.contains(&b_name),
        "{stderr}"
    );
    a.ok(&["peers", "unblock", &b_name]);
    a.until("B back", || {
        (a.connected() == [b_peer.clone()]).then_some(())
    });
    let members = a.json(&["peers", "--json"])["members"].clone();
    assert_eq!(members[0]["name"], b_name.as_str());
    assert_eq!(members[0]["state"], "connected");

    // Roster edits are checked: a duplicate is refused (1), removing oneself is refused (2).
    let dup = a.certnet(&[
        "roster",
        "add",
        "--name",
        &b_name,
        "--author-key",
        &b_key,
        "--peer-id",
        &b_peer,
    ]);
    assert_eq!(dup.status.code(), Some(1));
    let own = a.certnet(&["roster", "remove", &a_name]);
    assert_eq!(own.status.code(), Some(2));

    // Removing B and reloading cuts it off without a restart (`--name`, as `roster add` takes it).
    a.ok(&["roster", "remove", "--name", &b_name]);
    let change = a.json(&["roster", "reload", "--json"]);
    assert_eq!(change["removed"][0], b_name.as_str());
    assert_eq!(change["disconnected"][0], b_peer.as_str());
    a.until("B cut off", || {
        (a.connected().is_empty() && b.connected().is_empty()).then_some(())
    });

    // Adding B back with its address and sending SIGHUP: A re-reads the roster and dials B.
    let b_listen = b.json(&["peers", "--json"])["listen_addrs"][0]
        .as_str()
        .unwrap()
        .to_owned();
    a.ok(&[
        "roster",
        "add",
        "--name",
        &b_name,
        "--author-key",
        &b_key,
        "--peer-id",
        &b_peer,
        "--addr",
        &b_listen,
    ]);
    let pid =
        rustix::process::Pid::from_raw(i32::try_from(a.child.as_ref().unwrap().id()).unwrap())
            .unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
    a.until("B reconnected after SIGHUP", || {
        (a.connected() == [b_peer.clone()]).then_some(())
    });
}
