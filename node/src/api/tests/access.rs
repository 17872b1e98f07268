//! The access rule over every route of the router (iterated from [`route_table`], so a route added
//! later is covered): foreign `Host` names and foreign origins are refused everywhere; a record
//! above TLP:CLEAR never reaches a caller without credentials, on any read route or the live stream;
//! consumers see their bands only; AMBER+STRICT only reaches the own organisation.

use std::time::Duration;

use certnet_protocol::record::Tlp;
use sha2::Digest as _;

use super::*;
use crate::api::route_table;
use crate::api::taxii::collection_id;
use crate::datadir::config::{ApiConfig, Reach, TaxiiConfig, TaxiiConsumer, TaxiiCredential};
use crate::stix::map::sdo_id;

pub(super) const SIEM: &str = "siem-token-aaaaaaaaaaaaaaaaaaaa";
pub(super) const OWN_SOC: &str = "own-soc-token-bbbbbbbbbbbbbbbbbb";

/// Title words that appear only in one record each: finding one in a body means that record leaked.
const CLEAR_TITLE: &str = "Clear-Title-Kestrel";
const GREEN_TITLE: &str = "Green-Title-Heron";
const AMBER_TITLE: &str = "Amber-Title-Osprey";
const STRICT_TITLE: &str = "Strict-Title-Merlin";

pub(super) fn consumers() -> (ApiConfig, TaxiiConfig) {
    let bearer = |t: &str| TaxiiCredential::Bearer {
        token_sha256: sha2::Sha256::digest(t.as_bytes()).into(),
    };
    let taxii = TaxiiConfig::new(vec![
        TaxiiConsumer::new("siem", vec![Tlp::Clear, Tlp::Green], false, bearer(SIEM)),
        TaxiiConsumer::new(
            "own-soc",
            vec![Tlp::Clear, Tlp::Green, Tlp::Amber, Tlp::AmberStrict],
            true,
            bearer(OWN_SOC),
        ),
    ]);
    (
        ApiConfig::default().with_anonymous(Reach::Loopback, Reach::Loopback),
        taxii,
    )
}

fn titled(tlp: &str, title: &str) -> Value {
    let mut body = incident_body(title);
    body["tlp"] = json!(tlp);
    body
}

/// The four records, one per band, and the AMBER one's id.
async fn populate(h: &Harness) -> RecordId {
    h.publish(&titled("clear", CLEAR_TITLE)).await;
    h.publish(&titled("green", GREEN_TITLE)).await;
    let amber = h.publish(&titled("amber", AMBER_TITLE)).await;
    h.publish(&titled("amber+strict", STRICT_TITLE)).await;
    h.post("/v1/log/checkpoint", &json!(null)).await;
    amber
}

/// Every route as concrete requests: path parameters filled with the AMBER record's names.
fn concrete_routes(amber: &RecordId, h: &Harness) -> Vec<(Method, String)> {
    let bytes = h.services.store().get(amber).unwrap().unwrap();
    let record = certnet_protocol::record::Record::decode(&bytes).unwrap();
    let object = sdo_id(record.payload(), amber).unwrap();
    let mut out = Vec::new();
    for (path, methods) in route_table() {
        let concrete = path
            .replace("{id}", &amber.to_string())
            .replace("{peer}", &identity().peer_id.to_string())
            .replace("{collection}", &collection_id(Tlp::Amber))
            .replace("{object}", &object)
            .replace("{status}", "x")
            .replace("{*value}", "203.0.113.7")
            .replace("{action}", "block")
            .replace("{file}", "console.css");
        assert!(!concrete.contains('{'), "unfilled parameter in {path}");
        for m in methods {
            out.push((m, concrete.clone()));
        }
    }
    assert!(
        out.len() >= 25,
        "the route table lists {} routes",
        out.len()
    );
    out
}

fn with(method: &Method, uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut b = Request::builder()
        .method(method.clone())
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let body = if *method == Method::POST {
        Body::from(incident_body("posted").to_string())
    } else {
        Body::empty()
    };
    let mut request = b.body(body).unwrap();
    request.extensions_mut().insert(loopback_conn());
    request
}

fn leaks(a: &Answer, titles: &[&str]) -> Option<String> {
    let text = String::from_utf8_lossy(&a.bytes);
    titles
        .iter()
        .find(|t| text.contains(**t))
        .map(|t| format!("{t} in {text}"))
}

