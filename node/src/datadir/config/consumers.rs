//! `[taxii]` and `[[taxii.consumers]]`: who may read which TLP bands without the node's API token.
//!
//! A consumer authenticates with a bearer token (configured as its SHA-256: the token is 32 random
//! bytes that `certnet consumer add` generates, so a fast hash is enough) or with HTTP Basic (the
//! password configured as an Argon2id PHC string; unsalted SHA-256 entries of older versions are
//! still accepted, with a warning naming the command that replaces them).

use std::ops::Range;

use certnet_protocol::record::Tlp;
use serde::Deserialize;
use toml::Spanned;

use super::ConfigError;
use crate::datadir::tomlfile::quote;

/// How a consumer's password is kept.
#[derive(Clone, PartialEq, Eq)]
pub enum PasswordHash {
    /// An Argon2id PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
    Argon2id(String),
    /// Unsalted SHA-256 (written by earlier versions; accepted, with a warning).
    LegacySha256([u8; 32]),
}

/// How a TAXII consumer proves who it is. Only hashes of the secrets are configured.
#[derive(Clone, PartialEq, Eq)]
pub enum TaxiiCredential {
    /// `Authorization: Bearer <token>`, where SHA-256(token) is this hash.
    Bearer {
        /// SHA-256 of the token.
        token_sha256: [u8; 32],
    },
    /// HTTP Basic with this user name and a password matching this hash.
    Basic {
        /// The user name.
        username: String,
        /// The password's hash.
        password: PasswordHash,
    },
}

impl std::fmt::Debug for TaxiiCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bearer { .. } => f.write_str("Bearer(..)"),
            Self::Basic { username, .. } => write!(f, "Basic({username}, ..)"),
        }
    }
}

/// One consumer: who it is, which TLP bands it may read, and which TAXII collections it sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxiiConsumer {
    name: String,
    tlp: Vec<Tlp>,
    collections: Vec<Tlp>,
    own_organisation: bool,
    credential: TaxiiCredential,
}

impl TaxiiConsumer {
    /// A consumer called `name` reading the `tlp` bands (and their TAXII collections). Unlike
    /// consumers read from config.toml this is not checked: callers keep `red` out and
    /// `amber+strict` to the own organisation.
    pub fn new(
        name: &str,
        tlp: Vec<Tlp>,
        own_organisation: bool,
        credential: TaxiiCredential,
    ) -> Self {
        Self {
            name: name.to_owned(),
            collections: tlp.clone(),
            tlp,
            own_organisation,
            credential,
        }
    }

    /// The same consumer limited to these TAXII collections (each one of its bands).
    pub fn with_collections(mut self, collections: Vec<Tlp>) -> Self {
        self.collections = collections;
        self
    }

    /// The consumer's name (for logs).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The TLP bands it may read (never `red`; `amber+strict` only for the own organisation).
    pub fn tlp(&self) -> &[Tlp] {
        &self.tlp
    }

    /// The TAXII collections it sees: its bands, or fewer.
    pub fn collections(&self) -> &[Tlp] {
        &self.collections
    }

    /// Whether it belongs to this node's own organisation.
    pub fn own_organisation(&self) -> bool {
        self.own_organisation
    }

    /// How it authenticates.
    pub fn credential(&self) -> &TaxiiCredential {
        &self.credential
    }

    /// The command that replaces a legacy (unsalted SHA-256) password, if this consumer has one.
    pub fn legacy_fix(&self) -> Option<String> {
        let TaxiiCredential::Basic {
            password: PasswordHash::LegacySha256(_),
            ..
        } = &self.credential
        else {
            return None;
        };
        let bands: Vec<&str> = self.tlp.iter().map(|t| t.as_str()).collect();
        Some(format!(
            "certnet consumer remove {} && certnet consumer add {} --basic --bands {}{}",
            quote(&self.name),
            quote(&self.name),
            bands.join(","),
            if self.own_organisation {
                " --own-organisation"
            } else {
                ""
            }
        ))
    }
}

/// The TAXII 2.1 endpoint's consumers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaxiiConfig {
    consumers: Vec<TaxiiConsumer>,
}

impl TaxiiConfig {
    /// Settings with these consumers.
    pub fn new(consumers: Vec<TaxiiConsumer>) -> Self {
        Self { consumers }
    }

    /// The configured consumers.
    pub fn consumers(&self) -> &[TaxiiConsumer] {
        &self.consumers
    }
}

