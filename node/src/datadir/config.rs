//! Node configuration: `config.toml` as written by operators, validated into a typed [`NodeConfig`].
//!
//! Every option has a default, except the node's name; `certnet init` writes them all with a comment
//! each ([`NodeConfig::to_toml`]). Unknown options are refused, so a typo never goes unnoticed.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use certnet_protocol::record::Tlp;
use serde::Deserialize;
use toml::Spanned;

use super::roster_file::PUBLIC_MODE;
use crate::datadir::fsutil;
use crate::datadir::tomlfile::{FileProblem, quote};
use crate::membership::MemberName;

/// Default address of the HTTP API: loopback only.
pub const DEFAULT_API_LISTEN: &str = "127.0.0.1:4470";
/// Default libp2p listen addresses: TCP and QUIC on port 4471, all interfaces.
pub const DEFAULT_P2P_LISTEN: [&str; 2] =
    ["/ip4/0.0.0.0/tcp/4471", "/ip4/0.0.0.0/udp/4471/quic-v1"];
/// Default store page cache, in MiB.
pub const DEFAULT_CACHE_CAPACITY_MIB: u64 = 64;
/// Default seconds between checkpoints (made only when the log grew).
pub const DEFAULT_CHECKPOINT_INTERVAL_SECS: u64 = 60;

const MAX_CACHE_CAPACITY_MIB: u64 = 1024 * 1024;
const MAX_CHECKPOINT_INTERVAL_SECS: u64 = 24 * 60 * 60;

/// Why the configuration could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {}", .path.display())]
    Read {
        /// The config file.
        path: std::path::PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The file could not be written.
    #[error("cannot write config {}", .path.display())]
    Write {
        /// The config file.
        path: std::path::PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The file exists already and was to be created.
    #[error("{} already exists: refusing to overwrite the config", .path.display())]
    Exists {
        /// The config file.
        path: std::path::PathBuf,
    },
    /// The file is not valid TOML or holds an invalid option; says where and what to fix.
    #[error(transparent)]
    Invalid(FileProblem),
}

/// The HTTP API's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    listen: SocketAddr,
}

impl ApiConfig {
    /// Address the API binds. A non-loopback address makes the token required on every route.
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }
}

/// The libp2p network's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct P2pConfig {
    listen: Vec<String>,
    mdns: bool,
}

impl P2pConfig {
    /// Listen multiaddrs, as written (the network layer parses them).
    pub fn listen(&self) -> &[String] {
        &self.listen
    }

    /// Whether mDNS discovery is on (for labs; off by default).
    pub fn mdns(&self) -> bool {
        self.mdns
    }
}

/// The record store's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    cache_capacity_mib: u64,
    checkpoint_interval: Duration,
}

impl StoreConfig {
    /// Page cache size in bytes (configured in MiB).
    pub fn cache_capacity_bytes(&self) -> u64 {
        self.cache_capacity_mib * 1024 * 1024
    }

    /// Time between checkpoints, made only when the log grew.
    pub fn checkpoint_interval(&self) -> Duration {
        self.checkpoint_interval
    }
}

/// How a TAXII consumer proves who it is. Only SHA-256 hashes of the secrets are configured.
#[derive(Clone, PartialEq, Eq)]
pub enum TaxiiCredential {
    /// `Authorization: Bearer <token>`, where SHA-256(token) is this hash.
    Bearer {
        /// SHA-256 of the token.
        token_sha256: [u8; 32],
    },
    /// HTTP Basic with this user name, where SHA-256(password) is this hash.
    Basic {
        /// The user name.
        username: String,
        /// SHA-256 of the password.
        password_sha256: [u8; 32],
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

/// One consumer of the TAXII endpoint: who it is and which TLP collections it may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxiiConsumer {
    name: String,
    tlp: Vec<Tlp>,
    own_organisation: bool,
    credential: TaxiiCredential,
}

impl TaxiiConsumer {
    /// A consumer called `name` reading the `tlp` collections. Unlike consumers read from
    /// config.toml this is not checked: callers keep `red` out and `amber+strict` to the own
    /// organisation.
    pub fn new(
        name: &str,
        tlp: Vec<Tlp>,
        own_organisation: bool,
        credential: TaxiiCredential,
    ) -> Self {
        Self {
            name: name.to_owned(),
            tlp,
            own_organisation,
            credential,
        }
    }

