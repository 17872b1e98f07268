//! The client `certnet misp pull` reads a MISP instance with: `POST /events/restSearch` (MISP's REST
//! API, `returnFormat: json`), authenticated by the instance's automation key. HTTPS is verified
//! against the system's CA bundle or a CA file the operator names (MISP instances often carry an
//! internal CA's certificate).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

/// How long one restSearch may take (a large instance answers slowly).
const TIMEOUT: Duration = Duration::from_secs(300);
/// Most bytes of one answer.
const MAX_ANSWER: u64 = 512 << 20;
/// Where Debian and its derivatives keep the system's CA bundle.
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Why reading the MISP instance failed.
#[derive(Debug, thiserror::Error)]
pub enum MispClientError {
    /// The URL is not an http(s) URL.
    #[error("--url `{0}` is not an http:// or https:// URL of a MISP instance")]
    BadUrl(String),
    /// The CA file cannot be read or holds no certificate.
    #[error("{0}")]
    Ca(String),
    /// The instance could not be reached or answered badly.
    #[error("MISP at {url}: {message}")]
    Request {
        /// The instance.
        url: String,
        /// What went wrong, and what to check.
        message: String,
    },
}

/// A MISP instance's REST API.
pub struct MispClient {
    agent: ureq::Agent,
    url: String,
    key: String,
}

impl MispClient {
    /// A client for the instance at `url` with the automation key `key`; HTTPS is verified against
    /// `ca_file` (PEM), else the system's CA bundle.
    pub fn new(url: &str, key: String, ca_file: Option<&Path>) -> Result<Self, MispClientError> {
        let url = url.trim_end_matches('/').to_owned();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(MispClientError::BadUrl(url));
        }
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(TIMEOUT))
            .user_agent(concat!("certnet/", env!("CARGO_PKG_VERSION")));
        if url.starts_with("https://") {
            let path = ca_file.unwrap_or(Path::new(SYSTEM_CA_BUNDLE));
            let pem = std::fs::read(path).map_err(|e| {
                MispClientError::Ca(format!(
                    "cannot read the CA certificates in {}: {e} (pass --ca-file with the CA that signed the MISP instance's certificate)",
                    path.display()
                ))
            })?;
            let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                return Err(MispClientError::Ca(format!(
                    "{} holds no PEM certificate",
                    path.display()
                )));
            }
            let tls = ureq::tls::TlsConfig::builder()
                .provider(ureq::tls::TlsProvider::Rustls)
                .root_certs(ureq::tls::RootCerts::Specific(Arc::new(certs)))
                .unversioned_rustls_crypto_provider(Arc::new(
                    rustls::crypto::aws_lc_rs::default_provider(),
                ))
                .build();
            config = config.tls_config(tls);
        }
        Ok(Self {
            agent: ureq::Agent::new_with_config(config.build()),
            url,
            key,
        })
    }

    /// The instance's URL, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `POST /events/restSearch` for the events changed at or after `since` (seconds since the
    /// epoch; every event without it), with their sightings: the answer as JSON.
    pub fn search(&self, since: Option<u64>) -> Result<Value, MispClientError> {
        let mut body = json!({"returnFormat": "json", "includeSightings": true});
        if let Some(since) = since {
            body["timestamp"] = json!(since);
        }
        let fail = |message: String| MispClientError::Request {
            url: self.url.clone(),
            message,
        };
        let response = self
            .agent
            .post(format!("{}/events/restSearch", self.url))
            .header("Authorization", &self.key)
            .header("Accept", "application/json")
            .send_json(&body)
            .map_err(|e| fail(format!("cannot reach it: {e}")))?;
        let status = response.status().as_u16();
        let text = response
            .into_body()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_string()
            .map_err(|e| fail(format!("cannot read the answer: {e}")))?;
        match status {
            200 => serde_json::from_str(&text)
                .map_err(|e| fail(format!("the answer is not JSON: {e}"))),
            401 | 403 => Err(fail(format!(
                "{status}: the automation key was refused (check --key-file and the key's role in MISP)"
            ))),
            _ => Err(fail(format!(
                "{status}: {}",
                text.chars().take(300).collect::<String>()
            ))),
        }
    }
}
