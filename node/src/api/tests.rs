//! In-process router tests on a real store in a temporary directory: every route, the token policy,
//! and a JSON 4xx for every kind of client mistake.

use std::str::FromStr;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use certnet_protocol::audit::{AuditOptions, audit};
use certnet_protocol::chain::EquivocationProof;
use certnet_protocol::checkpoint::{self, VerifierKey};
use certnet_protocol::id::{Hash, RecordId};
use certnet_protocol::keys::AuthorSecret;
use certnet_protocol::merkle::{verify_consistency, verify_inclusion};
use certnet_protocol::record::{FeedPosition, VerifiedRecord, sample, sign_record, verify_record};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use super::*;
use crate::api::access::ConnInfo;
use crate::datadir::keys::NodeSecret;
use crate::datadir::token::ApiToken;
use crate::membership::{Member, NetworkId, Roster};
use crate::metrics::Metrics;
use crate::node::{Node, NodeIdentity};
use crate::services::PublishError;
use crate::store::{Ingest, Store, StoreConfig, StoreError};

const LOOPBACK: &str = "127.0.0.1:4470";
const EVERYWHERE: &str = "0.0.0.0:4470";

fn author() -> AuthorSecret {
    AuthorSecret::from_seed(&[1; 32])
}

/// Another member of the roster, whose records arrive as if from peers.
fn other() -> AuthorSecret {
    AuthorSecret::from_seed(&[3; 32])
}

fn identity() -> NodeIdentity {
    NodeIdentity {
        name: "CERT-T".parse().unwrap(),
        network: NetworkId::dev(),
        author_key: author().public(),
        peer_id: NodeSecret::from_seed(&[2; 32]).unwrap().peer_id(),
    }
}

/// A router on a fresh store, its token and the services behind it.
struct Harness {
    _dir: tempfile::TempDir,
    router: Router,
    token: ApiToken,
    services: Arc<NodeServices>,
}

impl Harness {
    fn new(listen: &str) -> Self {
        Self::with_access(listen, Default::default())
    }

    /// A harness with these `[api]` settings and consumers.
    fn with_access(
        listen: &str,
        access: (
            crate::datadir::config::ApiConfig,
            crate::datadir::config::TaxiiConfig,
        ),
    ) -> Self {
        Self::build(listen, access, false)
    }

    /// Like [`Harness::with_access`], with encryption keys for both members and this node: records
    /// can be sealed to CERT-B, and this node opens what is sealed to it.
    fn sealing(
        listen: &str,
        access: (
            crate::datadir::config::ApiConfig,
            crate::datadir::config::TaxiiConfig,
        ),
    ) -> Self {
        Self::build(listen, access, true)
    }

    fn build(
        listen: &str,
        (api, taxii): (
            crate::datadir::config::ApiConfig,
            crate::datadir::config::TaxiiConfig,
        ),
        sealing: bool,
    ) -> Self {
        use certnet_protocol::sealed::EncryptionSecret;
        let dir = tempfile::tempdir().unwrap();
        let net = NetworkId::dev();
        let mut roster = Roster::new(net.clone());
        let secret = |seed: u8| EncryptionSecret::from_bytes([seed; 32]);
        for (name, key, seed) in [("CERT-T", author(), 7), ("CERT-B", other(), 8)] {
            let keys = if sealing {
                vec![secret(seed).public()]
            } else {
                vec![]
            };
            roster
                .add_member(
                    Member::new(name.parse().unwrap(), key.public(), vec![], vec![])
                        .with_encryption_keys(keys),
                )
                .unwrap();
        }
        let store = Store::open(&StoreConfig {
            path: dir.path().join("store"),
            cache_capacity: 8 << 20,
            net: net.as_str().to_owned(),
            max_orphans: 100,
            disk: None,
        })
        .unwrap();
        let mut services = NodeServices::new(
            Arc::new(store),
            crate::membership::RosterCell::new(roster),
            author(),
            Arc::new(Metrics::new()),
        )
        .unwrap();
        if sealing {
            services = services.with_encryption(vec![secret(7)]);
        }
        let services = Arc::new(services);
        let token = ApiToken::generate().unwrap();
        let (handle, node) = Node::new(identity());
        tokio::spawn(node.run(std::future::pending()));
        let access = AccessPolicy::new(
            &api,
            &[listen.parse().unwrap()],
            token.clone(),
            taxii.consumers().to_vec(),
        );
        let router = router(ApiState::new(handle, services.clone(), access));
        Self {
            _dir: dir,
            router,
            token,
            services,
        }
    }

    fn t(&self) -> &str {
        self.token.as_str()
    }

    async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            bytes: bytes.to_vec(),
            json,
        }
    }

    /// A GET with the operator's token (as the CLI sends it).
    async fn get(&self, uri: &str) -> Answer {
        self.send(empty("GET", uri, Some(self.t()))).await
    }

    /// A GET without credentials from a client on this host.
    async fn get_local(&self, uri: &str) -> Answer {
        let mut request = empty("GET", uri, None);
        request.extensions_mut().insert(loopback_conn());
        self.send(request).await
    }

    /// A GET without credentials from a client on another host.
    async fn get_remote(&self, uri: &str) -> Answer {
        let mut request = empty("GET", uri, None);
        request.extensions_mut().insert(ConnInfo {
            remote: "192.0.2.77:40000".parse().unwrap(),
            local: LOOPBACK.parse().unwrap(),
            tls: false,
        });
        self.send(request).await
    }

    async fn post(&self, uri: &str, body: &Value) -> Answer {
        self.send(json_request(uri, self.t(), body.to_string()))
            .await
    }

    /// Publishes through the API, asserting 201; returns the id.
    async fn publish(&self, body: &Value) -> RecordId {
        let got = self.post("/v1/records", body).await;
        assert_eq!(got.status, StatusCode::CREATED, "{}", got.json);
        got.json["id"].as_str().unwrap().parse().unwrap()
    }

    /// Stores a record of the other member as if it came from a peer.
    fn ingest(&self, record: &VerifiedRecord) -> Ingest {
        let verified = verify_record(record.bytes(), self.services.net()).unwrap();
        self.services.store().ingest(verified).unwrap()
    }
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    bytes: Vec<u8>,
    json: Value,
}

