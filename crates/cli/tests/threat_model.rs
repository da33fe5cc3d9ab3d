//! `aisec threat-model` and `aisec assess`: a hand-written profile checked technique by
//! technique against the rationale written here, profile errors that name the field, the
//! published schema, and the two examples assessed end to end (the digits API served by
//! `aisec model serve`, the support bot against the loopback LLM test double).

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{aisec, plan_of, stderr, stdout};

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
    // feasible in ATLAS, unlikely (3 − 1 − 1 = 1); the label-only attack tests it, and the
    // timing side channel (labels are enough to time).
    let membership = risk(&tm, "triage/membership");
    assert_eq!(membership["severity"]["score"], 5);
    assert_eq!(membership["likelihood"]["score"], 1);
    let tests: Vec<&str> = membership["tested_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tests, ["membership.label-only", "sidechannel.timing"]);
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

#[test]
fn names_lists_and_reasons_are_checked_and_quoted_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.yaml");
    for (yaml, mentions) in [
        ("name: t\nmodels:\n  - name: \"a/b\"\n    task: classification\n    outputs: labels\n    access: [public]\n", "models[0].name"),
        ("name: t\nmodels:\n  - name: m\n    task: classification\n    outputs: labels\n    access: [public, public]\n", "models[0].access: public is listed twice"),
        ("name: t\nobjectives: [integrity, integrity]\nmodels:\n  - name: m\n    task: classification\n    outputs: labels\n    access: [public]\n", "objectives: integrity is listed twice"),
    ] {
        std::fs::write(&path, yaml).unwrap();
        let o = aisec(&["threat-model", path.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{yaml}");
        assert!(stderr(&o).contains(mentions), "expected {mentions:?}: {}", stderr(&o));
    }
    // No training data given: the reason says so instead of quoting a value nobody wrote; a
    // regression model's risks are modelled but not planned with classifier attacks.
    let tm = threat_model_of(
        dir.path(),
        "name: t\nmodels:\n  - name: r\n    task: regression\n    outputs: values\n    access: [public]\n    endpoint: kserve+http://127.0.0.1:1/v2/models/r\n    supply_chain: [third-party-datasets]\n    data: {dataset: digits}\n",
    );
    let reasons = tm["not_applicable"].to_string();
    assert!(reasons.contains("training_data is not given"), "{reasons}");
    assert!(reasons.contains("supply_chain names none of"), "{reasons}");
    let profile = dir.path().join("profile.yaml");
    let plan = dir.path().join("plan.yaml");
    plan_of(&profile, &plan);
    let text = std::fs::read_to_string(&plan).unwrap();
    assert!(!text.contains("- evasion"), "{text}");
    assert!(text.contains("assume a classifier"), "{text}");
}

fn avid_fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/avid")
        .join(name)
        .display()
        .to_string()
}

fn threat_model_with(profile: &str, avid: &[&str]) -> serde_json::Value {
    let mut args = vec!["--format", "json", "threat-model", profile];
    for f in avid {
        args.extend(["--avid", f]);
    }
    let o = aisec(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn avid_records_are_prior_evidence_for_the_risks_they_document() {
    let dir = tempfile::tempdir().unwrap();
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/digits-api/profile.yaml");
    let profile = dir.path().join("profile.yaml");
    let text = std::fs::read_to_string(example).unwrap().replace(
        "  - name: digits\n",
        "  - name: digits\n    known_as: [digits-mlp]\n",
    );
    assert!(text.contains("known_as"));
    std::fs::write(&profile, text).unwrap();
    let profile = profile.to_str().unwrap();
    let (digits, mixed) = (avid_fixture("digits.json"), avid_fixture("mixed.jsonl"));
    let before = threat_model_with(profile, &[]);
    let after = threat_model_with(profile, &[&digits, &mixed]);

    // The 0.1 report names the model by its known_as name: membership goes up one step.
    let (b, a) = (
        risk(&before, "digits/membership"),
        risk(&after, "digits/membership"),
    );
    assert_eq!(a["prior"][0]["id"], "AVID-2099-R0101");
    assert_eq!(
        a["likelihood"]["score"].as_u64().unwrap(),
        b["likelihood"]["score"].as_u64().unwrap() + 1
    );
    assert_eq!(
        a["score"].as_u64().unwrap(),
        a["likelihood"]["score"].as_u64().unwrap() * a["severity"]["score"].as_u64().unwrap()
    );
    let why = a["likelihood"]["why"].to_string();
    assert!(why.contains("AVID-2099-R0101"), "{why}");
    // Evasion is cited; its likelihood was at the top already, and says so.
    let evasion = risk(&after, "digits/evasion");
    assert_eq!(evasion["prior"][0]["id"], "AVID-2099-V101");
    assert_eq!(
        evasion["likelihood"]["score"],
        risk(&before, "digits/evasion")["likelihood"]["score"]
    );
    // Risks no record documents are unchanged.
    assert!(risk(&after, "digits/extraction").get("prior").is_none());
    assert_eq!(
        risk(&after, "digits/extraction")["score"],
        risk(&before, "digits/extraction")["score"]
    );

    let records = after["prior_evidence"].as_array().unwrap();
    assert_eq!(records.len(), 5);
    // "raised" only where the likelihood moved; the name each record matched is kept.
    assert_eq!(records[0]["raised"], serde_json::json!([]));
    assert_eq!(
        records[0]["corroborates"],
        serde_json::json!(["digits/evasion"])
    );
    assert_eq!(
        records[1]["raised"],
        serde_json::json!(["digits/membership"])
    );
    assert_eq!(
        records[1]["matched_as"],
        serde_json::json!(["digits-mlp = digits-mlp"])
    );
    let unmatched: Vec<&str> = records
        .iter()
        .filter_map(|r| r["unmatched"].as_str())
        .collect();
    assert_eq!(unmatched.len(), 3, "{unmatched:?}");
    assert!(
        unmatched.iter().any(|u| u.contains("E0101")),
        "{unmatched:?}"
    );
    assert!(
        unmatched
            .iter()
            .any(|u| u.contains("A translation service")),
        "{unmatched:?}"
    );
    // The case study's techniques come from the knowledge base.
    let study = records
        .iter()
        .find(|r| r["id"] == "AVID-2099-V103")
        .unwrap();
    assert_eq!(study["case_studies"][0], "AML.CS0005");
    assert!(!study["techniques"].as_array().unwrap().is_empty());

    // An LLM application matches by the model it names (an organisation prefix aside).
    let bot = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/support-bot/profile.yaml");
    let tm = threat_model_with(bot.to_str().unwrap(), &[&mixed]);
    let injection = risk(&tm, "support bot/prompt-injection");
    assert_eq!(
        injection["prior"][0]["summary"],
        "Prompt injection probes succeed"
    );

    // The text and Markdown views name the records.
    let o = aisec(&[
        "threat-model",
        profile,
        "--avid",
        &digits,
        "--out",
        dir.path().join("out").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("prior evidence: AVID-2099-V101"),
        "{}",
        stdout(&o)
    );
    let md = std::fs::read_to_string(dir.path().join("out/threat-model.md")).unwrap();
    assert!(
        md.contains("## AVID records read") && md.contains("AVID-2099-R0102"),
        "{md}"
    );
}

#[test]
fn avid_files_that_are_not_avid_records_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let profile =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/digits-api/profile.yaml");
    let profile = profile.to_str().unwrap();
    let cve = dir.path().join("cve.json");
    std::fs::write(&cve, r#"{"data_type": "CVE", "id": "CVE-2099-1"}"#).unwrap();
    let broken = dir.path().join("broken.jsonl");
    std::fs::write(&broken, "{\"data_type\": \"AVID\"}\n{not json\n").unwrap();
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, "[]").unwrap();
    for (file, mentions) in [
        (cve.to_str().unwrap().to_string(), "not an AVID record"),
        (broken.to_str().unwrap().to_string(), "line 2"),
        (empty.to_str().unwrap().to_string(), "no records"),
        (
            dir.path()
                .join("missing.json")
                .to_str()
                .unwrap()
                .to_string(),
            "missing.json",
        ),
    ] {
        let o = aisec(&["threat-model", profile, "--avid", &file]);
        assert!(!o.status.success());
        let err = stderr(&o);
        assert!(err.contains(mentions) && err.contains("--avid"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}
