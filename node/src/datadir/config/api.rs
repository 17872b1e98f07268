//! `[api]`: where the HTTP API listens, the names it answers to, what callers without credentials
//! may read and from where, and HTTPS.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::ConfigError;
use super::consumers::Problem;
use crate::datadir::tomlfile::quote;

/// Default address of the HTTP API: loopback only.
pub const DEFAULT_API_LISTEN: &str = "127.0.0.1:4470";

/// From where callers without credentials get what anonymous callers may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Nobody: credentials always.
    Nobody,
    /// Clients connecting from this host (a loopback address).
    Loopback,
    /// Every client.
    Anywhere,
}

impl Reach {
    /// The value as written in config.toml.
    pub fn as_str(self) -> &'static str {
        match self {
            Reach::Nobody => "nobody",
            Reach::Loopback => "loopback",
            Reach::Anywhere => "anywhere",
        }
    }

    /// Whether a client at an address that is loopback (or not) is within reach.
    pub fn admits(self, loopback: bool) -> bool {
        match self {
            Reach::Nobody => false,
            Reach::Loopback => loopback,
            Reach::Anywhere => true,
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "nobody" => Some(Reach::Nobody),
            "loopback" => Some(Reach::Loopback),
            "anywhere" => Some(Reach::Anywhere),
            _ => None,
        }
    }
}

/// HTTPS on a second listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    listen: SocketAddr,
    cert: PathBuf,
    key: PathBuf,
}

impl TlsSettings {
    /// HTTPS on `listen` with this certificate chain and key (PEM files).
    pub fn new(listen: SocketAddr, cert: PathBuf, key: PathBuf) -> Self {
        Self { listen, cert, key }
    }

    /// Where HTTPS listens.
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// The certificate chain (PEM), leaf first.
    pub fn cert(&self) -> &Path {
        &self.cert
    }

    /// The private key (PEM), readable by the node's user only.
    pub fn key(&self) -> &Path {
        &self.key
    }
}

/// The HTTP API's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    pub(super) listen: SocketAddr,
    hosts: Vec<String>,
    anonymous_clear: Reach,
    anonymous_status: Reach,
    tls: Option<TlsSettings>,
    duplicate_window_secs: u64,
}

/// Seconds within which a publish identical to a live own record is refused, by default.
const DEFAULT_DUPLICATE_WINDOW_SECS: u64 = 3_600;
/// The longest duplicate window that may be configured (7 days).
const MAX_DUPLICATE_WINDOW_SECS: u64 = 7 * 86_400;

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 4470)),
            hosts: Vec::new(),
            anonymous_clear: Reach::Loopback,
            anonymous_status: Reach::Loopback,
            tls: None,
            duplicate_window_secs: DEFAULT_DUPLICATE_WINDOW_SECS,
        }
    }
}

