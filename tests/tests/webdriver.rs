//! A small W3C WebDriver client for the console's browser tests: it starts Debian's `chromedriver`
//! on a free loopback port, opens headless Chromium (fresh profile, the flags this machine needs) and
//! speaks the WebDriver protocol's JSON over HTTP. Only what the tests use: navigate, find, click,
//! type, read text and source, screenshot.
//!
//! [`Browser::start`] returns `None` when chromedriver is not installed, unless
//! `CERTNET_BROWSER_TESTS=1` (set by .ci/run after installing it): then a missing browser fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// The key of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A running chromedriver with one browser session.
pub(crate) struct Browser {
    driver: Child,
    base: String,
    agent: ureq::Agent,
    _profile: tempfile::TempDir,
}

/// An element on the current page.
#[derive(Debug, Clone)]
pub(crate) struct Element(String);

impl Browser {
    /// Starts chromedriver and a headless Chromium session; `None` if they are not installed and
    /// the browser tests are not required.
    pub(crate) fn start() -> Option<Browser> {
        let required = std::env::var("CERTNET_BROWSER_TESTS").is_ok_and(|v| v == "1");
        if !Path::new(CHROMEDRIVER).exists() || !Path::new(CHROMIUM).exists() {
            assert!(
                !required,
                "CERTNET_BROWSER_TESTS=1 but {CHROMEDRIVER} or {CHROMIUM} is missing: apt-get install -y chromium chromium-driver"
            );
            eprintln!(
                "skipping the browser test: {CHROMEDRIVER} is not installed (apt-get install -y chromium chromium-driver; CERTNET_BROWSER_TESTS=1 makes this a failure)"
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let root = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while agent
            .get(format!("{root}/status"))
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_json::<Value>().ok())
            .is_none_or(|v| v["value"]["ready"] != json!(true))
        {
            assert!(Instant::now() < deadline, "chromedriver did not get ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().expect("a profile dir");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--window-size=1400,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let mut browser = Browser {
            driver,
            base: String::new(),
            agent,
            _profile: profile,
        };
        let answer = browser.call("POST", &format!("{root}/session"), Some(caps));
        let session = answer["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {answer}"))
            .to_owned();
        browser.base = format!("{root}/session/{session}");
        Some(browser)
    }

    fn call(&self, method: &str, url: &str, body: Option<Value>) -> Value {
        let response = match (method, body) {
            ("GET", _) => self.agent.get(url).call(),
            ("DELETE", _) => self.agent.delete(url).call(),
            (_, body) => self.agent.post(url).send_json(body.unwrap_or(json!({}))),
        };
        let mut response = response.unwrap_or_else(|e| panic!("WebDriver {method} {url}: {e}"));
        let status = response.status();
        let value: Value = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_json()
            .unwrap_or(Value::Null);
        assert!(
            status.is_success(),
            "WebDriver {method} {url}: {status} {value}"
        );
        value["value"].clone()
    }

    fn session(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("{}{path}", self.base), body)
    }

    /// Opens `url` and waits for its load.
    pub(crate) fn goto(&self, url: &str) {
        self.session("POST", "/url", Some(json!({ "url": url })));
    }

    /// The current URL.
    pub(crate) fn url(&self) -> String {
        self.session("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page's HTML as the browser holds it now (live rows included).
    pub(crate) fn source(&self) -> String {
        self.session("GET", "/source", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Every element matching a CSS selector now.
    pub(crate) fn find_all(&self, css: &str) -> Vec<Element> {
        let found = self.session(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        );
        found
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(|id| Element(id.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first element matching `css`, waiting up to `within` for it to appear.
    pub(crate) fn wait_for(&self, css: &str, within: Duration) -> Element {
        let deadline = Instant::now() + within;
        loop {
            if let Some(e) = self.find_all(css).into_iter().next() {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "no `{css}` on {} within {within:?}:\n{}",
                self.url(),
                self.source()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The first element matching `css` now.
    pub(crate) fn find(&self, css: &str) -> Element {
        self.wait_for(css, Duration::from_secs(5))
    }

    pub(crate) fn click(&self, e: &Element) {
        self.session("POST", &format!("/element/{}/click", e.0), Some(json!({})));
    }

    /// Empties a field, then types `text` into it.
    pub(crate) fn fill(&self, e: &Element, text: &str) {
        self.session("POST", &format!("/element/{}/clear", e.0), Some(json!({})));
        if !text.is_empty() {
            self.session(
                "POST",
                &format!("/element/{}/value", e.0),
                Some(json!({ "text": text })),
            );
        }
    }

    /// An element's rendered text.
    pub(crate) fn text(&self, e: &Element) -> String {
        self.session("GET", &format!("/element/{}/text", e.0), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Saves a PNG of the window to `path`.
    pub(crate) fn screenshot(&self, path: &Path) {
        let data = self.session("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap_or_default())
            .expect("a base64 screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("the screenshot directory");
        }
        std::fs::write(path, png).expect("the screenshot is written");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.base.is_empty() {
            let _ = self.agent.delete(&self.base).call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Where screenshots go: `CERTNET_SCREENSHOT_DIR`, else the target directory.
pub(crate) fn screenshot_dir() -> PathBuf {
    std::env::var_os("CERTNET_SCREENSHOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("certnet-console-screenshots"))
}