#[tokio::test]
async fn foreign_hosts_and_origins_are_refused_on_every_route() {
    let h = Harness::with_access(LOOPBACK, consumers());
    let amber = populate(&h).await;
    let bearer = format!("Bearer {}", h.t());
    let size = h.services.store().log_size();
    for (method, uri) in concrete_routes(&amber, &h) {
        // DNS rebinding: the page's own host name in Host, with the operator's token even.
        let got = h
            .send(with(
                &method,
                &uri,
                &[
                    ("host", "rebind.attacker.example:4470"),
                    ("authorization", &bearer),
                ],
            ))
            .await;
        assert_eq!(
            got.status,
            StatusCode::MISDIRECTED_REQUEST,
            "{method} {uri}: {}",
            got.json
        );
        assert!(leaks(&got, &[AMBER_TITLE, CLEAR_TITLE]).is_none());
        for (name, value) in [
            ("origin", "http://evil.example"),
            ("origin", "null"),
            ("sec-fetch-site", "cross-site"),
        ] {
            let got = h
                .send(with(
                    &method,
                    &uri,
                    &[
                        ("host", LOOPBACK),
                        ("authorization", &bearer),
                        (name, value),
                    ],
                ))
                .await;
            assert_eq!(
                got.status,
                StatusCode::FORBIDDEN,
                "{method} {uri} {name}: {value}"
            );
            // No CORS, ever.
            assert!(
                !got.headers
                    .keys()
                    .any(|k| k.as_str().starts_with("access-control-")),
                "{method} {uri}"
            );
        }
        // The node's own origin passes the guard (the head is enough: the live stream never ends).
        let own = format!("http://{LOOPBACK}");
        let request = with(
            &method,
            &uri,
            &[
                ("host", LOOPBACK),
                ("authorization", &bearer),
                ("origin", &own),
            ],
        );
        let response = h.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        assert!(
            !response
                .headers()
                .keys()
                .any(|k| k.as_str().starts_with("access-control-"))
        );
        if uri == "/v1/records/stream" {
            assert_eq!(status, StatusCode::OK);
        } else {
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                status != StatusCode::MISDIRECTED_REQUEST && !text.contains("other origins"),
                "{method} {uri}: {status} {text}"
            );
        }
    }
    // Refused writes wrote nothing; the own-origin POSTs above did (one record each).
    assert!(h.services.store().log_size() > size);
}