/// `[taxii]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct TaxiiFile {
    /// Older name of `[api] anonymous_clear = "anywhere"`.
    pub(super) public_clear: Option<Spanned<bool>>,
    #[serde(default)]
    consumers: Vec<Spanned<ConsumerFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsumerFile {
    name: Spanned<String>,
    tlp: Spanned<Vec<Spanned<String>>>,
    collections: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    own_organisation: bool,
    token_sha256: Option<Spanned<String>>,
    username: Option<Spanned<String>>,
    password_hash: Option<Spanned<String>>,
    password_sha256: Option<Spanned<String>>,
}

/// Where in config.toml a problem is, and what it is.
pub(super) type Problem<'a> = &'a dyn Fn(Range<usize>, String) -> ConfigError;

/// Checks the `[taxii]` consumers; `problem` places an error in the file.
pub(super) fn taxii_config(
    file: TaxiiFile,
    problem: Problem<'_>,
) -> Result<TaxiiConfig, ConfigError> {
    let hash = |field: &Spanned<String>, what: &str| -> Result<[u8; 32], ConfigError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(field.get_ref().trim(), &mut out).map_err(|_| {
            problem(
                field.span(),
                format!("[[taxii.consumers]] {what} must be 64 hex characters: a SHA-256"),
            )
        })?;
        Ok(out)
    };
    let mut consumers: Vec<TaxiiConsumer> = Vec::new();
    for entry in file.consumers {
        let span = entry.span();
        let c = entry.into_inner();
        let name = c.name.get_ref().trim();
        if name.is_empty() {
            return Err(problem(
                c.name.span(),
                "[[taxii.consumers]] name must not be empty".into(),
            ));
        }
        if consumers.iter().any(|o| o.name == name) {
            return Err(problem(
                c.name.span(),
                format!(
                    "[[taxii.consumers]] name `{name}` is used twice: give each consumer its own name"
                ),
            ));
        }
        let tlp = bands(name, "tlp", &c.tlp, c.own_organisation, problem)?;
        let collections = match &c.collections {
            None => tlp.clone(),
            Some(list) => {
                let collections = bands(name, "collections", list, c.own_organisation, problem)?;
                if let Some(extra) = collections.iter().find(|t| !tlp.contains(t)) {
                    return Err(problem(
                        list.span(),
                        format!(
                            "[[taxii.consumers]] `{name}`: collection `{extra}` is not one of its tlp bands: add it to tlp or remove it"
                        ),
                    ));
                }
                collections
            }
        };
        let credential = match (
            &c.token_sha256,
            &c.username,
            &c.password_hash,
            &c.password_sha256,
        ) {
            (Some(token), None, None, None) => TaxiiCredential::Bearer {
                token_sha256: hash(token, "token_sha256")?,
            },
            (None, Some(user), Some(_), None) | (None, Some(user), None, Some(_)) => {
                let username = user.get_ref().clone();
                if username.is_empty() || username.contains(':') {
                    return Err(problem(
                        user.span(),
                        format!(
                            "[[taxii.consumers]] `{name}`: username must be non-empty and without `:`"
                        ),
                    ));
                }
                if consumers.iter().any(|o| {
                    matches!(&o.credential, TaxiiCredential::Basic { username: u, .. } if *u == username)
                }) {
                    return Err(problem(
                        user.span(),
                        format!("[[taxii.consumers]] username `{username}` is used twice"),
                    ));
                }
                let password = match (&c.password_hash, &c.password_sha256) {
                    (Some(phc), _) => PasswordHash::Argon2id(argon2id(name, phc, problem)?),
                    (None, Some(legacy)) => {
                        PasswordHash::LegacySha256(hash(legacy, "password_sha256")?)
                    }
                    (None, None) => unreachable_credential(span.clone(), name, problem)?,
                };
                TaxiiCredential::Basic { username, password }
            }
            _ => return unreachable_credential(span, name, problem),
        };
        if let TaxiiCredential::Bearer { token_sha256 } = &credential
            && consumers.iter().any(|o| {
                matches!(&o.credential, TaxiiCredential::Bearer { token_sha256: t } if t == token_sha256)
            })
        {
            return Err(problem(
                span,
                format!("[[taxii.consumers]] `{name}` has the same token as another consumer: give each its own"),
            ));
        }
        consumers.push(TaxiiConsumer {
            name: name.to_owned(),
            tlp,
            collections,
            own_organisation: c.own_organisation,
            credential,
        });
    }
    Ok(TaxiiConfig { consumers })
}

