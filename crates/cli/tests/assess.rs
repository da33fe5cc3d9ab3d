//! `aisec assess` end to end: the two examples (the digits API served by `aisec model serve`,
//! the support bot against the loopback LLM test double), resumption, steps that fail or run
//! too long, SARIF locations, and what a new user's trial of plans found.

mod common;

use std::path::Path;

use common::{aisec, json_of_any_exit, plan_of, stderr, stdout};

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

/// What a new user's trial found, each as it was tried: a resumed result on a changed file, a
/// plan written next to a relative profile from another folder, `--plan` onto the profile,
/// brackets nested a hundred thousand deep, a criterion no run reports, one no value can pass,
/// a step tied to no risk, and a labels-only API planned behind `--defend top1`.
#[test]
fn a_new_users_trial_of_plans_and_resumption() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("scan dir");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(
        sub.join("profile.yaml"),
        "name: t\nmodels:\n  - name: m\n    task: classification\n    artifact: model file.pkl\n    outputs: labels\n    access: [public]\n    supply_chain: [pickled-artifacts]\n    data: {dataset: digits}\nobjectives: [integrity, confidentiality]\n",
    )
    .unwrap();
    let artifact = sub.join("model file.pkl");
    std::fs::write(&artifact, b"\x80\x02]q\x00.").unwrap();
    // A relative profile, an absolute plan elsewhere.
    let plan = dir.path().join("elsewhere").join("plan.yaml");
    std::fs::create_dir(plan.parent().unwrap()).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_aisec"))
        .current_dir(&sub)
        .args([
            "threat-model",
            "profile.yaml",
            "--plan",
            plan.to_str().unwrap(),
        ])
        .env_remove("AISEC_ATLAS_DATA")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&plan).unwrap();
    assert!(text.contains("profile: ../scan dir/profile.yaml"), "{text}");
    // A labels-only API gets no output hardening (it already answers labels only).
    assert!(!text.contains("- top1"), "{text}");
    let out = dir.path().join("a");
    // A pickle is scanned, never loaded: the query attacks are listed as untested.
    assert!(text.contains("nothing aisec can query"), "{text}");
    let (o, report) = assess(&plan, &out);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let scan = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "m-artifacts-scan")
        .unwrap()
        .clone();
    assert_eq!(scan["status"], "passed");
    // The file changes: the earlier result no longer stands.
    std::fs::write(&artifact, b"cposix\nsystem\n(S'echo hi'\ntR.").unwrap();
    let (_, again) = assess(&plan, &out);
    let scan = again["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "m-artifacts-scan")
        .unwrap()
        .clone();
    assert_eq!(scan["status"], "failed", "{scan}");
    assert_eq!(scan["resumed"], false);

    // --plan onto the profile is refused, the profile untouched.
    let profile = sub.join("profile.yaml");
    let before = std::fs::read_to_string(&profile).unwrap();
    let o = aisec(&[
        "threat-model",
        profile.to_str().unwrap(),
        "--plan",
        profile.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("that is the profile"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&profile).unwrap(), before);

    // Brackets nested 100,000 deep: refused at once, before the parser.
    let deep = dir.path().join("deep.yaml");
    std::fs::write(
        &deep,
        format!(
            "name: x\ndescription: {}{}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        ),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let o = aisec(&["threat-model", deep.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("nested"), "{}", stderr(&o));
    assert!(started.elapsed().as_secs() < 5);

    // Criteria no run reports, criteria no value passes, a step tied to no risk.
    let scan_step = |risk: &str, criteria: &str| {
        text.replace(
            "steps:\n",
            &format!("steps:\n- id: extra\n  risk: {risk}\n  techniques: []\n  adversary: x\n  why: x\n  command: [scan, '../scan dir/model file.pkl']\n  criteria: {criteria}\n"),
        )
    };
    for (plan_text, mentions) in [
        (
            scan_step(
                "m/artifacts",
                "[{metric: dangerus, at_most: 0, meaning: x}]",
            ),
            "steps[0].criteria[0].metric",
        ),
        (
            scan_step(
                "m/artifacts",
                "[{metric: dangerous, at_most: 0, at_least: 5, meaning: x}]",
            ),
            "no value can pass",
        ),
        (scan_step("m/artifacts", "[]"), "steps[0].criteria: empty"),
        (
            scan_step(
                "zzz/nothing",
                "[{metric: dangerous, at_most: 0, meaning: x}]",
            ),
            "steps[0].risk",
        ),
    ] {
        std::fs::write(&plan, plan_text).unwrap();
        let o = aisec(&[
            "assess",
            plan.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(2));
        assert!(
            stderr(&o).contains(mentions),
            "expected {mentions:?}: {}",
            stderr(&o)
        );
    }
    // A shared metric the scan does not report: not measured, and the headline says so.
    std::fs::write(&artifact, b"\x80\x02]q\x00.").unwrap();
    std::fs::write(
        &plan,
        scan_step(
            "m/artifacts",
            "[{metric: fidelity, at_most: 0.5, meaning: x}]",
        ),
    )
    .unwrap();
    let (_, report) = assess(&plan, &out);
    assert_eq!(report["steps"][0]["status"], "not-measured");
    assert!(
        report["summary"]["headline"]
            .as_str()
            .unwrap()
            .contains("could not be judged"),
        "{}",
        report["summary"]
    );
}