impl Answer {
    /// Asserts a JSON error with this status and code whose message contains every `needle`.
    fn error(&self, status: StatusCode, code: &str, needles: &[&str]) {
        assert_eq!(self.status, status, "{}", self.json);
        assert_eq!(self.json["error"]["code"], code, "{}", self.json);
        let message = self.json["error"]["message"].as_str().unwrap();
        assert!(!message.is_empty());
        for needle in needles {
            assert!(message.contains(needle), "{needle:?} not in {message:?}");
        }
    }

    fn content_type(&self) -> &str {
        self.headers[header::CONTENT_TYPE].to_str().unwrap()
    }
}

/// A connection from a client on this host.
fn loopback_conn() -> ConnInfo {
    ConnInfo {
        remote: "127.0.0.1:40000".parse().unwrap(),
        local: LOOPBACK.parse().unwrap(),
        tls: false,
    }
}

fn request(method: &str, uri: &str, token: Option<&str>) -> axum::http::request::Builder {
    let builder = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, LOOPBACK);
    match token {
        Some(t) => builder.header(header::AUTHORIZATION, format!("Bearer {t}")),
        None => builder,
    }
}

fn empty(method: &str, uri: &str, token: Option<&str>) -> Request<Body> {
    request(method, uri, token).body(Body::empty()).unwrap()
}

fn json_request(uri: &str, token: &str, body: impl Into<Body>) -> Request<Body> {
    request("POST", uri, Some(token))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .unwrap()
}

/// A realistic incident body, as an operator's script would send it.
fn incident_body(title: &str) -> Value {
    json!({
        "kind": "incident",
        "tlp": "amber",
        "content": {
            "title": title,
            "summary": "Credential-harvesting pages impersonating the tax authority; block the indicators.",
            "severity": "high",
            "status": "investigating",
            "categories": ["phishing"],
            "indicators": [
                {"type": "domain", "value": "tax-refund.example"},
                {"type": "ipv4", "value": "203.0.113.7"}
            ],
            "countries": ["DE"]
        }
    })
}

fn hash(text: &str) -> Hash {
    hex::decode(text).unwrap().try_into().unwrap()
}

fn hashes(value: &Value) -> Vec<Hash> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| hash(v.as_str().unwrap()))
        .collect()
}

/// Signs record `seq` (linking to `prev`) of `secret` at time `time`.
fn signed(
    secret: &AuthorSecret,
    n: u64,
    seq: u64,
    prev: Option<RecordId>,
    time: u64,
) -> VerifiedRecord {
    let at = FeedPosition { seq, prev, time };
    sign_record(NetworkId::dev().as_str(), sample::incident(n), at, secret).unwrap()
}

#[tokio::test]
async fn status_is_open_on_loopback_and_reports_the_log() {
    let h = Harness::new(LOOPBACK);
    let got = h.get_local("/v1/status").await;
    assert_eq!(got.status, StatusCode::OK);
    let mut fields: Vec<&str> = got
        .json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "author_key",
            "checkpoint_size",
            "disk",
            "forks",
            "heads",
            "log_size",
            "name",
            "network",
            "orphans",
            "peer_id",
            "root",
            "store_bytes",
            "uptime_secs",
            "version"
        ]
    );
    let body = &got.json;
    assert_eq!(body["name"], "CERT-T");
    assert_eq!(body["network"], "certnet-dev");
    assert_eq!(body["author_key"], identity().author_key.to_string());
    assert_eq!(body["peer_id"], identity().peer_id.to_string());
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["log_size"], 0);
    assert_eq!(
        body["root"],
        hex::encode(certnet_protocol::merkle::empty_root())
    );
    assert_eq!(body["checkpoint_size"], Value::Null);
    assert_eq!(body["forks"], json!([]));

    h.publish(&incident_body("one")).await;
    h.post("/v1/log/checkpoint", &json!(null)).await;
    let body = h.get("/v1/status").await.json;
    assert_eq!(body["log_size"], 1);
    assert_eq!(body["heads"], 1);
    assert_eq!(body["checkpoint_size"], 1);
    assert_eq!(
        body["root"],
        hex::encode(h.services.store().root(1).unwrap())
    );
    assert!(body["store_bytes"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn writes_need_the_token() {
    let h = Harness::new(LOOPBACK);
    let no_token = request("POST", "/v1/records", None)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(incident_body("x").to_string()))
        .unwrap();
    let got = h.send(no_token).await;
    got.error(StatusCode::UNAUTHORIZED, "unauthorized", &["Bearer"]);
    assert_eq!(got.headers[header::WWW_AUTHENTICATE], "Bearer");
    let got = h
        .send(json_request(
            "/v1/records",
            &"0".repeat(64),
            incident_body("x").to_string(),
        ))
        .await;
    got.error(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        &["invalid credentials", "api.token"],
    );
    let got = h.send(empty("POST", "/v1/log/checkpoint", None)).await;
    got.error(StatusCode::UNAUTHORIZED, "unauthorized", &[]);
    assert_eq!(h.services.store().log_size(), 0);

    let got = h.send(empty("POST", "/v1/status", Some(h.t()))).await;
    got.error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", &[]);
    let got = h.send(empty("DELETE", "/v1/nothing", Some(h.t()))).await;
    got.error(StatusCode::NOT_FOUND, "not_found", &[]);
}

#[tokio::test]
async fn unknown_route_is_json_404() {
    let h = Harness::new(LOOPBACK);
    let got = h.get("/v1/nope").await;
    got.error(
        StatusCode::NOT_FOUND,
        "not_found",
        &["no route for GET /v1/nope"],
    );
}

#[tokio::test]
async fn clients_on_other_hosts_need_credentials() {
    let h = Harness::new(EVERYWHERE);
    for uri in ["/v1/status", "/v1/records", "/metrics", "/v1/export"] {
        h.get_remote(uri)
            .await
            .error(StatusCode::UNAUTHORIZED, "unauthorized", &["credentials"]);
    }
    let got = h.send(empty("GET", "/v1/status", Some(h.t()))).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.json["name"], "CERT-T");
}

