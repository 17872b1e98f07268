//! Known-answer vectors for `certnet_protocol::checkpoint`, through the public API only.
//!
//! Sources: Go's `golang.org/x/mod/sumdb/note` tests (`note_test.go`: TestNewVerifier, TestSign,
//! TestOpen), the C2SP tlog-checkpoint example (<https://c2sp.org/tlog-checkpoint>), and one certnet
//! golden note (a regression vector: Ed25519 is deterministic, so a change of format changes it).
//! Test names start with `checkpoint_` so `cargo test checkpoint` runs them.

use certnet_protocol::checkpoint::{
    Checkpoint, CheckpointError, MAX_SIGNATURES, SignatureLineProblem, VerifierKey, open, sign,
};
use certnet_protocol::id::sha256;
use certnet_protocol::keys::AuthorSecret;

const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                       then you don't know what your problem is.\n";
const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

fn vkey(text: &str) -> VerifierKey {
    text.parse().expect("verifier key parses")
}

#[test]
fn checkpoint_go_verifier_keys() {
    let peter = vkey(PETER_VKEY);
    assert_eq!(peter.name(), "PeterNeumann");
    assert_eq!(peter.key_id(), 0xc74f20a3);
    assert_eq!(peter.to_string(), PETER_VKEY);
    let enoch = vkey(ENOCH_VKEY);
    assert_eq!(enoch.key_id(), 0xaf0cfe78);
    assert_eq!(enoch.to_string(), ENOCH_VKEY);
}

/// Go's signed notes verify under our `open`: it gets past every signature check and stops only at
/// the body, which is two lines of prose, not a checkpoint (the body is parsed after verification).
#[test]
fn checkpoint_go_notes_verify_but_are_not_checkpoints() {
    let both = format!("{GO_TEXT}\n{PETER_SIG}{ENOCH_SIG}");
    for key in [PETER_VKEY, ENOCH_VKEY] {
        let err = open(both.as_bytes(), &vkey(key)).expect_err("must be rejected");
        assert!(
            matches!(err, CheckpointError::TooFewLines { found: 2 }),
            "{key}: {err:?}"
        );
    }
    let enoch_only = format!("{GO_TEXT}\n{ENOCH_SIG}");
    let err = open(enoch_only.as_bytes(), &vkey(PETER_VKEY)).expect_err("must be rejected");
    assert!(matches!(
        err,
        CheckpointError::NoSignature {
            key_id: 0xc74f20a3,
            ..
        }
    ));

    // TestOpen "Invalid signature": four characters spliced into Peter's signature.
    let spliced = format!("{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
    let note = format!("{GO_TEXT}\n{spliced}");
    let err = open(note.as_bytes(), &vkey(PETER_VKEY)).expect_err("must be rejected");
    assert!(matches!(err, CheckpointError::BadSignature { line: 4, .. }));
}

/// TestOpen's "invalid encoded message syntax" list: Go says "malformed note" to all; we name why.
#[test]
fn checkpoint_go_malformed_notes() {
    let peter = vkey(PETER_VKEY);
    let open_str = |s: &str| open(s.as_bytes(), &peter).expect_err("must be rejected");
    let no_newline = &PETER_SIG[..PETER_SIG.len() - 1];

    let err = open_str(GO_TEXT);
    assert!(matches!(err, CheckpointError::MissingBlankLine));
    let err = open_str(&format!("{GO_TEXT}\n"));
    assert!(matches!(err, CheckpointError::NoSignatureLines));
    let err = open_str(&format!("{GO_TEXT}\n{no_newline}"));
    assert!(matches!(err, CheckpointError::MissingTrailingNewline));
    let err = open_str(&format!("\u{1}{GO_TEXT}\n{PETER_SIG}"));
    assert!(matches!(
        err,
        CheckpointError::ControlCharacter { line: 1, byte: 1 }
    ));
    let mut bytes = vec![0xff];
    bytes.extend_from_slice(format!("{GO_TEXT}\n{PETER_SIG}").as_bytes());
    let err = open(&bytes, &peter).expect_err("must be rejected");
    assert!(matches!(err, CheckpointError::NotUtf8 { offset: 0 }));
    let bad_name = PETER_SIG.replacen("PeterNeumann", "Bad Name", 1);
    let err = open_str(&format!("{GO_TEXT}\n{bad_name}"));
    assert!(matches!(
        err,
        CheckpointError::MalformedSignatureLine {
            line: 4,
            reason: SignatureLineProblem::NotBase64
        }
    ));
    let err = open_str(&format!("{GO_TEXT}\n{PETER_SIG}Unexpected line.\n"));
    assert!(matches!(
        err,
        CheckpointError::MalformedSignatureLine {
            line: 5,
            reason: SignatureLineProblem::MissingDash
        }
    ));
    // TestOpen "too many signatures": 101 lines.
    let err = open_str(&format!(
        "{GO_TEXT}\n{}",
        PETER_SIG.repeat(MAX_SIGNATURES + 1)
    ));
    assert!(matches!(
        err,
        CheckpointError::TooManySignatures { count: 101, .. }
    ));
}

/// The example in the C2SP tlog-checkpoint spec: its body parses and re-encodes byte for byte, and
/// its signature line (by a key we do not have) is well formed and ignored.
#[test]
fn checkpoint_c2sp_example() {
    let body =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    let note = format!(
        "{body}\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    );
    let cp = Checkpoint::parse_body(body).expect("spec example parses");
    assert_eq!(cp.origin(), "example.com/behind-the-sofa");
    assert_eq!(cp.size(), 20852163);
    assert_eq!(cp.root()[..4], [0x0a, 0xc5, 0x18, 0x6a]);
    assert!(cp.extensions().is_empty());
    assert_eq!(cp.body(), body);

    let ours = VerifierKey::new(
        "example.com/behind-the-sofa",
        AuthorSecret::from_seed(&[1; 32]).public(),
    )
    .expect("valid name");
    let err = open(note.as_bytes(), &ours).expect_err("must be rejected");
    assert!(matches!(err, CheckpointError::NoSignature { .. }));
}

/// A certnet checkpoint signed with a fixed seed: the exact bytes a node publishes. The expected
/// values were computed independently with Python's `cryptography` (OpenSSL Ed25519) and `hashlib`
/// from the format definition, a script that also reproduces Go's PeterNeumann note exactly.
#[test]
fn checkpoint_golden_note() {
    let secret = AuthorSecret::from_seed(&[0x42; 32]);
    let name = "certnet.example/cert-eu";
    let cp = Checkpoint::new(name, 7, sha256(b"certnet golden root")).expect("valid");
    let note = sign(&cp, name, &secret).expect("signs");
    let verifier = VerifierKey::new(name, secret.public()).expect("valid name");
    assert_eq!(
        verifier.to_string(),
        "certnet.example/cert-eu+db32fcc8+ASFS+NGbeR0kRTJC4V8uq2y3z/p7al7TAJeWDgaYgdsS"
    );
    assert_eq!(
        note,
        "certnet.example/cert-eu\n\
         7\n\
         0EJ2UxdPL6mIo91Y0K58f7jqgOhx6f53JVCpmWimSyk=\n\
         \n\
         \u{2014} certnet.example/cert-eu \
         2zL8yNkdzNrzIhpzaZ42GX39N+/8Tj5ZmaL0wN6vccbzXbfsdZJc93SHEOwnzjK1qDHTxYu5pjGWZLh46R5DE4H6Uwg=\n"
    );
    assert_eq!(open(note.as_bytes(), &verifier), Ok(cp));
}
