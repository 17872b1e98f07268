//! The bearer-token check: required for every write, and for every request beyond loopback.

use std::net::SocketAddr;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

use super::{ApiError, ApiState};
use crate::datadir::config::TaxiiConfig;
use crate::datadir::token::ApiToken;

/// Who may call the API: holders of the token, and anyone reading when the API is on loopback.
#[derive(Debug, Clone)]
pub struct ApiAuth {
    token: ApiToken,
    reads_need_token: bool,
    taxii: TaxiiConfig,
}

impl ApiAuth {
    /// The policy for an API bound to `listen`: reads need the token too unless it is a loopback
    /// address (an unspecified address such as 0.0.0.0 counts as beyond loopback).
    pub fn new(token: ApiToken, listen: SocketAddr) -> Self {
        Self {
            token,
            reads_need_token: !listen.ip().is_loopback(),
            taxii: TaxiiConfig::default(),
        }
    }

    /// The same policy with these TAXII consumers (`/taxii2/` checks them, not the API token rule).
    pub fn with_taxii(mut self, taxii: TaxiiConfig) -> Self {
        self.taxii = taxii;
        self
    }

    /// The TAXII consumers.
    pub fn taxii(&self) -> &TaxiiConfig {
        &self.taxii
    }

    /// Whether `candidate` is the node's API token.
    pub fn token_matches(&self, candidate: &[u8]) -> bool {
        self.token.matches(candidate)
    }

    /// Whether GET and HEAD need the token as well.
    pub fn reads_need_token(&self) -> bool {
        self.reads_need_token
    }
}

pub(super) async fn require_token(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Response {
    if super::taxii::is_taxii_path(request.uri().path()) {
        // TAXII authenticates its own consumers (api::taxii).
        return next.run(request).await;
    }
    let is_read = matches!(*request.method(), Method::GET | Method::HEAD);
    if is_read && !state.auth.reads_need_token {
        return next.run(request).await;
    }
    match bearer(request.headers()) {
        Some(token) if state.auth.token.matches(token) => next.run(request).await,
        Some(_) => ApiError::unauthorized(
            "invalid API token: send the token from api.token in the node's data directory",
        )
        .into_response(),
        None => ApiError::unauthorized(
            "this request needs the API token: send `Authorization: Bearer <token>` with the token from api.token in the node's data directory",
        )
        .into_response(),
    }
}

/// The token of an `Authorization: Bearer <token>` header, if there is one.
fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let space = value.iter().position(|b| *b == b' ')?;
    let (scheme, rest) = value.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    Some(rest.trim_ascii())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn bearer_parsing() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(bearer(&headers), Some(&b"abc"[..]));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  abc "),
        );
        assert_eq!(bearer(&headers), Some(&b"abc"[..]));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer"));
        assert_eq!(bearer(&headers), None);
    }
}