#[tokio::test]
async fn body_mistakes_are_json_4xx() {
    let h = Harness::new(LOOPBACK);
    let t = h.t();
    let got = h.send(json_request("/v1/records", t, r#"{"kind":"#)).await;
    got.error(StatusCode::BAD_REQUEST, "bad_json", &[]);
    let mut extra = incident_body("x");
    extra["signature"] = json!("forged");
    h.post("/v1/records", &extra).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
        &["unknown field `signature`"],
    );
    h.post(
        "/v1/records",
        &json!({"kind": 1, "tlp": "amber", "content": {}}),
    )
    .await
    .error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", &["kind"]);
    let no_type = request("POST", "/v1/records", Some(t))
        .body(Body::from(incident_body("x").to_string()))
        .unwrap();
    h.send(no_type).await.error(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        &["application/json"],
    );
    let mut huge = incident_body("x");
    huge["content"]["summary"] = json!("a".repeat(MAX_BODY_BYTES));
    h.post("/v1/records", &huge).await.error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        &[],
    );
    assert_eq!(h.services.store().log_size(), 0);
}

#[tokio::test]
async fn publish_mistakes_name_the_field_and_rule() {
    let h = Harness::new(LOOPBACK);
    let case = |edit: &dyn Fn(&mut Value)| {
        let mut body = incident_body("Phishing wave");
        edit(&mut body);
        body
    };
    let cases: Vec<(Value, &str, Vec<&str>)> = vec![
        (
            case(&|b| b["tlp"] = json!("red")),
            "tlp_red",
            vec!["sealed to named recipients", "`to`"],
        ),
        (
            case(&|b| b["tlp"] = json!("purple")),
            "invalid_record",
            vec!["tlp must be"],
        ),
        (
            case(&|b| b["kind"] = json!("Incident")),
            "invalid_record",
            vec!["kind must be"],
        ),
        (
            case(&|b| b["kind"] = json!("malware-sample")),
            "invalid_record",
            vec!["not one this node can publish"],
        ),
        (
            case(&|b| b["content"]["title"] = json!("")),
            "invalid_record",
            vec!["content.title", "must be 1 to 200 bytes"],
        ),
        (
            case(&|b| b["content"]["indicators"][1]["value"] = json!("203.0.113.300")),
            "invalid_record",
            vec!["content.indicators[1].value", "ipv4"],
        ),
        (
            case(&|b| b["content"]["indicators"][0]["type"] = json!("ipv5")),
            "invalid_record",
            vec!["content.indicators[0].type", "unknown variant `ipv5`"],
        ),
        (
            case(&|b| b["content"]["severity"] = json!("apocalyptic")),
            "invalid_record",
            vec!["content.severity", "unknown variant"],
        ),
        (
            case(&|b| {
                b["content"].as_object_mut().unwrap().remove("summary");
            }),
            "invalid_record",
            vec!["content", "missing field `summary`"],
        ),
        (
            case(&|b| b["content"]["colour"] = json!("red")),
            "invalid_record",
            vec!["content", "unknown field `colour`"],
        ),
        (
            case(&|b| b["content"]["countries"] = json!(["XX"])),
            "invalid_record",
            vec!["content.countries[0]", "iso 3166-1"],
        ),
        (
            case(&|b| b["refs"] = json!(["not-an-id"])),
            "invalid_record",
            vec!["refs[0]", "64 lowercase hex"],
        ),
        (
            json!({"kind": "revoke", "tlp": "green", "content": {"reason": "duplicate"}}),
            "invalid_record",
            vec!["refs", "exactly one target"],
        ),
        (
            // Every field within its bounds, the whole payload over 64 KiB.
            case(&|b| {
                b["content"]["indicators"] = (0..40)
                    .map(|i| json!({"type": "url", "value": format!("https://x.example/{i}/{}", "a".repeat(1990))}))
                    .collect();
            }),
            "invalid_record",
            vec!["payload is", "the limit is 65536"],
        ),
    ];
    for (body, code, needles) in cases {
        h.post("/v1/records", &body)
            .await
            .error(StatusCode::UNPROCESSABLE_ENTITY, code, &needles);
    }
    assert_eq!(h.services.store().log_size(), 0, "nothing was signed");
}

