//! Results that claim only what was measured, and mistakes refused with the flag and the
//! accepted range: each command run as a new user ran it.

mod common;

use std::path::Path;

use common::{aisec_line, fails_with, json, num};

/// The digits CNN exported to ONNX (a white-box target that needs no training).
fn cnn() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ml/tests/fixtures/onnx/digits-cnn.onnx")
        .to_str()
        .unwrap()
        .to_string()
}

fn queries(report: &serde_json::Value) -> &serde_json::Value {
    &report["findings"][0]["evidence"]["queries"]
}

#[test]
fn a_spent_total_budget_is_reported_as_not_evaluated_never_as_robust() {
    let model = cnn();
    // Square: 100 queries for 20 inputs at 5000 per input.
    let r = json(&aisec_line(&format!(
        "attack evasion --model {model} --dataset digits --attack square --eps 0.05 --limit 20 --total-queries 100 --format json"
    )));
    let q = queries(&r);
    assert_eq!(q["stopped_by_budget"], true, "{q}");
    assert_eq!(q["allowed_total"], 100);
    assert_eq!(q["allowed_per_input"], 5000);
    assert!(num(&q["spent_total"]) <= 100.0, "{q}");
    let not_evaluated = num(&q["inputs_not_evaluated"]);
    assert!(not_evaluated >= 1.0, "{q}");
    assert!(
        r["metrics"].get("robust_accuracy").is_none(),
        "{}",
        r["metrics"]
    );
    let title = r["findings"][0]["title"].as_str().unwrap();
    assert!(
        title.contains("stopped by the 100-query budget") && title.contains("not evaluated"),
        "{title}"
    );
    // The text says so without -v.
    let text = common::stdout(&aisec_line(&format!(
        "attack evasion --model {model} --dataset digits --attack square --eps 0.05 --limit 20 --total-queries 100"
    )));
    assert!(text.contains("robust accuracy      not measured"), "{text}");
    assert!(
        text.contains("allowed 5000 per input and 100 in total"),
        "{text}"
    );

    // PGD stops between chunks of inputs and keeps what finished.
    let r = json(&aisec_line(&format!(
        "attack evasion --model {model} --dataset digits --attack pgd --eps 0.1 --steps 10 --limit 40 --total-queries 300 --format json"
    )));
    let q = queries(&r);
    assert_eq!(q["stopped_by_budget"], true, "{q}");
    let not_evaluated = num(&q["inputs_not_evaluated"]);
    assert!(
        (1.0..40.0).contains(&not_evaluated),
        "some inputs finish within 300 gradient queries, not all 40: {q}"
    );
    assert!(num(&q["spent_total"]) <= 300.0, "{q}");

    // HopSkipJump with a total budget below what 5 inputs need.
    let r = json(&aisec_line(&format!(
        "attack evasion --model {model} --dataset digits --attack hsj --limit 5 --total-queries 2000 --format json"
    )));
    let q = queries(&r);
    assert_eq!(q["stopped_by_budget"], true, "{q}");
    assert!(r["metrics"].get("robust_accuracy").is_none());
}

#[test]
fn the_ambiguous_budget_flag_and_unused_flags_are_refused() {
    let model = cnn();
    let o = aisec_line(&format!(
        "attack evasion --model {model} --dataset digits --attack square --max-queries 5000"
    ));
    fails_with(&o, "--queries-per-input");
    fails_with(&o, "--total-queries");
    let o = aisec_line(&format!(
        "attack evasion --model {model} --dataset digits --attack fgsm --steps 10"
    ));
    fails_with(
        &o,
        "--steps does not apply to evasion.fgsm: it is read by pgd",
    );
    let o = aisec_line(&format!(
        "attack evasion --model {model} --dataset digits --attack square --restarts 2"
    ));
    fails_with(&o, "--restarts does not apply to evasion.square");
    // The same for extraction: each attack declares the flags it reads.
    let o = aisec_line(&format!(
        "attack extract --model {model} --dataset digits --attack knockoff --solver exact"
    ));
    fails_with(
        &o,
        "--solver does not apply to extract.knockoff: it is read by equation",
    );
    let o = aisec_line(&format!(
        "attack extract --model {model} --dataset digits --attack equation --strategy adaptive"
    ));
    fails_with(
        &o,
        "--strategy does not apply to extract.equation: it is read by knockoff",
    );
}

