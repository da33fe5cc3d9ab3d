//! The application in-process: requests as a browser or a script sends them, from this host
//! or from another address (the peer address is what the server would see).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use tower::ServiceExt;

use super::*;

pub(crate) struct App {
    _dir: tempfile::TempDir,
    state: Arc<AppState>,
}

pub(crate) const TOKEN: &str = "test-token-0123456789";

pub(crate) fn app() -> App {
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("aisec.db");
    aisec_store::Store::open(&store_path).unwrap();
    App {
        state: Arc::new(AppState {
            kb: Arc::new(KnowledgeBase::embedded().unwrap()),
            store_path,
            token_hash: auth::sha256(TOKEN),
            assessments: Assessments {
                plans: None,
                exe: None,
                out: dir.path().join("assessments"),
                jobs: std::sync::Mutex::new(Vec::new()),
            },
            sessions: auth::Sessions::default(),
        }),
        _dir: dir,
    }
}

impl App {
    pub(crate) fn store(&self, run: serde_json::Value) -> i64 {
        self.state.store().unwrap().add(&run).unwrap()
    }

    pub(crate) async fn send(
        &self,
        req: Request<Body>,
        from: [u8; 4],
    ) -> (StatusCode, axum::http::HeaderMap, String) {
        let mut req = req;
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((from, 40000))));
        // As a browser sends it: the name it asked for.
        if !req.headers().contains_key(header::HOST) {
            req.headers_mut()
                .insert(header::HOST, "127.0.0.1:8765".parse().unwrap());
        }
        let res = router(self.state.clone()).oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), 64 << 20)
            .await
            .unwrap();
        (
            status,
            headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    pub(crate) async fn get(&self, path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
        self.send(Request::get(path).body(Body::empty()).unwrap(), LOCAL)
            .await
    }
}

pub(crate) const LOCAL: [u8; 4] = [127, 0, 0, 1];
pub(crate) const ELSEWHERE: [u8; 4] = [10, 1, 2, 3];

fn evasion_run(target: &str, severity: &str) -> serde_json::Value {
    serde_json::json!({
        "kind": "attack", "name": "evasion.pgd", "atlas": ["AML.T0043.000"], "target": target,
        "config": {"eps": 0.1}, "seed": 1, "metrics": {"attack_success_rate": 0.9},
        "findings": [{"title": "PGD fools the model", "severity": severity,
            "atlas": ["AML.T0043.000", "AML.T0015"], "mitigations": [{"id": "AML.M0003", "phases": ["ML Model Engineering"]}], "evidence": {}}]
    })
}

pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn the_matrix_shows_stored_findings_on_their_techniques() {
    block_on(async {
        let app = app();
        let (status, headers, html) = app.get("/matrix").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            html.contains("AI Model Inference API Access"),
            "the matrix lists techniques"
        );
        assert!(
            !html.contains("heat-high\" href"),
            "no heat before a run is stored"
        );
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'")
                && csp.contains("script-src 'self';")
                && !csp.contains("unsafe"),
            "{csp}"
        );
        assert!(!html.contains("<script"), "no script on any page");

        app.store(evasion_run("digits CNN", "high"));
        let (_, _, html) = app.get("/matrix").await;
        let cell = html
            .split("data-technique=\"AML.T0043.000\"")
            .next()
            .and_then(|before| before.rsplit("<a ").next())
            .unwrap();
        assert!(cell.contains("heat-high"), "{cell}");
        // The parent is expanded because its sub-technique carries evidence.
        assert!(
            html.contains("<details class=\"cell\" open"),
            "sub-techniques with findings are in view"
        );

        let (_, _, page) = app.get("/objects/AML.T0043.000").await;
        assert!(
            page.contains("digits CNN") && page.contains("/runs/1"),
            "the technique page lists the run"
        );
        assert!(page.contains("Mitigations by lifecycle phase"));
    });
}