#[tokio::test]
async fn publish_then_read_back_the_view_and_the_exact_bytes() {
    let h = Harness::new(LOOPBACK);
    let got = h.post("/v1/records", &incident_body("Phishing wave")).await;
    assert_eq!(got.status, StatusCode::CREATED, "{}", got.json);
    assert_eq!(got.json["seq"], 1);
    assert_eq!(got.json["index"], 0);
    let id = got.json["id"].as_str().unwrap().to_owned();
    let second = h.post("/v1/records", &incident_body("Second")).await.json;
    assert_eq!(
        (second["seq"].as_u64(), second["index"].as_u64()),
        (Some(2), Some(1))
    );

    let view = h.get(&format!("/v1/records/{id}")).await;
    assert_eq!(view.status, StatusCode::OK, "{}", view.json);
    let v = &view.json;
    assert_eq!(v["id"], id);
    assert_eq!(v["index"], 0);
    assert!(v["added_us"].as_u64().unwrap() > 1_700_000_000_000_000);
    assert_eq!(v["author"], author().public().to_string());
    assert_eq!(v["author_name"], "CERT-T");
    assert_eq!(v["seq"], 1);
    assert_eq!(v["prev"], Value::Null);
    assert_eq!(v["kind"], "incident");
    assert_eq!(v["tlp"], "amber");
    assert_eq!(v["refs"], json!([]));
    assert_eq!(v["content"], incident_body("Phishing wave")["content"]);
    assert_eq!(v["verified"], true);
    assert_eq!(v["time_ahead_of_clock"], false);
    let now = crate::services::now_ms();
    let time = v["time"].as_u64().unwrap();
    assert!(time <= now && time + 60_000 > now, "time {time} now {now}");
    assert_eq!(v["view"]["content"], v["content"]);
    assert_eq!(v["view"]["tlp"], "amber");
    assert_eq!(v["view"]["revoked"], false);
    assert_eq!(v["history"], json!([]));
    let second_view = h
        .get(&format!("/v1/records/{}", second["id"].as_str().unwrap()))
        .await;
    assert_eq!(second_view.json["prev"], id);

    let raw = h.get(&format!("/v1/records/{id}/raw")).await;
    assert_eq!(raw.status, StatusCode::OK);
    assert_eq!(
        raw.content_type(),
        "application/cose; cose-type=\"cose-sign1\""
    );
    let record = verify_record(&raw.bytes, "certnet-dev").unwrap();
    assert_eq!(record.id().to_string(), id);
    assert_eq!(raw.bytes[0], 0xd2, "COSE_Sign1 tag 18");

    // The 12 characters `certnet records` shows (any unique prefix of 8 or more) name it too.
    let short = &id[..12];
    let by_prefix = h.get(&format!("/v1/records/{short}")).await;
    assert_eq!(by_prefix.status, StatusCode::OK, "{}", by_prefix.json);
    assert_eq!(by_prefix.json["id"], id);
    let raw_by_prefix = h.get(&format!("/v1/records/{short}/raw")).await;
    assert_eq!(raw_by_prefix.bytes, raw.bytes);
}

#[tokio::test]
async fn reading_a_record_that_is_not_there_or_not_an_id() {
    let h = Harness::new(LOOPBACK);
    let missing = RecordId::of_payload(b"nothing").to_string();
    for uri in [
        format!("/v1/records/{missing}"),
        format!("/v1/records/{missing}/raw"),
    ] {
        h.get(&uri).await.error(
            StatusCode::NOT_FOUND,
            "not_found",
            &["no record with id", &missing],
        );
    }
    // A prefix of 8 or more lowercase hex characters is looked up: none holds this one.
    h.get(&format!("/v1/records/{}", &missing[..63]))
        .await
        .error(
            StatusCode::NOT_FOUND,
            "not_found",
            &["no record whose id starts with"],
        );
    for bad in ["xyz", "ABCDEF", "abcdef1", &missing.to_uppercase()] {
        for uri in [
            format!("/v1/records/{bad}"),
            format!("/v1/records/{bad}/raw"),
        ] {
            h.get(&uri)
                .await
                .error(StatusCode::BAD_REQUEST, "bad_id", &["64 lowercase hex"]);
        }
    }
}

#[tokio::test]
async fn a_record_ahead_of_our_clock_is_flagged() {
    let h = Harness::new(LOOPBACK);
    let ahead = signed(&other(), 1, 1, None, crate::services::now_ms() + 3_600_000);
    assert!(matches!(h.ingest(&ahead), Ingest::Appended { .. }));
    let v = h.get(&format!("/v1/records/{}", ahead.id())).await.json;
    assert_eq!(v["time_ahead_of_clock"], true);
    assert_eq!(v["author_name"], "CERT-B");
    assert_eq!(v["verified"], true);
}

