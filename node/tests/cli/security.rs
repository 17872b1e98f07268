//! Issue 18 on a real `certnet run`: secrets files and trust files are mode-checked at start, consumers
//! are added with Argon2id passwords (a legacy SHA-256 entry still logs in, with a warning naming the
//! fix), HTTPS works with a certificate `curl` trusts, and a foreign `Host` is refused on the wire.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::util::{TestDir, agent, read};

#[test]
fn a_world_readable_token_and_trust_files_writable_by_others_stop_the_start() {
    let dir = TestDir::new();
    dir.init("CERT-SEC");
    let token = dir.file("api.token");
    fs::set_permissions(&token, fs::Permissions::from_mode(0o644)).unwrap();
    dir.certnet(&["run"])
        .code(1)
        .stderr_has(&format!("chmod 600 {}", token.display()));
    fs::set_permissions(&token, fs::Permissions::from_mode(0o600)).unwrap();
    for name in ["roster.toml", "config.toml"] {
        let file = dir.file(name);
        let before = fs::metadata(&file).unwrap().permissions();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o664)).unwrap();
        dir.certnet(&["run"])
            .code(1)
            .stderr_has(&format!("chmod go-w {}", file.display()));
        fs::set_permissions(&file, before).unwrap();
    }
    assert!(!dir.file("api.addr").exists());
    // A fresh node's config.toml is private: it will hold consumers' credential hashes.
    assert_eq!(crate::util::mode(&dir.file("config.toml")), 0o600);
}

fn basic(user: &str, password: &str) -> String {
    let pair = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

#[test]
fn consumers_are_argon2id_legacy_hashes_still_work_with_a_warning() {
    let dir = TestDir::new();
    dir.init("CERT-SEC");
    // A consumer added the new way: Argon2id, password from stdin.
    dir.certnet_with_stdin(
        &[
            "consumer",
            "add",
            "misp",
            "--bands",
            "clear,green",
            "--basic",
        ],
        b"a long password from stdin\n",
    )
    .success()
    .stdout_has("restart the node");
    // A bearer consumer: the token is printed once.
    let out = dir
        .certnet(&["consumer", "add", "siem", "--bands", "clear"])
        .success();
    let token = out
        .stdout
        .lines()
        .find_map(|l| l.split(": ").nth(1).filter(|t| t.len() == 64))
        .unwrap()
        .to_owned();
    let config = fs::read_to_string(dir.file("config.toml")).unwrap();
    assert!(
        config.contains("password_hash = \"$argon2id$v=19$"),
        "{config}"
    );
    assert!(!config.contains("a long password"), "{config}");
    // A legacy entry, as the README of earlier versions told operators to write it.
    let legacy = hex::encode(Sha256::digest(b"old-password"));
    fs::write(
        dir.file("config.toml"),
        format!(
            "{config}\n[[taxii.consumers]]\nname = \"old\"\ntlp = [\"clear\"]\nusername = \"old\"\npassword_sha256 = \"{legacy}\"\n"
        ),
    )
    .unwrap();
    dir.certnet(&["consumer", "list"])
        .success()
        .stdout_has("misp\tbands clear,green")
        .stdout_has("HTTP Basic (Argon2id)")
        .stdout_has("unsalted SHA-256");
    dir.certnet(&["consumer", "add", "siem", "--bands", "clear"])
        .code(1)
        .stderr_has("already has a consumer named `siem`");

    let node = dir.run_node(&[]);
    let http = agent();
    let get = |auth: &str| {
        read(
            http.get(node.url("/taxii2/certnet/collections/"))
                .header("Authorization", auth)
                .call()
                .unwrap(),
        )
    };
    let (code, body) = get(&basic("misp", "a long password from stdin"));
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["collections"].as_array().unwrap().len(), 2);
    let (code, _) = get(&basic("misp", "wrong password"));
    assert_eq!(code, 401);
    let (code, body) = get(&format!("Bearer {token}"));
    assert_eq!(
        (code, body["collections"].as_array().unwrap().len()),
        (200, 1)
    );
    let (code, _) = get(&basic("old", "old-password"));
    assert_eq!(code, 200);
    let log = node.log();
    assert!(
        log.contains("unsalted SHA-256") && log.contains("certnet consumer remove"),
        "{log}"
    );
    dir.certnet(&["consumer", "remove", "old"]).success();
    assert!(
        !fs::read_to_string(dir.file("config.toml"))
            .unwrap()
            .contains("password_sha256")
    );
}

#[test]
fn https_serves_the_api_with_a_certificate_curl_trusts() {
    let dir = TestDir::new();
    dir.init("CERT-TLS");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    fs::write(dir.file("tls.crt"), cert.cert.pem()).unwrap();
    fs::write(dir.file("tls.key"), cert.key_pair.serialize_pem()).unwrap();
    fs::set_permissions(dir.file("tls.key"), fs::Permissions::from_mode(0o600)).unwrap();
    let config = fs::read_to_string(dir.file("config.toml")).unwrap();
    let config = config.replace(
        "# tls_listen = \"0.0.0.0:4443\"\n# tls_cert = \"/etc/certnet/fullchain.pem\"\n# tls_key = \"/etc/certnet/key.pem\"\n",
        "tls_listen = \"127.0.0.1:0\"\ntls_cert = \"tls.crt\"\ntls_key = \"tls.key\"\n",
    );
    assert!(config.contains("tls_cert = \"tls.crt\""), "{config}");
    fs::write(dir.file("config.toml"), config).unwrap();
    let node = dir.run_node(&[]);
    let https = fs::read_to_string(dir.file("api-tls.addr")).unwrap();
    let port = https.trim().rsplit(':').next().unwrap().to_owned();
    let token = fs::read_to_string(dir.file("api.token")).unwrap();
    let curl = |extra: &[&str]| {
        let out = Command::new("curl")
            .args(["-sS", "--cacert"])
            .arg(dir.file("tls.crt"))
            .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let url = format!("https://localhost:{port}/v1/status");
    let (ok, body, err) = curl(&[
        "-H",
        &format!("Authorization: Bearer {}", token.trim()),
        &url,
    ]);
    assert!(ok, "{err}");
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["name"], "CERT-TLS");
    // Without --cacert's certificate the client refuses the server: it is really TLS.
    let out = Command::new("curl")
        .args([
            "-sS",
            "--resolve",
            &format!("localhost:{port}:127.0.0.1"),
            &url,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    // Plain HTTP still answers on its own listener.
    let (code, _) = read(
        agent()
            .get(node.url("/v1/status"))
            .header("Authorization", node.bearer())
            .call()
            .unwrap(),
    );
    assert_eq!(code, 200);
}

#[test]
fn a_foreign_host_header_is_refused_on_the_wire() {
    let dir = TestDir::new();
    dir.init("CERT-DNS");
    let node = dir.run_node(&[]);
    let out = Command::new("curl")
        .args([
            "-sS",
            "-H",
            "Host: rebind.attacker.example",
            &node.url("/v1/records"),
        ])
        .output()
        .unwrap();
    let body: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["error"]["code"], "unknown_host", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("[api] hosts")
    );
}
