//! A small typed client for one node's HTTP API, as the testnet and the end-to-end tests use it.
//!
//! Routes whose JSON shape is settled have types ([`Status`], [`Published`]); the others return
//! [`serde_json::Value`] until their shape is final, so the harness does not pin what the node's
//! API is still free to change. Every request sends the bearer token from the node's `api.token`:
//! the harness is the node's operator (anonymous callers may read only TLP:CLEAR).
//!
//! Routes: `GET /v1/status`; `POST /v1/records`; `GET /v1/records` (cursor-paged); `GET
//! /v1/records/{id}`; `GET /v1/peers`; `POST /v1/peers/{peer}/block` and `/unblock`; `GET
//! /v1/export`; `GET /v1/log/checkpoint`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How long one API call may take, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest error or text body read.
const MAX_TEXT_BODY: u64 = 1024 * 1024;
/// Largest JSON body read (a page of records).
const MAX_JSON_BODY: u64 = 64 * 1024 * 1024;
/// Largest export read.
const MAX_EXPORT_BODY: u64 = 4 * 1024 * 1024 * 1024;

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The token file could not be read.
    #[error("cannot read the API token {}", .path.display())]
    Token {
        /// The token file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// Nothing answered, or the connection broke.
    #[error("{method} {path}: no answer from the node at {addr}")]
    Unreachable {
        /// HTTP method.
        method: &'static str,
        /// Request path.
        path: String,
        /// The API address.
        addr: SocketAddr,
        /// The transport error.
        source: Box<ureq::Error>,
    },
    /// The node answered with an error status.
    #[error("{method} {path}: HTTP {status} {code}: {message}")]
    Status {
        /// HTTP method.
        method: &'static str,
        /// Request path.
        path: String,
        /// HTTP status.
        status: u16,
        /// The API's error code (empty if the body was not the API's JSON error).
        code: String,
        /// The API's message, or the start of the body.
        message: String,
    },
    /// The answer could not be understood.
    #[error("{method} {path}: unexpected answer (HTTP {status}): {detail}")]
    BadResponse {
        /// HTTP method.
        method: &'static str,
        /// Request path.
        path: String,
        /// HTTP status.
        status: u16,
        /// What was wrong with it.
        detail: String,
    },
}

impl ApiError {
    /// The HTTP status, if the node answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } | Self::BadResponse { status, .. } => Some(*status),
            Self::Token { .. } | Self::Unreachable { .. } => None,
        }
    }

    /// Whether the node answered 404.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

/// `GET /v1/status`: the fields every node version has, plus whatever else it reports (`log_size`,
/// `root`, `heads`, … as they land).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// Member name.
    pub name: String,
    /// Network id.
    pub network: String,
    /// Author public key.
    pub author_key: String,
    /// libp2p PeerId.
    pub peer_id: String,
    /// certnet version.
    pub version: String,
    /// Whole seconds since the node started.
    pub uptime_secs: u64,
    /// Every other field.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

/// `POST /v1/records` → 201: the new record's id, and its seq and log index when reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    /// Record id (hex SHA-256 of the payload).
    pub id: String,
    /// The author's sequence number.
    #[serde(default)]
    pub seq: Option<u64>,
    /// Position in the node's log.
    #[serde(default)]
    pub index: Option<u64>,
}

/// Filters of `GET /v1/records`; `None` leaves a filter out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordQuery {
    /// Author key.
    pub author: Option<String>,
    /// Record kind.
    pub kind: Option<String>,
    /// TLP.
    pub tlp: Option<String>,
    /// Lower bound, as the API defines it.
    pub since: Option<String>,
    /// Page size.
    pub limit: Option<u32>,
}

impl RecordQuery {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let fields = [
            ("author", &self.author),
            ("kind", &self.kind),
            ("tlp", &self.tlp),
            ("since", &self.since),
        ];
        for (key, value) in fields {
            if let Some(value) = value {
                out.push((key, value.clone()));
            }
        }
        if let Some(limit) = self.limit {
            out.push(("limit", limit.to_string()));
        }
        // The harness compares log entries: revoked records are entries too.
        out.push(("include_revoked", "true".to_owned()));
        out
    }
}