#[tokio::test]
async fn each_caller_reads_its_bands_on_every_read_route() {
    let h = Harness::with_access(LOOPBACK, consumers());
    let amber = populate(&h).await;
    let gets: Vec<String> = concrete_routes(&amber, &h)
        .into_iter()
        .filter(|(m, uri)| *m == Method::GET && uri != "/v1/records/stream")
        .map(|(_, uri)| uri)
        .collect();
    let op = format!("Bearer {}", h.t());
    let siem = format!("Bearer {SIEM}");
    let own = format!("Bearer {OWN_SOC}");
    // (who, headers, titles that must never appear)
    type Caller<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a [&'a str]);
    let callers: [Caller<'_>; 4] = [
        (
            "anonymous",
            vec![],
            &[GREEN_TITLE, AMBER_TITLE, STRICT_TITLE],
        ),
        (
            "siem",
            vec![("authorization", siem.as_str())],
            &[AMBER_TITLE, STRICT_TITLE],
        ),
        ("own-soc", vec![("authorization", own.as_str())], &[]),
        ("operator", vec![("authorization", op.as_str())], &[]),
    ];
    let mut seen_clear = 0;
    let mut strict_by_own = false;
    for (who, extra, forbidden) in &callers {
        for uri in &gets {
            for uri in [uri.clone(), format!("{uri}?tlp=amber")] {
                let mut headers = vec![("host", LOOPBACK), ("accept", "*/*")];
                headers.extend(extra.iter().copied());
                let got = h.send(with(&Method::GET, &uri, &headers)).await;
                if let Some(leak) = leaks(&got, forbidden) {
                    panic!("{who}: GET {uri} answered {}: {leak}", got.status);
                }
                seen_clear += usize::from(leaks(&got, &[CLEAR_TITLE]).is_some());
            }
        }
        // AMBER+STRICT appears in a bundle only when named, and only for the own organisation.
        let headers: Vec<(&str, &str)> = [("host", LOOPBACK)]
            .into_iter()
            .chain(extra.iter().copied())
            .collect();
        let default = h.send(with(&Method::GET, "/v1/stix", &headers)).await;
        assert!(
            leaks(&default, &[STRICT_TITLE]).is_none(),
            "{who}: default bundle"
        );
        let named = h
            .send(with(&Method::GET, "/v1/stix?tlp=amber%2Bstrict", &headers))
            .await;
        if *who == "own-soc" {
            strict_by_own = leaks(&named, &[STRICT_TITLE]).is_some();
        }
    }
    assert!(
        seen_clear > 0,
        "the CLEAR record is readable somewhere: the test can fail"
    );
    assert!(
        strict_by_own,
        "the own organisation reads AMBER+STRICT when it names it"
    );

    // From another host, anonymous callers read nothing and need credentials.
    let got = h.get_remote("/v1/records").await;
    got.error(StatusCode::UNAUTHORIZED, "unauthorized", &["credentials"]);
    // A record of a band the caller may not read answers like a missing one.
    let mut siem_get = with(
        &Method::GET,
        &format!("/v1/records/{amber}"),
        &[("host", LOOPBACK)],
    );
    siem_get.headers_mut().insert(
        header::AUTHORIZATION,
        format!("Bearer {SIEM}").parse().unwrap(),
    );
    h.send(siem_get)
        .await
        .error(StatusCode::NOT_FOUND, "not_found", &[]);
    // Consumers may not write or administer.
    let mut post = with(&Method::POST, "/v1/records", &[("host", LOOPBACK)]);
    post.headers_mut().insert(
        header::AUTHORIZATION,
        format!("Bearer {OWN_SOC}").parse().unwrap(),
    );
    h.send(post)
        .await
        .error(StatusCode::FORBIDDEN, "forbidden", &["API token"]);
}

/// Reads a live stream's body until `stop` is in it or the time is up; returns what arrived.
pub(super) async fn read_stream(body: Body, stop: &str, within: Duration) -> String {
    let mut body = body;
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + within;
    while !text.contains(stop) {
        let frame = tokio::time::timeout_at(deadline, body.frame()).await;
        match frame {
            Ok(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    text.push_str(&String::from_utf8_lossy(data));
                }
            }
            _ => break,
        }
    }
    text
}

#[tokio::test]
async fn the_live_stream_follows_the_same_rule() {
    let h = Harness::with_access(LOOPBACK, consumers());
    let open = |headers: &[(&str, &str)]| {
        let request = with(&Method::GET, "/v1/records/stream", headers);
        h.router.clone().oneshot(request)
    };
    let anonymous = open(&[("host", LOOPBACK)]).await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::OK);
    assert!(
        anonymous.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let siem_auth = format!("Bearer {SIEM}");
    let siem = open(&[("host", LOOPBACK), ("authorization", siem_auth.as_str())])
        .await
        .unwrap();
    // Published after the streams opened: they see them live. The CLEAR record comes last.
    h.publish(&titled("amber", AMBER_TITLE)).await;
    h.publish(&titled("green", GREEN_TITLE)).await;
    h.publish(&titled("clear", CLEAR_TITLE)).await;
    let seen = read_stream(anonymous.into_body(), CLEAR_TITLE, Duration::from_secs(10)).await;
    assert!(seen.contains(CLEAR_TITLE), "{seen}");
    assert!(
        seen.contains("event: record") && seen.contains("id: 2"),
        "{seen}"
    );
    assert!(
        !seen.contains(AMBER_TITLE) && !seen.contains(GREEN_TITLE),
        "{seen}"
    );
    let seen = read_stream(siem.into_body(), CLEAR_TITLE, Duration::from_secs(10)).await;
    assert!(
        seen.contains(GREEN_TITLE) && seen.contains(CLEAR_TITLE),
        "{seen}"
    );
    assert!(!seen.contains(AMBER_TITLE), "{seen}");
    // Resuming after event 0 replays what followed it, for this caller's bands.
    let resumed = open(&[
        ("host", LOOPBACK),
        ("authorization", siem_auth.as_str()),
        ("last-event-id", "0"),
    ])
    .await
    .unwrap();
    let seen = read_stream(resumed.into_body(), CLEAR_TITLE, Duration::from_secs(10)).await;
    assert!(
        seen.contains(GREEN_TITLE) && !seen.contains(AMBER_TITLE),
        "{seen}"
    );
    // From another host, without credentials: nothing.
    let mut remote = with(&Method::GET, "/v1/records/stream", &[("host", LOOPBACK)]);
    remote.extensions_mut().insert(ConnInfo {
        remote: "192.0.2.9:1".parse().unwrap(),
        local: LOOPBACK.parse().unwrap(),
        tls: false,
    });
    let got = h.send(remote).await;
    got.error(StatusCode::UNAUTHORIZED, "unauthorized", &[]);
}