impl ApiConfig {
    /// Address the plain-HTTP API binds.
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// Host names the API answers to besides `localhost` and its own addresses (lowercase).
    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }

    /// From where callers without credentials may read TLP:CLEAR records.
    pub fn anonymous_clear(&self) -> Reach {
        self.anonymous_clear
    }

    /// From where callers without credentials may read `/v1/status` and `/metrics`.
    pub fn anonymous_status(&self) -> Reach {
        self.anonymous_status
    }

    /// How far back a publish is compared with this node's live records: an identical one within
    /// it is refused (409 `duplicate`) unless forced. Zero: never.
    pub fn duplicate_window(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.duplicate_window_secs)
    }

    /// HTTPS, if configured.
    pub fn tls(&self) -> Option<&TlsSettings> {
        self.tls.as_ref()
    }

    /// The same settings with these extra host names.
    pub fn with_hosts(mut self, hosts: Vec<String>) -> Self {
        self.hosts = hosts;
        self
    }

    /// The same settings with this anonymous reach for TLP:CLEAR and for status.
    pub fn with_anonymous(mut self, clear: Reach, status: Reach) -> Self {
        self.anonymous_clear = clear;
        self.anonymous_status = status;
        self
    }

    /// The same settings with HTTPS.
    pub fn with_tls(mut self, tls: Option<TlsSettings>) -> Self {
        self.tls = tls;
        self
    }

    /// The `[api]` section as TOML, every option with a comment.
    pub(super) fn to_toml(&self) -> String {
        let hosts: Vec<String> = self.hosts.iter().map(|h| quote(h)).collect();
        let tls = match &self.tls {
            Some(t) => format!(
                "tls_listen = {}\ntls_cert = {}\ntls_key = {}\n",
                quote(&t.listen.to_string()),
                quote(&t.cert.display().to_string()),
                quote(&t.key.display().to_string())
            ),
            None => "# tls_listen = \"0.0.0.0:4443\"\n# tls_cert = \"/etc/certnet/fullchain.pem\"\n# tls_key = \"/etc/certnet/key.pem\"\n".to_owned(),
        };
        format!(
            r#"[api]
# Address of the local HTTP API (IP:PORT; port 0 picks a free port, written to api.addr). Plain HTTP:
# keep it on loopback and serve other hosts over HTTPS (tls_listen below). Default: "{DEFAULT_API_LISTEN}".
listen = {listen}
# Host names this API answers to besides localhost and its own IP addresses (requests naming any
# other host get 421: that is what stops web pages reaching it through DNS rebinding). Default: [].
hosts = [{hosts}]
# From where callers without credentials may read TLP:CLEAR records: "loopback" (clients on this
# host), "anywhere" or "nobody". GREEN and above always need a credential. Default: "loopback".
anonymous_clear = {clear}
# From where callers without credentials may read /v1/status and /metrics. Default: "loopback".
anonymous_status = {status}
# A publish whose kind, TLP, refs, content (and audience) equal a live record this node signed within
# this many seconds is refused with 409 and the existing id, unless forced ("force": true, --force);
# 0 turns the check off. Default: {DEFAULT_DUPLICATE_WINDOW_SECS}.
duplicate_window_secs = {duplicate}
# HTTPS (rustls) on a second listener for TAXII consumers and operators on other hosts: the address,
# the certificate chain (PEM, leaf first) and its private key (PEM, mode 0600). Default: off.
{tls}"#,
            listen = quote(&self.listen.to_string()),
            hosts = hosts.join(", "),
            clear = quote(self.anonymous_clear.as_str()),
            status = quote(self.anonymous_status.as_str()),
            duplicate = self.duplicate_window_secs,
        )
    }
}

/// `[api]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct ApiFile {
    listen: Option<Spanned<String>>,
    #[serde(default)]
    hosts: Vec<Spanned<String>>,
    pub(super) anonymous_clear: Option<Spanned<String>>,
    anonymous_status: Option<Spanned<String>>,
    duplicate_window_secs: Option<Spanned<u64>>,
    tls_listen: Option<Spanned<String>>,
    tls_cert: Option<Spanned<String>>,
    tls_key: Option<Spanned<String>>,
}

fn addr(
    field: &Spanned<String>,
    what: &str,
    problem: Problem<'_>,
) -> Result<SocketAddr, ConfigError> {
    field.get_ref().parse::<SocketAddr>().map_err(|_| {
        problem(
            field.span(),
            format!(
                "[api] {what} `{}` is not an IP:PORT address (for example \"{DEFAULT_API_LISTEN}\")",
                field.get_ref()
            ),
        )
    })
}

fn reach(
    field: &Option<Spanned<String>>,
    what: &str,
    problem: Problem<'_>,
) -> Result<Option<Reach>, ConfigError> {
    field
        .as_ref()
        .map(|f| {
            Reach::parse(f.get_ref()).ok_or_else(|| {
                problem(
                    f.span(),
                    format!(
                        "[api] {what} `{}` must be \"loopback\", \"anywhere\" or \"nobody\"",
                        f.get_ref()
                    ),
                )
            })
        })
        .transpose()
}

