//! The API client CLI commands use to talk to a running node.
//!
//! It finds the node through `D/api.addr` (written by `certnet run` once its API is bound), sends the
//! token from `D/api.token`, and turns the API's JSON errors into readable messages.
//!
//! Built on `ureq` 3 without TLS: the API is local plain HTTP, and the CLI is a short-lived synchronous
//! program, so a blocking client with no async runtime and a handful of dependencies fits better than
//! `reqwest` (pulls a tokio runtime and a TLS stack) or bare `hyper-util` (a runtime plus our own
//! connection, body and JSON plumbing).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::wire::{ErrorResponse, PublishRequest, PublishResponse, StatusResponse};
use crate::datadir::DataDir;
use crate::datadir::token::{ApiToken, TokenError};

/// How long one API call may take, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest error body read from the node.
const MAX_ERROR_BODY: u64 = 64 * 1024;

/// Largest JSON answer read from the node (a page of 500 records of up to 64 KiB content each).
const MAX_JSON_BODY: u64 = 64 * 1024 * 1024;

/// Why talking to the node failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No `api.addr`: the node is not running (or never ran) with this data directory.
    #[error("no running node found: {} does not exist (start one with `certnet run --data-dir {}`)", .path.display(), .dir.display())]
    NotRunning {
        /// The api.addr file.
        path: PathBuf,
        /// The data directory.
        dir: PathBuf,
    },
    /// `api.addr` could not be read.
    #[error("cannot read {}", .path.display())]
    ReadAddr {
        /// The api.addr file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// `api.addr` does not hold an address.
    #[error("{} does not hold an IP:PORT address (it is rewritten when `certnet run` starts)", .path.display())]
    BadAddr {
        /// The api.addr file.
        path: PathBuf,
    },
    /// The token file is unusable.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// Nothing answered at the address.
    #[error("no node answers at {addr} (from api.addr): is `certnet run` still running?")]
    Unreachable {
        /// The API address.
        addr: SocketAddr,
        /// The transport error.
        source: ureq::Error,
    },
    /// The connection broke while a body was streamed.
    #[error("the transfer from the node at {addr} broke off")]
    Transfer {
        /// The API address.
        addr: SocketAddr,
        /// The I/O error.
        source: io::Error,
    },
    /// The node answered with an error.
    #[error("the node refused the request ({status} {code}): {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The API's error code.
        code: String,
        /// The API's message.
        message: String,
    },
    /// The node's answer could not be understood.
    #[error("unexpected answer from the node at {addr} (HTTP {status}): {detail}")]
    BadResponse {
        /// The API address.
        addr: SocketAddr,
        /// HTTP status.
        status: u16,
        /// What was wrong with it.
        detail: String,
    },
}

/// A connection to one running node's API.
#[derive(Debug)]
pub struct Client {
    agent: ureq::Agent,
    addr: SocketAddr,
    token: ApiToken,
}