    /// The consumer's name (for logs).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The TLP collections it may read (never `red`; `amber+strict` only for the own organisation).
    pub fn tlp(&self) -> &[Tlp] {
        &self.tlp
    }

    /// Whether it belongs to this node's own organisation.
    pub fn own_organisation(&self) -> bool {
        self.own_organisation
    }

    /// How it authenticates.
    pub fn credential(&self) -> &TaxiiCredential {
        &self.credential
    }
}

/// The TAXII 2.1 endpoint's settings: its consumers and whether TLP:CLEAR is public.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaxiiConfig {
    public_clear: bool,
    consumers: Vec<TaxiiConsumer>,
}

impl TaxiiConfig {
    /// Settings with these consumers; `public_clear` serves the CLEAR collection without credentials.
    pub fn new(public_clear: bool, consumers: Vec<TaxiiConsumer>) -> Self {
        Self {
            public_clear,
            consumers,
        }
    }

    /// Whether the TLP:CLEAR collection is readable without credentials.
    pub fn public_clear(&self) -> bool {
        self.public_clear
    }

    /// The configured consumers.
    pub fn consumers(&self) -> &[TaxiiConsumer] {
        &self.consumers
    }
}

/// A validated node configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    name: MemberName,
    api: ApiConfig,
    p2p: P2pConfig,
    store: StoreConfig,
    taxii: TaxiiConfig,
}