/// A client for the API of one node.
#[derive(Debug, Clone)]
pub struct ApiClient {
    agent: ureq::Agent,
    addr: SocketAddr,
    token: String,
}

impl ApiClient {
    /// A client for the API at `addr` that authenticates writes with `token`.
    pub fn new(addr: SocketAddr, token: String) -> Self {
        let config = ureq::Agent::config_builder()
            // Error statuses carry the API's JSON error: read it rather than fail early.
            .http_status_as_error(false)
            // The API is local: never send it (or the token) through a proxy from the environment.
            .proxy(None)
            .timeout_global(Some(REQUEST_TIMEOUT))
            .user_agent(concat!("certnet-testnet/", env!("CARGO_PKG_VERSION")))
            .build();
        Self {
            agent: ureq::Agent::new_with_config(config),
            addr,
            token,
        }
    }

    /// A client for the API at `addr` with the token in `token_file` (a node's `api.token`).
    pub fn with_token_file(addr: SocketAddr, token_file: &Path) -> Result<Self, ApiError> {
        let token = std::fs::read_to_string(token_file).map_err(|source| ApiError::Token {
            path: token_file.to_owned(),
            source,
        })?;
        Ok(Self::new(addr, token.trim().to_owned()))
    }

    /// The API's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `GET /v1/status`.
    pub fn status(&self) -> Result<Status, ApiError> {
        self.get_json("/v1/status", &[])
    }

    /// `POST /v1/records` with `record` (`{kind, tlp, refs?, content}`).
    pub fn publish(&self, record: &Value) -> Result<Published, ApiError> {
        self.post_json("/v1/records", Some(record))
    }

    /// One page of `GET /v1/records`: `{records: [...], next_cursor}` (`next_cursor` a string or a
    /// number, `null` or absent on the last page).
    pub fn records_page(
        &self,
        query: &RecordQuery,
        cursor: Option<&str>,
    ) -> Result<Value, ApiError> {
        let mut pairs = query.pairs();
        if let Some(cursor) = cursor {
            pairs.push(("cursor", cursor.to_owned()));
        }
        self.get_json("/v1/records", &pairs)
    }

    /// Every record `GET /v1/records` lists for `query`, following `next_cursor` to the end.
    pub fn records(&self, query: &RecordQuery) -> Result<Vec<Value>, ApiError> {
        let path = "/v1/records";
        let bad = |detail: String| ApiError::BadResponse {
            method: "GET",
            path: path.to_owned(),
            status: 200,
            detail,
        };
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        let mut seen = BTreeSet::new();
        loop {
            let mut page = self.records_page(query, cursor.as_deref())?;
            let Some(records) = page.get_mut("records").and_then(|r| r.as_array_mut()) else {
                return Err(bad(format!("no `records` array in {page}")));
            };
            out.append(records);
            cursor = match page.get("next_cursor") {
                None | Some(Value::Null) => return Ok(out),
                Some(Value::String(next)) => Some(next.clone()),
                Some(Value::Number(next)) => Some(next.to_string()),
                Some(other) => return Err(bad(format!("`next_cursor` is {other}"))),
            };
            if let Some(next) = &cursor
                && !seen.insert(next.clone())
            {
                return Err(bad(format!("cursor {next} came back twice")));
            }
        }
    }

    /// `GET /v1/records/{id}`.
    pub fn record(&self, id: &str) -> Result<Value, ApiError> {
        self.get_json(&format!("/v1/records/{}", segment(id)), &[])
    }

    /// `GET /v1/peers`.
    pub fn peers(&self) -> Result<Value, ApiError> {
        self.get_json("/v1/peers", &[])
    }

