//! The output formats as a user sees them, pinned: `attack list`, `defend list`, and a scan of
//! a real `torch.save` file as the shared JSON run object and as SARIF. A change to any of
//! them shows as a snapshot diff to review (`cargo insta review`, or `INSTA_UPDATE=always`).
//! Times and the tool version are redacted; the scanned file is named by a relative path.

use std::path::Path;
use std::process::Command;

fn aisec_in(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_aisec"))
        .args(args)
        .current_dir(dir)
        .env_remove("AISEC_ATLAS_DATA")
        .env_remove("RUST_LOG")
        .output()
        .expect("the aisec binary runs")
}

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scan/tests/fixtures/real")
}

fn text(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn attack_list() {
    let o = aisec_in(&fixtures(), &["attack", "list"]);
    assert!(o.status.success());
    insta::assert_snapshot!(text(&o));
}

#[test]
fn defend_list() {
    let o = aisec_in(&fixtures(), &["defend", "list"]);
    assert!(o.status.success());
    insta::assert_snapshot!(text(&o));
}

#[test]
fn scan_json_of_a_whole_module_checkpoint() {
    let o = aisec_in(
        &fixtures(),
        &["scan", "torch_whole_module.pt", "--format", "json"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    insta::assert_json_snapshot!(report, {
        ".metrics.wall_seconds" => "[seconds]",
        ".observations.files[].seconds" => "[seconds]",
    });
}

#[test]
fn scan_sarif_of_a_whole_module_checkpoint() {
    let o = aisec_in(
        &fixtures(),
        &["scan", "torch_whole_module.pt", "--format", "sarif"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let sarif: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    insta::assert_json_snapshot!(sarif, {
        ".runs[].tool.driver.semanticVersion" => "[version]",
    });
}