impl NodeConfig {
    /// The default configuration for a node called `name`.
    pub fn new(name: MemberName) -> Self {
        Self {
            name,
            api: ApiConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 4470)),
            },
            p2p: P2pConfig {
                listen: DEFAULT_P2P_LISTEN.iter().map(|s| (*s).to_owned()).collect(),
                mdns: false,
            },
            store: StoreConfig {
                cache_capacity_mib: DEFAULT_CACHE_CAPACITY_MIB,
                checkpoint_interval: Duration::from_secs(DEFAULT_CHECKPOINT_INTERVAL_SECS),
            },
            taxii: TaxiiConfig::default(),
        }
    }

    /// The same configuration with these TAXII settings.
    pub fn with_taxii(mut self, taxii: TaxiiConfig) -> Self {
        self.taxii = taxii;
        self
    }

    /// The TAXII endpoint's settings.
    pub fn taxii(&self) -> &TaxiiConfig {
        &self.taxii
    }

    /// The same configuration with the API on `listen`.
    pub fn with_api_listen(mut self, listen: SocketAddr) -> Self {
        self.api.listen = listen;
        self
    }

    /// The same configuration with these libp2p listen multiaddrs.
    pub fn with_p2p_listen(mut self, listen: Vec<String>) -> Self {
        self.p2p.listen = listen;
        self
    }

    /// The node's name: its member name in the roster.
    pub fn name(&self) -> &MemberName {
        &self.name
    }

    /// The HTTP API's settings.
    pub fn api(&self) -> &ApiConfig {
        &self.api
    }

    /// The network's settings.
    pub fn p2p(&self) -> &P2pConfig {
        &self.p2p
    }

    /// The store's settings.
    pub fn store(&self) -> &StoreConfig {
        &self.store
    }

    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(path, &text)
    }

    /// Parses and validates config text; `path` names the file in error messages.
    pub fn from_toml(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let file: ConfigFile = toml::from_str(text)
            .map_err(|err| ConfigError::Invalid(FileProblem::from_toml(path, text, &err)))?;
        let problem = |span: std::ops::Range<usize>, message: String| {
            ConfigError::Invalid(FileProblem::at(path, text, span.start, message))
        };

        let name = file.name.get_ref().parse::<MemberName>().map_err(|err| {
            problem(
                file.name.span(),
                format!(
                    "name `{}` {err} (use this node's member name in roster.toml)",
                    file.name.get_ref()
                ),
            )
        })?;
        let mut config = NodeConfig::new(name);

        if let Some(listen) = file.api.listen {
            config.api.listen = listen.get_ref().parse::<SocketAddr>().map_err(|_| {
                problem(
                    listen.span(),
                    format!(
                        "[api] listen `{}` is not an IP:PORT address (for example \"{DEFAULT_API_LISTEN}\")",
                        listen.get_ref()
                    ),
                )
            })?;
        }

        if let Some(listen) = file.p2p.listen {
            let mut addrs = Vec::with_capacity(listen.len());
            for addr in listen {
                if !addr.get_ref().starts_with('/') {
                    return Err(problem(
                        addr.span(),
                        format!(
                            "[p2p] listen `{}` is not a multiaddr (for example \"{}\")",
                            addr.get_ref(),
                            DEFAULT_P2P_LISTEN[0]
                        ),
                    ));
                }
                addrs.push(addr.into_inner());
            }
            config.p2p.listen = addrs;
        }
        if let Some(mdns) = file.p2p.mdns {
            config.p2p.mdns = mdns;
        }

        if let Some(mib) = file.store.cache_capacity_mib {
            if !(1..=MAX_CACHE_CAPACITY_MIB).contains(mib.get_ref()) {
                return Err(problem(
                    mib.span(),
                    format!(
                        "[store] cache_capacity_mib must be between 1 and {MAX_CACHE_CAPACITY_MIB} (default {DEFAULT_CACHE_CAPACITY_MIB})"
                    ),
                ));
            }
            config.store.cache_capacity_mib = *mib.get_ref();
        }
        if let Some(secs) = file.store.checkpoint_interval_secs {
            if !(1..=MAX_CHECKPOINT_INTERVAL_SECS).contains(secs.get_ref()) {
                return Err(problem(
                    secs.span(),
                    format!(
                        "[store] checkpoint_interval_secs must be between 1 and {MAX_CHECKPOINT_INTERVAL_SECS} (default {DEFAULT_CHECKPOINT_INTERVAL_SECS})"
                    ),
                ));
            }
            config.store.checkpoint_interval = Duration::from_secs(*secs.get_ref());
        }
        config.taxii = taxii_config(file.taxii, &problem)?;
        Ok(config)
    }

    /// The configuration as TOML, every option written with a comment saying what it does.
    pub fn to_toml(&self) -> String {
        let p2p_listen: Vec<String> = self.p2p.listen.iter().map(|s| quote(s)).collect();
        format!(
            r#"# certnet node configuration. Every option is shown with its current value; options left out
# take the default named in their comment. Unknown options are refused.

# This node's member name: must match its entry in roster.toml.
name = {name}

[api]
# Address of the local HTTP API (IP:PORT; port 0 picks a free port, written to api.addr).
# Keep it on loopback: on any other address every request needs the token in api.token.
# Default: "{DEFAULT_API_LISTEN}".
listen = {api_listen}

[p2p]
# libp2p listen multiaddrs (TCP and QUIC). Default: ["{tcp}", "{quic}"].
listen = [{p2p_listen}]
# Discover peers on the local network with mDNS: for labs only. Default: false.
mdns = {mdns}

[store]
# Memory for the record store's page cache, in MiB. Default: {DEFAULT_CACHE_CAPACITY_MIB}.
cache_capacity_mib = {cache}
# Seconds between signed checkpoints of the log (made only when the log grew). Default: {DEFAULT_CHECKPOINT_INTERVAL_SECS}.
checkpoint_interval_secs = {interval}

[taxii]
# Serve the TLP:CLEAR collection of /taxii2/ without credentials. GREEN and AMBER are never public,
# AMBER+STRICT goes only to consumers of this node's own organisation, RED is never served.
# Default: false.
public_clear = {public_clear}
# Consumers, one [[taxii.consumers]] table each (README: "Feeding MISP / OpenCTI / your SIEM"):
#   [[taxii.consumers]]
#   name = "soc-siem"
#   tlp = ["clear", "green", "amber"]     # the TLP collections it may read
#   own_organisation = false              # true is required to read "amber+strict"
#   token_sha256 = "<sha256 hex of its bearer token>"
#   # or HTTP Basic: username = "misp" and password_sha256 = "<sha256 hex of its password>"
{consumers}"#,
            name = quote(self.name.as_str()),
            api_listen = quote(&self.api.listen.to_string()),
            tcp = DEFAULT_P2P_LISTEN[0],
            quic = DEFAULT_P2P_LISTEN[1],
            p2p_listen = p2p_listen.join(", "),
            mdns = self.p2p.mdns,
            cache = self.store.cache_capacity_mib,
            interval = self.store.checkpoint_interval.as_secs(),
            public_clear = self.taxii.public_clear,
            consumers = consumers_toml(&self.taxii.consumers),
        )
    }

    /// Writes a new config file (mode 0644, atomically), refusing to replace an existing one.
    pub fn write_new(&self, path: &Path) -> Result<(), ConfigError> {
        fsutil::write_new(path, self.to_toml().as_bytes(), PUBLIC_MODE).map_err(|source| {
            if source.kind() == io::ErrorKind::AlreadyExists {
                ConfigError::Exists {
                    path: path.to_owned(),
                }
            } else {
                ConfigError::Write {
                    path: path.to_owned(),
                    source,
                }
            }
        })
    }
}