#[test]
fn minimum_norm_attacks_state_norms_not_a_verdict() {
    let r = json(&aisec_line(&format!(
        "attack evasion --model {} --dataset digits --attack deepfool --limit 30 --format json",
        cnn()
    )));
    let finding = &r["findings"][0];
    assert_eq!(finding["severity"], "info", "{finding}");
    let title = finding["title"].as_str().unwrap();
    assert!(
        title.contains("no ε bound") && title.contains("at L2 ≤ 0.5"),
        "{title}"
    );
    let profile = &finding["evidence"]["norm_profile"];
    let at = profile["robust_accuracy_at"].as_array().unwrap();
    assert_eq!(at.len(), 3);
    // Robust accuracy can only fall as the allowed norm grows.
    let values: Vec<f64> = at.iter().map(|p| num(&p["robust_accuracy"])).collect();
    assert!(values.windows(2).all(|w| w[0] >= w[1]), "{values:?}");
    assert!(num(&profile["norm_needed"]["median"]) > 0.0, "{profile}");
    // The text says the same: robust accuracy at bounds, never a bare 0.00% beside "no ε".
    let text = common::stdout(&aisec_line(&format!(
        "attack evasion --model {} --dataset digits --attack deepfool --limit 30",
        cnn()
    )));
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("robust accuracy"))
        .unwrap();
    assert!(
        line.contains("at L2 ≤ 0.5") && line.contains("minimum-norm"),
        "{line}"
    );
}

/// User data has no known range: the run says it did not clip, and warns when adversarial
/// values leave the range the clean data occupy (FGSM ε = 0.1 on [0, 1] digits pushed 28% of
/// the values out, and robust accuracy read 24% against 48% with --clip 0,1).
#[test]
fn the_clip_is_stated_and_leaving_the_data_range_is_warned() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::train(dir.path(), "logreg", "digits");
    common::export_digits(dir.path());
    let data = format!(
        "--data {} --labels {}",
        dir.path().join("x.npy").display(),
        dir.path().join("y.npy").display()
    );
    let line = format!("attack evasion --model {model} {data} --attack fgsm --eps 0.1 --limit 50");
    let o = aisec_line(&format!("{line} --format json"));
    let r = common::json_of_any_exit(&o);
    assert_eq!(r["config"]["clip"], "none", "{}", r["config"]);
    let outside = &r["observations"]["outside_clean_range"];
    assert!(num(&outside["values"]) > 0.0, "{r}");
    assert_eq!(outside["clean_range"][1], 1.0);
    assert!(
        common::stderr(&o).contains("lie outside [0.0, 1.0]"),
        "{}",
        common::stderr(&o)
    );
    let text = common::stdout(&aisec_line(&line));
    assert!(text.contains("not clipped"), "{text}");
    let r = common::json_of_any_exit(&aisec_line(&format!("{line} --clip 0,1 --format json")));
    assert_eq!(r["config"]["clip"], serde_json::json!([0.0, 1.0]));
    assert!(r["observations"]["outside_clean_range"].is_null(), "{r}");
}

