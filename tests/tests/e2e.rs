//! End-to-end tests of certnet on real `certnet` processes, driven through the certnet-testnet
//! library and CLI: federations coming up, the CLI leaving no process behind, crash and restart.
//! The networking tests of issue 4 are in `federation.rs`; `certnet-testnet demo` and small real
//! `bench` runs are in `bench.rs`.
#![allow(clippy::unwrap_used)]

mod bench;
mod console;
mod day_one;
mod federation;
mod hostile;
mod hostile_member;
mod misp;
mod sealed;
mod util;
mod webdriver;

use std::collections::BTreeSet;
use std::net::IpAddr;

use rustix::process::{Pid, WaitOptions};
use serde_json::Value;
use util::{TestDir, TestNet, certnet_bin, ok, proc_state};

#[test]
fn federation_of_three_comes_up_with_one_shared_roster() {
    let net = TestNet::started(3);
    let names: Vec<&str> = (0..3).map(|i| net.name(i)).collect();
    assert_eq!(names, ["CERT-01", "CERT-02", "CERT-03"]);

    // Every API answers, as the node it should be, on loopback.
    for i in 0..3 {
        let node = net.node(i);
        let status = ok(net.status(i));
        assert_eq!(status.name, node.name);
        assert_eq!(status.network, net.network());
        assert_eq!(status.peer_id, node.peer_id);
        assert_eq!(status.author_key, node.author_key);
        assert_eq!(node.api.ip(), IpAddr::from([127, 0, 0, 1]));
        assert!(net.is_running(i));
    }

    // Keys and ports are unique.
    let unique = |f: &dyn Fn(usize) -> String| (0..3).map(f).collect::<BTreeSet<_>>().len();
    assert_eq!(unique(&|i| net.node(i).author_key.clone()), 3);
    assert_eq!(unique(&|i| net.node(i).peer_id.clone()), 3);
    assert_eq!(unique(&|i| net.node(i).api.port().to_string()), 3);
    assert_eq!(unique(&|i| net.node(i).listen[0].clone()), 3);

    // One roster, byte for byte the same in every node, listing every member with its keys and
    // 127.0.0.1 listen addresses.
    let read = |i: usize| {
        ok(std::fs::read_to_string(
            net.node(i).data_dir.join("roster.toml"),
        ))
    };
    let roster_text = read(0);
    assert_eq!(read(1), roster_text);
    assert_eq!(read(2), roster_text);
    let roster: toml::Value = ok(toml::from_str(&roster_text));
    assert_eq!(roster["network"].as_str(), Some(net.network()));
    let members = roster["member"].as_array().unwrap();
    assert_eq!(members.len(), 3);
    for (i, member) in members.iter().enumerate() {
        let node = net.node(i);
        assert_eq!(member["name"].as_str(), Some(node.name.as_str()));
        assert_eq!(
            member["author_key"].as_str(),
            Some(node.author_key.as_str())
        );
        assert_eq!(
            member["peer_ids"].as_array().unwrap(),
            &[toml::Value::from(node.peer_id.as_str())]
        );
        let addrs: Vec<&str> = member["addrs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(addrs, node.listen);
        assert!(
            addrs.iter().all(|a| a.starts_with("/ip4/127.0.0.1/")),
            "{addrs:?}"
        );
    }

    // Each config: API and p2p on 127.0.0.1 only, mDNS off.
    for i in 0..3 {
        let text = ok(std::fs::read_to_string(
            net.node(i).data_dir.join("config.toml"),
        ));
        let config: toml::Value = ok(toml::from_str(&text));
        assert_eq!(
            config["api"]["listen"].as_str(),
            Some(net.node(i).api.to_string().as_str())
        );
        assert_eq!(config["p2p"]["mdns"].as_bool(), Some(false), "{text}");
        let listen = config["p2p"]["listen"].as_array().unwrap();
        assert!(!listen.is_empty());
        assert!(
            listen
                .iter()
                .all(|a| a.as_str().unwrap().starts_with("/ip4/127.0.0.1/")),
            "{text}"
        );
    }
}

#[test]
fn cli_up_then_down_leaves_no_process_behind() {
    // Detached nodes outlive the `certnet-testnet` process that started them. As a child subreaper,
    // this test process inherits them when it exits, so it can reap them after `down` and see how
    // each one ended (instead of the system's init, which in some sandboxes never reaps).
    ok(rustix::process::set_child_subreaper(Some(
        rustix::process::getpid(),
    )));
    let dir = TestDir::new();
    let up = dir.testnet(&["up", "3"]).success();
    for header in ["NAME", "PEER ID", "API", "DATA DIR"] {
        assert!(up.stdout.contains(header), "{}", up.stdout);
    }
    assert!(
        up.stdout.contains("Console: http://127.0.0.1:"),
        "{}",
        up.stdout
    );

    let state = dir.state();
    let nodes = state["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    let pid_of = |state: &Value, i: usize| {
        u32::try_from(state["nodes"][i]["process"]["pid"].as_u64().unwrap()).unwrap()
    };
    let mut pids: Vec<u32> = (0..3).map(|i| pid_of(&state, i)).collect();
    for (i, node) in nodes.iter().enumerate() {
        let name = node["name"].as_str().unwrap();
        assert_eq!(name, format!("CERT-0{}", i + 1));
        // The table shows each node's PeerId and API URL.
        let row = up
            .stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no row for {name}\n{}", up.stdout));
        assert!(row.contains(node["peer_id"].as_str().unwrap()), "{row}");
        assert!(
            row.contains(&format!("http://{}", node["api"].as_str().unwrap())),
            "{row}"
        );
        // The recorded pid is a running `certnet run` on this node's data dir.
        let pid = pids[i];
        assert!(
            matches!(proc_state(pid), Some(s) if s != 'Z'),
            "{name} pid {pid}"
        );
        let cmdline = ok(std::fs::read(format!("/proc/{pid}/cmdline")));
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        assert!(
            cmdline.starts_with(&certnet_bin().display().to_string()),
            "{cmdline}"
        );
        assert!(
            cmdline.contains(&format!(
                "run --data-dir {}",
                node["data_dir"].as_str().unwrap()
            )),
            "{cmdline}"
        );
    }

    let status = dir.testnet(&["status"]).success();
    for pid in &pids {
        assert!(
            status.stdout.contains(&pid.to_string()),
            "{}",
            status.stdout
        );
    }

    // kill, then restart, one node; unknown nodes are usage errors.
    dir.testnet(&["kill", "CERT-02"])
        .success()
        .stdout_has("SIGKILL");
    let killed = pids[1];
    assert_eq!(reap(killed), Reaped::Signal(9));
    dir.testnet(&["status"]).success().stdout_has("stopped");
    dir.testnet(&["restart", "2"])
        .success()
        .stdout_has("CERT-02 is running");
    pids[1] = pid_of(&dir.state(), 1);
    assert_ne!(pids[1], killed);
    let log = dir.testnet(&["logs", "CERT-02"]).success();
    assert_eq!(
        log.stdout.matches("--- certnet-testnet: starting").count(),
        2,
        "{}",
        log.stdout
    );
    dir.testnet(&["kill", "CERT-09"])
        .code(2)
        .stderr_has("no node `CERT-09`");
    dir.testnet(&["partition", "1,2"])
        .code(2)
        .stderr_has("at least two non-empty groups");

    dir.testnet(&["down"])
        .success()
        .stdout_has("no node process is left running");
    for pid in pids {
        // SIGTERM made each node exit cleanly, and nothing of it is left in /proc.
        assert_eq!(reap(pid), Reaped::Exit(0), "pid {pid}");
        assert_eq!(proc_state(pid), None, "pid {pid}");
    }
    dir.testnet(&["status"]).success().stdout_has("stopped");
    dir.testnet(&["down", "--purge"]).success();
    assert!(!dir.testnet_dir().exists());
}

#[test]
fn killed_node_restarts_with_its_data_dir_and_identity() {
    let mut net = TestNet::started(2);
    let node = net.node(0).clone();
    let before = ok(net.status(0));
    let keys = |dir: &std::path::Path| {
        ["author.key", "node.key", "api.token"].map(|f| ok(std::fs::read(dir.join(f))))
    };
    let keys_before = keys(&node.data_dir);
    let pid_before = net.pid(0).unwrap();

    ok(net.kill(0));
    assert!(!net.is_running(0));
    assert_eq!(proc_state(pid_before), None, "killed node still in /proc");
    assert!(net.status(0).is_err(), "a killed node answered");
    assert!(net.is_running(1), "the other node went down too");

    ok(net.start(0));
    let after = ok(net.status(0));
    assert_eq!(after.name, before.name);
    assert_eq!(after.peer_id, before.peer_id);
    assert_eq!(after.author_key, before.author_key);
    assert_eq!(after.network, before.network);
    assert_eq!(net.node(0).data_dir, node.data_dir);
    assert_eq!(keys(&node.data_dir), keys_before);
    assert_ne!(net.pid(0), Some(pid_before));

    // A restart of a running node stops it with SIGTERM first; a stop is a clean exit 0.
    let pid = net.pid(0).unwrap();
    ok(net.restart(0));
    assert_ne!(net.pid(0), Some(pid));
    assert_eq!(ok(net.status(0)).peer_id, before.peer_id);
    let status = ok(net.stop(0)).unwrap();
    assert_eq!(status.code(), Some(0), "{}", net.log_tail(0, 40));
    assert!(!node.data_dir.join("api.addr").exists());
    assert_eq!(ok(net.status(1)).peer_id, net.node(1).peer_id);
}

/// How a child process ended.
#[derive(Debug, PartialEq, Eq)]
enum Reaped {
    Exit(i32),
    Signal(i32),
}

/// Reaps `pid`, a (possibly inherited) child of this process that has exited. A process whose main
/// thread has returned shows as a zombie while its other threads finish, and cannot be reaped until
/// they have: so this polls, with a deadline.
fn reap(pid: u32) -> Reaped {
    let raw = Pid::from_raw(i32::try_from(pid).unwrap()).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some((_, status)) = ok(rustix::process::waitpid(Some(raw), WaitOptions::NOHANG)) {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "pid {pid} has not exited (state {:?})",
            proc_state(pid)
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    match (status.exit_status(), status.terminating_signal()) {
        (Some(code), _) => Reaped::Exit(code),
        (None, Some(signal)) => Reaped::Signal(signal),
        (None, None) => panic!("pid {pid}: unexpected wait status {status:?}"),
    }
}
