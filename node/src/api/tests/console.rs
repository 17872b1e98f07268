//! The console through the router, on a real store: sign-in and sessions, the cookie's reach, CSRF on
//! every write, the security headers, what each session sees (pages and live rows), the publish
//! form's field errors, and the record page's verified inclusion proof.

use std::time::Duration;

use super::access::{OWN_SOC, SIEM, consumers, read_stream};
use super::*;
use crate::api::route_table;

const AMBER_TITLE: &str = "Console-Amber-Wigeon";
const GREEN_TITLE: &str = "Console-Green-Plover";

fn form(uri: &str, body: &str, cookie: Option<&str>) -> Request<Body> {
    let mut b = Request::builder()
        .method("POST")
        .uri(uri)
        .header(header::HOST, LOOPBACK)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, format!("certnet_console={c}"));
    }
    let mut request = b.body(Body::from(body.to_owned())).unwrap();
    request.extensions_mut().insert(loopback_conn());
    request
}

pub(super) fn page(uri: &str, cookie: Option<&str>) -> Request<Body> {
    let mut b = Request::builder()
        .method("GET")
        .uri(uri)
        .header(header::HOST, LOOPBACK);
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, format!("certnet_console={c}"));
    }
    let mut request = b.body(Body::empty()).unwrap();
    request.extensions_mut().insert(loopback_conn());
    request
}

fn text(a: &Answer) -> String {
    String::from_utf8_lossy(&a.bytes).into_owned()
}

/// Signs in with `token`; returns the session cookie's value.
pub(super) async fn sign_in(h: &Harness, token: &str) -> String {
    let body = serde_urlencoded::to_string([("token", token)]).unwrap();
    let got = h.send(form("/ui/login", &body, None)).await;
    assert_eq!(got.status, StatusCode::SEE_OTHER, "{}", text(&got));
    let cookie = got.headers[header::SET_COOKIE].to_str().unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    cookie
        .strip_prefix("certnet_console=")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// The CSRF token in a page's forms.
fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    page[at..at + 64].to_owned()
}

fn titled(tlp: &str, title: &str) -> Value {
    let mut body = incident_body(title);
    body["tlp"] = json!(tlp);
    body
}