/// A sealed record (addressed to named members) reaches only the operator: a consumer whose bands
/// cover its marking gets it on no read route, in no STIX bundle or TAXII page, in no live event and
/// no console page.
#[tokio::test]
async fn sealed_records_reach_only_the_operator_on_every_read_route() {
    const SEALED_TITLE: &str = "Sealed-Title-Bittern";
    let h = Harness::sealing(LOOPBACK, consumers());
    let mut body = titled("amber", SEALED_TITLE);
    body["to"] = json!(["CERT-B"]);
    let sealed = h.publish(&body).await;
    h.publish(&titled("amber", AMBER_TITLE)).await;
    h.post("/v1/log/checkpoint", &json!(null)).await;
    let op = format!("Bearer {}", h.t());
    let own = format!("Bearer {OWN_SOC}");
    // The operator reads it (opened: this node is a recipient).
    let got = h
        .send(with(
            &Method::GET,
            &format!("/v1/records/{sealed}"),
            &[("host", LOOPBACK), ("authorization", &op)],
        ))
        .await;
    assert!(leaks(&got, &[SEALED_TITLE]).is_some(), "{}", got.json);
    // The own organisation's consumer reads AMBER, and still never the sealed record.
    let amber = collection_id(Tlp::Amber);
    let gets = [
        "/v1/records".to_owned(),
        "/v1/records?tlp=amber".to_owned(),
        format!("/v1/records/{sealed}"),
        format!("/v1/records/{sealed}/raw"),
        format!("/v1/records/{sealed}/stix"),
        "/v1/stix?tlp=amber".to_owned(),
        format!("/taxii2/certnet/collections/{amber}/objects/"),
        "/v1/indicators/tax-refund.example".to_owned(),
        "/v1/forks".to_owned(),
    ];
    let mut saw_amber = 0;
    for uri in &gets {
        let got = h
            .send(with(
                &Method::GET,
                uri,
                &[
                    ("host", LOOPBACK),
                    ("accept", "*/*"),
                    ("authorization", &own),
                ],
            ))
            .await;
        assert!(
            leaks(&got, &[SEALED_TITLE]).is_none(),
            "GET {uri}: {}",
            got.status
        );
        saw_amber += usize::from(leaks(&got, &[AMBER_TITLE]).is_some());
        if uri.contains(&sealed.to_string()) {
            assert_eq!(got.status, StatusCode::NOT_FOUND, "GET {uri}");
        }
    }
    assert!(
        saw_amber >= 4,
        "the consumer reads AMBER: {saw_amber} routes showed it"
    );
    // The live stream, from the start of the log.
    let stream = h
        .router
        .clone()
        .oneshot(with(
            &Method::GET,
            "/v1/records/stream?from=0",
            &[("host", LOOPBACK), ("authorization", &own)],
        ))
        .await
        .unwrap();
    let seen = read_stream(stream.into_body(), AMBER_TITLE, Duration::from_secs(10)).await;
    assert!(
        seen.contains(AMBER_TITLE) && !seen.contains(SEALED_TITLE),
        "{seen}"
    );
    // The console, signed in as that consumer: pages and live rows.
    let cookie = super::console::sign_in(&h, OWN_SOC).await;
    for uri in [
        "/ui/".to_owned(),
        "/ui/?tlp=amber".to_owned(),
        format!("/ui/records/{sealed}"),
        format!("/ui/records/{sealed}/raw"),
        "/ui/indicators?value=tax-refund.example".to_owned(),
        "/ui/activity".to_owned(),
        "/ui/federation".to_owned(),
    ] {
        let got = h.send(super::console::page(&uri, Some(&cookie))).await;
        assert!(leaks(&got, &[SEALED_TITLE]).is_none(), "console GET {uri}");
    }
    let feed = h.send(super::console::page("/ui/", Some(&cookie))).await;
    assert!(
        leaks(&feed, &[AMBER_TITLE]).is_some(),
        "the consumer's feed shows AMBER"
    );
    let live = h
        .router
        .clone()
        .oneshot(super::console::page("/ui/stream?from=0", Some(&cookie)))
        .await
        .unwrap();
    let seen = read_stream(live.into_body(), AMBER_TITLE, Duration::from_secs(10)).await;
    assert!(
        seen.contains(AMBER_TITLE) && !seen.contains(SEALED_TITLE),
        "{seen}"
    );
}