#[tokio::test]
async fn updates_and_revocations_change_the_view_and_fill_the_history() {
    let h = Harness::new(LOOPBACK);
    let target = h.publish(&incident_body("Phishing wave")).await;
    let mut new_content = incident_body("Phishing wave (contained)")["content"].clone();
    new_content["status"] = json!("contained");
    // A ref may be a unique id prefix, like the 12 characters `certnet records` shows.
    let update = h
        .publish(
            &json!({"kind": "update", "tlp": "green", "refs": [target.to_string()[..12]],
                         "content": {"incident": new_content}}),
        )
        .await;
    let proof = h
        .get(&format!(
            "/v1/log/proof/inclusion?id={}&size=2",
            &update.to_string()[..10]
        ))
        .await;
    assert_eq!(proof.status, StatusCode::OK, "{}", proof.json);
    assert_eq!(proof.json["id"], update.to_string());
    let v = h.get(&format!("/v1/records/{target}")).await.json;
    assert_eq!(v["content"]["status"], "investigating", "as signed");
    assert_eq!(v["tlp"], "amber", "as signed");
    assert_eq!(v["view"]["content"]["status"], "contained");
    assert_eq!(v["view"]["content"]["title"], "Phishing wave (contained)");
    assert_eq!(v["view"]["tlp"], "green");
    assert_eq!(v["history"][0]["id"], update.to_string());
    assert_eq!(v["history"][0]["effect"], "updated");
    assert_eq!(v["history"][0]["kind"], "update");
    assert_eq!(v["history"][0]["seq"], 2);

    // Tightening the TLP by an update would have no effect: refused before signing, naming the fix.
    let log_size = h.get("/v1/status").await.json["log_size"].clone();
    h.post(
        "/v1/records",
        &json!({"kind": "update", "tlp": "amber+strict", "refs": [target.to_string()],
                "content": {"incident": incident_body("tighter")["content"]}}),
    )
    .await
    .error(
        StatusCode::CONFLICT,
        "no_effect",
        &[
            "may not tighten the TLP",
            "revoke the record and publish it anew",
        ],
    );
    h.post(
        "/v1/records",
        &json!({"kind": "revoke", "tlp": "green", "refs": ["ab".repeat(32)],
                "content": {"reason": "typo"}}),
    )
    .await
    .error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_target",
        &["not in this node's log"],
    );
    assert_eq!(
        h.get("/v1/status").await.json["log_size"],
        log_size,
        "nothing signed"
    );
    // An update by another member arrives from a peer and has no effect; a sighting by another
    // member is a reference.
    let foreign = sign_record(
        "certnet-dev",
        certnet_protocol::record::Draft {
            kind: certnet_protocol::record::Kind::Update,
            tlp: certnet_protocol::record::Tlp::Green,
            refs: vec![target],
            content: certnet_protocol::record::Content::Update(
                certnet_protocol::record::Update::Incident(
                    serde_json::from_value(incident_body("hijacked")["content"].clone()).unwrap(),
                ),
            ),
        },
        FeedPosition {
            seq: 1,
            prev: None,
            time: crate::services::now_ms(),
        },
        &other(),
    )
    .unwrap();
    let at = FeedPosition {
        seq: 2,
        prev: Some(foreign.id()),
        time: crate::services::now_ms(),
    };
    let sighting = sign_record(
        "certnet-dev",
        certnet_protocol::record::Draft {
            kind: certnet_protocol::record::Kind::Sighting,
            tlp: certnet_protocol::record::Tlp::Green,
            refs: vec![target],
            content: certnet_protocol::record::Content::Sighting(
                certnet_protocol::record::Sighting {
                    count: Some(3),
                    first_seen: None,
                    last_seen: None,
                    indicators: vec![],
                    sectors: vec![],
                    countries: vec!["FR".into()],
                    note: Some("seen at two ministries".into()),
                },
            ),
        },
        at,
        &other(),
    )
    .unwrap();
    h.ingest(&foreign);
    h.ingest(&sighting);
    // Lists tell what is true now: the updated status, TLP and title, one update (the foreign one
    // is ignored), beside the record as signed.
    let listed = |list: &Value| {
        list["records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == target.to_string())
            .cloned()
    };
    let row = listed(&h.get("/v1/records?kind=incident").await.json).unwrap();
    assert_eq!(
        row["status"],
        Value::Null,
        "signed fields stay at the top level"
    );
    assert_eq!(row["content"]["status"], "investigating");
    assert_eq!(row["current"]["status"], "contained");
    assert_eq!(row["current"]["severity"], "high");
    assert_eq!(row["current"]["tlp"], "green");
    assert_eq!(row["current"]["updates"], 1);
    assert_eq!(row["current"]["revoked"], false);
    assert_eq!(
        row["current"]["content"]["title"],
        "Phishing wave (contained)"
    );
    let revoke = h
        .publish(
            &json!({"kind": "revoke", "tlp": "green", "refs": [target.to_string()],
                         "content": {"reason": "duplicate of an earlier report"}}),
        )
        .await;
    // A second revoke, or an update of a revoked record, would change nothing: refused.
    h.post(
        "/v1/records",
        &json!({"kind": "revoke", "tlp": "green", "refs": [target.to_string()],
                "content": {"reason": "again"}}),
    )
    .await
    .error(
        StatusCode::CONFLICT,
        "no_effect",
        &["already revoked", "publish a new record"],
    );
    // A revoked record leaves the lists, unless asked for.
    assert!(listed(&h.get("/v1/records").await.json).is_none());
    let row = listed(&h.get("/v1/records?include_revoked=true").await.json).unwrap();
    assert_eq!(row["current"]["revoked"], true);
    assert_eq!(
        row["current"]["revoked_reason"],
        "duplicate of an earlier report"
    );
    let v = h.get(&format!("/v1/records/{target}")).await.json;
    assert_eq!(v["view"]["revoked"], true);
    assert_eq!(
        v["view"]["revoked_reason"],
        "duplicate of an earlier report"
    );
    assert_eq!(v["view"]["tlp"], "green");
    let effects: Vec<(String, String)> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_owned(),
                e["effect"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        effects,
        [
            (update.to_string(), "updated".to_owned()),
            (revoke.to_string(), "revoked".to_owned()),
            (foreign.id().to_string(), "ignored".to_owned()),
            (sighting.id().to_string(), "referenced".to_owned()),
        ]
    );
    assert!(
        v["history"][2]["reason"]
            .as_str()
            .unwrap()
            .contains("not by the target's author")
    );
}

