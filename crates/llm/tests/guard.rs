//! The guard on the labelled prompt-injection data in ../shared/llm-data (or $AISEC_LLM_DATA):
//! the shipped guard's figures on both validation splits, and retraining from the training
//! splits giving the shipped guard byte for byte. Without the data the tests say they were
//! skipped; under CI=true they fail.

use std::path::PathBuf;

use aisec_llm::guard::data::{self, Columns, Example};
use aisec_llm::guard::lexical::LexicalConfig;
use aisec_llm::guard::{report, Guard};

fn data_dir(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("AISEC_LLM_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/llm-data")
        });
    if dir.join("s-labs/validation.csv").is_file() {
        return Some(dir);
    }
    let why = format!(
        "no labelled prompt data at {} (set AISEC_LLM_DATA)",
        dir.display()
    );
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test} under CI=true: {why}"
    );
    eprintln!("skipped {test}: {why}");
    None
}

fn read(dir: &std::path::Path, file: &str, group: Option<&str>) -> Vec<Example> {
    let columns = Columns {
        group: group.map(str::to_string),
        ..Columns::default()
    };
    data::read(&dir.join(file), &columns).unwrap()
}

#[test]
fn the_shipped_guard_holds_its_figures_on_both_validation_splits() {
    let Some(dir) = data_dir("shipped guard figures") else {
        return;
    };
    let guard = Guard::shipped().unwrap();
    let slabs = read(&dir, "s-labs/validation.csv", None);
    let e = report::evaluate(&guard, "s-labs", &slabs, &[]);
    let f = &e.figures;
    eprintln!("s-labs: {f:?} ci {:?} latency {:?}", e.f1_ci95, e.latency);
    assert_eq!(f.rows, 2101);
    // scikit-learn TF-IDF + LR (C=1, same features' spirit, same threshold rule) gets 0.9852
    // here (bench/llm_guard.sh); the shipped guard gets 0.9867.
    assert!(f.f1.unwrap() >= 0.985, "{f:?}");
    assert!(f.false_positive_rate.unwrap() <= 0.015, "{f:?}");
    assert!(f.auc.unwrap() >= 0.997, "{f:?}");

    let neural = read(
        &dir,
        "neuralchemy/core-validation.parquet",
        Some("category"),
    );
    let groups: Vec<String> = neural.iter().map(|r| r.group.clone().unwrap()).collect();
    let e = report::evaluate(&guard, "neuralchemy", &neural, &groups);
    let f = &e.figures;
    eprintln!("neuralchemy: {f:?} ci {:?}", e.f1_ci95);
    assert_eq!(f.rows, 941);
    assert!(f.f1.unwrap() >= 0.963, "{f:?}");
    assert!(f.false_positive_rate.unwrap() <= 0.05, "{f:?}");
    let (lo, hi) = e.f1_ci95.unwrap();
    assert!(
        lo < f.f1.unwrap() && f.f1.unwrap() < hi && hi - lo < 0.05,
        "{lo} {hi}"
    );
    let edge = e.groups.iter().find(|g| g.group == "edge_case").unwrap();
    assert_eq!(edge.positives, 0);
    assert!(edge.false_positive_rate.unwrap() <= 0.2, "{edge:?}");
    // The obfuscated categories are where normalising and decoding pay.
    for cat in ["encoding", "token_smuggling"] {
        let g = e.groups.iter().find(|g| g.group == cat).unwrap();
        assert_eq!(g.recall, Some(1.0), "{g:?}");
    }
}

#[test]
fn retraining_on_the_training_splits_reproduces_the_shipped_guard() {
    let Some(dir) = data_dir("guard retraining") else {
        return;
    };
    let load = |files: &[&str]| -> Vec<(String, Vec<Example>)> {
        files
            .iter()
            .map(|f| (f.to_string(), read(&dir, f, None)))
            .collect()
    };
    let training = load(&["s-labs/train.csv", "neuralchemy/core-train.parquet"]);
    let validation = load(&[
        "s-labs/validation.csv",
        "neuralchemy/core-validation.parquet",
    ]);
    assert_eq!(training[0].1.len(), 11089);
    assert_eq!(training[1].1.len(), 4391);
    let guard = Guard::train(&training, &validation, &LexicalConfig::default()).unwrap();
    let shipped = Guard::shipped().unwrap();
    assert_eq!(guard.meta.threshold, shipped.meta.threshold);
    assert!(
        guard.lexical.to_bytes() == shipped.lexical.to_bytes(),
        "retraining gave different weights: rerun scripts/train-default-guard.sh"
    );
    // The training set is fitted well but not perfectly: a regularised model.
    let scores: Vec<f64> = training[1]
        .1
        .iter()
        .map(|r| guard.check(&r.text).score)
        .collect();
    let labels: Vec<u8> = training[1].1.iter().map(|r| r.label).collect();
    let f = aisec_llm::guard::eval::figures(&scores, &labels, guard.meta.threshold);
    assert!(f.f1.unwrap() > 0.97, "{f:?}");
}
