//! Remote (KServe v2), ONNX and black-box targets, API defences, poisoning and extraction
//! from the command line.

mod common;

use std::path::Path;

use common::{aisec_line, fails_with, json, num, serve, train};

#[test]
fn serve_a_model_over_kserve_and_evaluate_it_remotely() {
    let dir = tempfile::tempdir().unwrap();
    let model = train(dir.path(), "mlp", "iris");
    let served = serve(&["--model", &model, "--name", "iris"]);
    let url = served.url.clone();

    let remote = json(&aisec_line(&format!(
        "model eval --model {url} --dataset iris --format json"
    )));
    let local = json(&aisec_line(&format!(
        "model eval --model {model} --dataset iris --format json"
    )));
    assert_eq!(remote["metrics"], local["metrics"]);
    assert_eq!(
        remote["observations"]["confusion_matrix"],
        local["observations"]["confusion_matrix"]
    );
    assert!(remote["target"]
        .as_str()
        .unwrap()
        .starts_with("kserve http://127.0.0.1:"));
    // A white-box attack on a black-box target says what to do instead.
    let o = aisec_line(&format!(
        "attack evasion --model {url} --dataset iris --attack pgd"
    ));
    fails_with(&o, "needs gradient access");
    served.stop();
    fails_with(
        &aisec_line(&format!("model eval --model {url} --dataset iris")),
        "is it running",
    );

    // Query monitoring on the server: each client address gets 20 queries.
    let served = serve(&[
        "--model",
        &model,
        "--name",
        "iris",
        "--max-queries-per-client",
        "20",
    ]);
    assert!(
        served.banner.contains("20-query budget"),
        "{}",
        served.banner
    );
    let url = &served.url;
    fails_with(
        &aisec_line(&format!("model eval --model {url} --dataset iris")),
        "query budget exhausted",
    );
}

#[test]
fn onnx_models_are_white_box_targets() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ml/tests/fixtures/onnx");
    let onnx = fixtures.join("digits-cnn.onnx");
    let report = json(&aisec_line(&format!("attack evasion --model {} --dataset digits --attack pgd --eps 0.2 --limit 40 --format json", onnx.to_str().unwrap())));
    assert!(
        report["target"].as_str().unwrap().starts_with("onnx "),
        "{}",
        report["target"]
    );
    assert!(report["metrics"]["clean_accuracy"].as_f64().unwrap() > 0.9);
    assert!(report["metrics"]["robust_accuracy"].as_f64().unwrap() < 0.1);
    let eval = json(&aisec_line(&format!(
        "model eval --model {} --dataset digits --format json",
        onnx.to_str().unwrap()
    )));
    assert!(eval["metrics"]["clean_accuracy"].as_f64().unwrap() >= 0.97);
    fails_with(
        &aisec_line(&format!(
            "model eval --model {} --dataset digits",
            fixtures.join("unsupported.onnx").to_str().unwrap()
        )),
        "Einsum",
    );
}

