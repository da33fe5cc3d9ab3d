//! Architectural backdoors in ONNX graphs (AISEC-ONNX-003): trigger checks grafted onto real
//! exports with the onnx library (`crates/ml/tests/fixtures/onnx/trojan/make_trojans.py`) are
//! found, naming the comparisons; the input-value comparisons and selections that ordinary
//! exports contain (attention and padding masks, NaN guards, a clamp before the network, a
//! threshold on its output, the Loop of a Keras GRU, a super-resolution model's
//! clip(x + residual)) are not.

use std::path::{Path, PathBuf};

use aisec_scan::scanner::{scan_bytes, ScanOptions};
use aisec_scan::{FileReport, Verdict};

fn onnx_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ml/tests/fixtures/onnx")
}

fn scan(path: &Path) -> FileReport {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    scan_bytes(&path.display().to_string(), &data, &ScanOptions::default())
}

fn overrides(r: &FileReport) -> Vec<&str> {
    r.findings
        .iter()
        .filter(|f| f.rule == "AISEC-ONNX-003")
        .map(|f| f.message.as_str())
        .collect()
}

#[test]
fn grafted_trigger_checks_are_found_with_their_comparisons() {
    let dir = onnx_fixtures().join("trojan");
    for (name, keys) in [
        ("mnist_where.onnx", &["GreaterOrEqual #12"][..]),
        ("mnist_mask.onnx", &["Equal #12"][..]),
        ("digits_if.onnx", &["Less #16"][..]),
        ("resnet_and.onnx", &["Greater #55", "Less #56"][..]),
        ("mnist_soft.onnx", &["Clip #14"][..]),
    ] {
        let r = scan(&dir.join(name));
        assert_eq!(r.verdict, Verdict::Dangerous, "{name}: {:#?}", r.findings);
        let found = overrides(&r);
        assert_eq!(found.len(), 1, "{name}: {found:?}");
        for key in keys {
            assert!(
                found[0].contains(key),
                "{name}: {found:?} should name {key}"
            );
        }
        let finding = r
            .findings
            .iter()
            .find(|f| f.rule == "AISEC-ONNX-003")
            .unwrap();
        assert_eq!(finding.name, "onnx-input-triggered-override");
    }
}

/// Switches built without a comparison operator, or hidden in functions and bodies
/// (`trojan/evasions/`, made by a hostile trial): each still found.
#[test]
fn switches_built_to_evade_the_rule_are_found() {
    let dir = onnx_fixtures().join("trojan/evasions");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "onnx") {
            continue;
        }
        seen += 1;
        let r = scan(&path);
        assert_eq!(
            overrides(&r).len(),
            1,
            "{}: {:#?}",
            path.display(),
            r.findings
        );
        assert_eq!(r.verdict, Verdict::Dangerous, "{}", path.display());
    }
    assert_eq!(seen, 16);
}

#[test]
fn ordinary_comparisons_and_control_flow_are_not_backdoors() {
    let root = onnx_fixtures();
    let mut files = vec![
        root.join("trojan/mnist_benign.onnx"),
        root.join("trojan/benign/bert_tiny.onnx"),
        root.join("trojan/benign/gpt2_tiny.onnx"),
        root.join("trojan/benign/encoder_padmask.onnx"),
        root.join("trojan/benign/nan_guard.onnx"),
        root.join("trojan/benign/residual_clip.onnx"),
    ];
    for dir in [
        "torchvision",
        "keras",
        "recurrent",
        "mnist",
        ".",
        "trojan/benign/trial",
    ] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "onnx") {
                files.push(path);
            }
        }
    }
    assert!(files.len() >= 30, "{} files", files.len());
    for path in &files {
        let r = scan(path);
        assert!(
            overrides(&r).is_empty(),
            "{}: {:?}",
            path.display(),
            overrides(&r)
        );
    }
}