#[test]
fn clip_ranges_the_data_violate_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
    let ds = aisec_ml::data::BuiltinDataset::Iris.load();
    // Iris's raw measurements lie in [0.1, 7.9].
    aisec_ml::data::npy::write_f32(&x, &[ds.len(), 4], &ds.x).unwrap();
    let labels: Vec<i64> = ds.y.iter().map(|v| *v as i64).collect();
    aisec_ml::data::npy::write_i64(&y, &labels).unwrap();
    let model = dir.path().join("m");
    json(&aisec_line(&format!(
        "model train --arch logreg --data {} --labels {} --out {} --format json",
        x.display(),
        y.display(),
        model.display()
    )));
    let o = aisec_line(&format!(
        "attack evasion --model {} --data {} --labels {} --attack pgd --eps 0.5 --clip 0,1",
        model.display(),
        x.display(),
        y.display()
    ));
    fails_with(&o, "lie outside the clip range [0, 1]");

    // A batch whose labels are all one class is attacked against the model's classes.
    let setosa: Vec<i64> = vec![0; 50];
    let (x1, y1) = (dir.path().join("x1.npy"), dir.path().join("y1.npy"));
    aisec_ml::data::npy::write_f32(&x1, &[50, 4], &ds.x[..200]).unwrap();
    aisec_ml::data::npy::write_i64(&y1, &setosa).unwrap();
    let r = json(&aisec_line(&format!(
        "attack evasion --model {} --data {} --labels {} --attack pgd --eps 0.5 --format json",
        model.display(),
        x1.display(),
        y1.display()
    )));
    assert!(
        num(&r["metrics"]["clean_accuracy"]) > 0.9,
        "{}",
        r["metrics"]
    );
    // …but training on one class is refused.
    let o = aisec_line(&format!(
        "model train --arch logreg --data {} --labels {} --out {}",
        x1.display(),
        y1.display(),
        dir.path().join("m1").display()
    ));
    fails_with(&o, "every label is 0");
}

#[test]
fn bad_values_name_the_flag_and_the_accepted_range() {
    let model = cnn();
    let base = format!("attack evasion --model {model} --dataset digits --attack pgd");
    fails_with(
        &aisec_line(&format!("{base} --limit 0")),
        "expected at least 1",
    );
    fails_with(
        &aisec_line(&format!("{base} --eps 5")),
        "--eps 5 is larger than the width of the data's value range",
    );
    fails_with(
        &aisec_line(&format!("{base} --eps -1")),
        "--eps must be a positive number, got -1",
    );
    fails_with(
        &aisec_line(
            "attack poison --dataset digits --arch logreg --attack badnets --patch-size 20",
        ),
        "--patch-size 20: expected 1 to 8",
    );
    fails_with(
        &aisec_line("attack poison --dataset digits --arch logreg --attack badnets --rate 0"),
        "--rate 0: expected a share of the training set in (0, 1]",
    );
    fails_with(
        &common::aisec(&["atlas", "search", ""]),
        "the query is empty",
    );
    fails_with(
        &aisec_line("atlas export navigator --case-study AML.T0051"),
        "AML.T0051 is a technique, not a case study",
    );
    let empty = tempfile::tempdir().unwrap();
    fails_with(
        &aisec_line(&format!("scan {}", empty.path().display())),
        "nothing to scan",
    );
}

#[test]
fn a_backdoor_the_clean_model_already_shows_is_not_reported_as_one() {
    let r = json(&aisec_line(
        "attack poison --dataset iris --arch mlp --attack badnets --format json",
    ));
    // Stamping iris's four features to their maximum already sends the clean model to the
    // target class: that is not the adversary's doing.
    let clean = num(&r["observations"]["clean_model"]["attack_success_rate"]);
    let poisoned = num(&r["metrics"]["attack_success_rate"]);
    assert!(poisoned - clean < 0.1, "clean {clean}, poisoned {poisoned}");
    let finding = &r["findings"][0];
    assert_eq!(finding["severity"], "info", "{finding}");
    assert!(
        finding["title"]
            .as_str()
            .unwrap()
            .contains("no backdoor effect"),
        "{finding}"
    );
}

