//! Issue 11: the analyst's console in a real headless Chromium (driven over WebDriver by
//! `webdriver.rs`) against real `certnet` processes: sign-in (a wrong token refused), a record
//! published on another node appearing live in the feed, its page with a verified inclusion proof,
//! the publish form's field error then success, an indicator reported by two CERTs, a fork alert
//! after a member signs two records at one seq, and a consumer limited to CLEAR/GREEN that never sees
//! an AMBER record. Screenshots of the feed and a record page are saved for the README.
//!
//! Skipped (with a message) when chromedriver is not installed; `.ci/run` installs it and sets
//! `CERTNET_BROWSER_TESTS=1`, which makes a missing browser a failure.

use std::process::Command;
use std::time::{Duration, Instant};

use certnet_testnet::federation::{Federation, FederationConfig};
use certnet_testnet::hostile::{self, Member};
use serde_json::{Value, json};

use crate::util::{CONVERGE, certnet_bin, incident, ok};
use crate::webdriver::{Browser, screenshot_dir};

/// A live row or alert must show within this (generous: the console's target is a second).
const LIVE: Duration = Duration::from_secs(15);

struct Net {
    fed: Federation,
    _tmp: tempfile::TempDir,
}

impl Drop for Net {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.fed.log_tails(60));
        }
    }
}

/// Adds a consumer to node `i`'s config (before it starts); returns its bearer token.
fn add_consumer(fed: &Federation, i: usize, name: &str, bands: &str) -> String {
    let out = ok(Command::new(certnet_bin())
        .arg("--data-dir")
        .arg(&fed.node(i).data_dir)
        .args(["consumer", "add", name, "--bands", bands])
        .output());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.split("keeps only a hash): ").nth(1))
        .unwrap_or_else(|| panic!("no token in: {stdout}"))
        .trim()
        .to_owned()
}

fn with_indicator(title: &str, tlp: &str, ip: &str) -> Value {
    let mut r = incident(title);
    r["tlp"] = json!(tlp);
    r["content"]["indicators"] = json!([{"type": "ipv4", "value": ip}]);
    r
}

fn sign_in(b: &Browser, base: &str, token: &str) {
    b.goto(&format!("{base}/ui/login"));
    b.fill(&b.find("input[name=token]"), token);
    b.click(&b.find("section.login button[type=submit]"));
    b.wait_for("table.feed", LIVE);
    b.wait_for("#live.on", LIVE);
}

