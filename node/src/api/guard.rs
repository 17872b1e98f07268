//! The guard every request passes before any route: the `Host` must be one of the node's own names
//! (no DNS rebinding), a browser request must come from the node's own origin (no cross-site reads
//! or writes; no CORS headers are ever sent), failing clients are throttled, and the caller's
//! credentials become the request's [`Principal`].

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

use super::access::{AuthError, ConnInfo};
use super::principal::Principal;
use super::{ApiError, ApiState, console, taxii};

/// The `Host` of a request: its URI authority (absolute-form) or its `Host` header, without port.
fn host_of(request: &Request) -> Option<String> {
    let raw = match request.uri().authority() {
        Some(a) => a.as_str().to_owned(),
        None => request
            .headers()
            .get(header::HOST)?
            .to_str()
            .ok()?
            .to_owned(),
    };
    let host = match raw.strip_prefix('[') {
        // [v6]:port
        Some(rest) => format!("[{}]", rest.split(']').next()?),
        None => raw
            .rsplit_once(':')
            .map_or(raw.clone(), |(h, _)| h.to_owned()),
    };
    (!host.is_empty()).then_some(host)
}

/// Why a browser request is refused, if it is cross-origin: a foreign or `null` `Origin`, or
/// `Sec-Fetch-Site` other than `same-origin` or `none`.
fn cross_origin(headers: &HeaderMap, tls: bool) -> Option<String> {
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or("?");
        if site != "same-origin" && site != "none" {
            return Some(format!("a {site} request (Sec-Fetch-Site)"));
        }
    }
    let origin = headers.get(header::ORIGIN)?;
    let origin = origin.to_str().unwrap_or("null");
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let own = host.map(|h| format!("{}://{h}", if tls { "https" } else { "http" }));
    if own
        .as_deref()
        .is_some_and(|own| own.eq_ignore_ascii_case(origin))
    {
        None
    } else {
        Some(format!("a request from origin `{origin}`"))
    }
}

/// A refusal in the format of the path's API (TAXII's error object under `/taxii2/`).
fn refusal(taxii: bool, error: ApiError) -> Response {
    if taxii {
        taxii::error_response(error.status(), error.code(), error.message())
    } else {
        error.into_response()
    }
}

pub(super) async fn guard(
    State(state): State<ApiState>,
    mut request: Request,
    next: Next,
) -> Response {
    let taxii = taxii::is_taxii_path(request.uri().path());
    let conn = request.extensions().get::<ConnInfo>().copied();
    let access = state.access.clone();

    let own_host = host_of(&request).is_some_and(|h| access.is_own_host(&h, conn.as_ref()));
    if !own_host {
        let named = host_of(&request).unwrap_or_else(|| "(none)".into());
        return refusal(
            taxii,
            ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                "unknown_host",
                format!(
                    "this node answers only to its own names ({}), not to Host `{named}`: if `{named}` is a name of this node, add it to [api] hosts in config.toml",
                    access.hosts().join(", ")
                ),
            ),
        );
    }
    if let Some(why) = cross_origin(request.headers(), conn.is_some_and(|c| c.tls)) {
        return refusal(
            taxii,
            ApiError::forbidden(format!(
                "{why} is refused: web pages of other origins may neither read nor change this node (the console is served from the node's own origin)"
            )),
        );
    }

    let headers = request.headers().clone();
    let principal = if headers.contains_key(header::AUTHORIZATION) {
        // Argon2 and the throttle's lock may block: off the async workers, under the API's
        // blocking permits like every other blocking task.
        let resolved = state
            .blocking(move || access.resolve(&headers, conn.as_ref()))
            .await;
        match resolved {
            Ok(Ok(p)) => p,
            Ok(Err(AuthError::Invalid)) if taxii => {
                return taxii::unauthorized();
            }
            Ok(Err(AuthError::Invalid)) => {
                return refusal(
                    taxii,
                    ApiError::unauthorized(
                        "invalid credentials: send the node's API token (api.token) or a configured consumer's token or user name and password",
                    ),
                );
            }
            Ok(Err(AuthError::Throttled(retry))) => {
                let secs = retry.as_secs().max(1);
                let mut response = refusal(
                    taxii,
                    ApiError::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        "too_many_failures",
                        format!(
                            "too many failed authentications from this address: retry in {secs} s"
                        ),
                    ),
                );
                if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, v);
                }
                return response;
            }
            Err(busy) => return refusal(taxii, busy),
        }
    } else if let Some(session) = console::is_console_path(request.uri().path())
        .then(|| state.console.find(&headers))
        .flatten()
    {
        // The console's cookie signs in `/ui/…` only: a session never becomes API access.
        let principal = session.principal.clone();
        request.extensions_mut().insert(session);
        principal
    } else {
        match access.resolve(&HeaderMap::new(), conn.as_ref()) {
            Ok(p) => p,
            Err(_) => Principal::Anonymous {
                clear: false,
                status: false,
            },
        }
    };
    request.extensions_mut().insert(principal);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str, host: Option<&str>) -> Request {
        let mut b = Request::builder().uri(uri);
        if let Some(h) = host {
            b = b.header(header::HOST, h);
        }
        b.body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn hosts_are_read_without_ports() {
        assert_eq!(
            host_of(&request("/v1", Some("127.0.0.1:4470"))).as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(
            host_of(&request("/v1", Some("[::1]:4470"))).as_deref(),
            Some("[::1]")
        );
        assert_eq!(
            host_of(&request("/v1", Some("localhost"))).as_deref(),
            Some("localhost")
        );
        assert_eq!(
            host_of(&request("http://evil.example:4470/v1", Some("127.0.0.1"))).as_deref(),
            Some("evil.example")
        );
        assert_eq!(host_of(&request("/v1", None)), None);
    }

    #[test]
    fn cross_origin_requests_are_recognised() {
        let mut h = HeaderMap::new();
        assert!(cross_origin(&h, false).is_none());
        h.insert(header::HOST, "127.0.0.1:4470".parse().unwrap());
        h.insert(header::ORIGIN, "http://127.0.0.1:4470".parse().unwrap());
        assert!(cross_origin(&h, false).is_none());
        assert!(cross_origin(&h, true).is_some(), "scheme differs");
        h.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(cross_origin(&h, false).is_some());
        h.insert(header::ORIGIN, "null".parse().unwrap());
        assert!(cross_origin(&h, false).is_some());
        let mut h = HeaderMap::new();
        h.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(cross_origin(&h, false).is_some());
        h.insert("sec-fetch-site", "same-site".parse().unwrap());
        assert!(cross_origin(&h, false).is_some());
        h.insert("sec-fetch-site", "none".parse().unwrap());
        assert!(cross_origin(&h, false).is_none());
    }
}