#[tokio::test]
async fn listing_filters_and_pages_through_the_log() {
    let h = Harness::new(LOOPBACK);
    let mut ours = Vec::new();
    for n in 0..4 {
        ours.push(h.publish(&incident_body(&format!("incident {n}"))).await);
    }
    let indicator = h
        .publish(&json!({"kind": "indicator", "tlp": "amber+strict",
                         "content": {"type": "sha256", "value": "a".repeat(64)}}))
        .await;
    let theirs = signed(&other(), 9, 1, None, 1_800_000_000_000);
    h.ingest(&theirs);

    let page = h.get("/v1/records").await.json;
    assert_eq!(page["records"].as_array().unwrap().len(), 6);
    assert_eq!(page["next_cursor"], Value::Null);
    assert_eq!(page["records"][5]["author_name"], "CERT-B");
    assert_eq!(page["records"][0]["index"], 0);
    let added: Vec<u64> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["added_us"].as_u64().unwrap())
        .collect();
    assert!(added.windows(2).all(|w| w[0] <= w[1]), "{added:?}");
    assert!(added[0] > 1_700_000_000_000_000, "{added:?}");

    // Pages of 2 in log order.
    let mut seen = Vec::new();
    let mut cursor = Some(0);
    while let Some(c) = cursor {
        let page = h.get(&format!("/v1/records?limit=2&cursor={c}")).await.json;
        for r in page["records"].as_array().unwrap() {
            seen.push(r["index"].as_u64().unwrap());
        }
        cursor = page["next_cursor"].as_u64();
    }
    assert_eq!(seen, [0, 1, 2, 3, 4, 5]);

    let ids = |page: &Value| -> Vec<String> {
        page["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let by_kind = h.get("/v1/records?kind=indicator").await.json;
    assert_eq!(ids(&by_kind), [indicator.to_string()]);
    let by_tlp = h.get("/v1/records?tlp=amber%2Bstrict").await.json;
    assert_eq!(ids(&by_tlp), [indicator.to_string()]);
    let by_name = h.get("/v1/records?author=CERT-B").await.json;
    assert_eq!(ids(&by_name), [theirs.id().to_string()]);
    let key = other().public().to_string();
    let by_key = h.get(&format!("/v1/records?author={key}")).await.json;
    assert_eq!(ids(&by_key), [theirs.id().to_string()]);
    let since = h.get("/v1/records?since=1800000000000").await.json;
    assert_eq!(ids(&since), [theirs.id().to_string()]);
    let mine = h
        .get("/v1/records?author=CERT-T&kind=incident&limit=3")
        .await
        .json;
    assert_eq!(
        ids(&mine),
        ours[..3]
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    );
    assert_eq!(mine["next_cursor"], 3);

    for (query, needle) in [
        ("limit=0", "limit must be 1 to 500"),
        ("limit=501", "limit must be 1 to 500"),
        ("limit=many", "limit"),
        ("author=CERT-X", "neither an ed25519"),
        ("author=ed25519:nope", "author"),
        ("kind=Incident", "kind must be"),
        ("kind=incidents", "is not one of incident, indicator"),
        ("tlp=red-ish", "tlp must be"),
        ("since=yesterday", "since"),
        ("cursor=-1", "cursor"),
        ("colour=red", "unknown field `colour`"),
    ] {
        h.get(&format!("/v1/records?{query}")).await.error(
            StatusCode::BAD_REQUEST,
            "bad_query",
            &[needle],
        );
    }
}

#[tokio::test]
async fn checkpoints_are_signed_on_demand_and_verify() {
    let h = Harness::new(LOOPBACK);
    h.get("/v1/log/checkpoint").await.error(
        StatusCode::NOT_FOUND,
        "not_found",
        &["POST /v1/log/checkpoint"],
    );
    h.publish(&incident_body("one")).await;
    h.publish(&incident_body("two")).await;

    let made = h
        .send(empty("POST", "/v1/log/checkpoint", Some(h.t())))
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.json);
    assert_eq!(made.json["created"], true);
    assert_eq!(made.json["size"], 2);
    let again = h
        .send(empty("POST", "/v1/log/checkpoint", Some(h.t())))
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json["created"], false);
    assert_eq!(again.json["note"], made.json["note"]);

    let latest = h.get("/v1/log/checkpoint").await.json;
    assert_eq!(latest.get("created"), None);
    let origin = format!("certnet/certnet-dev/{}", author().public());
    assert_eq!(latest["origin"], origin);
    assert_eq!(latest["key"], author().public().to_string());
    assert_eq!(
        latest["root"],
        hex::encode(h.services.store().root(2).unwrap())
    );
    let verifier = VerifierKey::from_str(latest["verifier_key"].as_str().unwrap()).unwrap();
    assert_eq!(verifier.name(), origin);
    let opened = checkpoint::open(latest["note"].as_str().unwrap().as_bytes(), &verifier).unwrap();
    assert_eq!(opened.size(), 2);
    assert_eq!(hex::encode(opened.root()), latest["root"]);

    let metrics = h.get("/metrics").await;
    let text = String::from_utf8(metrics.bytes).unwrap();
    assert!(text.contains("certnet_checkpoints_made_total 1"), "{text}");
}