/// config.toml as written; fields checked beyond their type keep their place for error messages.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    name: Spanned<String>,
    #[serde(default)]
    api: ApiFile,
    #[serde(default)]
    p2p: P2pFile,
    #[serde(default)]
    store: StoreFile,
    #[serde(default)]
    taxii: TaxiiFile,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TaxiiFile {
    public_clear: Option<bool>,
    #[serde(default)]
    consumers: Vec<Spanned<ConsumerFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsumerFile {
    name: Spanned<String>,
    tlp: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    own_organisation: bool,
    token_sha256: Option<Spanned<String>>,
    username: Option<Spanned<String>>,
    password_sha256: Option<Spanned<String>>,
}

/// Checks the `[taxii]` section; `problem` places an error in the file.
fn taxii_config(
    file: TaxiiFile,
    problem: &dyn Fn(std::ops::Range<usize>, String) -> ConfigError,
) -> Result<TaxiiConfig, ConfigError> {
    let hash = |field: &Spanned<String>, what: &str| -> Result<[u8; 32], ConfigError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(field.get_ref().trim(), &mut out).map_err(|_| {
            problem(
                field.span(),
                format!(
                    "[[taxii.consumers]] {what} must be 64 hex characters: the SHA-256 of the secret (`printf %s SECRET | sha256sum`)"
                ),
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
        let mut tlp = Vec::new();
        for t in c.tlp.get_ref() {
            let label = t.get_ref().parse::<Tlp>().map_err(|_| {
                problem(
                    t.span(),
                    format!(
                        "[[taxii.consumers]] `{name}`: tlp `{}` is not a TLP label (clear, green, amber or amber+strict)",
                        t.get_ref()
                    ),
                )
            })?;
            match label {
                Tlp::Red => {
                    return Err(problem(
                        t.span(),
                        format!(
                            "[[taxii.consumers]] `{name}`: tlp `red` is never served over TAXII: remove it"
                        ),
                    ));
                }
                Tlp::AmberStrict if !c.own_organisation => {
                    return Err(problem(
                        t.span(),
                        format!(
                            "[[taxii.consumers]] `{name}`: tlp `amber+strict` is only for this node's own organisation: set own_organisation = true or remove it"
                        ),
                    ));
                }
                _ => {}
            }
            if !tlp.contains(&label) {
                tlp.push(label);
            }
        }
        if tlp.is_empty() {
            return Err(problem(
                c.tlp.span(),
                format!(
                    "[[taxii.consumers]] `{name}`: tlp must name at least one collection, such as [\"clear\", \"green\"]"
                ),
            ));
        }
        tlp.sort();
        let credential = match (&c.token_sha256, &c.username, &c.password_sha256) {
            (Some(token), None, None) => TaxiiCredential::Bearer {
                token_sha256: hash(token, "token_sha256")?,
            },
            (None, Some(user), Some(password)) => {
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
                TaxiiCredential::Basic {
                    username,
                    password_sha256: hash(password, "password_sha256")?,
                }
            }
            _ => {
                return Err(problem(
                    span,
                    format!(
                        "[[taxii.consumers]] `{name}` needs either token_sha256 (bearer token) or username and password_sha256 (HTTP Basic), not both"
                    ),
                ));
            }
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
            own_organisation: c.own_organisation,
            credential,
        });
    }
    Ok(TaxiiConfig {
        public_clear: file.public_clear.unwrap_or(false),
        consumers,
    })
}

/// The consumers as `[[taxii.consumers]]` tables.
fn consumers_toml(consumers: &[TaxiiConsumer]) -> String {
    let mut out = String::new();
    for c in consumers {
        let tlp: Vec<String> = c.tlp.iter().map(|t| quote(t.as_str())).collect();
        out.push_str(&format!(
            "\n[[taxii.consumers]]\n# Who it is.\nname = {}\n# The TLP collections it may read.\ntlp = [{}]\n# Whether it is part of this node's own organisation.\nown_organisation = {}\n",
            quote(&c.name),
            tlp.join(", "),
            c.own_organisation
        ));
        match &c.credential {
            TaxiiCredential::Bearer { token_sha256 } => out.push_str(&format!(
                "# SHA-256 of its bearer token.\ntoken_sha256 = \"{}\"\n",
                hex::encode(token_sha256)
            )),
            TaxiiCredential::Basic {
                username,
                password_sha256,
            } => out.push_str(&format!(
                "# Its HTTP Basic user name.\nusername = {}\n# SHA-256 of its password.\npassword_sha256 = \"{}\"\n",
                quote(username),
                hex::encode(password_sha256)
            )),
        }
    }
    out
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ApiFile {
    listen: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct P2pFile {
    listen: Option<Vec<Spanned<String>>>,
    mdns: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StoreFile {
    cache_capacity_mib: Option<Spanned<u64>>,
    checkpoint_interval_secs: Option<Spanned<u64>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<NodeConfig, ConfigError> {
        NodeConfig::from_toml(Path::new("config.toml"), text)
    }

    fn problem(text: &str) -> String {
        match parse(text) {
            Err(ConfigError::Invalid(p)) => p.to_string(),
            other => panic!("expected an invalid config, got {other:?}"),
        }
    }

    #[test]
    fn template_round_trips_and_comments_every_option() {
        let config = NodeConfig::new("CERT-EU \"x\"".parse().unwrap())
            .with_api_listen("127.0.0.1:0".parse().unwrap())
            .with_p2p_listen(vec!["/ip4/127.0.0.1/tcp/0".into()]);
        let text = config.to_toml();
        assert_eq!(parse(&text).unwrap(), config);
        // Every option line follows a comment line.
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.contains(" = ") && !line.starts_with('#') {
                assert!(
                    lines[i - 1].starts_with('#'),
                    "option without comment: {line}"
                );
            }
        }
    }

    const HASH: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn taxii_consumers_round_trip() {
        let text = format!(
            "name = \"n\"\n[taxii]\npublic_clear = true\n[[taxii.consumers]]\nname = \"siem\"\ntlp = [\"green\", \"clear\"]\ntoken_sha256 = \"{HASH}\"\n[[taxii.consumers]]\nname = \"soc\"\ntlp = [\"amber+strict\"]\nown_organisation = true\nusername = \"misp\"\npassword_sha256 = \"{HASH}\"\n"
        );
        let config = parse(&text).unwrap();
        let taxii = config.taxii();
        assert!(taxii.public_clear());
        assert_eq!(taxii.consumers().len(), 2);
        assert_eq!(taxii.consumers()[0].tlp(), [Tlp::Clear, Tlp::Green]);
        assert!(matches!(
            taxii.consumers()[1].credential(),
            TaxiiCredential::Basic { username, .. } if username == "misp"
        ));
        assert_eq!(parse(&config.to_toml()).unwrap(), config);
    }

    #[test]
    fn taxii_errors_name_the_place_and_fix() {
        let consumer = |body: &str| {
            problem(&format!(
                "name = \"n\"\n[[taxii.consumers]]\nname = \"x\"\n{body}\n"
            ))
        };
        let msg = consumer(&format!("tlp = [\"red\"]\ntoken_sha256 = \"{HASH}\""));
        assert!(
            msg.starts_with("config.toml:4:8: [[taxii.consumers]] `x`: tlp `red` is never served"),
            "{msg}"
        );
        let msg = consumer(&format!(
            "tlp = [\"amber+strict\"]\ntoken_sha256 = \"{HASH}\""
        ));
        assert!(
            msg.starts_with("config.toml:4:8:") && msg.contains("own_organisation = true"),
            "{msg}"
        );
        let msg = consumer("tlp = [\"clear\"]\ntoken_sha256 = \"abc\"");
        assert!(
            msg.starts_with("config.toml:5:16:") && msg.contains("64 hex"),
            "{msg}"
        );
        let msg = consumer("tlp = [\"white\"]\ntoken_sha256 = \"abc\"");
        assert!(
            msg.starts_with("config.toml:4:8:") && msg.contains("not a TLP label"),
            "{msg}"
        );
        let msg = consumer("tlp = [\"clear\"]");
        assert!(msg.contains("needs either token_sha256"), "{msg}");
        let msg = consumer(&format!("tlp = []\ntoken_sha256 = \"{HASH}\""));
        assert!(
            msg.starts_with("config.toml:4:7:") && msg.contains("at least one"),
            "{msg}"
        );
        let msg = problem(&format!(
            "name = \"n\"\n[[taxii.consumers]]\nname = \"x\"\ntlp = [\"clear\"]\ntoken_sha256 = \"{HASH}\"\n[[taxii.consumers]]\nname = \"x\"\ntlp = [\"clear\"]\nusername = \"u\"\npassword_sha256 = \"{HASH}\"\n"
        ));
        assert!(
            msg.starts_with("config.toml:7:8:") && msg.contains("used twice"),
            "{msg}"
        );
    }

    #[test]
    fn minimal_config_takes_defaults() {
        let config = parse("name = \"n\"\n").unwrap();
        assert_eq!(config, NodeConfig::new("n".parse().unwrap()));
        assert_eq!(config.api().listen().to_string(), DEFAULT_API_LISTEN);
        assert_eq!(config.p2p().listen(), DEFAULT_P2P_LISTEN);
        assert!(!config.p2p().mdns());
        assert_eq!(config.store().cache_capacity_bytes(), 64 * 1024 * 1024);
        assert_eq!(
            config.store().checkpoint_interval(),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn errors_name_file_line_and_fix() {
        let msg = problem("name = \"n\"\n[api]\nlisten = \"localhost:80\"\n");
        assert!(
            msg.starts_with("config.toml:3:10: [api] listen `localhost:80` is not an IP:PORT"),
            "{msg}"
        );
        let msg = problem("name = \"n\"\n[store]\ncache_mib = 3\n");
        assert!(
            msg.starts_with("config.toml:3:1: unknown field `cache_mib`"),
            "{msg}"
        );
        let msg = problem("name = \"n\"\n[store]\ncache_capacity_mib = 0\n");
        assert!(
            msg.starts_with("config.toml:3:22: [store] cache_capacity_mib must be"),
            "{msg}"
        );
        let msg = problem("name = \"\"\n");
        assert!(
            msg.starts_with("config.toml:1:8: name `` must not be empty"),
            "{msg}"
        );
        let msg = problem("[api]\n");
        assert!(msg.contains("missing field `name`"), "{msg}");
        let msg = problem("name = \"n\"\n[p2p]\nlisten = [\"tcp:4471\"]\n");
        assert!(
            msg.starts_with("config.toml:3:11: [p2p] listen `tcp:4471`"),
            "{msg}"
        );
        let msg = problem("name = \"n\"\n[p2p]\nmdns = \"yes\"\n");
        assert!(msg.starts_with("config.toml:3:8:"), "{msg}");
        let msg = problem("name = \"n\n");
        assert!(msg.starts_with("config.toml:1:"), "{msg}");
    }
}