#[test]
fn server_limits_never_pay_for_the_measurement_and_stop_the_attack_with_its_reason() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ml/tests/fixtures/onnx/digits-cnn");
    let model = model.to_str().unwrap();
    let serve = |limits: &[&str]| {
        let mut args = vec!["--model", model, "--name", "digits"];
        args.extend_from_slice(limits);
        common::serve(&args)
    };
    let served = serve(&["--max-queries-per-client", "1100"]);
    let attack = format!(
        "attack extract --model {} --dataset digits --attack jacobian --total-queries 1000 --transfer-eps 0",
        served.url
    );
    // Measuring fidelity through the API needs more answers than the server allows: a
    // clear error before the attack, naming the way out.
    let o = aisec_line(&attack);
    fails_with(&o, "refused the assessor's fidelity measurement");
    fails_with(&o, "--reference");
    drop(served);

    // With the assessor's own copy, the server sees only the adversary's queries.
    let served = serve(&["--max-queries-per-client", "1100"]);
    let r = json(&aisec_line(&format!(
        "attack extract --model {} --dataset digits --attack jacobian --total-queries 1000 --transfer-eps 0 --reference {model} --format json",
        served.url
    )));
    let spent = num(&r["metrics"]["queries_total"]);
    assert!(spent <= 1000.0, "{spent}");
    assert_eq!(r["observations"]["measurement"]["source"], "reference copy");
    assert!(num(&r["metrics"]["fidelity"]) > 0.0);
    drop(served);

    // Behind a blocking PRADA monitor the attack ends with its partial result and the reason.
    let served = serve(&["--prada", "--prada-block"]);
    let r = json(&aisec_line(&format!(
        "attack extract --model {} --dataset digits --attack jacobian --total-queries 5000 --transfer-eps 0 --reference {model} --format json",
        served.url
    )));
    let reason = r["observations"]["stop_reason"]
        .as_str()
        .unwrap_or_default();
    assert!(
        reason.contains("the API refused further queries"),
        "{}",
        r["observations"]
    );
    assert!(num(&r["metrics"]["queries_total"]) < 5000.0);
    assert!(r["metrics"]["fidelity"].is_number());
}

#[test]
fn an_output_defence_is_judged_against_the_attack_that_knows_it() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::train(dir.path(), "logreg", "digits");
    let r = json(&aisec_line(&format!(
        "attack extract --model {model} --dataset digits --attack equation --defend round:2 --transfer-eps 0 --format json"
    )));
    let defended = &r["defended"];
    let adaptive = &defended["adaptive"];
    let exact = num(&defended["metrics"]["fidelity"]);
    let retrain = num(&adaptive["metrics"]["fidelity"]);
    // Rounding breaks exact equation solving; retraining from the labels does not notice it.
    assert!(retrain > exact + 0.2, "exact {exact}, retrain {retrain}");
    assert!(
        defended["findings"][0]["title"]
            .as_str()
            .unwrap()
            .contains("the adaptive run, solver retrain"),
        "{}",
        defended["findings"][0]["title"]
    );
}

#[test]
fn write_errors_are_said_once_and_model_files_share_their_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::train(dir.path(), "logreg", "iris");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |f: &str| {
            std::fs::metadata(Path::new(&model).join(f))
                .unwrap()
                .permissions()
                .mode()
        };
        assert_eq!(mode("model.safetensors"), mode("model.json"));
    }
    // A folder that does not exist is refused before the run, and the OS error once.
    let o = aisec_line(&format!(
        "attack evasion --model {model} --dataset iris --attack fgsm --save-adv {}/nodir/adv.npy",
        dir.path().display()
    ));
    fails_with(&o, "does not exist");
    let blocked = dir.path().join("file");
    std::fs::write(&blocked, "").unwrap();
    let o = aisec_line(&format!(
        "model train --arch logreg --dataset iris --out {}/sub",
        blocked.display()
    ));
    let err = common::stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.matches("os error").count(), 1, "{err}");
}

#[test]
fn a_truncated_safetensors_file_is_called_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::train(dir.path(), "logreg", "iris");
    let whole = std::fs::read(Path::new(&model).join("model.safetensors")).unwrap();
    let cut = dir.path().join("cut.safetensors");
    std::fs::write(&cut, &whole[..40]).unwrap();
    let o = aisec_line(&format!("scan {}", cut.display()));
    assert_eq!(o.status.code(), Some(2));
    let text = common::stdout(&o);
    assert!(text.contains("truncated"), "{text}");
    assert!(!text.contains("unsupported"), "{text}");
}

#[test]
fn weights_of_another_architecture_are_named_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::train(dir.path(), "mlp", "iris");
    let manifest = Path::new(&model).join("model.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("\"mlp\"", "\"logreg\"")).unwrap();
    let o = aisec_line(&format!("model eval --model {model} --dataset iris"));
    fails_with(
        &o,
        "it needs LogReg.linear.bias, LogReg.linear.weight but the file holds Mlp.",
    );
    let err = common::stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
}
