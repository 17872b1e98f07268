//! Node configuration: `config.toml` as written by operators, validated into a typed [`NodeConfig`].
//!
//! Every option has a default, except the node's name; `certnet init` writes them all with a comment
//! each ([`NodeConfig::to_toml`]). Unknown options are refused, so a typo never goes unnoticed.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::keys::PRIVATE_MODE;
mod api;
mod consumers;
mod edit;

pub use api::{ApiConfig, DEFAULT_API_LISTEN, Reach, TlsSettings};
pub use consumers::{PasswordHash, TaxiiConfig, TaxiiConsumer, TaxiiCredential, consumer_toml};
pub use edit::{ConsumerEditError, add_consumer, remove_consumer};

use crate::datadir::fsutil;
use crate::datadir::tomlfile::{FileProblem, quote};
use crate::membership::MemberName;
use crate::net::limits::{DEFAULT_AUTHOR_BURST, DEFAULT_AUTHOR_RATE};

/// Default libp2p listen addresses: TCP and QUIC on port 4471, all interfaces.
pub const DEFAULT_P2P_LISTEN: [&str; 2] =
    ["/ip4/0.0.0.0/tcp/4471", "/ip4/0.0.0.0/udp/4471/quic-v1"];
/// Default store page cache, in MiB.
pub const DEFAULT_CACHE_CAPACITY_MIB: u64 = 64;
/// Default seconds between checkpoints (made only when the log grew).
pub const DEFAULT_CHECKPOINT_INTERVAL_SECS: u64 = 60;

const MAX_CACHE_CAPACITY_MIB: u64 = 1024 * 1024;
const MAX_AUTHOR_BUDGET: u64 = 10_000_000;
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

/// The libp2p network's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct P2pConfig {
    listen: Vec<String>,
    mdns: bool,
    author_burst: u64,
    author_rate: u64,
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

    /// Records of another member this node takes at once (gossip and sync together).
    pub fn author_burst(&self) -> u64 {
        self.author_burst
    }

    /// Records of another member this node takes per second after the burst.
    pub fn author_rate(&self) -> u64 {
        self.author_rate
    }
}

/// The record store's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    cache_capacity_mib: u64,
    checkpoint_interval: Duration,
    min_free_mib: Option<u64>,
    publish_floor_mib: Option<u64>,
    max_orphans: u64,
}

/// Orphans kept by default (all authors; one author gets an eighth).
pub const DEFAULT_MAX_ORPHANS: u64 = 10_000;
/// Most orphans a node may be configured to keep.
const MAX_MAX_ORPHANS: u64 = 1_000_000;

impl StoreConfig {
    /// Records kept waiting for their predecessors, all authors together (one author may fill an
    /// eighth).
    pub fn max_orphans(&self) -> u64 {
        self.max_orphans
    }

    /// Page cache size in bytes (configured in MiB).
    pub fn cache_capacity_bytes(&self) -> u64 {
        self.cache_capacity_mib * 1024 * 1024
    }

    /// Time between checkpoints, made only when the log grew.
    pub fn checkpoint_interval(&self) -> Duration {
        self.checkpoint_interval
    }

    /// Free space the store keeps, if configured (`None`: the defaults for its file system, the
    /// larger of 1% and 256 MiB, and a quarter of that for the floor).
    pub fn disk_limits(&self) -> Option<crate::store::DiskLimits> {
        const MIB: u64 = 1024 * 1024;
        match (self.min_free_mib, self.publish_floor_mib) {
            (None, None) => None,
            (min, floor) => {
                let watermark = min.map_or(256 * MIB, |m| m * MIB);
                Some(crate::store::DiskLimits {
                    watermark,
                    floor: floor.map_or(watermark / 4, |f| f * MIB),
                })
            }
        }
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
    misp: MispConfig,
}

/// `[misp]`: the MISP instance `certnet misp pull` reads (node/MISP.md).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MispConfig {
    /// The instance's URL.
    pub url: Option<String>,
    /// The file holding its automation key (relative paths: to the data directory).
    pub key_file: Option<PathBuf>,
    /// CA certificates to verify its HTTPS certificate with (default: the system's).
    pub ca_file: Option<PathBuf>,
}