    /// Whether the node has networking: `GET /v1/peers` answers (a 404 means no such route yet).
    pub fn has_networking(&self) -> Result<bool, ApiError> {
        match self.peers() {
            Ok(_) => Ok(true),
            Err(err) if err.is_not_found() => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// `POST /v1/peers/{peer}/block`: the node disconnects and refuses `peer`.
    pub fn block(&self, peer: &str) -> Result<(), ApiError> {
        self.post_json::<Value>(&format!("/v1/peers/{}/block", segment(peer)), None)
            .map(drop)
    }

    /// `POST /v1/peers/{peer}/unblock`.
    pub fn unblock(&self, peer: &str) -> Result<(), ApiError> {
        self.post_json::<Value>(&format!("/v1/peers/{}/unblock", segment(peer)), None)
            .map(drop)
    }

    /// `POST /v1/log/checkpoint`, then `GET /v1/export`: the export file's bytes, up to a checkpoint
    /// signed for the log as it is now (a GET signs nothing).
    pub fn export(&self) -> Result<Vec<u8>, ApiError> {
        self.post_json::<Value>("/v1/log/checkpoint", None)?;
        let path = "/v1/export";
        let response = self.send_get(path, &[])?;
        let mut response = check(response, "GET", path)?;
        response
            .body_mut()
            .with_config()
            .limit(MAX_EXPORT_BODY)
            .read_to_vec()
            .map_err(|err| bad_body("GET", path, 200, &err))
    }

    /// `GET path_and_query` with these extra headers, the body streamed into `out` with no time or
    /// size limit (exports, bundles, large TAXII pages): the status, the response headers and the
    /// bytes written.
    pub fn get_streamed(
        &self,
        path_and_query: &str,
        headers: &[(&str, &str)],
        out: &mut dyn std::io::Write,
    ) -> Result<(u16, ureq::http::HeaderMap, u64), ApiError> {
        let mut request = self
            .agent
            .get(format!("{}{path_and_query}", self.base_url()))
            .config()
            .timeout_global(None)
            .build()
            .header("Authorization", format!("Bearer {}", self.token));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let mut response = request
            .call()
            .map_err(|source| self.unreachable("GET", path_and_query, source))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let written = std::io::copy(&mut response.body_mut().as_reader(), out).map_err(|e| {
            ApiError::BadResponse {
                method: "GET",
                path: path_and_query.to_owned(),
                status,
                detail: e.to_string(),
            }
        })?;
        Ok((status, headers, written))
    }

    /// Signs in to the node's console (`POST /ui/login`) with this client's token, as a browser's
    /// form does; the session cookie's value.
    pub fn console_session(&self) -> Result<String, ApiError> {
        let path = "/ui/login";
        let form = [("token", self.token.as_str())];
        let response = self
            .agent
            .post(format!("{}{path}", self.base_url()))
            .config()
            .max_redirects(0)
            .build()
            .send_form(form)
            .map_err(|source| self.unreachable("POST", path, source))?;
        let status = response.status().as_u16();
        let bad = |detail: String| ApiError::BadResponse {
            method: "POST",
            path: path.to_owned(),
            status,
            detail,
        };
        let cookie = response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| bad("no session cookie: the sign-in was refused".into()))?;
        cookie
            .split(';')
            .next()
            .and_then(|pair| pair.split_once('='))
            .map(|(_, value)| value.to_owned())
            .ok_or_else(|| bad(format!("a cookie that is not `name=value`: {cookie}")))
    }

    /// `GET path` as the console's browser sends it: the session cookie and no token, redirects not
    /// followed; the status and the body.
    pub fn console_get(&self, cookie: &str, path: &str) -> Result<(u16, Vec<u8>), ApiError> {
        let mut response = self
            .agent
            .get(format!("{}{path}", self.base_url()))
            .config()
            .max_redirects(0)
            .build()
            .header("Cookie", format!("certnet_console={cookie}"))
            .call()
            .map_err(|source| self.unreachable("GET", path, source))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_TEXT_BODY)
            .read_to_vec()
            .map_err(|err| bad_body("GET", path, status, &err))?;
        Ok((status, body))
    }

    /// `GET /v1/log/checkpoint`: the latest signed checkpoint, as the node sends it.
    pub fn checkpoint(&self) -> Result<String, ApiError> {
        self.get_text("/v1/log/checkpoint")
    }