/// The error for a consumer with no usable credential (or two).
fn unreachable_credential<T>(
    span: Range<usize>,
    name: &str,
    problem: Problem<'_>,
) -> Result<T, ConfigError> {
    Err(problem(
        span,
        format!(
            "[[taxii.consumers]] `{name}` needs either token_sha256 (bearer token) or username and password_hash (HTTP Basic), not both: `certnet consumer add` writes them"
        ),
    ))
}

/// A checked Argon2id PHC string.
fn argon2id(
    name: &str,
    field: &Spanned<String>,
    problem: Problem<'_>,
) -> Result<String, ConfigError> {
    let text = field.get_ref().trim();
    let ok = argon2::password_hash::phc::PasswordHash::new(text)
        .is_ok_and(|h| h.algorithm.as_str() == "argon2id");
    if !ok {
        return Err(problem(
            field.span(),
            format!(
                "[[taxii.consumers]] `{name}`: password_hash must be an Argon2id PHC string ($argon2id$v=19$...): write it with `certnet consumer add`"
            ),
        ));
    }
    Ok(text.to_owned())
}

/// A checked list of TLP bands for `what` (`tlp` or `collections`).
fn bands(
    name: &str,
    what: &str,
    list: &Spanned<Vec<Spanned<String>>>,
    own_organisation: bool,
    problem: Problem<'_>,
) -> Result<Vec<Tlp>, ConfigError> {
    let mut out = Vec::new();
    for t in list.get_ref() {
        let label = t.get_ref().parse::<Tlp>().map_err(|_| {
            problem(
                t.span(),
                format!(
                    "[[taxii.consumers]] `{name}`: {what} `{}` is not a TLP label (clear, green, amber or amber+strict)",
                    t.get_ref()
                ),
            )
        })?;
        match label {
            Tlp::Red => {
                return Err(problem(
                    t.span(),
                    format!(
                        "[[taxii.consumers]] `{name}`: {what} `red` is never served to consumers: remove it"
                    ),
                ));
            }
            Tlp::AmberStrict if !own_organisation => {
                return Err(problem(
                    t.span(),
                    format!(
                        "[[taxii.consumers]] `{name}`: {what} `amber+strict` is only for this node's own organisation: set own_organisation = true or remove it"
                    ),
                ));
            }
            _ => {}
        }
        if !out.contains(&label) {
            out.push(label);
        }
    }
    if out.is_empty() {
        return Err(problem(
            list.span(),
            format!(
                "[[taxii.consumers]] `{name}`: {what} must name at least one band, such as [\"clear\", \"green\"]"
            ),
        ));
    }
    out.sort();
    Ok(out)
}

/// One consumer as a `[[taxii.consumers]]` table.
pub fn consumer_toml(c: &TaxiiConsumer) -> String {
    let list = |tlps: &[Tlp]| {
        tlps.iter()
            .map(|t| quote(t.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = format!(
        "\n[[taxii.consumers]]\n# Who it is.\nname = {}\n# The TLP bands it may read.\ntlp = [{}]\n",
        quote(&c.name),
        list(&c.tlp),
    );
    if c.collections != c.tlp {
        out.push_str(&format!(
            "# The TAXII collections it sees (default: one per band).\ncollections = [{}]\n",
            list(&c.collections)
        ));
    }
    out.push_str(&format!(
        "# Whether it is part of this node's own organisation.\nown_organisation = {}\n",
        c.own_organisation
    ));
    match &c.credential {
        TaxiiCredential::Bearer { token_sha256 } => out.push_str(&format!(
            "# SHA-256 of its bearer token.\ntoken_sha256 = \"{}\"\n",
            hex::encode(token_sha256)
        )),
        TaxiiCredential::Basic { username, password } => {
            out.push_str(&format!(
                "# Its HTTP Basic user name.\nusername = {}\n",
                quote(username)
            ));
            match password {
                PasswordHash::Argon2id(phc) => out.push_str(&format!(
                    "# Its password, hashed with Argon2id.\npassword_hash = {}\n",
                    quote(phc)
                )),
                PasswordHash::LegacySha256(h) => out.push_str(&format!(
                    "# Unsalted SHA-256 of its password (replace it: see `certnet consumer`).\npassword_sha256 = \"{}\"\n",
                    hex::encode(h)
                )),
            }
        }
    }
    out
}

/// Every consumer as `[[taxii.consumers]]` tables.
pub(super) fn consumers_toml(consumers: &[TaxiiConsumer]) -> String {
    consumers.iter().map(consumer_toml).collect()
}
