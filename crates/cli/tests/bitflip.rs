//! `aisec attack bitflip` on the digits CNN trained at two seeds: the bit search takes the
//! 8-bit model to a constant answer's accuracy with a few dozen flips of its 422,144 bits,
//! while ten times as many random flips leave it where it was (the shape of Rakin et al.'s
//! comparison); the group clamp makes the same search need more flips (the search knows the
//! clamp), and the per-layer digests detect the flipped layer.

use std::path::Path;

mod common;
use common::{aisec, json, num};

fn trained(dir: &Path, seed: &str) -> String {
    let out = dir.join(format!("cnn{seed}"));
    let o = aisec(&[
        "model",
        "train",
        "--arch",
        "cnn",
        "--dataset",
        "digits",
        "--seed",
        seed,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    out.display().to_string()
}

fn bitflip(model: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "--format",
        "json",
        "attack",
        "bitflip",
        "--model",
        model,
        "--dataset",
        "digits",
        "--random-trials",
        "3",
    ];
    args.extend(extra);
    json(&aisec(&args))
}

/// Accuracy after `n` committed flips.
fn after(report: &serde_json::Value, n: usize) -> f64 {
    let steps = report["observations"]["steps"].as_array().unwrap();
    if n == 0 {
        return num(&report["observations"]["quantized_accuracy"]);
    }
    num(&steps[(n - 1).min(steps.len() - 1)]["accuracy"])
}

#[test]
fn a_few_dozen_searched_flips_do_what_ten_times_as_many_random_ones_cannot() {
    let dir = tempfile::tempdir().unwrap();
    for seed in ["1", "2"] {
        let model = trained(dir.path(), seed);
        let report = bitflip(&model, &["--defend", "clamp"]);
        let o = &report["observations"];
        let clean = num(&o["quantized_accuracy"]);
        assert!(clean > 0.9, "seed {seed}: {o:#}");
        let flips = o["flips_to_constant_answer"]
            .as_u64()
            .unwrap_or_else(|| panic!("seed {seed}: {o:#}"));
        assert!((1..=60).contains(&flips), "seed {seed}: {flips} flips");
        assert!(
            num(&report["metrics"]["robust_accuracy"])
                <= num(&o["constant_answer_accuracy"]) + 0.02
        );
        // Random flips: as many, and ten times as many, barely move the model.
        for r in o["random"].as_array().unwrap() {
            assert!(
                num(&r["accuracy_mean"]) >= clean - 0.05,
                "seed {seed}: {r} after random flips"
            );
        }
        assert!(o["random"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["flips"].as_u64() == Some(10 * flips)));
        assert_eq!(report["findings"][0]["severity"], "high");
        // Behind the clamp the same number of searched flips leaves a usable model.
        let defended = &report["defended"];
        assert_eq!(report["defense"]["name"], "defense.weight-clamp");
        let n = flips as usize;
        assert!(
            after(defended, n) >= after(&report, n) + 0.05,
            "seed {seed}: {} undefended, {} clamped after {n} flips",
            after(&report, n),
            after(defended, n)
        );
    }
}

#[test]
fn the_layer_digests_detect_the_flips() {
    let dir = tempfile::tempdir().unwrap();
    let model = trained(dir.path(), "3");
    let report = bitflip(&model, &["--defend", "checksum", "--max-flips", "5"]);
    let v = &report["observations"]["integrity"]["verification"];
    assert_eq!(v["detected"], true, "{v:#}");
    let layers = v["tampered_layers"].as_array().unwrap();
    let flipped: Vec<&str> = report["observations"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["layer"].as_str().unwrap())
        .collect();
    assert_eq!(flipped.len(), 5);
    for l in &flipped {
        assert!(layers.iter().any(|t| t == l), "{l} not among {layers:?}");
    }
    assert_eq!(report["defense"]["name"], "defense.weight-integrity");
}

#[test]
fn bad_settings_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let model = trained(dir.path(), "1");
    for (extra, mentions) in [
        (&["--max-flips", "0"][..], "--max-flips 0"),
        (&["--batch", "0"][..], "--batch 0"),
        (&["--eval", "0"][..], "--eval 0"),
        (&["--candidates", "0"][..], "--candidates 0"),
        (&["--batch", "5000"][..], "--batch 5000"),
        (&["--eval", "1"][..], "fewer than 2 classes"),
        (&["--candidates", "101"][..], "--candidates 101"),
        (&["--defend", "clamp:0"][..], "clamp:0"),
        (&["--defend", "smooth:0.25"][..], "aisec attack evasion"),
    ] {
        let mut args = vec![
            "attack",
            "bitflip",
            "--model",
            &model,
            "--dataset",
            "digits",
        ];
        args.extend(extra);
        common::fails_with(&aisec(&args), mentions);
    }
    let onnx = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ml/tests/fixtures/onnx/digits-cnn.onnx")
        .display()
        .to_string();
    let o = aisec(&["attack", "bitflip", "--model", &onnx, "--dataset", "digits"]);
    common::fails_with(&o, "--model");
}