#[test]
fn black_box_attacks_and_api_defences_report_both_sides() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ml/tests/fixtures/onnx/digits-cnn");
    let model = model.to_str().unwrap();
    let report = json(&aisec_line(&format!("attack evasion --model {model} --dataset digits --attack square --eps 0.1 --queries-per-input 1000 --limit 40 --defend round:1 --format json")));
    assert_eq!(
        report["atlas"],
        serde_json::json!(["AML.T0043.001", "AML.T0015", "AML.T0040"])
    );
    let defended = &report["defended"];
    assert_eq!(
        defended["defense"]["mitigations"],
        serde_json::json!(["AML.M0002"])
    );
    assert!(
        num(&defended["metrics"]["attack_success_rate"])
            < num(&report["metrics"]["attack_success_rate"])
    );
    let mitigation_ids: Vec<&str> = report["findings"][0]["mitigations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(
        mitigation_ids.contains(&"AML.M0004") && mitigation_ids.contains(&"AML.M0002"),
        "{mitigation_ids:?}"
    );

    // A rate limit delays the attack by the time it reports; it does not stop it.
    let throttled = json(&aisec_line(&format!("attack evasion --model {model} --dataset digits --attack square --eps 0.1 --queries-per-input 1000 --limit 40 --defend rate:10 --format json")));
    let defended = &throttled["defended"];
    assert_eq!(
        defended["metrics"]["attack_success_rate"],
        throttled["metrics"]["attack_success_rate"]
    );
    let observed = &defended["defense"]["observed"];
    let answered = observed["answered"].as_f64().unwrap();
    assert!(
        (observed["waited_s"].as_f64().unwrap() - (answered - 10.0) / 10.0).abs() < 1e-6,
        "{observed}"
    );

    let hsj = json(&aisec_line(&format!("attack evasion --model {model} --dataset digits --attack hsj --queries-per-input 500 --limit 5 --format json")));
    assert_eq!(
        hsj["observations"]["median_distance_by_queries"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    fails_with(
        &aisec_line(&format!(
            "attack evasion --model {model} --dataset digits --attack pgd --defend median"
        )),
        "not a defence",
    );

    let squeeze = json(&aisec_line(&format!("attack evasion --model {model} --dataset digits --attack pgd --eps 0.2 --limit 40 --defend squeeze --format json")));
    let detection = &squeeze["defended"];
    assert_eq!(detection["name"], "defense.feature-squeezing");
    assert_eq!(
        detection["defense"]["mitigations"],
        serde_json::json!(["AML.M0015"])
    );
    for key in [
        "detection_recall",
        "detection_precision",
        "false_positive_rate",
        "auc",
    ] {
        assert!(
            detection["metrics"][key].is_number(),
            "{key}: {}",
            detection["metrics"]
        );
    }
    assert!(detection["observations"]["adaptive"]["metrics"]["detection_recall"].is_number());
}

#[test]
fn poisoning_from_the_command_line() {
    let report = json(&aisec_line("attack poison --dataset digits --arch logreg --attack label-flip --source 3 --target 8 --rate 0.6 --seed 3 --format json"));
    assert_eq!(report["name"], "poison.label-flip");
    assert_eq!(
        report["atlas"],
        serde_json::json!(["AML.T0020", "AML.T0059"])
    );
    assert!(report["metrics"]["poison_count"].as_f64().unwrap() > 0.0);
    assert!(report["metrics"]["attack_success_rate"].as_f64().unwrap() > 0.3);
    assert!(
        report["observations"]["clean_model"]["clean_accuracy"]
            .as_f64()
            .unwrap()
            > 0.9
    );
    fails_with(
        &aisec_line("attack poison --dataset digits --attack trojannn"),
        "not a poisoning attack",
    );
    fails_with(
        &aisec_line("attack poison --dataset digits --attack badnets --target 12"),
        "--target 12 is not a class",
    );
}

#[test]
fn extraction_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let logreg = train(dir.path(), "logreg", "digits");
    // Equation solving: exact from d + 1 = 65 queries; rounding to one decimal breaks it.
    let report = json(&aisec_line(&format!("attack extract --model {logreg} --dataset digits --attack equation --defend rounding:1 --transfer-eps 0 --format json")));
    assert_eq!(report["name"], "extract.equation");
    assert_eq!(report["metrics"]["queries_total"], 65.0);
    assert_eq!(report["metrics"]["fidelity_uniform"], 1.0);
    assert!(report["atlas"]
        .as_array()
        .unwrap()
        .contains(&"AML.T0024.002".into()));
    let defended = &report["defended"];
    assert_eq!(defended["defense"]["name"], "defense.output-hardening");
    assert_eq!(defended["defense"]["mitigations"][0], "AML.M0002");
    assert!(defended["metrics"]["fidelity_uniform"].as_f64().unwrap() < 0.1);
    assert!(report["observations"]["transfer"].is_null());

    // Jacobian augmentation on the digits CNN behind PRADA, saving the substitute.
    let cnn = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ml/tests/fixtures/onnx/digits-cnn");
    let substitute = dir.path().join("substitute");
    let report = json(&aisec_line(&format!("attack extract --model {} --dataset digits --attack jacobian --defend prada --save-substitute {} --format json", cnn.to_str().unwrap(), substitute.to_str().unwrap())));
    assert!(report["metrics"]["fidelity"].as_f64().unwrap() >= 0.9);
    assert!(report["metrics"]["queries_total"].as_f64().unwrap() <= 5000.0);
    let curve = report["observations"]["fidelity_by_queries"]
        .as_array()
        .unwrap();
    assert!(curve.len() >= 5);
    let transfer = &report["observations"]["transfer"];
    assert!(transfer["attack_success_rate"].as_f64().unwrap() > 0.0);
    assert!(report["findings"][0]["atlas"]
        .as_array()
        .unwrap()
        .contains(&"AML.T0043.002".into()));
    let defended = &report["defended"];
    let delay = defended["metrics"]["detection_delay_queries"]
        .as_f64()
        .unwrap();
    assert!(delay <= 500.0, "{delay}");
    assert!(defended["defense"]["observed"]["benign_stream"]["alert_at_query"].is_null());
    assert_eq!(
        defended["defense"]["observed"]["benign_stream"]["queries"],
        5000
    );
    // The saved substitute is a model like any other.
    let eval = json(&aisec_line(&format!(
        "model eval --model {} --dataset digits --format json",
        substitute.to_str().unwrap()
    )));
    assert!(
        eval["metrics"]["clean_accuracy"].as_f64().unwrap() > 0.85,
        "{eval}"
    );

    // Label-only Knockoff, text output.
    let o = aisec_line(&format!("attack extract --model {} --dataset digits --attack knockoff --outputs label --budget 1000", cnn.to_str().unwrap()));
    assert!(o.status.success(), "{}", common::stderr(&o));
    let text = common::stdout(&o);
    assert!(
        text.contains("labels only") && text.contains("fidelity by queries"),
        "{text}"
    );

    fails_with(
        &aisec_line(&format!(
            "attack extract --model {logreg} --dataset digits --attack steal"
        )),
        "not an extraction attack",
    );
    fails_with(
        &aisec_line(&format!(
            "attack extract --model {logreg} --dataset digits --attack knockoff --defend blur"
        )),
        "`blur` is not a defence",
    );
    fails_with(
        &aisec_line(&format!("attack extract --model {logreg} --dataset digits --attack equation --solver exact --outputs label")),
        "needs probabilities",
    );
    fails_with(
        &aisec_line(&format!(
            "attack extract --model {logreg} --dataset iris --attack knockoff"
        )),
        "shape",
    );
}

