//! The `certnet-testnet` command line without a federation: its commands, and the errors that need
//! no running node. (Federations are tested end to end in the `tests/` crate.)
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

fn testnet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_certnet-testnet"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_lists_every_command() {
    let out = testnet(&["--help"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let help = text(&out.stdout);
    for command in [
        "up",
        "status",
        "publish",
        "kill",
        "restart",
        "partition",
        "heal",
        "down",
        "logs",
        "demo",
        "bench",
        "plot",
    ] {
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(&format!("{command} "))),
            "`{command}` missing from\n{help}"
        );
    }
}

#[test]
fn commands_on_a_directory_without_a_testnet_say_how_to_start_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    for args in [
        vec!["status", "--dir", dir],
        vec!["kill", "CERT-01", "--dir", dir],
        vec!["down", "--dir", dir],
    ] {
        let out = testnet(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("no testnet in") && stderr.contains("certnet-testnet up N --dir"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn up_needs_at_least_one_node() {
    let out = testnet(&["up", "0", "--dir", "unused"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("0 is not in 1..=500"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn bench_refuses_unknown_scenarios_and_bad_numbers_with_what_to_fix() {
    let out = testnet(&["bench", "gosip"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr)
            .contains("no scenario `gosip`: use one of ingest, gossip, catchup, verify, soak"),
        "{}",
        text(&out.stderr)
    );
    let out = testnet(&["bench", "gossip", "--duration", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--duration must be"),
        "{}",
        text(&out.stderr)
    );
    let out = testnet(&["bench", "gossip", "--nodes", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn demo_and_bench_refuse_a_work_dir_that_is_not_empty() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("something"), "x").unwrap();
    let dir = tmp.path().to_str().unwrap();
    for args in [
        vec!["demo", "--work-dir", dir, "--certnet", "/bin/sh"],
        vec!["bench", "gossip", "--work-dir", dir, "--certnet", "/bin/sh"],
    ] {
        let out = testnet(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("is not empty: give --work-dir an empty or new directory"),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}
