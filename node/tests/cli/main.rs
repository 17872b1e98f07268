//! End-to-end tests of the `certnet` binary on one node: init, keys, config and roster errors, key
//! permissions, and `run` serving the API until SIGTERM or SIGINT; in `flow`, publish → export →
//! verify with every kind of tampering, import into a fresh node, and views after updates.

mod flow;
mod security;
mod util;

use std::fs;
use std::os::unix::fs::PermissionsExt as _;

use certnet_node::datadir::init::{EnsureError, InitOptions, ensure_initialised};
use certnet_node::datadir::{DataDir, DirError, DirState};
use certnet_protocol::keys::AuthorKey;
use libp2p_identity::PeerId;
use rustix::process::Signal;
use util::{TestDir, agent, assert_error, line_of, mode, read};

#[test]
fn a_reader_that_stops_early_ends_the_command_quietly() {
    let dir = TestDir::new();
    let (status, stderr) = dir.certnet_with_closed_stdout(&[
        "init",
        "--name",
        "CERT-P",
        "--api",
        "127.0.0.1:0",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
    ]);
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(dir.file("author.key").is_file(), "init did its work");
    for run in 0..50 {
        for args in [&["keys"][..], &["keys", "--json"]] {
            let (status, stderr) = dir.certnet_with_closed_stdout(args);
            assert_eq!(status.code(), Some(0), "run {run} {args:?}: {stderr}");
            assert!(stderr.is_empty(), "run {run} {args:?}: {stderr}");
        }
    }
}

#[test]
fn keys_on_an_empty_directory_names_init() {
    let dir = TestDir::new();
    dir.certnet(&["keys"])
        .code(1)
        .stderr_has("run `certnet init --data-dir");
}

#[test]
fn init_writes_private_files_and_refuses_a_second_init() {
    let dir = TestDir::new();
    let out = dir.init("CERT-EU");
    assert!(out.stdout.contains("Next steps"), "{}", out.stdout);

    assert_eq!(mode(&dir.data()), 0o700);
    for secret in ["author.key", "node.key", "encryption.key", "api.token"] {
        assert_eq!(mode(&dir.file(secret)), 0o600, "{secret}");
    }
    for file in ["config.toml", "roster.toml"] {
        assert!(dir.file(file).is_file(), "{file}");
    }
    let pem = fs::read_to_string(dir.file("author.key")).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
    let token = fs::read_to_string(dir.file("api.token")).unwrap();
    assert_eq!(token.trim().len(), 64);
    assert!(token.trim().bytes().all(|b| b.is_ascii_hexdigit()));

    let keys_before = fs::read(dir.file("author.key")).unwrap();
    dir.certnet(&["init", "--name", "other"])
        .code(1)
        .stderr_has("already initialised")
        .stderr_has("refusing to overwrite");
    assert_eq!(fs::read(dir.file("author.key")).unwrap(), keys_before);
}

#[test]
fn keys_json_has_exactly_name_author_key_peer_id_and_encryption_key() {
    let dir = TestDir::new();
    dir.init("CERT-FR");
    let json = dir.certnet(&["keys", "--json"]).success().json();
    let object = json.as_object().unwrap();
    let mut fields: Vec<&str> = object.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["author_key", "encryption_key", "name", "peer_id"]);
    assert_eq!(json["name"], "CERT-FR");
    let author_key: AuthorKey = json["author_key"].as_str().unwrap().parse().unwrap();
    let peer_id: PeerId = json["peer_id"].as_str().unwrap().parse().unwrap();

    // The roster init wrote holds exactly this member.
    let roster =
        <certnet_node::membership::Roster as certnet_node::datadir::roster_file::RosterFile>::load(
            &dir.file("roster.toml"),
        )
        .unwrap();
    let member = roster.member_by_author(&author_key).unwrap();
    assert_eq!(member.name().as_str(), "CERT-FR");
    assert_eq!(member.peer_ids(), [peer_id]);
    assert_eq!(roster.network().as_str(), "certnet-dev");
    let encryption: certnet_protocol::sealed::EncryptionKey =
        json["encryption_key"].as_str().unwrap().parse().unwrap();
    assert_eq!(member.encryption_keys(), [encryption]);

    // Rotation: a new key first, the old one kept in the file.
    let rotated = dir
        .certnet(&["keys", "--rotate-encryption-key", "--json"])
        .success()
        .json();
    let new: certnet_protocol::sealed::EncryptionKey =
        rotated["encryption_key"].as_str().unwrap().parse().unwrap();
    assert_ne!(new, encryption);
    let pem = fs::read_to_string(dir.file("encryption.key")).unwrap();
    assert_eq!(pem.matches("-----BEGIN PRIVATE KEY-----").count(), 2);
    assert_eq!(mode(&dir.file("encryption.key")), 0o600);
}

#[test]
fn bad_config_line_is_reported_with_file_and_line() {
    let dir = TestDir::new();
    dir.init("CERT-DE");
    let path = dir.file("config.toml");
    let text = fs::read_to_string(&path)
        .unwrap()
        .replace("cache_capacity_mib = 64", "cache_capacity_mib = 0");
    fs::write(&path, &text).unwrap();
    let line = line_of(&text, "cache_capacity_mib");
    dir.certnet(&["run"]).code(1).stderr_has(&format!(
        "{}:{line}:22: [store] cache_capacity_mib must be",
        path.display()
    ));

    let text = text.replace(
        "cache_capacity_mib = 0",
        "cache_capacity_mib = 64\nbogus = 1",
    );
    fs::write(&path, &text).unwrap();
    let line = line_of(&text, "bogus");
    dir.certnet(&["run"]).code(1).stderr_has(&format!(
        "{}:{line}:1: unknown field `bogus`",
        path.display()
    ));
}