#[test]
fn user_text_renders_inert() {
    block_on(async {
        let app = app();
        let id = app.store(evasion_run(
            "<script>alert(1)</script><img src=x onerror=alert(2)>",
            "critical",
        ));
        for path in [
            "/runs".to_string(),
            format!("/runs/{id}"),
            "/objects/AML.T0015".into(),
        ] {
            let (status, _, html) = app.get(&path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert!(!html.contains("<script>alert"), "{path}");
            assert!(!html.contains("<img src=x"), "{path}");
            assert!(
                html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
                "{path}"
            );
        }
        let (_, _, html) = app.get("/search?q=%3Cscript%3Ealert(3)%3C/script%3E").await;
        assert!(!html.contains("<script>alert(3)"));
    });
}

#[test]
fn another_address_needs_the_token() {
    block_on(async {
        let app = app();
        for path in ["/matrix", "/api/runs", "/runs/1"] {
            let req = Request::get(path).body(Body::empty()).unwrap();
            let (status, _, body) = app.send(req, ELSEWHERE).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
            let req = Request::get(path)
                .header(header::AUTHORIZATION, "Bearer wrong")
                .body(Body::empty())
                .unwrap();
            assert_eq!(app.send(req, ELSEWHERE).await.0, StatusCode::UNAUTHORIZED);
        }
        let req = Request::get("/matrix")
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .unwrap();
        assert_eq!(app.send(req, ELSEWHERE).await.0, StatusCode::OK);
        let req = Request::get("/matrix")
            .header(header::AUTHORIZATION, format!("bearer {TOKEN}"))
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            app.send(req, ELSEWHERE).await.0,
            StatusCode::OK,
            "the scheme is case-insensitive"
        );
        // DNS rebinding: a page on another site whose name now points at 127.0.0.1 connects
        // from this host but names itself; without the token it gets nothing.
        for host in [
            "attacker.example:8765",
            "127.0.0.1.attacker.example",
            "localhost.evil:1",
        ] {
            let req = Request::get("/api/runs")
                .header(header::HOST, host)
                .body(Body::empty())
                .unwrap();
            assert_eq!(
                app.send(req, LOCAL).await.0,
                StatusCode::UNAUTHORIZED,
                "{host}"
            );
        }
        for host in ["localhost:8765", "127.0.0.1", "[::1]:8765", "LOCALHOST"] {
            let req = Request::get("/api/runs")
                .header(header::HOST, host)
                .body(Body::empty())
                .unwrap();
            assert_eq!(app.send(req, LOCAL).await.0, StatusCode::OK, "{host}");
        }
        // IPv4 on a dual-stack socket arrives as ::ffff:127.0.0.1: still this host.
        let mut req = Request::get("/api/runs").body(Body::empty()).unwrap();
        req.headers_mut()
            .insert(header::HOST, "127.0.0.1:8765".parse().unwrap());
        req.extensions_mut().insert(ConnectInfo(SocketAddr::new(
            std::net::Ipv4Addr::LOCALHOST.to_ipv6_mapped().into(),
            1,
        )));
        let res = router(app.state.clone()).oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        // Signing in (with the form's CSRF value) sets a cookie that then suffices.
        let (_, form_headers, form) = app
            .send(
                Request::get("/login").body(Body::empty()).unwrap(),
                ELSEWHERE,
            )
            .await;
        let csrf_cookie = form_headers[header::SET_COOKIE].to_str().unwrap();
        let csrf = csrf_cookie
            .split(';')
            .next()
            .unwrap()
            .split_once('=')
            .unwrap()
            .1;
        assert!(
            form.contains(&format!("value=\"{csrf}\"")),
            "the form carries it"
        );
        let login = |body: String, cookie: Option<String>| {
            let mut r = Request::post("/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            if let Some(c) = cookie {
                r = r.header(header::COOKIE, c);
            }
            r.body(Body::from(body)).unwrap()
        };
        let with_cookie = Some(format!("aisec_csrf={csrf}"));
        // Without the CSRF field, or with another value, the form is refused.
        let (status, _, _) = app
            .send(
                login(format!("token={TOKEN}"), with_cookie.clone()),
                ELSEWHERE,
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _, _) = app
            .send(
                login(format!("token={TOKEN}&csrf=other"), with_cookie.clone()),
                ELSEWHERE,
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _, _) = app
            .send(login(format!("token={TOKEN}&csrf={csrf}"), None), ELSEWHERE)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        // An opaque origin names no site: refused.
        let mut opaque = login(format!("token={TOKEN}&csrf={csrf}"), with_cookie.clone());
        opaque
            .headers_mut()
            .insert(header::ORIGIN, "null".parse().unwrap());
        assert_eq!(app.send(opaque, ELSEWHERE).await.0, StatusCode::FORBIDDEN);
        // Sent from another site's page, it is refused before anything is read.
        let mut cross = login(format!("token={TOKEN}&csrf={csrf}"), with_cookie.clone());
        cross
            .headers_mut()
            .insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        cross
            .headers_mut()
            .insert(header::HOST, "10.0.0.1:8765".parse().unwrap());
        assert_eq!(app.send(cross, ELSEWHERE).await.0, StatusCode::FORBIDDEN);
        let req = login(format!("token={TOKEN}&csrf={csrf}"), with_cookie.clone());
        let (status, headers, _) = app.send(req, ELSEWHERE).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let cookie = headers[header::SET_COOKIE].to_str().unwrap();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        let req = Request::get("/runs")
            .header(header::COOKIE, cookie.split(';').next().unwrap())
            .body(Body::empty())
            .unwrap();
        assert_eq!(app.send(req, ELSEWHERE).await.0, StatusCode::OK);
        let req = login(format!("token=guess&csrf={csrf}"), with_cookie);
        assert_eq!(app.send(req, ELSEWHERE).await.0, StatusCode::UNAUTHORIZED);
    });
}