#[test]
fn a_served_model_behind_prada_refuses_an_extracting_client() {
    let cnn = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ml/tests/fixtures/onnx/digits-cnn");
    let served = serve(&[
        "--model",
        cnn.to_str().unwrap(),
        "--name",
        "digits",
        "--prada",
        "--prada-block",
    ]);
    let url = &served.url;
    let report = json(&aisec_line(&format!("attack extract --model {url} --dataset digits --attack jacobian --transfer-eps 0 --format json")));
    let log = served.stop();
    let queries = report["metrics"]["queries_total"].as_f64().unwrap();
    assert!(queries <= 600.0, "{queries}");
    assert_eq!(report["observations"]["budget_exhausted"], true);
    assert!(log.contains("PRADA"), "{log}");
}

#[test]
fn model_inspect_lists_operators_and_says_whether_white_box_works() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ml/tests/fixtures/onnx");
    let vit = fixtures.join("torchvision/vit_tiny.onnx");
    let o = aisec_line(&format!("--format json model inspect {}", vit.display()));
    assert_eq!(o.status.code(), Some(0), "{}", common::stderr(&o));
    let v = json(&o);
    assert_eq!(v["white_box"], true);
    assert_eq!(
        v["inputs"][0]["shape"],
        serde_json::json!([null, 3, 32, 32])
    );
    assert_eq!(v["producer"], "pytorch");
    let erf = v["operators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["operator"] == "Erf")
        .unwrap();
    assert_eq!(erf["nodes"], 2);
    assert_eq!(erf["supported"], true);
    // An unsupported operator: exit 1, named with its node.
    let o = aisec_line(&format!(
        "model inspect {}",
        fixtures.join("unsupported.onnx").display()
    ));
    assert_eq!(o.status.code(), Some(1));
    let text = common::stdout(&o);
    assert!(
        text.contains("Einsum") && text.contains("NOT SUPPORTED"),
        "{text}"
    );
    assert!(text.contains("unnamed node #0"), "{text}");
    fails_with(
        &aisec_line("model inspect /no/such/model.onnx"),
        "cannot read",
    );
}