#[test]
fn bad_roster_line_is_reported_with_member_and_line() {
    let dir = TestDir::new();
    dir.init("CERT-NL");
    let path = dir.file("roster.toml");
    let text = fs::read_to_string(&path).unwrap();
    let text = text.replace("author_key = \"ed25519:", "author_key = \"ed25519:x");
    fs::write(&path, &text).unwrap();
    let line = line_of(&text, "author_key");
    dir.certnet(&["run"]).code(1).stderr_has(&format!(
        "{}:{line}:14: member `CERT-NL` has an invalid author_key:",
        path.display()
    ));
}

#[test]
fn group_readable_key_is_refused_with_chmod_hint() {
    let dir = TestDir::new();
    dir.init("CERT-IT");
    let key = dir.file("node.key");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o640)).unwrap();
    dir.certnet(&["run"])
        .code(1)
        .stderr_has(&format!("chmod 600 {}", key.display()));
    dir.certnet(&["keys"])
        .code(1)
        .stderr_has(&format!("chmod 600 {}", key.display()));
    assert!(!dir.file("api.addr").exists());
}

#[test]
fn status_without_a_running_node_says_how_to_start_one() {
    let dir = TestDir::new();
    dir.init("CERT-ES");
    dir.certnet(&["status"])
        .code(2)
        .stderr_has("no running node found")
        .stderr_has("certnet run --data-dir");
}

#[test]
fn run_serves_the_api_and_stops_cleanly_on_sigterm() {
    let dir = TestDir::new();
    dir.init("CERT-AT");
    let mut node = dir.run_node(&["--log-format", "json"]);
    let agent = agent();
    let keys = dir.certnet(&["keys", "--json"]).success().json();

    // GET /v1/status, open on loopback.
    let (status, body) = read(agent.get(node.url("/v1/status")).call().unwrap());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "CERT-AT");
    assert_eq!(body["network"], "certnet-dev");
    assert_eq!(body["author_key"], keys["author_key"]);
    assert_eq!(body["peer_id"], keys["peer_id"]);
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(body["uptime_secs"].is_u64(), "{body}");

    // The CLI finds the node through api.addr.
    let cli = dir.certnet(&["status", "--json"]).success().json();
    assert_eq!(cli["peer_id"], keys["peer_id"]);
    let text = dir.certnet(&["status"]).success();
    assert!(
        text.stdout.contains(&format!("http://{}", node.addr())),
        "{}",
        text.stdout
    );

    // Writes need the token; errors are JSON.
    let got = read(
        agent
            .post(node.url("/v1/log/checkpoint"))
            .send_empty()
            .unwrap(),
    );
    assert_error(&got, 401, "unauthorized");
    let got = read(
        agent
            .post(node.url("/v1/log/checkpoint"))
            .header("Authorization", format!("Bearer {}", "0".repeat(64)))
            .send_empty()
            .unwrap(),
    );
    assert_error(&got, 401, "unauthorized");
    let token = fs::read_to_string(dir.file("api.token")).unwrap();
    let got = read(
        agent
            .post(node.url("/v1/status"))
            .header("Authorization", format!("Bearer {}", token.trim()))
            .send_empty()
            .unwrap(),
    );
    assert_error(&got, 405, "method_not_allowed");
    let got = read(agent.get(node.url("/v1/no-such-route")).call().unwrap());
    assert_error(&got, 404, "not_found");

    let status = node.stop_with(Signal::TERM);
    assert_eq!(status.code(), Some(0), "{}", node.log());
    assert!(!dir.file("api.addr").exists(), "api.addr left behind");
    let log = node.log();
    for line in log.lines() {
        let entry: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|err| panic!("log line is not JSON ({err}): {line}"));
        assert!(entry["level"].is_string(), "{line}");
    }
    assert!(log.contains("node stopped"), "{log}");
}

#[test]
fn run_stops_cleanly_on_sigint() {
    let dir = TestDir::new();
    dir.init("CERT-BE");
    let mut node = dir.run_node(&[]);
    let status = node.stop_with(Signal::INT);
    assert_eq!(status.code(), Some(0), "{}", node.log());
    assert!(!dir.file("api.addr").exists());
}

/// `certnet run` on a fresh directory initialises it first; this is the decision it makes.
#[test]
fn run_initialises_only_a_fresh_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::new(tmp.path().join("fresh"));
    let options = InitOptions::new("CERT-PT".parse().unwrap());

    let report = ensure_initialised(&dir, &options).unwrap().unwrap();
    assert_eq!(dir.state().unwrap(), DirState::Initialised);
    let loaded = certnet_node::datadir::load::load(&dir).unwrap();
    assert_eq!(loaded.identity().author_key, report.author_key);
    assert_eq!(loaded.identity().peer_id, report.peer_id);
    assert_eq!(loaded.config().api().listen().to_string(), "127.0.0.1:4470");

    // Already initialised: nothing is touched.
    let key = fs::read(dir.author_key()).unwrap();
    assert!(ensure_initialised(&dir, &options).unwrap().is_none());
    assert_eq!(fs::read(dir.author_key()).unwrap(), key);

    // Half initialised: an error naming what is missing, never a silent completion.
    fs::remove_file(dir.api_token()).unwrap();
    let err = ensure_initialised(&dir, &options).unwrap_err();
    assert!(
        matches!(&err, EnsureError::DataDir(DirError::Partial { missing, .. }) if missing == &[dir.api_token()]),
        "{err}"
    );
    assert!(!dir.api_token().exists());
}