impl NodeConfig {
    /// The default configuration for a node called `name`.
    pub fn new(name: MemberName) -> Self {
        Self {
            name,
            api: ApiConfig::default(),
            p2p: P2pConfig {
                listen: DEFAULT_P2P_LISTEN.iter().map(|s| (*s).to_owned()).collect(),
                mdns: false,
                author_burst: DEFAULT_AUTHOR_BURST,
                author_rate: DEFAULT_AUTHOR_RATE,
            },
            store: StoreConfig {
                cache_capacity_mib: DEFAULT_CACHE_CAPACITY_MIB,
                checkpoint_interval: Duration::from_secs(DEFAULT_CHECKPOINT_INTERVAL_SECS),
                min_free_mib: None,
                publish_floor_mib: None,
                max_orphans: DEFAULT_MAX_ORPHANS,
            },
            taxii: TaxiiConfig::default(),
            misp: MispConfig::default(),
        }
    }

    /// `[misp]`: the MISP instance `certnet misp pull` reads.
    pub fn misp(&self) -> &MispConfig {
        &self.misp
    }

    /// The same configuration with these MISP settings.
    pub fn with_misp(mut self, misp: MispConfig) -> Self {
        self.misp = misp;
        self
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

    /// The same configuration with these API settings.
    pub fn with_api(mut self, api: ApiConfig) -> Self {
        self.api = api;
        self
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

        if let Some(min) = &file.store.min_free_mib {
            config.store.min_free_mib = Some(*min.get_ref());
        }
        if let Some(floor) = &file.store.publish_floor_mib {
            let watermark = config.store.min_free_mib.unwrap_or(256);
            if *floor.get_ref() > watermark {
                return Err(problem(
                    floor.span(),
                    format!(
                        "[store] publish_floor_mib ({}) must not exceed min_free_mib ({watermark}): own publishes stop after others' records do",
                        floor.get_ref()
                    ),
                ));
            }
            config.store.publish_floor_mib = Some(*floor.get_ref());
        }
        let base = path.parent().unwrap_or(Path::new("."));
        config.api = api::api_config(file.api, file.taxii.public_clear.as_ref(), base, &problem)?;

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
        for (value, key, default, field) in [
            (
                &file.p2p.author_burst,
                "author_burst",
                DEFAULT_AUTHOR_BURST,
                &mut config.p2p.author_burst,
            ),
            (
                &file.p2p.author_rate,
                "author_rate",
                DEFAULT_AUTHOR_RATE,
                &mut config.p2p.author_rate,
            ),
        ] {
            if let Some(n) = value {
                if !(1..=MAX_AUTHOR_BUDGET).contains(n.get_ref()) {
                    return Err(problem(
                        n.span(),
                        format!(
                            "[p2p] {key} must be between 1 and {MAX_AUTHOR_BUDGET} (default {default})"
                        ),
                    ));
                }
                *field = *n.get_ref();
            }
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
        if let Some(n) = file.store.max_orphans {
            if !(8..=MAX_MAX_ORPHANS).contains(n.get_ref()) {
                return Err(problem(
                    n.span(),
                    format!(
                        "[store] max_orphans must be between 8 and {MAX_MAX_ORPHANS} (default {DEFAULT_MAX_ORPHANS})"
                    ),
                ));
            }
            config.store.max_orphans = *n.get_ref();
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
        config.taxii = consumers::taxii_config(file.taxii, &problem)?;
        if let Some(url) = &file.misp.url
            && !(url.get_ref().starts_with("https://") || url.get_ref().starts_with("http://"))
        {
            return Err(problem(
                url.span(),
                format!(
                    "[misp] url `{}` is not an http:// or https:// URL of a MISP instance",
                    url.get_ref()
                ),
            ));
        }
        config.misp = MispConfig {
            url: file.misp.url.map(Spanned::into_inner),
            key_file: file.misp.key_file,
            ca_file: file.misp.ca_file,
        };
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

{api}
[p2p]
# libp2p listen multiaddrs (TCP and QUIC). Default: ["{tcp}", "{quic}"].
listen = [{p2p_listen}]
# Discover peers on the local network with mDNS: for labs only. Default: false.
mdns = {mdns}
# How fast a member's own node may push its records here, gossip and sync together: author_burst at
# once, then author_rate a second; beyond it they wait and come as the budget refills (so one
# compromised member's flood costs this node a bounded share). Records relayed by other members are
# not counted (they took them at this rate), so catching up after downtime stays fast. This node
# gossips its own records at the same rate. Raise both on every node before a planned bulk import.
# Defaults: {DEFAULT_AUTHOR_BURST} and {DEFAULT_AUTHOR_RATE}.
{author_budget}

[store]
# Memory for the record store's page cache, in MiB. Default: {DEFAULT_CACHE_CAPACITY_MIB}.
cache_capacity_mib = {cache}
# Seconds between signed checkpoints of the log (made only when the log grew). Default: {DEFAULT_CHECKPOINT_INTERVAL_SECS}.
checkpoint_interval_secs = {interval}
# Free disk space to keep, in MiB: below min_free_mib the node takes no records from peers (they come
# again by sync once space returns), below publish_floor_mib it publishes nothing either; reads go on.
# Default: the larger of 1% of the file system and 256 MiB, and a quarter of that.
{disk}
# Records kept waiting for their predecessors (which sync then fetches), all authors together; one
# author's records may fill an eighth. Default: {DEFAULT_MAX_ORPHANS}.
{orphans}

[taxii]
# Consumers: who may read which TLP bands (on /taxii2/, /v1 and the console) without the API token.
# Add them with `certnet consumer add NAME --bands clear,green [--basic]` (README: "Feeding MISP /
# OpenCTI / your SIEM"); each is one [[taxii.consumers]] table. AMBER+STRICT goes only to consumers
# with own_organisation = true; RED is never served to consumers.
{consumers}

[misp]
# The MISP instance `certnet misp pull` reads (node/MISP.md): its URL, a file holding its automation
# key (relative paths: to this directory), and the CA certificates its HTTPS certificate is verified
# with (default: the system's). `--url`, `--key-file` and `--ca-file` override them.
{misp}
"#,
            name = quote(self.name.as_str()),
            api = self.api.to_toml(),
            tcp = DEFAULT_P2P_LISTEN[0],
            quic = DEFAULT_P2P_LISTEN[1],
            p2p_listen = p2p_listen.join(", "),
            mdns = self.p2p.mdns,
            author_budget = if (self.p2p.author_burst, self.p2p.author_rate)
                == (DEFAULT_AUTHOR_BURST, DEFAULT_AUTHOR_RATE)
            {
                format!(
                    "# author_burst = {DEFAULT_AUTHOR_BURST}\n# author_rate = {DEFAULT_AUTHOR_RATE}"
                )
            } else {
                format!(
                    "author_burst = {}\nauthor_rate = {}",
                    self.p2p.author_burst, self.p2p.author_rate
                )
            },
            cache = self.store.cache_capacity_mib,
            interval = self.store.checkpoint_interval.as_secs(),
            disk = match (self.store.min_free_mib, self.store.publish_floor_mib) {
                (None, None) => "# min_free_mib = 256\n# publish_floor_mib = 64".to_owned(),
                (min, floor) => format!(
                    "min_free_mib = {}\n# Free MiB below which this node's own publishes stop too.\npublish_floor_mib = {}",
                    min.unwrap_or(256),
                    floor.unwrap_or(min.unwrap_or(256) / 4)
                ),
            },
            orphans = if self.store.max_orphans == DEFAULT_MAX_ORPHANS {
                format!("# max_orphans = {DEFAULT_MAX_ORPHANS}")
            } else {
                format!("max_orphans = {}", self.store.max_orphans)
            },
            consumers = consumers::consumers_toml(self.taxii.consumers()),
            misp = [
                ("url", self.misp.url.clone(), "https://misp.cert.example"),
                (
                    "key_file",
                    self.misp.key_file.as_ref().map(|p| p.display().to_string()),
                    "misp.key",
                ),
                (
                    "ca_file",
                    self.misp.ca_file.as_ref().map(|p| p.display().to_string()),
                    "misp-ca.pem",
                ),
            ]
            .into_iter()
            .map(|(key, value, example)| match value {
                Some(v) => format!("{key} = {}", quote(&v)),
                None => format!("# {key} = \"{example}\""),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        )
    }

    /// Writes a new config file (mode 0600: it holds consumers' credential hashes; atomically),
    /// refusing to replace an existing one.
    pub fn write_new(&self, path: &Path) -> Result<(), ConfigError> {
        fsutil::write_new(path, self.to_toml().as_bytes(), PRIVATE_MODE).map_err(|source| {
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
    api: api::ApiFile,
    #[serde(default)]
    p2p: P2pFile,
    #[serde(default)]
    store: StoreFile,
    #[serde(default)]
    taxii: consumers::TaxiiFile,
    #[serde(default)]
    misp: MispFile,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MispFile {
    url: Option<Spanned<String>>,
    key_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct P2pFile {
    listen: Option<Vec<Spanned<String>>>,
    mdns: Option<bool>,
    author_burst: Option<Spanned<u64>>,
    author_rate: Option<Spanned<u64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StoreFile {
    cache_capacity_mib: Option<Spanned<u64>>,
    checkpoint_interval_secs: Option<Spanned<u64>>,
    min_free_mib: Option<Spanned<u64>>,
    publish_floor_mib: Option<Spanned<u64>>,
    max_orphans: Option<Spanned<u64>>,
}

#[cfg(test)]
mod tests {
    use certnet_protocol::record::Tlp;

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
        // The older `public_clear = true` is `[api] anonymous_clear = "anywhere"`.
        assert_eq!(config.api().anonymous_clear(), Reach::Anywhere);
        let taxii = config.taxii();
        assert!(taxii.consumers()[1].legacy_fix().is_some());
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
    fn misp_settings_round_trip_and_a_bad_url_is_named() {
        let config = parse(
            "name = \"n\"\n[misp]\nurl = \"https://misp.cert.example\"\nkey_file = \"misp.key\"\n",
        )
        .unwrap();
        assert_eq!(
            config.misp().url.as_deref(),
            Some("https://misp.cert.example")
        );
        assert_eq!(
            config.misp().key_file.as_deref(),
            Some(Path::new("misp.key"))
        );
        assert_eq!(config.misp().ca_file, None);
        assert_eq!(parse(&config.to_toml()).unwrap(), config);
        let msg = problem("name = \"n\"\n[misp]\nurl = \"misp.cert.example\"\n");
        assert!(
            msg.starts_with("config.toml:3:7:") && msg.contains("not an http:// or https://"),
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
        let msg = problem("name = \"n\"\n[store]\nmax_orphans = 3\n");
        assert!(
            msg.starts_with("config.toml:3:15: [store] max_orphans must be between 8 and"),
            "{msg}"
        );
        let small = parse("name = \"n\"\n[store]\nmax_orphans = 800\n").unwrap();
        assert_eq!(small.store().max_orphans(), 800);
        assert_eq!(parse(&small.to_toml()).unwrap(), small);
        let msg = problem("name = \"n\"\n[p2p]\nauthor_rate = 0\n");
        assert!(
            msg.starts_with("config.toml:3:15: [p2p] author_rate must be between 1 and"),
            "{msg}"
        );
        let bulk =
            parse("name = \"n\"\n[p2p]\nauthor_burst = 50000\nauthor_rate = 1000\n").unwrap();
        assert_eq!(
            (bulk.p2p().author_burst(), bulk.p2p().author_rate()),
            (50_000, 1_000)
        );
        assert_eq!(parse(&bulk.to_toml()).unwrap(), bulk);
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