#[tokio::test]
async fn inclusion_proofs_verify_and_bad_requests_say_why() {
    let h = Harness::new(LOOPBACK);
    h.get("/v1/log/proof/inclusion?index=0").await.error(
        StatusCode::NOT_FOUND,
        "not_found",
        &["size="],
    );
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(h.publish(&incident_body(&format!("incident {n}"))).await);
    }
    h.send(empty("POST", "/v1/log/checkpoint", Some(h.t())))
        .await;
    let checkpoint = h.get("/v1/log/checkpoint").await.json;
    let root = hash(checkpoint["root"].as_str().unwrap());

    for (i, id) in ids.iter().enumerate() {
        let by_id = h.get(&format!("/v1/log/proof/inclusion?id={id}")).await;
        assert_eq!(by_id.status, StatusCode::OK, "{}", by_id.json);
        let p = &by_id.json;
        assert_eq!(p["index"], i);
        assert_eq!(p["size"], 5, "defaults to the checkpoint's size");
        assert_eq!(p["id"], id.to_string());
        assert_eq!(p["root"], checkpoint["root"]);
        assert_eq!(p["checkpoint"], checkpoint["note"]);
        let raw = h.get(&format!("/v1/records/{id}/raw")).await.bytes;
        let leaf = certnet_protocol::merkle::leaf_hash(&raw);
        assert_eq!(p["leaf_hash"], hex::encode(leaf));
        verify_inclusion(&leaf, i as u64, 5, &hashes(&p["path"]), &root).unwrap();
        let by_index = h
            .get(&format!("/v1/log/proof/inclusion?index={i}"))
            .await
            .json;
        assert_eq!(by_index, *p);
    }
    let small = h.get("/v1/log/proof/inclusion?index=1&size=3").await.json;
    assert_eq!(small["checkpoint"], Value::Null);
    let small_root = hash(small["root"].as_str().unwrap());
    assert_eq!(small_root, h.services.store().root(3).unwrap());
    let raw = h.get(&format!("/v1/records/{}/raw", ids[1])).await.bytes;
    verify_inclusion(
        &certnet_protocol::merkle::leaf_hash(&raw),
        1,
        3,
        &hashes(&small["path"]),
        &small_root,
    )
    .unwrap();

    let missing = RecordId::of_payload(b"nothing");
    let both = format!("/v1/log/proof/inclusion?id={}&index=0", ids[0]);
    let cases: Vec<(String, StatusCode, &str, &str)> = vec![
        (
            "/v1/log/proof/inclusion".into(),
            StatusCode::BAD_REQUEST,
            "bad_query",
            "exactly one of",
        ),
        (both, StatusCode::BAD_REQUEST, "bad_query", "exactly one of"),
        (
            "/v1/log/proof/inclusion?id=zz".into(),
            StatusCode::BAD_REQUEST,
            "bad_id",
            "64 lowercase hex",
        ),
        (
            format!("/v1/log/proof/inclusion?id={missing}"),
            StatusCode::NOT_FOUND,
            "not_found",
            "no record",
        ),
        (
            "/v1/log/proof/inclusion?index=5".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "out_of_range",
            "not in the tree of size 5",
        ),
        (
            "/v1/log/proof/inclusion?index=3&size=2".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "out_of_range",
            "pass size= above 3",
        ),
        (
            "/v1/log/proof/inclusion?index=0&size=9".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "out_of_range",
            "beyond the log",
        ),
        (
            "/v1/log/proof/inclusion?index=0&size=0".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "out_of_range",
            "size 0",
        ),
        (
            "/v1/log/proof/inclusion?index=x".into(),
            StatusCode::BAD_REQUEST,
            "bad_query",
            "index",
        ),
    ];
    for (uri, status, code, needle) in cases {
        h.get(&uri).await.error(status, code, &[needle]);
    }
}

#[tokio::test]
async fn consistency_proofs_verify_and_bad_requests_say_why() {
    let h = Harness::new(LOOPBACK);
    for n in 0..3 {
        h.publish(&incident_body(&format!("incident {n}"))).await;
    }
    let old = h
        .send(empty("POST", "/v1/log/checkpoint", Some(h.t())))
        .await
        .json;
    for n in 3..7 {
        h.publish(&incident_body(&format!("incident {n}"))).await;
    }
    let new = h
        .send(empty("POST", "/v1/log/checkpoint", Some(h.t())))
        .await
        .json;

    let got = h.get("/v1/log/proof/consistency?old=3").await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.json);
    let p = &got.json;
    assert_eq!((p["old"].as_u64(), p["new"].as_u64()), (Some(3), Some(7)));
    assert_eq!(p["old_root"], old["root"]);
    assert_eq!(p["new_root"], new["root"]);
    assert_eq!(p["old_checkpoint"], old["note"]);
    assert_eq!(p["new_checkpoint"], new["note"]);
    verify_consistency(
        3,
        7,
        &hash(old["root"].as_str().unwrap()),
        &hash(new["root"].as_str().unwrap()),
        &hashes(&p["path"]),
    )
    .unwrap();
    for (a, b) in [(0, 7), (1, 5), (4, 4), (6, 7)] {
        let p = h
            .get(&format!("/v1/log/proof/consistency?old={a}&new={b}"))
            .await
            .json;
        verify_consistency(
            a,
            b,
            &hash(p["old_root"].as_str().unwrap()),
            &hash(p["new_root"].as_str().unwrap()),
            &hashes(&p["path"]),
        )
        .unwrap();
    }
    for (query, status, code, needle) in [
        (
            "",
            StatusCode::BAD_REQUEST,
            "bad_query",
            "missing field `old`",
        ),
        (
            "?old=5&new=3",
            StatusCode::UNPROCESSABLE_ENTITY,
            "out_of_range",
            "old <= new",
        ),
        (
            "?old=1&new=8",
            StatusCode::UNPROCESSABLE_ENTITY,
            "out_of_range",
            "beyond the log",
        ),
        (
            "?old=1&newer=3",
            StatusCode::BAD_REQUEST,
            "bad_query",
            "unknown field `newer`",
        ),
    ] {
        h.get(&format!("/v1/log/proof/consistency{query}"))
            .await
            .error(status, code, &[needle]);
    }
}

