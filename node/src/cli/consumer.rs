//! `certnet consumer add|remove|list`: who may read which TLP bands without the API token (TAXII
//! clients, SIEMs, MISP, partners' analysts). Secrets are generated here or read from stdin, shown
//! once, and stored only as hashes in config.toml (Argon2id for passwords; SHA-256 for generated
//! 256-bit tokens, which no dictionary holds). The running node reads consumers at start.

use std::io::{IsTerminal as _, Read as _};

use anyhow::Context as _;
use base64::Engine as _;
use certnet_node::api::hash_password;
use certnet_node::datadir::DataDir;
use certnet_node::datadir::config::{
    NodeConfig, PasswordHash, TaxiiConsumer, TaxiiCredential, add_consumer, remove_consumer,
};
use certnet_protocol::record::Tlp;
use clap::{Args, Subcommand};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::UsageError;
use super::out::print_text;

#[derive(Debug, Args)]
pub(crate) struct ConsumerArgs {
    #[command(subcommand)]
    command: ConsumerCommand,
}

#[derive(Debug, Subcommand)]
enum ConsumerCommand {
    /// Add a consumer: prints its bearer token (or, with --basic, its password) once.
    Add(AddArgs),
    /// Remove a consumer.
    Remove(RemoveArgs),
    /// List the consumers (never their secrets).
    List,
}

#[derive(Debug, Args)]
struct AddArgs {
    /// The consumer's name (also its HTTP Basic user name with --basic).
    name: String,
    /// TLP bands it may read, comma-separated: clear, green, amber, amber+strict (the last only
    /// with --own-organisation).
    #[arg(long, value_name = "TLP,...")]
    bands: String,
    /// TAXII collections it sees, comma-separated TLP labels (default: one per band).
    #[arg(long, value_name = "TLP,...")]
    collections: Option<String>,
    /// It belongs to this node's own organisation (required for amber+strict).
    #[arg(long)]
    own_organisation: bool,
    /// Authenticate with HTTP Basic (user name = NAME) instead of a bearer token; the password is
    /// read from stdin when it is not a terminal, else generated.
    #[arg(long)]
    basic: bool,
}

#[derive(Debug, Args)]
struct RemoveArgs {
    /// The consumer's name.
    name: String,
}

fn bands(list: &str, what: &str) -> Result<Vec<Tlp>, UsageError> {
    list.split(',')
        .map(|t| {
            t.trim().parse::<Tlp>().map_err(|_| {
                UsageError(format!(
                    "--{what}: `{}` is not a TLP label (clear, green, amber, amber+strict)",
                    t.trim()
                ))
            })
        })
        .collect()
}

/// 32 random bytes, hex (a bearer token) or base64url (a password).
fn random_secret(hex_form: bool) -> anyhow::Result<Zeroizing<String>> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut bytes[..])
        .map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    Ok(Zeroizing::new(if hex_form {
        hex::encode(&bytes[..])
    } else {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes[..])
    }))
}

pub(super) fn run(dir: &DataDir, args: &ConsumerArgs) -> anyhow::Result<()> {
    let path = dir.config();
    match &args.command {
        ConsumerCommand::List => {
            let config = NodeConfig::load(&path)?;
            if config.taxii().consumers().is_empty() {
                print_text(
                    "(no consumers: add one with `certnet consumer add NAME --bands clear,green`)",
                );
            }
            for c in config.taxii().consumers() {
                let bands: Vec<&str> = c.tlp().iter().map(|t| t.as_str()).collect();
                let auth = match c.credential() {
                    TaxiiCredential::Bearer { .. } => "bearer token".to_owned(),
                    TaxiiCredential::Basic { password, .. } => match password {
                        PasswordHash::Argon2id(_) => "HTTP Basic (Argon2id)".to_owned(),
                        PasswordHash::LegacySha256(_) => format!(
                            "HTTP Basic (unsalted SHA-256: replace it: {})",
                            c.legacy_fix().unwrap_or_default()
                        ),
                    },
                };
                print_text(&format!(
                    "{}\tbands {}{}\t{auth}",
                    c.name(),
                    bands.join(","),
                    if c.own_organisation() {
                        " (own organisation)"
                    } else {
                        ""
                    }
                ));
            }
            Ok(())
        }
        ConsumerCommand::Remove(a) => {
            remove_consumer(&path, &a.name)?;
            print_text(&format!(
                "removed consumer `{}` from {}: restart the node for it to take effect",
                a.name,
                path.display()
            ));
            Ok(())
        }
        ConsumerCommand::Add(a) => add(&path, a),
    }
}

fn add(path: &std::path::Path, a: &AddArgs) -> anyhow::Result<()> {
    let tlp = bands(&a.bands, "bands")?;
    let name = a.name.trim();
    if name.is_empty() {
        return Err(UsageError("the consumer's name must not be empty".into()).into());
    }
    let (credential, secret, label) = if a.basic {
        if name.contains(':') {
            return Err(UsageError("an HTTP Basic user name cannot contain `:`".into()).into());
        }
        let stdin = std::io::stdin();
        let (password, generated) = if stdin.is_terminal() {
            (random_secret(false)?, true)
        } else {
            let mut text = Zeroizing::new(String::new());
            stdin
                .lock()
                .read_to_string(&mut text)
                .context("cannot read the password from stdin")?;
            let trimmed = Zeroizing::new(text.trim_end_matches(['\r', '\n']).to_owned());
            if trimmed.chars().count() < 12 {
                return Err(UsageError(
                    "the password read from stdin is shorter than 12 characters: use a long random one, or run without stdin to have one generated".into(),
                )
                .into());
            }
            (trimmed, false)
        };
        let phc = hash_password(password.as_bytes())
            .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?;
        let credential = TaxiiCredential::Basic {
            username: name.to_owned(),
            password: PasswordHash::Argon2id(phc),
        };
        (credential, generated.then_some(password), "password")
    } else {
        let token = random_secret(true)?;
        let credential = TaxiiCredential::Bearer {
            token_sha256: Sha256::digest(token.as_bytes()).into(),
        };
        (credential, Some(token), "bearer token")
    };
    let mut consumer = TaxiiConsumer::new(name, tlp, a.own_organisation, credential);
    if let Some(list) = &a.collections {
        consumer = consumer.with_collections(bands(list, "collections")?);
    }
    add_consumer(path, &consumer)?;
    print_text(&format!(
        "added consumer `{name}` to {}: restart the node for it to take effect",
        path.display()
    ));
    if let Some(secret) = secret {
        print_text(&format!(
            "its {label} (shown only now; config.toml keeps only a hash): {}",
            secret.as_str()
        ));
    }
    Ok(())
}