#[tokio::test]
async fn sign_in_refuses_wrong_credentials_and_a_session_reads_the_feed() {
    let h = Harness::with_access(LOOPBACK, consumers());
    h.publish(&titled("amber", AMBER_TITLE)).await;
    // Without a session every page sends the browser to sign in.
    let got = h.send(page("/ui/", None)).await;
    assert_eq!(got.status, StatusCode::SEE_OTHER);
    assert_eq!(got.headers[header::LOCATION], "/ui/login");
    let login = h.send(page("/ui/login", None)).await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(
        login.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    // A wrong token is refused, with no cookie.
    let wrong = h.send(form("/ui/login", "token=not-the-token", None)).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(!wrong.headers.contains_key(header::SET_COOKIE));
    assert!(text(&wrong).contains("invalid credentials"));
    let empty = h.send(form("/ui/login", "token=", None)).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);

    let cookie = sign_in(&h, h.t()).await;
    let feed = h.send(page("/ui/", Some(&cookie))).await;
    assert_eq!(feed.status, StatusCode::OK);
    let html = text(&feed);
    assert!(html.contains(AMBER_TITLE), "{html}");
    assert!(html.contains("TLP:AMBER"));
    // No secret in the page: not the API token, not the cookie.
    assert!(!html.contains(h.t()));
    assert!(!html.contains(&cookie));
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(feed.headers[name], value);
    }
    // A made-up cookie is no session.
    let forged = h.send(page("/ui/", Some(&"a".repeat(64)))).await;
    assert_eq!(forged.status, StatusCode::SEE_OTHER);

    // Sign-out needs the CSRF token, then ends the session.
    let refused = h.send(form("/ui/logout", "", Some(&cookie))).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let body = format!("csrf={}", csrf_of(&html));
    let out = h.send(form("/ui/logout", &body, Some(&cookie))).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(
        out.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let after = h.send(page("/ui/", Some(&cookie))).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_session_cookie_never_reaches_the_api() {
    let h = Harness::new(LOOPBACK);
    h.publish(&titled("green", GREEN_TITLE)).await;
    let cookie = sign_in(&h, h.t()).await;
    // The operator's session on /v1/…: treated as no credentials at all (anonymous on loopback
    // reads TLP:CLEAR at most).
    let got = h.send(page("/v1/records", Some(&cookie))).await;
    assert!(!text(&got).contains(GREEN_TITLE), "{}", got.json);
    assert_eq!(got.json["records"], json!([]), "{}", got.json);
    let got = h
        .send({
            let mut r = form("/v1/log/checkpoint", "", Some(&cookie));
            r.headers_mut().remove(header::CONTENT_TYPE);
            r
        })
        .await;
    assert_eq!(got.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_console_route_needs_a_session_and_every_write_its_csrf_token() {
    let h = Harness::new(LOOPBACK);
    let id = h.publish(&titled("green", GREEN_TITLE)).await;
    let cookie = sign_in(&h, h.t()).await;
    let csrf = csrf_of(&text(&h.send(page("/ui/", Some(&cookie))).await));
    let size = h.services.store().log_size();
    let console: Vec<(Method, String)> = route_table()
        .into_iter()
        .filter(|(path, _)| path.starts_with("/ui"))
        .flat_map(|(path, methods)| {
            let uri = path
                .replace("{id}", &id.to_string())
                .replace("{peer}", &identity().peer_id.to_string())
                .replace("{action}", "block")
                .replace("{file}", "console.css");
            methods.into_iter().map(move |m| (m, uri.clone()))
        })
        .collect();
    assert!(console.len() >= 15, "{console:?}");
    for (method, uri) in &console {
        let open = uri == "/ui/login" || uri.starts_with("/ui/assets/") || uri == "/ui";
        if *method == Method::GET {
            let got = h.send(page(uri, None)).await;
            if !open {
                assert_eq!(got.status, StatusCode::SEE_OTHER, "GET {uri}");
                assert_eq!(got.headers[header::LOCATION], "/ui/login", "GET {uri}");
            }
            assert!(
                got.headers.contains_key(header::CONTENT_SECURITY_POLICY),
                "GET {uri}"
            );
        } else if uri != "/ui/login" {
            // No session: refused.
            let got = h.send(form(uri, &format!("csrf={csrf}"), None)).await;
            assert_eq!(got.status, StatusCode::UNAUTHORIZED, "POST {uri}");
            // A session without the CSRF token (a forged form): refused, nothing done.
            for body in ["", "csrf=0000", "kind=incident&tlp=green&title=x&summary=y"] {
                let got = h.send(form(uri, body, Some(&cookie))).await;
                assert_eq!(got.status, StatusCode::FORBIDDEN, "POST {uri} {body}");
            }
        }
    }
    assert_eq!(h.services.store().log_size(), size, "a refused write wrote");
    assert!(h.services.store().latest_checkpoint().unwrap().is_none());
}

#[tokio::test]
async fn publishing_shows_field_errors_beside_the_field_then_publishes() {
    let h = Harness::new(LOOPBACK);
    let cookie = sign_in(&h, h.t()).await;
    let formpage = text(
        &h.send(page("/ui/publish?kind=incident", Some(&cookie)))
            .await,
    );
    let csrf = csrf_of(&formpage);
    let fields = |title: &str| {
        serde_urlencoded::to_string([
            ("csrf", csrf.as_str()),
            ("kind", "incident"),
            ("tlp", "green"),
            ("refs", ""),
            ("title", title),
            // A textarea's line breaks arrive as CRLF.
            (
                "summary",
                "Phishing wave against ministries.\r\nSecond line.",
            ),
            ("severity", "high"),
            ("status", "new"),
            ("indicators", "Evil.Example.\nhxxp://evil[.]example/login"),
        ])
        .unwrap()
    };
    // One invalid field: the API's error is shown beside it, and the other values stay.
    let bad = h
        .send(form("/ui/publish", &fields(""), Some(&cookie)))
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = text(&bad);
    assert!(html.contains("id=\"error-title\""), "{html}");
    assert!(html.contains("Phishing wave against ministries."));
    assert_eq!(h.services.store().log_size(), 0);
    // A bad indicator line is named before anything is sent.
    let bad = h
        .send(form(
            "/ui/publish",
            &fields("T").replace("Evil.Example.", "not%20a%20value"),
            Some(&cookie),
        ))
        .await;
    assert!(text(&bad).contains("id=\"error-indicators\""));
    // Valid: published, and the browser goes to the record's page.
    let good = h
        .send(form("/ui/publish", &fields("Phishing wave"), Some(&cookie)))
        .await;
    assert_eq!(good.status, StatusCode::SEE_OTHER, "{}", text(&good));
    let location = good.headers[header::LOCATION].to_str().unwrap().to_owned();
    assert!(location.starts_with("/ui/records/"));
    let record = text(&h.send(page(&location, Some(&cookie))).await);
    assert!(record.contains("Phishing wave"));
    assert!(record.contains("ministries.\nSecond line."), "{record}");
    assert!(
        record.contains("evil.example"),
        "normalised indicator: {record}"
    );
    assert!(record.contains("http://evil.example/login"));
}

#[tokio::test]
async fn the_record_page_verifies_the_inclusion_proof_against_the_signed_checkpoint() {
    let h = Harness::new(LOOPBACK);
    let id = h.publish(&titled("green", GREEN_TITLE)).await;
    let cookie = sign_in(&h, h.t()).await;
    let uri = format!("/ui/records/{id}");
    let before = text(&h.send(page(&uri, Some(&cookie))).await);
    assert!(
        before.contains("Not yet covered by a signed checkpoint"),
        "{before}"
    );
    // The operator signs one from the page.
    let body = format!("csrf={}&back={id}", csrf_of(&before));
    let signed = h.send(form("/ui/checkpoint", &body, Some(&cookie))).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    assert_eq!(signed.headers[header::LOCATION], uri.as_str());
    let after = text(&h.send(page(&uri, Some(&cookie))).await);
    assert!(after.contains("Inclusion proof verified"), "{after}");
    assert!(after.contains("COSE_Sign1 signature verified"));
    // Downloads: the exact bytes, and a STIX bundle.
    let raw = h.send(page(&format!("{uri}/raw"), Some(&cookie))).await;
    assert_eq!(raw.status, StatusCode::OK);
    assert_eq!(raw.bytes, h.services.store().get(&id).unwrap().unwrap());
    assert!(
        raw.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let stix = h.send(page(&format!("{uri}/stix"), Some(&cookie))).await;
    assert_eq!(stix.json["type"], "bundle");
}

#[tokio::test]
async fn a_green_consumer_never_sees_an_amber_record_in_pages_or_live_rows() {
    let h = Harness::with_access(LOOPBACK, consumers());
    let amber = h.publish(&titled("amber", AMBER_TITLE)).await;
    h.publish(&titled("green", "Console-Green-Before")).await;
    h.post("/v1/log/checkpoint", &json!(null)).await;
    let siem = sign_in(&h, SIEM).await;
    let own = sign_in(&h, OWN_SOC).await;
    let gets = [
        "/ui/".to_owned(),
        "/ui/?tlp=amber".to_owned(),
        format!("/ui/records/{amber}"),
        format!("/ui/records/{amber}/raw"),
        format!("/ui/records/{amber}/stix"),
        "/ui/indicators?value=tax-refund.example".to_owned(),
        "/ui/federation".to_owned(),
        "/ui/activity".to_owned(),
    ];
    for uri in &gets {
        let got = h.send(page(uri, Some(&siem))).await;
        assert!(!text(&got).contains(AMBER_TITLE), "siem: GET {uri}");
    }
    let feed = text(&h.send(page("/ui/", Some(&siem))).await);
    assert!(feed.contains("Console-Green-Before"));
    assert!(
        !feed.contains("id=\"publish\""),
        "a consumer has no publish form"
    );
    let own_feed = text(&h.send(page("/ui/", Some(&own))).await);
    assert!(own_feed.contains(AMBER_TITLE));

    // Live: rows published after the stream opened; the GREEN one comes last.
    let open = |cookie: &str| h.router.clone().oneshot(page("/ui/stream", Some(cookie)));
    let siem_stream = open(&siem).await.unwrap();
    assert_eq!(siem_stream.status(), StatusCode::OK);
    let own_stream = open(&own).await.unwrap();
    h.publish(&titled("amber", "Console-Amber-Live")).await;
    h.publish(&titled("green", GREEN_TITLE)).await;
    let seen = read_stream(
        siem_stream.into_body(),
        GREEN_TITLE,
        Duration::from_secs(10),
    )
    .await;
    assert!(seen.contains(GREEN_TITLE), "{seen}");
    assert!(seen.contains("event: row"));
    assert!(!seen.contains("Console-Amber-Live"), "{seen}");
    let seen = read_stream(own_stream.into_body(), GREEN_TITLE, Duration::from_secs(10)).await;
    assert!(seen.contains("Console-Amber-Live"));
}

#[tokio::test]
async fn the_feed_filters_and_pages_newest_first() {
    let h = Harness::new(LOOPBACK);
    for n in 0..60 {
        let tlp = if n % 2 == 0 { "green" } else { "amber" };
        h.publish(&titled(tlp, &format!("Feed-Item-{n:03}"))).await;
    }
    let cookie = sign_in(&h, h.t()).await;
    let first = text(&h.send(page("/ui/", Some(&cookie))).await);
    let newest = first.find("Feed-Item-059").unwrap();
    assert!(
        newest < first.find("Feed-Item-058").unwrap(),
        "newest first"
    );
    assert!(!first.contains("Feed-Item-009"), "one page of 50");
    assert!(first.contains("id=\"older\""));
    assert!(
        first.contains("data-stream=\"/ui/stream?from=60\""),
        "the first page is live"
    );
    let older = text(&h.send(page("/ui/?before=10", Some(&cookie))).await);
    assert!(older.contains("Feed-Item-009") && !older.contains("Feed-Item-010"));
    assert!(!older.contains("data-stream"), "an older page is not live");
    let green = text(
        &h.send(page("/ui/?tlp=green&q=item-05", Some(&cookie)))
            .await,
    );
    assert!(green.contains("Feed-Item-058") && !green.contains("Feed-Item-059"));
    // A band filter pages back through the band index: every AMBER row (odd items), newest first.
    let amber = text(&h.send(page("/ui/?tlp=amber", Some(&cookie))).await);
    assert_eq!(amber.matches(" data-id=\"").count(), 30);
    assert!(amber.find("Feed-Item-059").unwrap() < amber.find("Feed-Item-001").unwrap());
    assert!(!amber.contains("Feed-Item-058") && !amber.contains("id=\"older\""));
    let amber_older = text(
        &h.send(page("/ui/?tlp=amber&before=11", Some(&cookie)))
            .await,
    );
    assert_eq!(
        amber_older.matches(" data-id=\"").count(),
        5,
        "{amber_older}"
    );
    let bad = h.send(page("/ui/?since=yesterday", Some(&cookie))).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(text(&bad).contains("YYYY-MM-DD"));
    let by_value = text(
        &h.send(page("/ui/?indicator=Tax-Refund.Example.", Some(&cookie)))
            .await,
    );
    assert!(by_value.contains("Feed-Item-000"));
    // The stream starts where the page ended (rows added in between are not missed), and a
    // reconnecting browser resumes after the last row it got.
    let resumed = h
        .router
        .clone()
        .oneshot(page("/ui/stream?from=58", Some(&cookie)));
    let body = resumed.await.unwrap().into_body();
    let seen = read_stream(body, "Feed-Item-059", Duration::from_secs(10)).await;
    assert!(
        seen.contains("Feed-Item-058") && seen.contains("id: 59"),
        "{seen}"
    );
    let mut again = page("/ui/stream?from=0", Some(&cookie));
    again
        .headers_mut()
        .insert("last-event-id", "58".parse().unwrap());
    let body = h.router.clone().oneshot(again).await.unwrap().into_body();
    let seen = read_stream(body, "Feed-Item-059", Duration::from_secs(10)).await;
    assert!(
        !seen.contains("Feed-Item-058") && seen.contains("Feed-Item-059"),
        "{seen}"
    );
    let search = text(
        &h.send(page("/ui/indicators?value=203.0.113.7", Some(&cookie)))
            .await,
    );
    assert!(
        search.contains("CERT-T") && search.contains("60 record(s)"),
        "{search}"
    );
}

#[tokio::test]
async fn a_consumer_signs_in_with_its_name_and_password_and_reads_its_bands() {
    use super::taxii::{MISP_PASSWORD, MISP_USER, consumers};
    let h = Harness::with_access(LOOPBACK, consumers(false));
    h.publish(&titled("amber", AMBER_TITLE)).await;
    h.publish(&titled("amber+strict", "Console-Strict-Godwit"))
        .await;
    let login = |user: &str, password: &str| {
        let body = serde_urlencoded::to_string([("user", user), ("password", password)]).unwrap();
        form("/ui/login", &body, None)
    };
    let wrong = h.send(login(MISP_USER, "not-the-password")).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(!wrong.headers.contains_key(header::SET_COOKIE));
    let unknown = h.send(login("nobody", MISP_PASSWORD)).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    let got = h.send(login(MISP_USER, MISP_PASSWORD)).await;
    assert_eq!(got.status, StatusCode::SEE_OTHER, "{}", text(&got));
    let cookie = got.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .trim_start_matches("certnet_console=")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let feed = text(&h.send(page("/ui/", Some(&cookie))).await);
    assert!(feed.contains(AMBER_TITLE), "its bands include AMBER");
    assert!(
        !feed.contains("Console-Strict-Godwit"),
        "not its own organisation"
    );
    assert!(feed.contains("consumer:misp"));
}