/// A member's update of its clear record, sealed to named members (this node among them), changes
/// that record's current view for the operator only: a consumer's view, list and console never show
/// the sealed update's content.
#[tokio::test]
async fn a_sealed_update_never_reaches_a_consumers_current_view() {
    use certnet_protocol::record::{Content, Draft, FeedPosition, Kind, Update, sign_record};
    use certnet_protocol::sealed::{EncryptionSecret, Recipient, SealContext, seal};
    const SEALED_UPDATE: &str = "Sealed-Update-Osprey";
    let h = Harness::sealing(LOOPBACK, consumers());
    let net = h.services.net().to_owned();
    let b = other();
    let now = crate::services::now_ms();
    // CERT-B's AMBER incident, in the clear.
    let draft = sample::incident(1);
    let incident = sign_record(
        &net,
        draft.clone(),
        FeedPosition {
            seq: 1,
            prev: None,
            time: now,
        },
        &b,
    )
    .unwrap();
    h.ingest(&incident);
    // Its update, sealed to CERT-T (this node) and CERT-B.
    let Content::Incident(mut content) = draft.content else {
        panic!("a sample incident")
    };
    content.title = SEALED_UPDATE.to_owned();
    let update = Draft {
        kind: Kind::Update,
        tlp: draft.tlp,
        refs: vec![incident.id()],
        content: Content::Update(Update::Incident(content)),
    };
    let secret = |seed: u8| EncryptionSecret::from_bytes([seed; 32]);
    let recipients = [
        Recipient::new(author().public(), secret(7).public(), &secret(8)),
        Recipient::new(b.public(), secret(8).public(), &secret(8)),
    ];
    let context = SealContext {
        net: &net,
        author: &b.public(),
        seq: 2,
    };
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let sealed = seal(&update, &recipients, &context, &mut rng).unwrap();
    let outer = sign_record(
        &net,
        Draft::sealed(draft.tlp, sealed),
        FeedPosition {
            seq: 2,
            prev: Some(incident.id()),
            time: now + 1,
        },
        &b,
    )
    .unwrap();
    h.ingest(&outer);
    // This node opens it (the follower), and the update counts in the operator's view.
    tokio::spawn(crate::sealed::follower::follow(
        h.services.clone(),
        std::future::pending(),
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while h.services.referrers(&incident.id()).unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "never opened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let op = format!("Bearer {}", h.t());
    let uri = format!("/v1/records/{}", incident.id());
    let got = h
        .send(with(
            &Method::GET,
            &uri,
            &[("host", LOOPBACK), ("authorization", &op)],
        ))
        .await;
    assert_eq!(
        got.json["view"]["content"]["title"], SEALED_UPDATE,
        "{}",
        got.json
    );
    // The own organisation's AMBER consumer: the record as CERT-B published it in the clear.
    let own = format!("Bearer {OWN_SOC}");
    for uri in [uri.clone(), "/v1/records?tlp=amber".to_owned()] {
        let got = h
            .send(with(
                &Method::GET,
                &uri,
                &[("host", LOOPBACK), ("authorization", &own)],
            ))
            .await;
        assert_eq!(got.status, StatusCode::OK, "GET {uri}");
        assert!(
            leaks(&got, &[SEALED_UPDATE]).is_none(),
            "GET {uri}: {}",
            got.json
        );
    }
    let cookie = super::console::sign_in(&h, OWN_SOC).await;
    for uri in ["/ui/".to_owned(), format!("/ui/records/{}", incident.id())] {
        let got = h.send(super::console::page(&uri, Some(&cookie))).await;
        assert_eq!(got.status, StatusCode::OK, "console GET {uri}");
        assert!(leaks(&got, &[SEALED_UPDATE]).is_none(), "console GET {uri}");
    }
}