#[tokio::test]
async fn forks_are_listed_counted_and_exported() {
    let h = Harness::new(LOOPBACK);
    assert_eq!(h.get("/v1/forks").await.json, json!({"forks": []}));
    h.publish(&incident_body("ours")).await;
    let a = signed(&other(), 1, 1, None, 1_800_000_000_000);
    let b = signed(&other(), 2, 1, None, 1_800_000_000_001);
    assert!(matches!(h.ingest(&a), Ingest::Appended { .. }));
    assert!(matches!(h.ingest(&b), Ingest::Fork { seq: 1, .. }));

    let forks = h.get("/v1/forks").await.json;
    let list = forks["forks"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    let f = &list[0];
    assert_eq!(f["author"], other().public().to_string());
    assert_eq!(f["author_name"], "CERT-B");
    assert_eq!(f["seq"], 1);
    let mut expected = vec![a.id().to_string(), b.id().to_string()];
    expected.sort();
    assert_eq!(f["ids"], json!(expected));
    let proof = EquivocationProof::from_cbor(
        &hex::decode(f["proof"].as_str().unwrap()).unwrap(),
        "certnet-dev",
    )
    .unwrap();
    assert_eq!(proof.author(), other().public());

    let status = h.get("/v1/status").await.json;
    assert_eq!(status["forks"][0]["author_name"], "CERT-B");
    assert_eq!(status["forks"][0]["seq"], 1);
    let text = String::from_utf8(h.get("/metrics").await.bytes).unwrap();
    assert!(text.contains("certnet_forks 1"), "{text}");

    h.post("/v1/log/checkpoint", &json!(null)).await;
    let export = h.get("/v1/export").await;
    let summary = audit(&export.bytes[..], &AuditOptions::default(), |_, _| {}).unwrap();
    assert_eq!(summary.forks, [(other().public(), 1)]);
}

#[tokio::test]
async fn export_streams_an_auditable_file_at_the_newest_checkpoint_and_signs_nothing() {
    let h = Harness::new(LOOPBACK);
    // A GET changes nothing: with no checkpoint signed yet there is nothing to export.
    h.get("/v1/export").await.error(
        StatusCode::CONFLICT,
        "no_checkpoint",
        &["POST /v1/log/checkpoint"],
    );
    assert!(h.services.store().latest_checkpoint().unwrap().is_none());
    h.post("/v1/log/checkpoint", &json!(null)).await;
    let empty_export = h.get("/v1/export").await;
    assert_eq!(empty_export.status, StatusCode::OK);
    let summary = audit(&empty_export.bytes[..], &AuditOptions::default(), |_, _| {}).unwrap();
    assert_eq!(summary.entries, 0);

    for n in 0..20 {
        h.publish(&incident_body(&format!("incident {n}"))).await;
    }
    // Still the old checkpoint: the export stops there and says so.
    let stale = h.get("/v1/export").await;
    assert_eq!(stale.headers["x-certnet-checkpoint-size"], "0");
    h.post("/v1/log/checkpoint", &json!(null)).await;
    let checkpoints = |h: &Harness| h.services.metrics().encode().unwrap();
    let before = checkpoints(&h);
    let got = h.get("/v1/export").await;
    assert_eq!(
        checkpoints(&h)
            .lines()
            .find(|l| l.starts_with("certnet_checkpoints_made")),
        before
            .lines()
            .find(|l| l.starts_with("certnet_checkpoints_made")),
        "GET /v1/export signed a checkpoint"
    );
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.content_type(), "application/cbor-seq");
    assert_eq!(got.headers["x-certnet-checkpoint-size"], "20");
    assert!(
        got.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("certnet-certnet-dev-20.cbor")
    );
    let options = AuditOptions {
        expected_key: Some(author().public()),
        old_checkpoint: Some(summary.header.checkpoint.clone()),
    };
    let audited = audit(&got.bytes[..], &options, |_, _| {}).unwrap();
    assert_eq!(audited.entries, 20);
    assert_eq!(audited.consistent_with, Some(0));
    assert_eq!(
        *audited.checkpoint.root(),
        h.services.store().root(20).unwrap()
    );
    assert_eq!(h.get("/v1/log/checkpoint").await.json["size"], 20);
}

#[tokio::test]
async fn metrics_count_publishes_and_requests_by_route() {
    let h = Harness::new(LOOPBACK);
    let id = h.publish(&incident_body("one")).await;
    h.get(&format!("/v1/records/{id}")).await;
    h.get("/v1/records/nope").await;
    h.get("/v1/nope").await;
    let got = h.get("/metrics").await;
    assert_eq!(got.status, StatusCode::OK);
    assert!(
        got.content_type()
            .starts_with("application/openmetrics-text")
    );
    let text = String::from_utf8(got.bytes).unwrap();
    for line in [
        "certnet_records_published_total 1",
        "certnet_records_in_log 1",
        "certnet_orphans 0",
        "certnet_forks 0",
        "certnet_store_write_failures_total 0",
        "certnet_api_requests_total{route=\"/v1/records\",status=\"201\"} 1",
        "certnet_api_requests_total{route=\"/v1/records/{id}\",status=\"200\"} 1",
        "certnet_api_requests_total{route=\"/v1/records/{id}\",status=\"400\"} 1",
        "certnet_api_requests_total{route=\"unmatched\",status=\"404\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
    }
}

#[tokio::test]
async fn stopped_node_is_503_not_500() {
    let h = Harness::new(LOOPBACK);
    let token = ApiToken::generate().unwrap();
    let (handle, node) = Node::new(identity());
    drop(node);
    let access = AccessPolicy::new(
        &Default::default(),
        &[LOOPBACK.parse().unwrap()],
        token.clone(),
        vec![],
    );
    let state = ApiState::new(handle, h.services.clone(), access);
    let response = router(state)
        .oneshot(empty("GET", "/v1/status", Some(token.as_str())))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let json: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(json["error"]["code"], "node_stopping");
}

#[test]
fn store_and_clock_failures_are_503_with_a_reason() {
    let poisoned = ApiError::from(PublishError::Store(StoreError::Poisoned));
    assert_eq!(poisoned.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(poisoned.code(), "store_unavailable");
    let clock = ApiError::from(PublishError::ClockWrong { now_ms: 0 });
    assert_eq!(clock.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(clock.code(), "clock_wrong");
    let failed = ApiError::from(crate::services::CheckpointFailure::Store(
        StoreError::Poisoned,
    ));
    assert_eq!(failed.status(), StatusCode::SERVICE_UNAVAILABLE);
    let read = ApiError::from(StoreError::Corrupt("bad".into()));
    assert_eq!(read.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

mod access;
mod console;
mod indicators;
mod misp;
mod taxii;
