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
