//! `aisec runs avid` against AVID's own data model: the reports it writes for an evasion run
//! (with its defended and adaptive runs) and a scan are read by avidtools' `Report` model
//! (pydantic, installed from PyPI into a venv cached outside the repository), every field
//! known to it and every enumerated value (SEP view, lifecycle, classes) one it accepts.
//! Without Python it says it was skipped; under `CI=true` that is a failure.

mod common;

use common::{aisec_line, fails_with, train};

const AVIDTOOLS: &str = "avidtools==0.1.2";

/// Reads every line with avidtools and prints, per line, the fields it does not know.
const CHECK: &str = r#"
import json, sys, warnings
warnings.filterwarnings("ignore")
from avidtools.datamodels.report import Report
known = set(Report.model_fields)
for n, line in enumerate(open(sys.argv[1]), 1):
    data = json.loads(line)
    Report.model_validate(data)
    unknown = sorted(set(data) - known)
    if unknown:
        sys.exit(f"line {n}: fields avidtools does not know: {unknown}")
print("ok", n)
"#;

#[test]
fn findings_export_as_reports_avidtools_reads() {
    let venv = match common::cached_venv("avidtools-0.1.2", &[AVIDTOOLS]) {
        Ok(v) => v,
        Err(why) => {
            assert!(!common::in_ci(), "AVID tier under CI=true: {why}");
            eprintln!("skipped the AVID test: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let model = train(dir.path(), "logreg", "digits");
    let attack = aisec_line(&format!(
        "--format json attack evasion --model {model} --dataset digits --attack fgsm --eps 0.1 --limit 20 --defend smooth"
    ));
    assert!(attack.status.success(), "{}", common::stderr(&attack));
    let run = dir.path().join("run.json");
    std::fs::write(&run, &attack.stdout).unwrap();
    let pickle = dir.path().join("evil.pkl");
    std::fs::write(
        &pickle,
        b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.",
    )
    .unwrap();
    let scan = aisec_line(&format!("--format json scan {}", pickle.display()));
    assert_eq!(scan.status.code(), Some(1), "{}", common::stderr(&scan));
    let scan_run = dir.path().join("scan.json");
    std::fs::write(&scan_run, &scan.stdout).unwrap();

    for (file, at_least, sep) in [
        (&run, 3, "S0403: Adversarial Example"),
        (&scan_run, 1, "S0202: Software Compromise"),
    ] {
        let out = dir.path().join("avid.jsonl");
        let o = aisec_line(&format!(
            "runs avid {} --out {}",
            file.display(),
            out.display()
        ));
        assert!(o.status.success(), "{}", common::stderr(&o));
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(
            lines.len() >= at_least,
            "{} reports from {}",
            lines.len(),
            file.display()
        );
        assert!(
            lines.iter().any(|r| r["impact"]["avid"]["sep_view"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v == sep)),
            "{sep} in {lines:?}"
        );
        for r in &lines {
            assert_eq!(r["data_type"], "AVID");
            assert!(!r["references"].as_array().unwrap().is_empty());
        }
        let checked = std::process::Command::new(venv.join("bin/python"))
            .args(["-c", CHECK])
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            checked.status.success(),
            "avidtools refused the reports: {}{}",
            String::from_utf8_lossy(&checked.stdout),
            String::from_utf8_lossy(&checked.stderr)
        );
    }
    fails_with(&aisec_line("runs avid /nonexistent/run.json"), "run.json");
    let not_a_run = dir.path().join("bad.json");
    std::fs::write(
        &not_a_run,
        r#"{"kind": "attack", "name": 5, "target": "t", "metrics": {}, "findings": []}"#,
    )
    .unwrap();
    fails_with(
        &aisec_line(&format!("runs avid {}", not_a_run.display())),
        "bad.json",
    );
}
