//! Running the aisec binary from the command-line tests.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

pub fn aisec(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aisec"))
        .args(args)
        .env_remove("AISEC_ATLAS_DATA")
        .env("CI", "true")
        .output()
        .expect("the aisec binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
}

pub fn fails_with(o: &Output, mentions: &str) {
    assert_eq!(
        o.status.code(),
        Some(2),
        "stdout {} stderr {}",
        stdout(o),
        stderr(o)
    );
    assert!(
        stderr(o).contains(mentions),
        "stderr should mention {mentions:?}: {}",
        stderr(o)
    );
    assert!(!stderr(o).contains("panicked"));
}

pub fn train(dir: &Path, arch: &str, dataset: &str) -> String {
    let out = dir.join(format!("{arch}-{dataset}"));
    let o = aisec(&[
        "model",
        "train",
        "--arch",
        arch,
        "--dataset",
        dataset,
        "--seed",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    out.to_str().unwrap().to_string()
}

/// A JSON number, or a failing test naming what was there instead: comparing `as_f64()`
/// options would let a missing figure pass (`None < Some(x)`).
pub fn num(v: &serde_json::Value) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("expected a number, found {v}"))
}

/// Runs the binary on one command line split at whitespace, as a user types it (no argument
/// of these tests contains a space).
pub fn aisec_line(line: &str) -> Output {
    aisec(&line.split_whitespace().collect::<Vec<_>>())
}