impl Client {
    /// A client for the API at `addr`, authenticating with `token`.
    ///
    /// An unspecified address (0.0.0.0 or ::, as a node bound to all interfaces reports) is reached
    /// on loopback.
    pub fn new(addr: SocketAddr, token: ApiToken) -> Self {
        let addr = match addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => {
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
            }
            IpAddr::V6(ip) if ip.is_unspecified() => {
                SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), addr.port())
            }
            _ => addr,
        };
        let config = ureq::Agent::config_builder()
            // Error statuses carry our JSON error body: read it rather than fail early.
            .http_status_as_error(false)
            // The API is local: never send it (or the token) through an HTTP proxy from the env.
            .proxy(None)
            .timeout_global(Some(REQUEST_TIMEOUT))
            .user_agent(concat!("certnet/", env!("CARGO_PKG_VERSION")))
            .build();
        Self {
            agent: ureq::Agent::new_with_config(config),
            addr,
            token,
        }
    }

    /// The client for the node running on data directory `dir`.
    pub fn from_data_dir(dir: &DataDir) -> Result<Self, ClientError> {
        let path = dir.api_addr();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(ClientError::NotRunning {
                    path,
                    dir: dir.root().to_owned(),
                });
            }
            Err(source) => return Err(ClientError::ReadAddr { path, source }),
        };
        let addr = text
            .trim()
            .parse::<SocketAddr>()
            .map_err(|_| ClientError::BadAddr { path })?;
        let token = ApiToken::load(&dir.api_token())?;
        Ok(Self::new(addr, token))
    }

    /// The address requests go to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `GET /v1/status`.
    pub fn status(&self) -> Result<StatusResponse, ClientError> {
        self.get_json("/v1/status")
    }

    /// `POST /v1/records`: has the node sign and store a record.
    pub fn publish(&self, request: &PublishRequest) -> Result<PublishResponse, ClientError> {
        self.post_json("/v1/records", request)
    }

    /// `GET path`, answered with JSON of type `T`.
    pub fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let response = self.unreachable(self.get(path).call())?;
        self.read(response)
    }

    /// `POST path` with a JSON body, answered with JSON of type `T`.
    pub fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let response = self.unreachable(
            self.agent
                .post(self.url(path))
                .header("Authorization", self.bearer())
                .send_json(body),
        )?;
        self.read(response)
    }

    /// `POST path` without a body, answered with JSON of type `T`.
    pub fn post_empty<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let response = self.unreachable(
            self.agent
                .post(self.url(path))
                .header("Authorization", self.bearer())
                .send_empty(),
        )?;
        self.read(response)
    }

    /// `GET path`, answered with at most `limit` bytes (such as a raw record).
    pub fn get_bytes(&self, path: &str, limit: u64) -> Result<Vec<u8>, ClientError> {
        let mut response = self.unreachable(self.get(path).call())?;
        if !response.status().is_success() {
            return Err(self.error(response));
        }
        let status = response.status().as_u16();
        response
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|err| ClientError::BadResponse {
                addr: self.addr,
                status,
                detail: err.to_string(),
            })
    }

    /// `GET path`, streaming the body into `out` with no overall time limit (for exports of any
    /// size). Returns the bytes written and the response's headers.
    pub fn download(
        &self,
        path: &str,
        out: &mut impl io::Write,
    ) -> Result<(u64, ureq::http::HeaderMap), ClientError> {
        let request = self
            .agent
            .get(self.url(path))
            .config()
            .timeout_global(None)
            .build()
            .header("Authorization", self.bearer());
        let mut response = self.unreachable(request.call())?;
        if !response.status().is_success() {
            return Err(self.error(response));
        }
        let headers = response.headers().clone();
        let written = io::copy(&mut response.body_mut().as_reader(), out).map_err(|source| {
            ClientError::Transfer {
                addr: self.addr,
                source,
            }
        })?;
        Ok((written, headers))
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.token.as_str())
    }

    fn get(&self, path: &str) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
        self.agent
            .get(self.url(path))
            .header("Authorization", self.bearer())
    }

    fn unreachable(
        &self,
        sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<ureq::http::Response<ureq::Body>, ClientError> {
        sent.map_err(|source| ClientError::Unreachable {
            addr: self.addr,
            source,
        })
    }

    fn read<T: DeserializeOwned>(
        &self,
        mut response: ureq::http::Response<ureq::Body>,
    ) -> Result<T, ClientError> {
        if !response.status().is_success() {
            return Err(self.error(response));
        }
        let status = response.status().as_u16();
        response
            .body_mut()
            .with_config()
            .limit(MAX_JSON_BODY)
            .read_json::<T>()
            .map_err(|err| ClientError::BadResponse {
                addr: self.addr,
                status,
                detail: err.to_string(),
            })
    }

    /// The error an unsuccessful response carries.
    fn error(&self, mut response: ureq::http::Response<ureq::Body>) -> ClientError {
        let status = response.status().as_u16();
        let bad = |detail: String| ClientError::BadResponse {
            addr: self.addr,
            status,
            detail,
        };
        let text = match response
            .body_mut()
            .with_config()
            .limit(MAX_ERROR_BODY)
            .read_to_string()
        {
            Ok(text) => text,
            Err(err) => return bad(err.to_string()),
        };
        match serde_json::from_str::<ErrorResponse>(&text) {
            Ok(err) => ClientError::Api {
                status,
                code: err.error.code,
                message: err.error.message,
            },
            Err(_) => bad(text.chars().take(200).collect()),
        }
    }
}