    /// `GET /metrics`: the node's Prometheus text exposition.
    pub fn metrics(&self) -> Result<String, ApiError> {
        self.get_text("/metrics")
    }

    /// `GET path`, answered with text of at most [`MAX_TEXT_BODY`] bytes.
    fn get_text(&self, path: &str) -> Result<String, ApiError> {
        let response = self.send_get(path, &[])?;
        let mut response = check(response, "GET", path)?;
        response
            .body_mut()
            .with_config()
            .limit(MAX_TEXT_BODY)
            .read_to_string()
            .map_err(|err| bad_body("GET", path, 200, &err))
    }

    /// The value of one sample in [`ApiClient::metrics`], e.g.
    /// `certnet_records_rejected_total{via="gossip",reason="bad_signature"}`; 0 when absent (a
    /// counter never incremented is not exported).
    pub fn metric(&self, sample: &str) -> Result<f64, ApiError> {
        let text = self.metrics()?;
        Ok(metric_value(&text, sample).unwrap_or(0.0))
    }

    /// `GET path` with `query`, answered with JSON of type `T`.
    pub fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, ApiError> {
        let response = self.send_get(path, query)?;
        read_json(check(response, "GET", path)?, "GET", path)
    }

    /// `POST path` with the token and an optional JSON body, answered with JSON of type `T`.
    pub fn post_json<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, ApiError> {
        let request = self
            .agent
            .post(format!("{}{path}", self.base_url()))
            .header("Authorization", format!("Bearer {}", self.token));
        let sent = match body {
            Some(body) => request.send_json(body),
            None => request.send_empty(),
        };
        let response = sent.map_err(|source| self.unreachable("POST", path, source))?;
        read_json(check(response, "POST", path)?, "POST", path)
    }

    fn send_get(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<ureq::http::Response<ureq::Body>, ApiError> {
        self.agent
            .get(format!("{}{path}", self.base_url()))
            .header("Authorization", format!("Bearer {}", self.token))
            .query_pairs(query.iter().map(|(k, v)| (*k, v.as_str())))
            .call()
            .map_err(|source| self.unreachable("GET", path, source))
    }

    fn unreachable(&self, method: &'static str, path: &str, source: ureq::Error) -> ApiError {
        ApiError::Unreachable {
            method,
            path: path.to_owned(),
            addr: self.addr,
            source: Box::new(source),
        }
    }
}

/// Passes a success response through; turns an error status into [`ApiError::Status`].
fn check(
    mut response: ureq::http::Response<ureq::Body>,
    method: &'static str,
    path: &str,
) -> Result<ureq::http::Response<ureq::Body>, ApiError> {
    let status = response.status().as_u16();
    if response.status().is_success() {
        return Ok(response);
    }
    let text = response
        .body_mut()
        .with_config()
        .limit(MAX_TEXT_BODY)
        .lossy_utf8(true)
        .read_to_string()
        .unwrap_or_default();
    let (code, message) = match serde_json::from_str::<Value>(&text) {
        Ok(body) => (
            body["error"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            body["error"]["message"]
                .as_str()
                .map_or_else(|| text.chars().take(300).collect(), str::to_owned),
        ),
        Err(_) => (String::new(), text.chars().take(300).collect()),
    };
    Err(ApiError::Status {
        method,
        path: path.to_owned(),
        status,
        code,
        message,
    })
}

fn read_json<T: DeserializeOwned>(
    mut response: ureq::http::Response<ureq::Body>,
    method: &'static str,
    path: &str,
) -> Result<T, ApiError> {
    let status = response.status().as_u16();
    let bytes = response
        .body_mut()
        .with_config()
        .limit(MAX_JSON_BODY)
        .read_to_vec()
        .map_err(|err| bad_body(method, path, status, &err))?;
    // An empty 2xx body (a block without an answer) reads as JSON null.
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"null".to_vec()
    } else {
        bytes
    };
    serde_json::from_slice(&bytes).map_err(|err| ApiError::BadResponse {
        method,
        path: path.to_owned(),
        status,
        detail: format!(
            "{err}: {}",
            String::from_utf8_lossy(&bytes)
                .chars()
                .take(300)
                .collect::<String>()
        ),
    })
}

fn bad_body(method: &'static str, path: &str, status: u16, err: &ureq::Error) -> ApiError {
    ApiError::BadResponse {
        method,
        path: path.to_owned(),
        status,
        detail: err.to_string(),
    }
}

/// `s` percent-encoded as one path segment (RFC 3986 unreserved characters pass as they are).
fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The PeerIds a `GET /v1/peers` answer shows as connected.
///
/// Accepts the shapes the API may settle on: a list, or `{"peers": [...]}`, of PeerId strings or of
/// objects naming the peer in `peer_id` (or `peer`, or `id`); an object with `"connected": false` or
/// `"connected_since": null` is a known but unconnected peer. The networking branch answers
/// `{"peers": [{"peer_id", "member", "connected_since_ms", ...}], "blocked": [...], ...}`, listing
/// connected peers only. Tighten this once that API is merged.
pub fn connected_peers(peers: &Value) -> BTreeSet<String> {
    let list = match peers {
        Value::Array(list) => list.as_slice(),
        Value::Object(map) => map
            .get("peers")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice),
        _ => &[],
    };
    let mut out = BTreeSet::new();
    for entry in list {
        match entry {
            Value::String(id) => {
                out.insert(id.clone());
            }
            Value::Object(map) => {
                let unconnected = map.get("connected") == Some(&Value::Bool(false))
                    || map.get("connected_since") == Some(&Value::Null);
                let id = ["peer_id", "peer", "id"]
                    .iter()
                    .find_map(|key| map.get(*key).and_then(Value::as_str));
                if let Some(id) = id
                    && !unconnected
                {
                    out.insert(id.to_owned());
                }
            }
            _ => {}
        }
    }
    out
}

