//! `aisec serve` in a real browser (Debian's chromium, driven through chromium-driver over
//! the W3C WebDriver protocol): the matrix with stored runs on it, expanding a technique,
//! searching with a typo, opening a stored run, a hostile target name rendering inert, and a
//! screenshot of the heat map written to `target/browser/matrix.png`.
//!
//! Needs `chromium` and `chromedriver` on PATH (`.ci/run` installs them with apt); without
//! them the test says it was skipped, and under CI=true it fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

use common::free_port;

/// A WebDriver session: just the commands these tests use.
struct Browser {
    base: String,
    agent: ureq::Agent,
}

impl Browser {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let mut res = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, Some(b)) => self.agent.post(&url).send_json(b),
            (_, None) => self.agent.post(&url).send_json(json!({})),
        }
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let v: Value = res.body_mut().read_json().unwrap_or(Value::Null);
        v["value"].clone()
    }

    fn go(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    fn find(&self, css: &str) -> Option<String> {
        let v = self.call(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        );
        v.as_array()?
            .first()?
            .as_object()?
            .values()
            .next()?
            .as_str()
            .map(str::to_string)
    }

    /// The first element `css` selects, waiting up to ten seconds for it: a click or a form
    /// sent returns before the next page has loaded.
    fn element(&self, css: &str) -> String {
        let started = Instant::now();
        loop {
            if let Some(e) = self.find(css) {
                return e;
            }
            if started.elapsed() > Duration::from_secs(10) {
                panic!("no element {css} on {}", self.source());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn attribute(&self, element: &str, name: &str) -> String {
        self.call("GET", &format!("/element/{element}/attribute/{name}"), None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    fn text(&self, element: &str) -> String {
        self.call("GET", &format!("/element/{element}/text"), None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    fn displayed(&self, element: &str) -> bool {
        self.call("GET", &format!("/element/{element}/displayed"), None) == json!(true)
    }

    fn click(&self, element: &str) {
        self.call("POST", &format!("/element/{element}/click"), None);
    }

    fn type_into(&self, element: &str, text: &str) {
        self.call(
            "POST",
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        );
    }

    fn source(&self) -> String {
        self.call("GET", "/source", None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// The page's source once `ready` holds of it (a click's navigation may still be under
    /// way when the click returns), or as it is after ten seconds.
    fn source_once(&self, ready: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let page = self.source();
            if ready(&page) || started.elapsed() > Duration::from_secs(10) {
                return page;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn title(&self) -> String {
        self.call("GET", "/title", None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// The text of an open alert, if a script managed to raise one.
    fn alert(&self) -> Option<String> {
        let v = self.call("GET", "/alert/text", None);
        v.as_str().map(str::to_string)
    }

    fn screenshot(&self, path: &Path) {
        let b64 = self.call("GET", "/screenshot", None);
        let bytes = decode_base64(b64.as_str().expect("a screenshot"));
        assert!(bytes.starts_with(b"\x89PNG"), "a PNG");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

fn decode_base64(s: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let digits: Vec<u32> = s.bytes().filter_map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk.iter().fold(0u32, |acc, d| (acc << 6) | d) << (6 * (4 - chunk.len()));
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len().saturating_sub(1)]);
    }
    out
}

fn start_browser(downloads: &Path) -> Option<(common::Killed, Browser)> {
    let (Some(driver), Some(chromium)) = (
        on_path("chromedriver"),
        on_path("chromium").or_else(|| on_path("chromium-browser")),
    ) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: the browser tests need chromium and chromedriver (apt-get install chromium chromium-driver)"
        );
        eprintln!("skipped: chromium and chromedriver are not on PATH (apt-get install chromium chromium-driver)");
        return None;
    };
    let port = free_port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let driver = common::Killed(child);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let root = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while agent.get(&format!("{root}/status")).call().is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut res = agent
        .post(&format!("{root}/session"))
        .send_json(json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.to_str().unwrap(),
                // Root in a container has no sandbox to drop into; the pages are our own.
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1600,1000"],
                "prefs": {"download.default_directory": downloads.to_str().unwrap(), "download.prompt_for_download": false}
            }
        }}}))
        .unwrap();
    let v: Value = res.body_mut().read_json().unwrap();
    let session = v["value"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("no WebDriver session: {v}"))
        .to_string();
    Some((
        driver,
        Browser {
            base: format!("{root}/session/{session}"),
            agent,
        },
    ))
}

#[test]
fn the_web_ui_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let downloads = dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let Some((_driver, b)) = start_browser(&downloads) else {
        return;
    };
    let db = dir.path().join("aisec.db");
    let db_arg = db.to_str().unwrap();
    // Real runs, stored as a user stores them.
    let model = common::train(dir.path(), "logreg", "iris");
    let o = common::aisec(&[
        "attack",
        "evasion",
        "--model",
        &model,
        "--dataset",
        "iris",
        "--attack",
        "fgsm",
        "--eps",
        "0.5",
        "--store",
        "--store-db",
        db_arg,
    ]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let hostile = dir.path().join("hostile.json");
    let mut run: Value = serde_json::from_slice(
        &common::aisec(&[
            "attack",
            "evasion",
            "--model",
            &model,
            "--dataset",
            "iris",
            "--attack",
            "fgsm",
            "--eps",
            "0.5",
            "--format",
            "json",
        ])
        .stdout,
    )
    .unwrap();
    run["target"] = json!("<img src=x onerror=alert(1)><script>alert(2)</script>");
    std::fs::write(&hostile, run.to_string()).unwrap();
    let o = common::aisec(&[
        "runs",
        "add",
        hostile.to_str().unwrap(),
        "--store-db",
        db_arg,
    ]);
    assert!(o.status.success(), "{}", common::stderr(&o));

    let (_server, url) = common::serve_web(&["--store-db", db_arg]);

    // The matrix: the evasion technique the runs exercised is shaded.
    b.go(&format!("{url}/matrix"));
    assert!(b.title().contains("ATLAS matrix"), "{}", b.title());
    let cell = b.element("a[data-technique='AML.T0043.000']");
    assert!(
        b.attribute(&cell, "class").contains("heat-"),
        "{}",
        b.attribute(&cell, "class")
    );
    assert!(
        b.displayed(&cell),
        "a sub-technique with findings is in view"
    );
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../browser/matrix.png");
    b.screenshot(&shot);
    eprintln!("screenshot of the heat map: {}", shot.display());

    // Expanding a technique shows its sub-techniques.
    let sub = b.element("a[data-technique='AML.T0010.001']");
    assert!(!b.displayed(&sub), "closed until expanded");
    let parent =
        b.element("details:has(a[data-technique='AML.T0010.001']) > summary span.subcount");
    b.click(&parent);
    assert!(b.displayed(&sub), "expanded");

    // Search with a typo.
    let q = b.element("input[name=q]");
    b.type_into(&q, "membrship infrence\u{E007}");
    let first = b.element("ol.hits li a");
    assert!(b.text(&first).contains("Membership"), "{}", b.text(&first));

    // A stored run, and the hostile one rendering inert.
    b.go(&format!("{url}/runs"));
    let link = b.element("table.runs a");
    b.click(&link);
    assert!(b.title().starts_with("Run "), "{}", b.title());
    let finding = b.element("article.finding h3");
    assert!(!b.text(&finding).is_empty());
    for path in ["/runs", "/runs/2"] {
        b.go(&format!("{url}{path}"));
        assert_eq!(b.alert(), None, "{path}: a script ran");
        assert!(
            b.find("img[src=x]").is_none(),
            "{path}: the target became markup"
        );
        assert!(b.source().contains("&lt;img src=x"), "{path}");
    }

    // A case study through the form, downloaded, and accepted by `aisec casestudy validate`.
    b.go(&format!("{url}/casestudy/new"));
    for (name, value) in [
        ("name", "Scorer red team"),
        (
            "summary",
            "PGD against the scorer, then adversarial training.",
        ),
        ("date", "2026-12"),
        ("technique0", "AML.T0040"),
        ("description0", "queried the scoring API"),
        ("tactic1", "AML.TA0007"),
        ("technique1", "AML.T0015"),
        ("description1", "evaded the model"),
    ] {
        let e = b.element(&format!("[name='{name}']"));
        b.type_into(&e, value);
    }
    let download = b.element("button[value=yaml]");
    b.click(&download);
    let file = downloads.join("case-study.yaml");
    let started = Instant::now();
    while !file.is_file() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no download in {}: the page is {}",
            downloads.display(),
            b.source()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = common::aisec(&["casestudy", "validate", file.to_str().unwrap()]);
    assert!(
        o.status.success(),
        "{}{}",
        common::stdout(&o),
        common::stderr(&o)
    );

    // The downloaded file chosen with the import page's file input validates there too.
    b.go(&format!("{url}/casestudy/import"));
    let input = b.element("input[name=yaml_file]");
    b.type_into(&input, file.to_str().unwrap());
    let validate = b.element("button[value=preview]");
    b.click(&validate);
    let page = b.source_once(|p| p.contains("Scorer red team"));
    assert!(
        page.contains("Scorer red team") && !page.contains("class=\"error\""),
        "the imported file validates: {page}"
    );

    // A profile file chosen on the threat-model page gives its threat model, shown for editing.
    let profile = downloads.join("system.yaml");
    std::fs::write(
        &profile,
        "name: Browser-uploaded scorer\nmodels:\n  - name: scorer\n    task: classification\n    outputs: probabilities\n    access: [public]\nobjectives: [confidentiality]\n",
    )
    .unwrap();
    b.go(&format!("{url}/threat-model"));
    let input = b.element("input[name=profile_file]");
    b.type_into(&input, profile.to_str().unwrap());
    let build = b.element("button[value=view]");
    b.click(&build);
    let page = b.source_once(|p| p.contains("Browser-uploaded scorer"));
    assert!(
        page.contains("Browser-uploaded scorer") && page.contains("AML.T0040"),
        "the uploaded profile's threat model: {page}"
    );
}
