//! `aisec threat-model` and `aisec assess`: a hand-written profile checked technique by
//! technique against the rationale written here, profile errors that name the field, the
//! published schema, and the two examples assessed end to end (the digits API served by
//! `aisec model serve`, the support bot against the loopback LLM test double).

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{aisec, json_of_any_exit, stderr, stdout};

const CLAIMS: &str = r#"
name: Claims triage
models:
  - name: triage
    task: classification
    artifact: triage.joblib
    outputs: labels
    access: [customers, insiders]
    training_data: {sources: [vendor, internal], retrained: periodically, sensitivity: special-category}
llm_apps:
  - name: adjuster assistant
    access: [internal]
    rag: internal-documents
    tools: [{name: lookup_claim}]
    renders_markdown: true
objectives: [confidentiality, integrity]
"#;

fn threat_model_of(dir: &Path, yaml: &str) -> serde_json::Value {
    let path = dir.join("profile.yaml");
    std::fs::write(&path, yaml).unwrap();
    let o = aisec(&["threat-model", path.to_str().unwrap(), "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn risk<'a>(tm: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    tm["risks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no risk {id} in {:#}", tm["risks"]))
}

fn ids(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_hand_written_profile_gets_the_techniques_its_fields_imply_and_no_others() {
    let dir = tempfile::tempdir().unwrap();
    let tm = threat_model_of(dir.path(), CLAIMS);

    // Customers query a labels-only API, insiders hold the weights: black-box label-only
    // evasion, and white-box evasion through full model access.
    let evasion = risk(&tm, "triage/evasion");
    assert_eq!(
        ids(&evasion["techniques"]),
        set(&[
            "AML.T0015",
            "AML.T0043",
            "AML.T0040",
            "AML.T0043.001",
            "AML.T0044",
            "AML.T0043.000"
        ])
    );
    assert_eq!(evasion["adversary"], "customer");
    let because = evasion["rationale"].to_string();
    assert!(
        because.contains("models[0].access includes customers"),
        "{because}"
    );
    assert!(
        because.contains("models[0].access includes insiders"),
        "{because}"
    );
    // Customers 3, labels only −1, AML.T0015 realized +1 → 3; advisory decisions → 3.
    assert_eq!(evasion["likelihood"]["score"], 3);
    assert_eq!(evasion["severity"]["score"], 3);
    assert_eq!(evasion["score"], 9);
    let tests: BTreeSet<String> = evasion["tested_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        tests.contains("evasion.hsj") && tests.contains("evasion.pgd"),
        "{tests:?}"
    );

    // Extraction by customers from labels: the replication techniques.
    assert_eq!(
        ids(&risk(&tm, "triage/extraction")["techniques"]),
        set(&[
            "AML.T0024.002",
            "AML.T0005.001",
            "AML.T0048.004",
            "AML.T0040"
        ])
    );
    // Special-category data: membership is severe (5) but, from labels only and only
    // feasible in ATLAS, unlikely (3 − 1 − 1 = 1); only the label-only attack tests it.
    let membership = risk(&tm, "triage/membership");
    assert_eq!(membership["severity"]["score"], 5);
    assert_eq!(membership["likelihood"]["score"], 1);
    let tests: Vec<&str> = membership["tested_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tests, ["membership.label-only"]);
    assert!(membership["rationale"]
        .to_string()
        .contains("sensitivity is special-category"));
    // Vendor data retrained periodically: poisoning and the data supply chain.
    let poisoning = risk(&tm, "triage/poisoning");
    assert_eq!(
        ids(&poisoning["techniques"]),
        set(&[
            "AML.T0020",
            "AML.T0018.000",
            "AML.T0043.004",
            "AML.T0059",
            "AML.T0010.002",
            "AML.T0019"
        ])
    );
    assert_eq!(poisoning["adversary"], "data-contributor");
    // A joblib file runs code when loaded.
    let artifacts = risk(&tm, "triage/artifacts");
    assert!(
        artifacts["rationale"]
            .to_string()
            .contains("\\\"triage.joblib\\\" is in a format that can run code"),
        "{}",
        artifacts["rationale"]
    );
    assert_eq!(artifacts["tested_by"][0]["name"], "scan");

    // The assistant: internal users, internal documents, a read-only tool, Markdown rendered.
    assert_eq!(
        ids(&risk(&tm, "adjuster assistant/prompt-injection")["techniques"]),
        set(&["AML.T0051.000", "AML.T0065"])
    );
    assert_eq!(
        ids(&risk(&tm, "adjuster assistant/data-leakage")["techniques"]),
        set(&["AML.T0057"])
    );
    assert_eq!(
        ids(&risk(&tm, "adjuster assistant/exfiltration")["techniques"]),
        set(&["AML.T0077"])
    );
    // Read-only: no data destruction through the tool.
    assert_eq!(
        ids(&risk(&tm, "adjuster assistant/tool-misuse")["techniques"]),
        set(&["AML.T0053", "AML.T0086"])
    );

    // Everything else is absent, each with its reason.
    let absent: BTreeSet<(String, String)> = tm["not_applicable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["component"].as_str().unwrap().to_string(),
                n["family"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String)> = [
        ("triage", "inversion"),
        ("triage", "denial"),
        ("adjuster assistant", "indirect-injection"),
        ("adjuster assistant", "prompt-leak"),
        ("adjuster assistant", "denial"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(absent, expected);
    let reason = |c: &str, f: &str| -> String {
        tm["not_applicable"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["component"] == c && n["family"] == f)
            .unwrap()["reason"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(reason("triage", "inversion").contains("outputs is labels"));
    assert!(reason("triage", "denial").contains("objectives does not list availability"));
    assert!(
        reason("adjuster assistant", "indirect-injection").contains("rag is internal-documents")
    );
    assert!(reason("adjuster assistant", "prompt-leak").contains("system_prompt_secrets is false"));

    // Every applicable technique is listed once with its rationale; none is also absent.
    let listed = ids(&tm["techniques"]);
    for t in tm["techniques"].as_array().unwrap() {
        assert!(!t["rationale"].as_array().unwrap().is_empty(), "{t}");
    }
    assert!(listed.contains("AML.T0044") && !listed.contains("AML.T0024.001"));
    // Mitigations come from ATLAS's links, grouped by lifecycle phase.
    let phases: Vec<&str> = evasion["mitigations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert!(phases.contains(&"Deployment"), "{phases:?}");
    assert!(evasion["mitigations"].to_string().contains("AML.M0015"));
}

#[test]
fn profile_errors_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.yaml");
    let cases: Vec<(String, &str)> = vec![
        (
            CLAIMS.replace("training_data:", "trainig_data:"),
            "trainig_data",
        ),
        (
            CLAIMS.replace("outputs: labels", "outputs: text"),
            "models[0].outputs",
        ),
        (
            CLAIMS.replace("task: classification", "task: clasification"),
            "clasification",
        ),
        (
            CLAIMS.replace("access: [customers, insiders]", "access: []"),
            "models[0].access",
        ),
        (
            CLAIMS.replace("name: adjuster assistant", "name: triage"),
            "llm_apps[0].name",
        ),
        (
            CLAIMS.replace(
                "    rag: internal-documents",
                "    endpoint: http://x/v1\n    rag: internal-documents",
            ),
            "llm_apps[0].endpoint",
        ),
        (
            "name: empty\n".to_string(),
            "no model and no LLM application",
        ),
        ("{".to_string(), "not a valid system profile"),
    ];
    for (yaml, mentions) in &cases {
        std::fs::write(&path, yaml).unwrap();
        let o = aisec(&["threat-model", path.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{yaml}");
        let err = stderr(&o);
        assert!(err.contains(mentions), "expected {mentions:?} in {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn the_published_schema_is_the_one_the_binary_checks() {
    let o = aisec(&["threat-model", "--schema"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let printed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/threat-model-profile.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        printed, committed,
        "regenerate docs/threat-model-profile.schema.json with `aisec threat-model --schema`"
    );
    for field in ["models", "llm_apps", "objectives", "impact"] {
        assert!(printed["properties"][field].is_object(), "{field}");
    }
}

#[test]
fn out_writes_markdown_json_and_a_navigator_layer_scored_by_risk() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile.yaml");
    std::fs::write(&profile, CLAIMS).unwrap();
    let out = dir.path().join("tm");
    let o = aisec(&[
        "threat-model",
        profile.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("triage/artifacts"));
    let md = std::fs::read_to_string(out.join("threat-model.md")).unwrap();
    assert!(
        md.contains("| **triage/evasion**") && md.contains("## Not applicable"),
        "{md}"
    );
    let layer: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("threat-model.layer.json")).unwrap(),
    )
    .unwrap();
    let scored: Vec<f64> = layer["techniques"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.get("score").map(|s| s.as_f64().unwrap()))
        .collect();
    assert!(
        !scored.is_empty() && scored.iter().all(|s| (1.0..=25.0).contains(s)),
        "{scored:?}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("threat-model.json")).unwrap())
            .unwrap();
    assert!(json["techniques"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["id"].is_string() && t["rationale"].is_array()));
}

/// Copies an example folder, rewriting `from` to `to` in its profile.
fn example(name: &str, dir: &Path, from: &str, to: &str) -> std::path::PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            std::fs::write(dir.join(entry.file_name()), text.replace(from, to)).unwrap();
        }
    }
    dir.join("profile.yaml")
}

fn plan_of(profile: &Path, plan: &Path) {
    let o = aisec(&[
        "threat-model",
        profile.to_str().unwrap(),
        "--plan",
        plan.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

fn assess(plan: &Path, out: &Path) -> (std::process::Output, serde_json::Value) {
    let o = aisec(&[
        "assess",
        plan.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let v = json_of_any_exit(&o);
    (o, v)
}

fn every_criterion_evaluated(report: &serde_json::Value) {
    for step in report["steps"].as_array().unwrap() {
        assert_ne!(step["status"], "error", "{}: {}", step["id"], step["error"]);
        let deployed: Vec<&serde_json::Value> = step["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["part"] == "deployed")
            .collect();
        assert_eq!(
            deployed.len(),
            step["criteria"].as_array().unwrap().len(),
            "{}",
            step["id"]
        );
        for c in deployed {
            assert!(
                c["value"].is_number() && c["passed"].is_boolean(),
                "{}: {c}",
                step["id"]
            );
        }
        for f in step["report"]["findings"].as_array().unwrap() {
            assert!(
                !f["atlas"].as_array().unwrap().is_empty(),
                "a finding without technique IDs: {f}"
            );
        }
    }
}

fn case_study_validates(out: &Path) {
    let o = aisec(&[
        "casestudy",
        "validate",
        out.join("case-study.yaml").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let text = std::fs::read_to_string(out.join("case-study.yaml")).unwrap();
    assert!(text.contains("case-study-type: exercise"), "{text}");
}

#[test]
fn the_digits_api_example_is_assessed_end_to_end_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    // The example's artifact (`model`, beside the profile) is the served model.
    let trained = common::train(dir.path(), "mlp", "digits");
    let served_model = dir.path().join("model");
    std::fs::rename(&trained, &served_model).unwrap();
    let server = common::serve(&[
        "--model",
        served_model.to_str().unwrap(),
        "--name",
        "digits",
    ]);
    let profile = example(
        "digits-api",
        dir.path(),
        "kserve+http://127.0.0.1:18181",
        server
            .url
            .trim_end_matches("/v2/models/digits")
            .trim_end_matches('/'),
    );
    let plan = dir.path().join("plan.yaml");
    plan_of(&profile, &plan);
    // The example's budgets cut down to test size; the plan is otherwise as written.
    let text = std::fs::read_to_string(&plan).unwrap();
    let text = text
        .replace("- --limit\n  - '50'", "- --limit\n  - '12'")
        .replace(
            "- --queries-per-input\n  - '500'",
            "- --queries-per-input\n  - '150'",
        )
        .replace(
            "- --total-queries\n  - '2000'",
            "- --total-queries\n  - '600'",
        );
    assert!(
        text.contains("'12'") && text.contains("'150'") && text.contains("'600'"),
        "{text}"
    );
    std::fs::write(&plan, text).unwrap();

    let out = dir.path().join("assessment");
    let (o, report) = assess(&plan, &out);
    let ids: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "digits-evasion-square",
            "digits-extraction-knockoff",
            "digits-membership-rmia"
        ]
    );
    every_criterion_evaluated(&report);
    // An undefended MLP answering probabilities to the public: the evasion and the copy
    // both break their criteria, and the report leads with the worst.
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        report["summary"]["headline"]
            .as_str()
            .unwrap()
            .starts_with("digits/evasion"),
        "{}",
        report["summary"]
    );
    let evasion = &report["steps"][0];
    assert!(
        evasion["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["part"] == "defended"),
        "measured behind the defence too"
    );
    assert!(
        evasion["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["part"] == "adaptive"),
        "and by the adaptive attack"
    );
    assert_eq!(report["untested"][0]["risk"], "digits/inversion");
    for file in [
        "assessment.json",
        "assessment.md",
        "assessment.html",
        "assessment.layer.json",
        "case-study.yaml",
    ] {
        assert!(out.join(file).is_file(), "{file}");
    }
    let md = std::fs::read_to_string(out.join("assessment.md")).unwrap();
    assert!(
        md.contains("## Risks") && md.contains("| attack_success_rate | as deployed |"),
        "{md}"
    );
    case_study_validates(&out);

    // Run again: every step is read back, nothing is rerun.
    let started = std::time::Instant::now();
    let (_, again) = assess(&plan, &out);
    assert!(again["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["resumed"] == true));
    assert_eq!(again["summary"]["headline"], report["summary"]["headline"]);
    assert!(started.elapsed().as_secs() < 20);
    drop(server);
}

#[test]
fn a_step_that_cannot_run_is_an_error_and_the_others_still_run() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile.yaml");
    std::fs::write(
        &profile,
        "name: two files\nmodels:\n  - name: m\n    task: classification\n    artifact: model.pkl\n    outputs: labels\n    access: [internal]\n    supply_chain: [pickled-artifacts]\nobjectives: [integrity]\n",
    )
    .unwrap();
    // A pickle that only builds a list: safe.
    std::fs::write(dir.path().join("model.pkl"), b"\x80\x02]q\x00.").unwrap();
    let plan = dir.path().join("plan.yaml");
    plan_of(&profile, &plan);
    let text = std::fs::read_to_string(&plan).unwrap();
    // A second step whose command is wrong.
    let broken = text.replace("steps:\n", "steps:\n- id: broken\n  risk: m/artifacts\n  techniques: [AML.T0011.000]\n  adversary: supplier\n  why: a typo\n  command: [attack, evasion, --eps, '-1']\n  criteria: [{metric: attack_success_rate, at_most: 0.1, meaning: none}]\n");
    std::fs::write(&plan, broken).unwrap();
    let out = dir.path().join("a");
    let (o, report) = assess(&plan, &out);
    assert_eq!(o.status.code(), Some(2), "a step that could not run");
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps[0]["status"], "error");
    assert!(
        steps[0]["error"].as_str().unwrap().contains("error:"),
        "{}",
        steps[0]
    );
    assert_eq!(steps[1]["id"], "m-artifacts-scan");
    assert_eq!(steps[1]["status"], "passed", "{}", steps[1]);
}

#[test]
fn the_support_bot_example_is_assessed_against_a_chat_api() {
    let double = aisec_llm::test_double::start(aisec_llm::test_double::Behaviour {
        leaks: true,
        follows_injections: true,
        tool_calls: true,
        ..Default::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let base = double
        .base_url
        .trim_end_matches('/')
        .trim_end_matches("/v1");
    let profile = example("support-bot", dir.path(), "http://127.0.0.1:18080", base);
    let plan = dir.path().join("plan.yaml");
    plan_of(&profile, &plan);
    let text = std::fs::read_to_string(&plan).unwrap();
    assert!(
        text.contains("--system-prompt\n  - system-prompt.txt"),
        "{text}"
    );
    let out = dir.path().join("a");
    let (o, report) = assess(&plan, &out);
    let errors: Vec<String> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["error"].as_str().map(String::from))
        .collect();
    assert_ne!(o.status.code(), Some(2), "{errors:?}");
    every_criterion_evaluated(&report);
    // The double leaks its prompt and follows injections: those criteria fail as deployed.
    let status = |id: &str| {
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap()["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(status("support-bot-prompt-leak-probe"), "failed");
    assert_eq!(status("support-bot-prompt-injection-probe"), "failed");
    case_study_validates(&out);
}

#[test]
fn a_dangerous_artifact_fails_its_step_and_the_sarif_points_at_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile.yaml");
    std::fs::write(
        &profile,
        "name: hub model\nmodels:\n  - name: m\n    task: classification\n    artifact: model.pkl\n    outputs: labels\n    access: [internal]\n    supply_chain: [pretrained-from-hub]\nobjectives: [integrity]\n",
    )
    .unwrap();
    // Protocol 0: posix.system("echo hi") when loaded.
    std::fs::write(
        dir.path().join("model.pkl"),
        b"cposix\nsystem\n(S'echo hi'\ntR.",
    )
    .unwrap();
    let plan = dir.path().join("plan.yaml");
    plan_of(&profile, &plan);
    let out = dir.path().join("a");
    let (o, report) = assess(&plan, &out);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(report["steps"][0]["status"], "failed");
    assert_eq!(report["steps"][0]["checks"][0]["value"], 1.0);
    let sarif: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("assessment.sarif")).unwrap())
            .unwrap();
    let result = &sarif["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "AISEC-PKL-001");
    assert_eq!(result["level"], "error");
    assert!(
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("model.pkl"),
        "{result}"
    );
    assert!(result["properties"]["atlas"]
        .to_string()
        .contains("AML.T0011.000"));
}

#[test]
fn assess_refuses_plans_that_never_end_and_stops_a_step_past_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile.yaml");
    std::fs::write(
        &profile,
        "name: t\nmodels:\n  - name: m\n    task: classification\n    artifact: model.pkl\n    outputs: labels\n    access: [internal]\n    supply_chain: [pickled-artifacts]\nobjectives: [integrity]\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("model.pkl"), b"\x80\x02]q\x00.").unwrap();
    let plan = dir.path().join("plan.yaml");
    plan_of(&profile, &plan);
    let p = plan.to_str().unwrap();
    let out = dir.path().join("a");
    let o = out.to_str().unwrap();
    for bad in ["0", "-1", "NaN", "inf", "1e30"] {
        let r = aisec(&["assess", p, "--out", o, "--step-timeout", bad]);
        assert_eq!(r.status.code(), Some(2), "--step-timeout {bad}");
        assert!(stderr(&r).contains("--step-timeout"), "{}", stderr(&r));
    }
    let text = std::fs::read_to_string(&plan).unwrap();
    for (command, why) in [
        ("[assess, plan.yaml, --out, x]", "aisec assess"),
        ("[model, serve, --model, m]", "aisec model serve"),
        ("[llm, guard, serve]", "aisec llm guard"),
    ] {
        let looped = text.replace(
            "steps:\n",
            &format!("steps:\n- id: again\n  risk: m/artifacts\n  techniques: []\n  adversary: x\n  why: x\n  command: {command}\n  criteria: []\n"),
        );
        std::fs::write(&plan, looped).unwrap();
        let r = aisec(&["assess", p, "--out", o]);
        assert_eq!(r.status.code(), Some(2));
        assert!(
            stderr(&r).contains("steps[0].command") && stderr(&r).contains(why),
            "{}",
            stderr(&r)
        );
    }
    // A step slower than the timeout is stopped, recorded, and the next step still runs.
    let slow = text.replace(
        "steps:\n",
        "steps:\n- id: slow\n  risk: m/artifacts\n  techniques: []\n  adversary: x\n  why: x\n  command: [attack, membership, --attack, lira, --dataset, purchase-synthetic]\n  criteria: [{metric: auc, at_most: 0.6, meaning: x}]\n",
    );
    std::fs::write(&plan, slow).unwrap();
    let started = std::time::Instant::now();
    let (r, report) = {
        let r = aisec(&[
            "assess",
            p,
            "--out",
            o,
            "--step-timeout",
            "0.5",
            "--format",
            "json",
        ]);
        let v = json_of_any_exit(&r);
        (r, v)
    };
    assert_eq!(r.status.code(), Some(2));
    assert!(
        started.elapsed().as_secs() < 15,
        "the slow step was not stopped"
    );
    assert_eq!(report["steps"][0]["status"], "error");
    assert!(
        report["steps"][0]["error"]
            .as_str()
            .unwrap()
            .contains("--step-timeout"),
        "{}",
        report["steps"][0]
    );
    assert_eq!(report["steps"][1]["status"], "passed");
}
