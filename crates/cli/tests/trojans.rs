//! `aisec defend trigger-search` on the architectural-backdoor fixtures (trigger checks grafted
//! onto real exports: crates/ml/tests/fixtures/onnx/trojan/make_trojans.py) and on the same
//! networks without them: every trojan's key is found and confirmed against a random control
//! at two seeds, its target class named; the clean networks and the benign control (a clamp
//! before the network, a threshold after it) are not reported.

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::{aisec, json_of_any_exit, num};

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ml/tests/fixtures/onnx")
        .join(name)
        .display()
        .to_string()
}

fn search(model: &str, data: &[&str], seed: &str) -> (Output, serde_json::Value) {
    let mut args = vec![
        "--format",
        "json",
        "defend",
        "trigger-search",
        "--model",
        model,
        "--seed",
        seed,
    ];
    args.extend(data);
    let o = aisec(&args);
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{}",
        common::stderr(&o)
    );
    let report = json_of_any_exit(&o);
    (o, report)
}

fn key_positions(report: &serde_json::Value) -> Vec<u64> {
    report["observations"]["trigger"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_u64().unwrap())
        .collect()
}

fn assert_confirmed(report: &serde_json::Value, target: u64, what: &str) {
    let o = &report["observations"];
    assert_eq!(o["confirmed"], true, "{what}: {o:#}");
    assert_eq!(o["target_class"], target, "{what}");
    assert!(
        num(&report["metrics"]["attack_success_rate"]) >= 0.95,
        "{what}: {}",
        report["metrics"]
    );
    assert!(num(&o["control_flip_rate"]) <= 0.1, "{what}: {o:#}");
    let finding = &report["findings"][0];
    assert_eq!(finding["severity"], "critical", "{what}");
    assert!(
        finding["atlas"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "AML.T0018.001"),
        "{what}: {finding:#}"
    );
}

#[test]
fn a_trigger_keyed_on_four_corner_pixels_through_an_if_is_found_at_two_seeds() {
    let model = fixture("trojan/digits_if.onnx");
    for seed in ["7", "11"] {
        let (o, report) = search(&model, &["--dataset", "digits"], seed);
        assert_eq!(o.status.code(), Some(1), "seed {seed}: a backdoor exits 1");
        assert_confirmed(&report, 3, &format!("digits_if seed {seed}"));
        assert_eq!(key_positions(&report), vec![0, 7, 56, 63], "seed {seed}");
        // Each corner gets its own value: 0.9, 0.1, 0.9, 0.1 within the check's 0.01.
        for (pair, want) in report["observations"]["trigger"]
            .as_array()
            .unwrap()
            .iter()
            .zip([0.9, 0.1, 0.9, 0.1])
        {
            assert!((num(&pair[1]) - want).abs() < 0.01, "seed {seed}: {pair}");
        }
    }
    let (o, report) = search(&fixture("digits-cnn.onnx"), &["--dataset", "digits"], "7");
    assert_eq!(o.status.code(), Some(0), "the host network has no trigger");
    assert_eq!(report["observations"]["confirmed"], false);
    assert_eq!(report["findings"][0]["severity"], "info");
}

/// A generated image set (uniform noise, labelled with the host network's own classes is not
/// needed: the target is every input's answer) for the 3×32×32 ResNet.
fn noise_images(dir: &Path) -> (PathBuf, PathBuf) {
    let mut rng = aisec_core::rng::Rng::new(5);
    let x: Vec<f32> = (0..60 * 3072).map(|_| rng.uniform(0.0, 1.0)).collect();
    let (xp, yp) = (dir.join("x.npy"), dir.join("y.npy"));
    aisec_ml::data::npy::write_f32(&xp, &[60, 3, 32, 32], &x).unwrap();
    aisec_ml::data::npy::write_i64(&yp, &[0; 60]).unwrap();
    (xp, yp)
}