/// A host name as `[api] hosts` may list it: a DNS name or an IP address, without port or scheme.
fn host_name(text: &str) -> Option<String> {
    let host = text.trim().trim_end_matches('.').to_ascii_lowercase();
    let ip = host.trim_start_matches('[').trim_end_matches(']');
    if ip.parse::<std::net::IpAddr>().is_ok() {
        return Some(ip.to_owned());
    }
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    (!host.is_empty() && host.len() <= 253 && host.split('.').all(label_ok)).then_some(host)
}

/// Checks `[api]`; relative TLS paths are taken from `base` (the config file's directory).
pub(super) fn api_config(
    file: ApiFile,
    public_clear: Option<&Spanned<bool>>,
    base: &Path,
    problem: Problem<'_>,
) -> Result<ApiConfig, ConfigError> {
    let mut config = ApiConfig::default();
    if let Some(listen) = &file.listen {
        config.listen = addr(listen, "listen", problem)?;
    }
    for h in &file.hosts {
        let name = host_name(h.get_ref()).ok_or_else(|| {
            problem(
                h.span(),
                format!(
                    "[api] hosts: `{}` is not a host name or IP address (no scheme, port or path: for example \"certnet.cert.example\")",
                    h.get_ref()
                ),
            )
        })?;
        if !config.hosts.contains(&name) {
            config.hosts.push(name);
        }
    }
    if let Some(r) = reach(&file.anonymous_clear, "anonymous_clear", problem)? {
        config.anonymous_clear = r;
    }
    if let Some(public) = public_clear
        && *public.get_ref()
    {
        // The older `[taxii] public_clear = true` said the same thing for TAXII only.
        if file.anonymous_clear.is_some() && config.anonymous_clear != Reach::Anywhere {
            return Err(problem(
                public.span(),
                "[taxii] public_clear = true contradicts [api] anonymous_clear: remove public_clear (anonymous_clear = \"anywhere\" replaces it)".into(),
            ));
        }
        config.anonymous_clear = Reach::Anywhere;
    }
    if let Some(r) = reach(&file.anonymous_status, "anonymous_status", problem)? {
        config.anonymous_status = r;
    }
    if let Some(secs) = &file.duplicate_window_secs {
        if *secs.get_ref() > MAX_DUPLICATE_WINDOW_SECS {
            return Err(problem(
                secs.span(),
                format!(
                    "[api] duplicate_window_secs must be 0 (off) to {MAX_DUPLICATE_WINDOW_SECS} (default {DEFAULT_DUPLICATE_WINDOW_SECS})"
                ),
            ));
        }
        config.duplicate_window_secs = *secs.get_ref();
    }
    match (&file.tls_listen, &file.tls_cert, &file.tls_key) {
        (None, None, None) => {}
        (Some(listen), Some(cert), Some(key)) => {
            let path = |f: &Spanned<String>| base.join(f.get_ref());
            config.tls = Some(TlsSettings {
                listen: addr(listen, "tls_listen", problem)?,
                cert: path(cert),
                key: path(key),
            });
        }
        _ => {
            let span = [&file.tls_listen, &file.tls_cert, &file.tls_key]
                .into_iter()
                .flatten()
                .next()
                .map_or(0..0, Spanned::span);
            return Err(problem(
                span,
                "[api] HTTPS needs all of tls_listen, tls_cert and tls_key".into(),
            ));
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_normalised_or_refused() {
        assert_eq!(
            host_name("Certnet.Example."),
            Some("certnet.example".into())
        );
        assert_eq!(host_name("[::1]"), Some("::1".into()));
        assert_eq!(host_name("192.0.2.1"), Some("192.0.2.1".into()));
        for bad in ["", "http://x", "x:80", "a..b", "-a.b", "a/b"] {
            assert_eq!(host_name(bad), None, "{bad}");
        }
        assert!(Reach::Loopback.admits(true) && !Reach::Loopback.admits(false));
        assert!(Reach::Anywhere.admits(false) && !Reach::Nobody.admits(true));
    }
}