/// Reloads `url` until `css` is on it.
fn reload_until(b: &Browser, url: &str, css: &str) {
    let deadline = Instant::now() + CONVERGE;
    loop {
        b.goto(url);
        if !b.find_all(css).is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no `{css}` on {url}:\n{}",
            b.source()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn the_console_in_a_real_browser() {
    let Some(b) = Browser::start() else { return };
    let evil = Member::new("CERT-EVIL", 11);
    let tmp = ok(tempfile::tempdir());
    let mut config = FederationConfig::new(tmp.path().join("testnet"), 2, certnet_bin());
    config.extra_members = vec![evil.roster()];
    config.rust_log = std::env::var("RUST_LOG").ok();
    let mut net = Net {
        fed: ok(Federation::create(&config)),
        _tmp: tmp,
    };
    let siem = add_consumer(&net.fed, 0, "siem", "clear,green");
    ok(net.fed.start_all());
    ok(net.fed.wait_mesh(CONVERGE));
    let fed = &net.fed;
    let base = format!("http://{}", fed.node(0).api);
    let token = ok(std::fs::read_to_string(
        fed.node(0).data_dir.join("api.token"),
    ));
    let token = token.trim();

    // Sign in: every page sends an unsigned browser to the sign-in page; a wrong token is refused.
    b.goto(&format!("{base}/ui/"));
    assert!(b.url().ends_with("/ui/login"), "{}", b.url());
    b.fill(&b.find("input[name=token]"), "certainly-not-the-token");
    b.click(&b.find("section.login button[type=submit]"));
    let refused = b.text(&b.wait_for("#login-error", LIVE));
    assert!(refused.contains("invalid credentials"), "{refused}");
    sign_in(&b, &base, token);
    assert!(!b.source().contains(token), "the token is in the page");

    // Live: a record published on the other node appears without a reload.
    let published = Instant::now();
    let live_id = ok(fed.publish(
        1,
        &with_indicator("Live from CERT-02", "green", "198.51.100.23"),
    ));
    let row = b.wait_for(&format!("tr[data-id=\"{live_id}\"]"), LIVE);
    eprintln!(
        "a record published on CERT-02 showed in CERT-01's feed after {:?}",
        published.elapsed()
    );
    let text = b.text(&row);
    assert!(
        text.contains("CERT-02") && text.contains("Live from CERT-02"),
        "{text}"
    );
    assert!(text.contains("✓ signed"), "{text}");

    // Its page: the inclusion proof against a signed checkpoint, verified by the node.
    b.click(&b.find(&format!("tr[data-id=\"{live_id}\"] td.title a")));
    b.wait_for("#provenance", LIVE);
    if !b.find_all("#sign-checkpoint").is_empty() {
        b.click(&b.find("#sign-checkpoint"));
    }
    let inclusion = b.text(&b.wait_for("p.ok#inclusion", LIVE));
    assert!(
        inclusion.contains("Inclusion proof verified"),
        "{inclusion}"
    );
    assert!(b.text(&b.find("#signature")).contains("verified"));
    b.screenshot(&screenshot_dir().join("console-record.png"));

    // Publish through the form: one invalid field, shown beside it; then valid.
    b.goto(&format!("{base}/ui/publish?kind=incident"));
    b.fill(&b.find("input[name=title]"), "");
    b.fill(
        &b.find("textarea[name=summary]"),
        "Credential phishing against ministries.",
    );
    b.fill(&b.find("textarea[name=indicators]"), "198.51.100.23");
    b.click(&b.find("#publish"));
    let error = b.text(&b.wait_for("#error-title", LIVE));
    assert!(error.contains("title"), "{error}");
    b.fill(&b.find("input[name=title]"), "Published from the console");
    b.click(&b.find("#publish"));
    b.wait_for("#provenance", LIVE);
    assert!(b.url().contains("/ui/records/"), "{}", b.url());
    assert!(b.source().contains("Published from the console"));

    // An indicator reported by two CERTs: both are shown, with first and last seen.
    reload_until(
        &b,
        &format!("{base}/ui/indicators?value=198.51.100.23"),
        "table.reporters tr:nth-child(2)",
    );
    let who = b.text(&b.find("table.reporters"));
    assert!(who.contains("CERT-01") && who.contains("CERT-02"), "{who}");

    // Sealed to a named partner: TLP:RED without recipients is refused beside them; with one ticked
    // it is sealed to it.
    b.goto(&format!("{base}/ui/publish?kind=incident"));
    b.click(&b.find("select[name=tlp] option[value=red]"));
    b.fill(&b.find("input[name=title]"), "Sealed for CERT-02");
    b.fill(&b.find("textarea[name=summary]"), "Need to know only.");
    b.click(&b.find("#publish"));
    let error = b.text(&b.wait_for("#error-to", LIVE));
    assert!(error.to_lowercase().contains("red"), "{error}");
    b.click(&b.find("input[name=to][value=CERT-02]"));
    b.click(&b.find("#publish"));
    let banner = b.text(&b.wait_for("p.banner.sealed", LIVE));
    assert!(banner.contains("CERT-02"), "{banner}");

    // The feed, for the README.
    b.goto(&format!("{base}/ui/"));
    b.wait_for("#live.on", LIVE);
    b.screenshot(&screenshot_dir().join("console-feed.png"));

    // A member signs two different records at one seq: the fork shows as an alert.
    let peer = evil.start(fed).unwrap();
    ok(hostile::connect(fed, &peer, 0, CONVERGE));
    ok(hostile::wait_subscribed(fed, &peer, 0, CONVERGE));
    let now = 1_790_000_000_000;
    for time in [now, now + 1_000] {
        let one = hostile::chain(fed.network(), &evil.secret, 1, 1, None, time).unwrap();
        let sent = peer.publish(one.into_iter().next().unwrap()).unwrap();
        assert!(sent.is_ok(), "{sent:?}");
    }
    reload_until(&b, &format!("{base}/ui/federation"), ".alert.fork");
    let alert = b.text(&b.find(".alert.fork"));
    assert!(
        alert.contains("CERT-EVIL") && alert.contains("seq 1"),
        "{alert}"
    );

    // The operator blocks a member from the federation page, then unblocks it.
    let row = "tr[data-member=\"CERT-02\"]";
    b.click(&b.find(&format!("{row} button")));
    b.wait_for(&format!("{row} .state.blocked"), LIVE);
    b.click(&b.find("ul.blocked button"));
    reload_until(
        &b,
        &format!("{base}/ui/federation"),
        &format!("{row} .state.connected"),
    );

    // A consumer limited to CLEAR/GREEN: an AMBER record never reaches its page, live or not.
    b.click(&b.find("form.signout button"));
    b.wait_for("section.login", LIVE);
    sign_in(&b, &base, &siem);
    ok(fed.publish(
        1,
        &with_indicator("Amber-Only-Heron", "amber", "203.0.113.99"),
    ));
    let green = ok(fed.publish(1, &incident("Green-After-Amber")));
    b.wait_for(&format!("tr[data-id=\"{green}\"]"), LIVE);
    assert!(
        !b.source().contains("Amber-Only-Heron"),
        "an AMBER record reached a GREEN consumer"
    );
    b.goto(&format!("{base}/ui/?tlp=amber"));
    assert!(!b.source().contains("Amber-Only-Heron"));
    assert!(
        b.find_all("a[href='/ui/publish']").is_empty(),
        "a consumer may not publish"
    );
    drop(b);
    ok(net.fed.down());
}
