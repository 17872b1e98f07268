//! In-process router tests: the token policy and a JSON 4xx for every kind of client mistake.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::post;
use http_body_util::BodyExt as _;
use serde::Deserialize;
use serde_json::Value;
use tower::ServiceExt as _;

use super::*;
use crate::keys::NodeSecret;
use crate::node::{Node, NodeIdentity};
use crate::token::ApiToken;
use certnet_protocol::keys::AuthorSecret;

const LOOPBACK: &str = "127.0.0.1:4470";
const EVERYWHERE: &str = "0.0.0.0:4470";

fn identity() -> NodeIdentity {
    NodeIdentity {
        name: "CERT-T".parse().unwrap(),
        network: "test".parse().unwrap(),
        author_key: AuthorSecret::from_seed(&[1; 32]).public(),
        peer_id: NodeSecret::from_seed(&[2; 32]).unwrap().peer_id(),
    }
}

/// A state whose node loop runs until the test's runtime ends.
fn state(listen: &str) -> (ApiState, ApiToken) {
    let token = ApiToken::generate().unwrap();
    let (handle, node) = Node::new(identity());
    tokio::spawn(node.run(std::future::pending()));
    let auth = ApiAuth::new(token.clone(), listen.parse().unwrap());
    (ApiState::new(handle, auth), token)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Echo {
    kind: String,
}

async fn echo(ApiJson(body): ApiJson<Echo>) -> String {
    body.kind
}

/// The real router plus a JSON-body route, to exercise body errors before a real one exists.
fn test_router(state: ApiState) -> Router {
    let routes = Router::new()
        .route("/v1/status", get(status::get_status))
        .route("/test/echo", post(echo));
    finish(routes, state)
}

async fn send(router: &Router, request: Request<Body>) -> (StatusCode, Value, Option<String>) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let www = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    (status, json, www)
}

fn request(method: &str, uri: &str, token: Option<&str>) -> axum::http::request::Builder {
    let builder = Request::builder().method(method).uri(uri);
    match token {
        Some(t) => builder.header(header::AUTHORIZATION, format!("Bearer {t}")),
        None => builder,
    }
}

fn empty(method: &str, uri: &str, token: Option<&str>) -> Request<Body> {
    request(method, uri, token).body(Body::empty()).unwrap()
}

fn json(uri: &str, token: &str, body: impl Into<Body>) -> Request<Body> {
    request("POST", uri, Some(token))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .unwrap()
}

fn assert_error(got: &(StatusCode, Value, Option<String>), status: StatusCode, code: &str) {
    assert_eq!(got.0, status, "{:?}", got.1);
    assert_eq!(got.1["error"]["code"], code, "{:?}", got.1);
    let message = got.1["error"]["message"].as_str().unwrap();
    assert!(!message.is_empty());
}

#[tokio::test]
async fn status_is_open_on_loopback() {
    let (state, _) = state(LOOPBACK);
    let router = router(state);
    let (status, body, _) = send(&router, empty("GET", "/v1/status", None)).await;
    assert_eq!(status, StatusCode::OK);
    let fields: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        [
            "author_key",
            "name",
            "network",
            "peer_id",
            "uptime_secs",
            "version"
        ]
    );
    assert_eq!(body["name"], "CERT-T");
    assert_eq!(body["network"], "test");
    assert_eq!(body["author_key"], identity().author_key.to_string());
    assert_eq!(body["peer_id"], identity().peer_id.to_string());
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn writes_need_the_token() {
    let (state, token) = state(LOOPBACK);
    let router = router(state);
    let got = send(&router, empty("POST", "/v1/status", None)).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(got.2.as_deref(), Some("Bearer"));
    let got = send(
        &router,
        empty("POST", "/v1/status", Some("0".repeat(64).as_str())),
    )
    .await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(
        got.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid API token")
    );
    // Unknown routes are not revealed to callers without the token.
    let got = send(&router, empty("DELETE", "/v1/nothing", None)).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");
    // With the token, the real answer.
    let got = send(&router, empty("POST", "/v1/status", Some(token.as_str()))).await;
    assert_error(&got, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    let got = send(
        &router,
        empty("DELETE", "/v1/nothing", Some(token.as_str())),
    )
    .await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn unknown_route_is_json_404() {
    let (state, _) = state(LOOPBACK);
    let router = router(state);
    let got = send(&router, empty("GET", "/v1/nope", None)).await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(got.1["error"]["message"], "no route for GET /v1/nope");
}

#[tokio::test]
async fn beyond_loopback_everything_needs_the_token() {
    let (state, token) = state(EVERYWHERE);
    let router = router(state);
    let got = send(&router, empty("GET", "/v1/status", None)).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");
    let got = send(&router, empty("GET", "/v1/nope", None)).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body, _) = send(&router, empty("GET", "/v1/status", Some(token.as_str()))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["name"], "CERT-T");
}

#[tokio::test]
async fn body_mistakes_are_json_4xx() {
    let (state, token) = state(LOOPBACK);
    let router = test_router(state);
    let t = token.as_str();

    let (status, body, _) = send(&router, json("/test/echo", t, r#"{"kind":"incident"}"#)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, Value::String("incident".into()));

    let got = send(&router, json("/test/echo", t, r#"{"kind":"#)).await;
    assert_error(&got, StatusCode::BAD_REQUEST, "bad_json");
    let got = send(
        &router,
        json("/test/echo", t, r#"{"kind":"x","tlp":"red"}"#),
    )
    .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    assert!(
        got.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `tlp`")
    );
    let got = send(&router, json("/test/echo", t, r#"{"kind":1}"#)).await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");

    let no_type = request("POST", "/test/echo", Some(t))
        .body(Body::from(r#"{"kind":"x"}"#))
        .unwrap();
    let got = send(&router, no_type).await;
    assert_error(
        &got,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );

    let huge = format!(r#"{{"kind":"{}"}}"#, "a".repeat(MAX_BODY_BYTES));
    let got = send(&router, json("/test/echo", t, huge)).await;
    assert_error(&got, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
}

#[tokio::test]
async fn stopped_node_is_503_not_500() {
    let token = ApiToken::generate().unwrap();
    let (handle, node) = Node::new(identity());
    drop(node);
    let state = ApiState::new(handle, ApiAuth::new(token, LOOPBACK.parse().unwrap()));
    let got = send(&router(state), empty("GET", "/v1/status", None)).await;
    assert_error(&got, StatusCode::SERVICE_UNAVAILABLE, "node_stopping");
}