#[test]
fn the_api_stores_lists_and_refuses_what_is_not_a_run() {
    block_on(async {
        let app = app();
        let post = |body: String| {
            Request::post("/api/runs")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body))
                .unwrap()
        };
        let (status, _, body) = app
            .send(post(evasion_run("api target", "low").to_string()), LOCAL)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, _, body) = app.send(post("{\"kind\": 3}".into()), LOCAL).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body.contains("`kind`"), "{body}");
        let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(MAX_BODY_BYTES + 1));
        let (status, _, _) = app.send(post(huge), LOCAL).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

        let (_, _, body) = app.get("/api/runs?technique=AML.T0043").await;
        let runs: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(runs[0]["target"], "api target");
        let (status, _, _) = app.get("/api/runs?since=yesterday").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (_, _, body) = app.get("/api/matrix").await;
        let m: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(m["tactics"].as_array().map(Vec::len), Some(16));
        assert_eq!(m["heat"][0]["worst_severity"], "low");
        let (_, _, body) = app.get("/api/search?q=evsion%20atack").await;
        let hits: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(
            hits.as_array().is_some_and(|h| !h.is_empty()),
            "typos still find: {hits}"
        );
        let (status, _, body) = app.get("/api/openapi.json").await;
        assert_eq!(status, StatusCode::OK);
        let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["paths"]["/api/runs"]["post"].is_object());
        let (status, _, _) = app.get("/api/objects/AML.T9999").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // A long id gets no near-miss search (its cost grows with the length).
        let long = "A".repeat(5000);
        let started = std::time::Instant::now();
        let (status, _, body) = app.get(&format!("/objects/{long}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("at most 64"), "{body}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        // Paging: limit and offset; a limit outside 1..=500 is refused.
        for _ in 0..3 {
            app.store(evasion_run("paged", "low"));
        }
        let (_, _, body) = app.get("/api/runs?target=paged&limit=2&offset=1").await;
        let page: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(page.as_array().map(Vec::len), Some(2));
        let (status, _, _) = app.get("/api/runs?limit=0").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _, _) = app.get("/api/runs?since=2026-02-30").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _, _) = app.get(&format!("/runs?offset={}", usize::MAX)).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "an offset past every run is an empty page"
        );
        let (_, _, html) = app.get("/runs?target=paged&limit=2").await;
        assert!(
            html.contains("Older runs") && html.contains("offset=2"),
            "{html}"
        );
        let (status, _, _) = app.get("/../../etc/passwd").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    });
}

