//! The `aisec` binary end to end: every ATLAS and case-study command, its exit codes, and
//! one clear line for bad input.

use std::path::Path;
use std::process::Command;

#[path = "../../atlas/tests/common/official.rs"]
mod official;
use official::official_atlas;

mod common;
use common::{
    aisec, aisec_line, fails_with as assert_clear_failure, json, json_of_any_exit, stderr, stdout,
};

#[test]
fn matrix_text_and_json() {
    let o = aisec(&["atlas", "matrix"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.starts_with("ATLAS 5.6.0 matrix: 16 tactics, 101 techniques, 69 sub-techniques"),
        "{text}"
    );
    assert!(text.lines().all(|l| l.chars().count() <= 120));
    let listed = stdout(&aisec(&["atlas", "matrix", "--subtechniques"]));
    assert!(listed.contains("  .000 Direct"), "{listed}");

    let o = aisec_line("--format json atlas matrix --maturity realized");
    let v = json(&o);
    assert_eq!(v["min_maturity"], "realized");
    assert_eq!(v["tactics"].as_array().unwrap().len(), 16);
    assert!(v["technique_count"].as_u64().unwrap() < 101);
}

#[test]
fn matrix_rejects_a_bad_maturity() {
    let o = aisec(&["atlas", "matrix", "--maturity", "proven"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("feasible, demonstrated or realized"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn show_and_unknown_ids() {
    let o = aisec(&["atlas", "show", "AML.T0015"]);
    assert!(o.status.success());
    let text = stdout(&o);
    assert!(
        text.contains("Evade AI Model")
            && text.contains("AML.M0003")
            && text.contains("ML Model Engineering"),
        "{text}"
    );
    let v = json(&aisec(&["atlas", "show", "AML.M0015", "--format", "json"]));
    assert_eq!(v["kind"], "mitigation");
    assert_eq!(v["name"], "Adversarial Input Detection");

    let o = aisec(&["atlas", "show", "AML.T0999"]);
    assert_clear_failure(&o, "unknown ATLAS ID `AML.T0999`");
    assert!(stderr(&o).contains("did you mean"), "{}", stderr(&o));
}

#[test]
fn search_is_typo_tolerant() {
    let o = aisec(&[
        "atlas",
        "search",
        "prompt",
        "injektion",
        "--max-results",
        "3",
    ]);
    assert!(o.status.success());
    assert!(
        stdout(&o).lines().next().unwrap().starts_with("AML.T0051 "),
        "{}",
        stdout(&o)
    );
    let v = json(&aisec(&["--format", "json", "atlas", "search", "backdor"]));
    assert_eq!(v["results"][0]["id"], "AML.T0043.004");
    assert_clear_failure(
        &aisec(&["atlas", "search", "x", "--max-results", "0"]),
        "--max-results",
    );
}

#[test]
fn full_data_adds_descriptions() {
    let Some(path) = official_atlas("full_data_adds_descriptions") else {
        return;
    };
    let path = path.to_str().unwrap();
    let o = aisec_line(&format!(
        "--atlas-data {} --format json atlas show AML.T0051",
        path
    ));
    let v = json(&o);
    assert!(v["description"].as_str().unwrap().len() > 100);
    assert!(v["mitigations"][0]["use"].is_string());
    // The environment variable works the same way.
    let o = Command::new(env!("CARGO_BIN_EXE_aisec"))
        .args(["atlas", "show", "AML.M0003", "--format", "json"])
        .env("AISEC_ATLAS_DATA", path)
        .output()
        .unwrap();
    assert!(json(&o)["description"].is_string());
}

#[test]
fn missing_or_broken_atlas_data_is_one_clear_line() {
    let o = aisec(&["--atlas-data", "/nonexistent/ATLAS.yaml", "atlas", "matrix"]);
    assert_clear_failure(&o, "/nonexistent/ATLAS.yaml");
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.yaml");
    std::fs::write(&empty, "").unwrap();
    assert_clear_failure(
        &aisec(&["--atlas-data", empty.to_str().unwrap(), "atlas", "matrix"]),
        "empty",
    );
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "id: ATLAS\nmatrices: [").unwrap();
    assert_clear_failure(
        &aisec(&["--atlas-data", bad.to_str().unwrap(), "atlas", "matrix"]),
        "bad.yaml",
    );
}

#[test]
fn mitigations_by_phase_and_category() {
    let o = aisec(&[
        "atlas",
        "mitigations",
        "--phase",
        "deployment",
        "--category",
        "Technical - ML",
    ]);
    assert!(o.status.success());
    assert!(
        stdout(&o)
            .starts_with("11 mitigations for phase \"Deployment\" and category \"Technical - ML\""),
        "{}",
        stdout(&o)
    );
    let v = json(&aisec_line(
        "atlas mitigations --category policy --format json",
    ));
    assert_eq!(v["mitigations"].as_array().unwrap().len(), 7);
    assert!(v["mitigations"][0]["techniques"].as_array().is_some());
    assert_clear_failure(
        &aisec(&["atlas", "mitigations", "--phase", "testing"]),
        "--phase `testing`",
    );
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

const CLEAN: &str = r#"{"id": "ATLAS", "name": "m", "version": "1", "matrices": [{"id": "ATLAS", "name": "m",
   "tactics": [{"id": "AML.TA0007", "object-type": "tactic", "name": "Defense Evasion", "description": "d",
                "created_date": "2022-01-24", "modified_date": "2025-04-09"}],
   "techniques": [{"id": "AML.T0015", "object-type": "technique", "name": "Evade", "description": "d",
                   "tactics": ["AML.TA0007"], "maturity": "realized",
                   "created_date": "2022-01-24", "modified_date": "2025-04-09"}]}]}"#;

#[test]
fn validate_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let clean = write(dir.path(), "clean.yaml", CLEAN);
    let o = aisec(&["atlas", "validate", &clean]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("0 errors, 0 warnings"));

    let dangling = write(
        dir.path(),
        "dangling.yaml",
        &CLEAN.replace(r#"["AML.TA0007"]"#, r#"["AML.TA0099"]"#),
    );
    let o = aisec(&["atlas", "validate", &dangling]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains(
            "error: AML.T0015: matrices[0].techniques[0].tactics[0]: `AML.TA0099` is not a tactic"
        ),
        "{}",
        stdout(&o)
    );
    let o = aisec(&["atlas", "validate", &dangling, "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v = json_of_any_exit(&o);
    assert_eq!(v["valid"], false);
    assert_eq!(v["errors"], 1);
    assert_eq!(v["problems"][0]["object"], "AML.T0015");

    let duplicate = write(
        dir.path(),
        "dup.yaml",
        &CLEAN.replace(
            r#""AML.TA0007", "object-type": "tactic""#,
            r#""AML.T0015", "object-type": "tactic""#,
        ),
    );
    let o = aisec(&["atlas", "validate", &duplicate]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("AML.T0015"), "{}", stdout(&o));

    let bad_enum = write(
        dir.path(),
        "enum.yaml",
        &CLEAN.replace("realized", "certain"),
    );
    let o = aisec(&["atlas", "validate", &bad_enum]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("maturity"));

    let invalid = write(dir.path(), "invalid.yaml", "id: ATLAS\n  name: [broken");
    assert_clear_failure(&aisec(&["atlas", "validate", &invalid]), "invalid.yaml");
    let empty = write(dir.path(), "empty.yaml", "");
    assert_clear_failure(&aisec(&["atlas", "validate", &empty]), "empty");
    assert_clear_failure(
        &aisec(&["atlas", "validate", "/nonexistent.yaml"]),
        "/nonexistent.yaml",
    );
}

#[test]
fn validate_the_official_file() {
    let Some(path) = official_atlas("validate_the_official_file") else {
        return;
    };
    let o = aisec(&["atlas", "validate", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "ATLAS 5.6.0 has known problems");
    assert!(stdout(&o).contains("3 errors, 9 warnings (checked 16 tactics, 170 techniques, 35 mitigations, 57 case studies)"), "{}", stdout(&o));
}

#[test]
fn exports_write_files() {
    let dir = tempfile::tempdir().unwrap();
    let layer = dir.path().join("layer.json");
    let o = aisec_line(&format!(
        "atlas export navigator --case-study AML.CS0000 --out {}",
        layer.to_str().unwrap()
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&layer).unwrap()).unwrap();
    assert_eq!(v["versions"]["layer"], "4.5");
    assert_eq!(
        v["name"],
        "Evasion of Deep Learning Detector for Malware C&C Traffic"
    );

    let v = json(&aisec_line(
        "atlas export navigator --techniques AML.T0051,AML.T0054",
    ));
    assert_eq!(
        v["techniques"].as_array().unwrap().len(),
        3,
        "AML.T0054 sits under two tactics"
    );
    let v = json(&aisec(&["atlas", "export", "navigator"]));
    assert_eq!(v["techniques"].as_array().unwrap().len(), 185);
    assert_clear_failure(
        &aisec_line("atlas export navigator --techniques AML.T0051,AML.T9999"),
        "AML.T9999",
    );
    assert_clear_failure(
        &aisec(&["atlas", "export", "navigator", "--case-study", "AML.CS9999"]),
        "AML.CS9999",
    );

    let bundle = dir.path().join("sub/atlas.stix.json");
    let o = aisec(&["atlas", "export", "stix", "--out", bundle.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&bundle).unwrap()).unwrap();
    assert_eq!(v["type"], "bundle");
    assert_eq!(
        v["objects"].as_array().unwrap().len(),
        16 + 170 + 35 + 57 + 69 + 244 + 1 + 1 + 1
    );
}

#[test]
fn embed_regenerates_the_facts() {
    let Some(path) = official_atlas("embed_regenerates_the_facts") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("facts.json");
    let o = aisec_line(&format!(
        "atlas embed {} --out {}",
        path.to_str().unwrap(),
        out.to_str().unwrap()
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(out).unwrap(),
        aisec_atlas::kb::EMBEDDED_FACTS
    );
}

#[test]
fn case_study_new_validate_and_export() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("study.yaml");
    let o = aisec(&[
        "casestudy",
        "new",
        "--name",
        "Evasion of a digits classifier",
        "--summary",
        "The red team evaded a digits CNN with PGD.",
        "--date",
        "2026-11",
        "--type",
        "exercise",
        "--step",
        "AML.T0040=Queried the prediction API",
        "--step",
        "T0043.000=Crafted adversarial digits with PGD",
        "--step",
        "defense-evasion/AML.T0015=Evaded the model",
        "--reference",
        "https://arxiv.org/abs/1706.06083",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains("incident-date-granularity: MONTH") && text.contains("tactic: AML.TA0001"),
        "{text}"
    );

    let o = aisec(&["casestudy", "validate", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));

    let o = aisec_line(&format!(
        "atlas export navigator --case-study {}",
        out.to_str().unwrap()
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        json(&o)["techniques"].as_array().unwrap().len(),
        4,
        "three steps plus the expanded parent of T0043.000"
    );

    // From a YAML draft: the tactic is inferred where the technique has only one.
    let draft = write(dir.path(), "draft.yaml", "name: Draft study\nsummary: s\ndate: '2025'\ntype: incident\nreporter: CERT\nprocedure:\n  - technique: LLM Prompt Injection\n    description: injected\n");
    let o = aisec(&["casestudy", "new", "--from", &draft]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("tactic: AML.TA0005"), "{}", stdout(&o));

    // An incident without a reporter cannot be written.
    let o = aisec_line(
        "casestudy new --name x --summary y --date 2024 --type incident --step AML.T0051=z",
    );
    assert_clear_failure(&o, "reporter");
}

#[test]
fn case_study_validate_reports_problems() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "study.yaml",
        "study:\n  name: n\n  summary: s\n  incident-date: 2024-03-05\n  incident-date-granularity: YEAR\n  case-study-type: incident\n  procedure:\n    - tactic: AML.TA0000\n      technique: AML.T0051\n      description: d\n    - tactic: AML.TA0005\n      technique: AML.T9999\n      description: d\nmeta: {}\n",
    );
    let o = aisec(&["casestudy", "validate", &file]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("study.reporter"), "{out}");
    assert!(
        out.contains("study.procedure[0].tactic: `AML.TA0000` is not a tactic of `AML.T0051`"),
        "{out}"
    );
    assert!(out.contains("study.procedure[1].technique"), "{out}");
    assert!(out.contains("more precise than granularity YEAR"), "{out}");

    let not_a_study = write(dir.path(), "other.yaml", "name: x\n");
    let o = aisec(&["casestudy", "validate", &not_a_study]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("study: missing required field"),
        "{}",
        stdout(&o)
    );
    assert_clear_failure(
        &aisec(&["casestudy", "validate", "/nonexistent/study.yaml"]),
        "/nonexistent/study.yaml",
    );
    assert_clear_failure(
        &aisec(&["atlas", "export", "navigator", "--case-study", &file]),
        "not a valid case study",
    );
}

#[test]
fn bad_flags_fail_with_usage() {
    let o = aisec(&["atlas", "matrix", "--width", "10"]);
    assert_eq!(o.status.code(), Some(2));
    let o = aisec(&["atlas", "frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("frobnicate"));
    let o = aisec(&["--format", "xml", "atlas", "matrix"]);
    assert_eq!(o.status.code(), Some(2));
}

/// `--device` (and `AISEC_DEVICE`) name what they expect; a default build says how to get the
/// LibTorch devices rather than falling back to the CPU silently.
#[test]
fn unknown_and_unbuilt_devices_are_named() {
    assert_clear_failure(
        &aisec(&["--device", "gpu", "atlas", "matrix"]),
        "unknown device `gpu`",
    );
    let o = Command::new(env!("CARGO_BIN_EXE_aisec"))
        .args(["atlas", "matrix"])
        .env("AISEC_DEVICE", "tpu")
        .output()
        .unwrap();
    assert_clear_failure(&o, "unknown device `tpu`");
    if !cfg!(feature = "libtorch") {
        assert_clear_failure(
            &aisec(&["--device", "cuda:0", "atlas", "matrix"]),
            "--features libtorch",
        );
    }
    assert!(aisec(&["--device", "cpu", "atlas", "matrix"])
        .status
        .success());
}

#[test]
fn atlas_diff_says_what_changed_and_exits_by_it() {
    let same = aisec(&["atlas", "diff", "embedded", "embedded"]);
    assert_eq!(same.status.code(), Some(0), "{}", stderr(&same));
    assert!(stdout(&same).contains("0 changes"), "{}", stdout(&same));
    let missing = aisec(&["atlas", "diff", "embedded", "/nonexistent/ATLAS.yaml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("/nonexistent/ATLAS.yaml"),
        "{}",
        stderr(&missing)
    );
}