/// The value of the sample named exactly `sample` (name and labels as printed) in Prometheus text.
pub fn metric_value(text: &str, sample: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn peer_lists_in_every_accepted_shape() {
        let want: BTreeSet<String> = ["A".to_owned(), "B".to_owned()].into();
        assert_eq!(connected_peers(&json!(["A", "B"])), want);
        assert_eq!(
            connected_peers(&json!({"peers": [
                {"peer_id": "A", "connected_since": 5},
                {"peer": "B"},
                {"peer_id": "C", "connected": false},
                {"peer_id": "D", "connected_since": null},
            ]})),
            want
        );
        assert!(connected_peers(&json!({"error": 1})).is_empty());
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(segment("12D3KooWabc"), "12D3KooWabc");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn metric_values_are_found_by_exact_sample_name() {
        let text = "# HELP certnet_forks_detected_total x\n\
                    certnet_forks_detected_total 2\n\
                    certnet_records_rejected_total{via=\"sync\",reason=\"oversize\"} 1\n\
                    certnet_records_rejected_total{via=\"gossip\",reason=\"oversize\"} 3\n";
        assert_eq!(
            metric_value(text, "certnet_forks_detected_total"),
            Some(2.0)
        );
        assert_eq!(
            metric_value(
                text,
                r#"certnet_records_rejected_total{via="gossip",reason="oversize"}"#
            ),
            Some(3.0)
        );
        assert_eq!(metric_value(text, "certnet_forks_detected"), None);
        assert_eq!(metric_value(text, "certnet_peers_connected"), None);
    }

    #[test]
    fn query_pairs_leave_out_unset_filters() {
        let query = RecordQuery {
            kind: Some("incident".into()),
            limit: Some(10),
            ..RecordQuery::default()
        };
        assert_eq!(
            query.pairs(),
            [
                ("kind", "incident".to_owned()),
                ("limit", "10".to_owned()),
                ("include_revoked", "true".to_owned())
            ]
        );
    }

    #[test]
    fn status_keeps_unknown_fields() {
        let status: Status = serde_json::from_value(json!({
            "name": "CERT-01", "network": "n", "author_key": "k", "peer_id": "p",
            "version": "0.1.0", "uptime_secs": 3, "log_size": 7
        }))
        .unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(status.extra["log_size"], 7);
    }
}
