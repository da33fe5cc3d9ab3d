//! `aisec serve` as a process: an assessment started from its page (only a plan from the
//! operator's `--plans` folder), its progress streamed as server-sent events, its report
//! served, and its steps' runs stored on the matrix.

mod common;

#[test]
fn an_assessment_started_from_the_page_streams_its_progress_and_stores_its_runs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("profile.yaml"),
        "name: hub model\nmodels:\n  - name: m\n    task: classification\n    artifact: model.pkl\n    outputs: labels\n    access: [internal]\n    supply_chain: [pretrained-from-hub]\nobjectives: [integrity]\n",
    )
    .unwrap();
    // Protocol 0: posix.system("echo hi") when loaded; scanned, never loaded.
    std::fs::write(
        dir.path().join("model.pkl"),
        b"cposix\nsystem\n(S'echo hi'\ntR.",
    )
    .unwrap();
    let plans = dir.path().join("plans");
    std::fs::create_dir(&plans).unwrap();
    let o = common::aisec(&[
        "threat-model",
        dir.path().join("profile.yaml").to_str().unwrap(),
        "--plan",
        plans.join("hub.yaml").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let db = dir.path().join("data/aisec.db");
    let (_server, url) = common::serve_web(&[
        "--store-db",
        db.to_str().unwrap(),
        "--plans",
        plans.to_str().unwrap(),
    ]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();

    let mut res = agent.get(&format!("{url}/assessments")).call().unwrap();
    let cookie = res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let csrf = cookie.split_once('=').unwrap().1.to_string();
    let page = res.body_mut().read_to_string().unwrap();
    assert!(page.contains("hub.yaml"), "the plan is offered: {page}");

    let start = |plan: &str| {
        agent
            .post(&format!("{url}/assessments"))
            .header("cookie", &cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .send(format!("plan={plan}&csrf={csrf}"))
            .unwrap()
    };
    // Only a plan the folder offers: a path is not a plan name.
    assert_eq!(start("..%2Fprofile.yaml").status().as_u16(), 404);
    assert_eq!(start("%2Fetc%2Fpasswd").status().as_u16(), 404);
    let res = start("hub.yaml");
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(res.headers()["location"], "/assessments/1");

    // The events stream ends with the outcome once the assessment has finished.
    let mut res = agent
        .get(&format!("{url}/api/assessments/1/events"))
        .call()
        .unwrap();
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let events = res.body_mut().read_to_string().unwrap();
    assert!(events.contains("event: line\ndata: [1/"), "{events}");
    assert!(
        events.contains("event: done\ndata: finished: a criterion failed"),
        "{events}"
    );

    let mut res = agent.get(&format!("{url}/assessments/1")).call().unwrap();
    let page = res.body_mut().read_to_string().unwrap();
    assert!(
        page.contains("<script src=\"/assets/progress.js\">"),
        "{page}"
    );
    assert!(
        page.contains("m-artifacts-scan"),
        "the log is on the page: {page}"
    );
    let server_dir = dir.path().display().to_string();
    assert!(
        !page.contains(&server_dir) && !events.contains(&server_dir),
        "the server's own paths are not shown: {page}"
    );
    let mut res = agent
        .get(&format!("{url}/assessments/1/report"))
        .call()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(!csp.contains("script"), "the report runs no script: {csp}");
    let report = res.body_mut().read_to_string().unwrap();
    assert!(report.contains("hub model"));
    assert!(
        !report.contains(&server_dir),
        "the report names no server path: {report}"
    );

    // The step's scan is stored, and its finding is on the matrix.
    let mut res = agent.get(&format!("{url}/api/matrix")).call().unwrap();
    let matrix: serde_json::Value = res.body_mut().read_json().unwrap();
    let cell = matrix["heat"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["technique"] == "AML.T0011.000")
        .cloned()
        .unwrap_or_default();
    assert_eq!(cell["worst_severity"], "critical", "{}", matrix["heat"]);
    assert_eq!(
        agent
            .get(&format!("{url}/assessments/9"))
            .call()
            .unwrap()
            .status()
            .as_u16(),
        404
    );
}

#[test]
fn a_store_that_cannot_take_the_run_costs_a_warning_not_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let pickle = dir.path().join("model.pkl");
    std::fs::write(&pickle, b"cposix\nsystem\n(S'echo hi'\ntR.").unwrap();
    // A database path under a file: it can never be created.
    let blocked = pickle.join("aisec.db");
    let o = common::aisec(&[
        "scan",
        pickle.to_str().unwrap(),
        "--store",
        "--store-db",
        blocked.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "the scan's own verdict: {}",
        common::stderr(&o)
    );
    assert!(
        common::stdout(&o).contains("dangerous"),
        "{}",
        common::stdout(&o)
    );
    assert!(
        common::stderr(&o).contains("warning: --store"),
        "{}",
        common::stderr(&o)
    );

    // A command with no run says so instead of passing in silence.
    let db = dir.path().join("db/aisec.db");
    let o = common::aisec(&[
        "atlas",
        "search",
        "evasion",
        "--store",
        "--store-db",
        db.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    assert!(
        common::stderr(&o).contains("produces no run object"),
        "{}",
        common::stderr(&o)
    );

    // Reading a database that does not exist is an error, not a new empty one.
    common::fails_with(
        &common::aisec(&["runs", "list", "--store-db", db.to_str().unwrap()]),
        "no run database",
    );
    assert!(!db.exists());

    // Text that could drive a terminal or a page (escape sequences, NUL) is refused when
    // stored, naming the field; nothing is stored.
    let hostile = dir.path().join("run.json");
    std::fs::write(
        &hostile,
        r#"{"kind": "scan", "name": "scan.x\u001b]0;title\u0007", "target": "t\u001b[2J\r\u0000", "metrics": {}, "findings": []}"#,
    )
    .unwrap();
    common::fails_with(
        &common::aisec(&[
            "runs",
            "add",
            hostile.to_str().unwrap(),
            "--store-db",
            db.to_str().unwrap(),
        ]),
        "field `name` must be text without control characters",
    );
    let o = common::aisec(&["runs", "list", "--store-db", db.to_str().unwrap()]);
    let text = common::stdout(&o);
    assert!(!text.contains("scan.x"), "{text:?}");
    common::fails_with(
        &common::aisec(&[
            "runs",
            "list",
            "--since",
            "2026-02-30",
            "--store-db",
            db.to_str().unwrap(),
        ]),
        "calendar date",
    );
}