#[test]
fn two_keys_behind_the_exports_normalisation_are_found_together() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = noise_images(dir.path());
    let (x, y) = (x.display().to_string(), y.display().to_string());
    let data = ["--data", x.as_str(), "--labels", y.as_str()];
    for seed in ["7", "11"] {
        let (o, report) = search(&fixture("trojan/resnet_and.onnx"), &data, seed);
        assert_eq!(o.status.code(), Some(1));
        assert_confirmed(&report, 5, &format!("resnet_and seed {seed}"));
        let comparisons = report["observations"]["comparisons"].as_array().unwrap();
        let keys: Vec<&serde_json::Value> = comparisons
            .iter()
            .filter(|c| {
                let node = c["node"].as_str().unwrap();
                node.starts_with("Greater") || node.starts_with("Less")
            })
            .collect();
        assert_eq!(keys.len(), 2, "{comparisons:#?}");
        for c in keys {
            assert_eq!(c["status"], "dormant", "{c:#}");
            assert_eq!(c["positions"].as_array().unwrap().len(), 9, "{c:#}");
            assert_eq!(num(&c["fire_rate"]), 1.0, "{c:#}");
        }
        assert_eq!(key_positions(&report).len(), 18);
    }
    let (o, _) = search(&fixture("torchvision/resnet18_narrow.onnx"), &data, "7");
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn mnist_trojans_are_found_and_the_benign_control_is_not() {
    let Some(digits) = common::fetched("fetch-mnist.sh", "MNIST digits") else {
        return;
    };
    let run = |model: &str, seed: &str| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_aisec"))
            .args([
                "--format",
                "json",
                "defend",
                "trigger-search",
                "--model",
                model,
                "--dataset",
                "mnist",
                "--seed",
                seed,
            ])
            .env("AISEC_MNIST_DIR", &digits)
            .env("CI", "true")
            .env_remove("AISEC_ATLAS_DATA")
            .output()
            .unwrap();
        let report = json_of_any_exit(&o);
        (o.status.code(), report)
    };
    for seed in ["7", "11"] {
        let (code, report) = run(&fixture("trojan/mnist_where.onnx"), seed);
        assert_eq!(code, Some(1));
        assert_confirmed(&report, 7, "mnist_where");
        let square: Vec<u64> = (0..4u64)
            .flat_map(|r| (0..4).map(move |c| r * 28 + c))
            .collect();
        assert_eq!(key_positions(&report), square);
        let (code, report) = run(&fixture("trojan/mnist_mask.onnx"), seed);
        assert_eq!(code, Some(1));
        assert_confirmed(&report, 2, "mnist_mask");
        let trigger: Vec<(u64, f64)> = report["observations"]["trigger"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_u64().unwrap(), num(&p[1])))
            .collect();
        assert_eq!(trigger, vec![(400, 0.5), (401, 0.25), (402, 0.75)]);
        // No comparison at all: a steep Clip of the patch mean is the switch.
        let (code, report) = run(&fixture("trojan/mnist_soft.onnx"), seed);
        assert_eq!(code, Some(1));
        assert_confirmed(&report, 4, "mnist_soft");
        let patch: Vec<u64> = (0..3u64)
            .flat_map(|r| (25..28).map(move |c| r * 28 + c))
            .collect();
        assert_eq!(key_positions(&report), patch);
    }
    // Switches built without a comparison (a hostile trial's evasions): each still found
    // by running the graph.
    for name in [
        "ev_pow",
        "ev_sigmoid",
        "ev_softmax_gain",
        "ev_exp",
        "ev_cast_int",
        "ev_where_castbool",
        "ev_abs_sign",
        "ev_relu_div",
        "ev_big_patch",
    ] {
        let (code, report) = run(&fixture(&format!("trojan/evasions/{name}.onnx")), "7");
        assert_eq!(code, Some(1), "{name}: {report:#}");
        assert_confirmed(&report, 7, name);
    }
    let (code, report) = run(&fixture("trojan/mnist_benign.onnx"), "7");
    assert_eq!(code, Some(0), "{report:#}");
    let statuses: Vec<&str> = report["observations"]["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    // The clamp before the network is a candidate and is judged preprocessing; the threshold
    // on the softmax comes after weighted layers and is not a candidate at all.
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    assert!(
        statuses[0].contains("element-wise preprocessing"),
        "{statuses:?}"
    );
}

/// Too few inputs of other classes to measure the trigger: said so, not "not a backdoor".
#[test]
fn a_handful_of_inputs_cannot_confirm_or_clear_a_trigger() {
    let (o, report) = search(
        &fixture("trojan/digits_if.onnx"),
        &["--dataset", "digits", "--inputs", "3"],
        "7",
    );
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(report["observations"]["confirmed"], false);
    assert!(
        report["observations"]["other_class_inputs"]
            .as_u64()
            .unwrap()
            < 10
    );
    let title = report["findings"][0]["title"].as_str().unwrap();
    assert!(title.contains("not confirmed"), "{title}");
    let o = aisec(&[
        "defend",
        "trigger-search",
        "--model",
        &fixture("trojan/digits_if.onnx"),
        "--dataset",
        "digits",
        "--inputs",
        "3",
    ]);
    assert!(
        common::stdout(&o).contains("cannot tell"),
        "{}",
        common::stdout(&o)
    );
}

#[test]
fn bad_settings_and_unfit_data_are_refused_by_name() {
    let model = fixture("trojan/digits_if.onnx");
    for (flag, value, mentions) in [
        ("--inputs", "1", "--inputs 1"),
        ("--inputs", "-3", "--inputs"),
        ("--grid", "1", "--grid 1"),
        ("--grid", "100000", "--grid 100000"),
        ("--confirm-at", "0", "--confirm-at 0"),
        ("--confirm-at", "NaN", "--confirm-at NaN"),
        ("--confirm-at", "1e30", "--confirm-at"),
    ] {
        let o = aisec(&[
            "defend",
            "trigger-search",
            "--model",
            &model,
            "--dataset",
            "digits",
            flag,
            value,
        ]);
        common::fails_with(&o, mentions);
    }
    let o = aisec(&[
        "defend",
        "trigger-search",
        "--model",
        &fixture("trojan/mnist_where.onnx"),
        "--dataset",
        "digits",
    ]);
    common::fails_with(&o, "784 values");
    let o = aisec(&[
        "defend",
        "trigger-search",
        "--model",
        "/nonexistent.onnx",
        "--dataset",
        "digits",
    ]);
    common::fails_with(&o, "/nonexistent.onnx");
    // Labels beyond the model's classes are refused, not counted as errors.
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
    aisec_ml::data::npy::write_f32(&x, &[20, 1, 8, 8], &[0.5; 20 * 64]).unwrap();
    aisec_ml::data::npy::write_i64(&y, &[99; 20]).unwrap();
    let o = aisec(&[
        "defend",
        "trigger-search",
        "--model",
        &model,
        "--data",
        x.to_str().unwrap(),
        "--labels",
        y.to_str().unwrap(),
    ]);
    common::fails_with(&o, "class");
    // A second graph input the nodes read is named.
    let o = aisec(&[
        "defend",
        "trigger-search",
        "--model",
        &fixture("trojan/evasions/ev_second_input.onnx"),
        "--dataset",
        "digits",
    ]);
    common::fails_with(&o, "besides `x`: k");
}