fn form_post(path: &str, body: &str, csrf_cookie: Option<&str>) -> Request<Body> {
    let mut r =
        Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(c) = csrf_cookie {
        r = r.header(header::COOKIE, format!("aisec_csrf={c}"));
    }
    r.body(Body::from(body.to_string())).unwrap()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn the_case_study_builder_makes_files_the_validator_accepts() {
    block_on(async {
        let app = app();
        let (status, headers, html) = app.get("/casestudy/new").await;
        assert_eq!(status, StatusCode::OK);
        let set = headers[header::SET_COOKIE].to_str().unwrap();
        let csrf = set
            .split(';')
            .next()
            .unwrap()
            .split_once('=')
            .unwrap()
            .1
            .to_string();
        assert!(html.contains(&csrf), "the form carries the CSRF value");
        let fields = [
            ("name", "<script>alert(1)</script> red team of the scorer"),
            (
                "summary",
                "PGD against the scorer's API, then adversarial training.",
            ),
            ("date", "2026-12"),
            ("type", "exercise"),
            ("technique0", "AML.T0040"),
            ("description0", "queried the scoring API"),
            ("technique1", "AML.T0043.001"),
            ("description1", "crafted adversarial inputs"),
            ("tactic2", "AML.TA0007"),
            ("technique2", "AML.T0015"),
            ("description2", "evaded the model"),
            ("references", "https://atlas.mitre.org\n"),
        ];
        let body = |action: &str, csrf: &str| {
            let mut parts: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{k}={}", urlencode(v)))
                .collect();
            parts.push(format!("action={action}"));
            parts.push(format!("csrf={csrf}"));
            parts.join("&")
        };
        // Without the CSRF value, or with another, nothing is built.
        let (status, _, _) = app
            .send(
                form_post("/casestudy", &body("yaml", ""), Some(&csrf)),
                LOCAL,
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _, _) = app
            .send(form_post("/casestudy", &body("yaml", &csrf), None), LOCAL)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        // A browser that says the form came from another site is refused even with the value.
        let mut cross = form_post("/casestudy", &body("yaml", &csrf), Some(&csrf));
        cross
            .headers_mut()
            .insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert_eq!(app.send(cross, LOCAL).await.0, StatusCode::FORBIDDEN);

        let (status, headers, yaml) = app
            .send(
                form_post("/casestudy", &body("yaml", &csrf), Some(&csrf)),
                LOCAL,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{yaml}");
        assert!(headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("case-study.yaml"));
        assert!(
            yaml.contains("technique: AML.T0043.001") && yaml.contains("tactic: AML.TA0007"),
            "{yaml}"
        );
        // The same validator as `aisec casestudy validate` accepts it.
        let req = Request::post("/api/casestudies/validate")
            .body(Body::from(yaml.clone()))
            .unwrap();
        let (_, _, report) = app.send(req, LOCAL).await;
        let report: serde_json::Value = serde_json::from_str(&report).unwrap();
        assert_eq!(report["valid"], true, "{report}");

        let (status, _, page) = app
            .send(
                form_post("/casestudy", &body("preview", &csrf), Some(&csrf)),
                LOCAL,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert!(!page.contains("<script>alert(1)"), "the name renders inert");
        let (_, headers, layer) = app
            .send(
                form_post("/casestudy", &body("navigator", &csrf), Some(&csrf)),
                LOCAL,
            )
            .await;
        assert!(headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("layer"));
        let layer: serde_json::Value = serde_json::from_str(&layer).unwrap();
        let steps = layer["techniques"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["comment"].as_str().is_some_and(|c| c.starts_with("step")))
            .count();
        assert_eq!(steps, 3, "{layer}");

        // A technique that is not in ATLAS: the form comes back with the problem.
        let bad = body("preview", &csrf).replace("AML.T0040", "AML.T9999");
        let (status, _, page) = app
            .send(form_post("/casestudy", &bad, Some(&csrf)), LOCAL)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.contains("AML.T9999"), "the problem is named");

        // Import: the file back in, validated; a file that is not one, refused with why.
        let import = |yaml: &str, action: &str| {
            format!("yaml={}&action={action}&csrf={csrf}", urlencode(yaml))
        };
        let (status, _, page) = app
            .send(
                form_post("/casestudy/import", &import(&yaml, "preview"), Some(&csrf)),
                LOCAL,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("Valid: 3 procedure steps"));
        let broken = yaml.replace("AML.T0015", "AML.T0015.999");
        let (status, _, page) = app
            .send(
                form_post(
                    "/casestudy/import",
                    &import(&broken, "preview"),
                    Some(&csrf),
                ),
                LOCAL,
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.contains("AML.T0015.999"), "{page}");
        let big = "a: ".to_string() + &"x".repeat(casestudy::MAX_IMPORT_BYTES);
        let (status, _, page) = app
            .send(
                form_post("/casestudy/import", &import(&big, "preview"), Some(&csrf)),
                LOCAL,
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.contains("at most"), "size limit named");
        let (status, _, page) = app
            .send(
                form_post(
                    "/casestudy/import",
                    &import("!!binary AAAA: [", "preview"),
                    Some(&csrf),
                ),
                LOCAL,
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.contains("not valid YAML"), "{page}");
    });
}

#[test]
fn two_runs_of_a_target_compare_figure_by_figure() {
    block_on(async {
        let app = app();
        let a = app.store(evasion_run("scorer", "high"));
        let mut after = evasion_run("scorer", "low");
        after["metrics"]["attack_success_rate"] = serde_json::json!(0.2);
        let b = app.store(after);
        let (_, _, page) = app.get(&format!("/runs/{b}")).await;
        assert!(
            page.contains(&format!("/runs/compare?a={a}&amp;b={b}")),
            "the run page links the comparison"
        );
        let (status, _, page) = app.get(&format!("/runs/compare?a={a}&b={b}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            page.contains("attack_success_rate") && page.contains("<td class=\"num\">-0.7</td>"),
            "the change is stated"
        );
        assert!(!page.contains("different targets"));
        let (status, _, _) = app.get(&format!("/runs/compare?a={a}&b=999")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _, _) = app.get("/runs/compare?a=x&b=1").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _, _) = app.get(&format!("/runs/compare?a={a}&b={a}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "a run with itself");
    });
}

#[test]
fn a_pasted_profile_gives_the_threat_model_of_the_cli() {
    block_on(async {
        let app = app();
        let (status, headers, page) = app.get("/threat-model").await;
        assert_eq!(status, StatusCode::OK);
        let set = headers[header::SET_COOKIE].to_str().unwrap();
        let csrf = set
            .split(';')
            .next()
            .unwrap()
            .split_once('=')
            .unwrap()
            .1
            .to_string();
        assert!(
            page.contains("name: Loan scoring"),
            "an example to start from"
        );
        let profile = "name: <script>alert(1)</script> scoring\nmodels:\n  - name: scorer\n    task: classification\n    outputs: probabilities\n    access: [public]\nobjectives: [confidentiality, integrity]\n";
        let post = |text: &str, action: &str| {
            form_post(
                "/threat-model",
                &format!("profile={}&action={action}&csrf={csrf}", urlencode(text)),
                Some(&csrf),
            )
        };
        let (status, _, page) = app.send(post(profile, "view"), LOCAL).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(
            !page.contains("<script>alert(1)"),
            "the system's name renders inert"
        );
        assert!(
            page.contains("AML.T0040"),
            "inference API access applies to a public API"
        );
        assert!(page.contains("Not applicable"));
        // The JSON download is the CLI's threat model.
        let (_, _, json) = app.send(post(profile, "json"), LOCAL).await;
        let tm: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert!(tm["techniques"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["id"] == "AML.T0040")));
        // A profile with a problem names the field; brackets nested too deep are refused unparsed.
        let (status, _, page) = app
            .send(
                post(&profile.replace("classification", "astrology"), "view"),
                LOCAL,
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            page.contains("astrology") || page.contains("task"),
            "{page}"
        );
        let deep = format!(
            "name: x\nmodels: {}{}\n",
            "[".repeat(5000),
            "]".repeat(5000)
        );
        let (status, _, page) = app.send(post(&deep, "view"), LOCAL).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.contains("nested"), "{page}");
        // The API.
        let req = Request::post("/api/threat-model")
            .body(Body::from(profile))
            .unwrap();
        let (status, _, body) = app.send(req, LOCAL).await;
        assert_eq!(status, StatusCode::OK);
        let api: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(api["techniques"], tm["techniques"]);
        let (_, _, schema) = app.get("/api/threat-model/schema").await;
        assert!(schema.contains("\"$schema\"") || schema.contains("properties"));
    });
}

#[test]
fn one_assessment_runs_at_a_time() {
    block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let plans = dir.path().join("plans");
        std::fs::create_dir(&plans).unwrap();
        std::fs::write(plans.join("a.yaml"), "steps: []\n").unwrap();
        // Stands in for `aisec assess`: runs long enough to be running on the second try.
        let exe = dir.path().join("slow-assess");
        std::fs::write(&exe, "#!/bin/sh\nsleep 5\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let mut app = app();
        let state = Arc::get_mut(&mut app.state).unwrap();
        state.assessments.plans = Some(plans);
        state.assessments.exe = Some(exe);
        let csrf = "0123456789abcdef0123456789abcdef";
        let start = || {
            form_post(
                "/assessments",
                &format!("plan=a.yaml&csrf={csrf}"),
                Some(csrf),
            )
        };
        let (status, headers, _) = app.send(start(), LOCAL).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(headers[header::LOCATION], "/assessments/1");
        let (status, _, page) = app.send(start(), LOCAL).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert!(page.contains("#1 is still running"), "{page}");
        let (status, _, _) = app
            .send(
                form_post(
                    "/assessments",
                    &format!("plan=..%2Fa.yaml&csrf={csrf}"),
                    Some(csrf),
                ),
                LOCAL,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    });
}
