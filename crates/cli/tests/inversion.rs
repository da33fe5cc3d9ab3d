//! `aisec attack invert` as a user runs it.

mod common;

use common::{aisec_line, fails_with, json, num};

#[test]
fn invert_a_digits_logreg_white_box_and_from_scores() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("lr");
    json(&aisec_line(&format!(
        "model train --arch logreg --dataset digits --out {} --format json",
        model.display()
    )));
    let v = json(&aisec_line(&format!(
        "attack invert --model {} --dataset digits --format json",
        model.display()
    )));
    assert_eq!(v["atlas"][0], "AML.T0024.001");
    assert!(num(&v["metrics"]["attack_success_rate"]) >= 0.8);
    assert_eq!(num(&v["metrics"]["queries_total"]), 0.0);
    assert_eq!(v["observations"]["images"].as_array().unwrap().len(), 10);
    let v = json(&aisec_line(&format!(
        "attack invert --model {} --dataset digits --class 0 --gradients zeroth-order --steps 50 --format json",
        model.display()
    )));
    assert_eq!(num(&v["metrics"]["queries_total"]), 50.0 * 40.0);
    fails_with(
        &aisec_line(&format!(
            "attack invert --model {} --dataset digits --class 12",
            model.display()
        )),
        "--class 12",
    );
}

#[test]
fn attribute_inference_reports_base_rates_on_both_sides() {
    let v = json(&aisec_line(
        "attack attribute --dataset purchase-synthetic --epochs 30 --column 1 --records 300 --format json",
    ));
    assert_eq!(v["name"], "inversion.attribute");
    let o = &v["observations"];
    assert_eq!(o["members"]["records"], 300);
    assert_eq!(o["non_members"]["records"], 300);
    assert!(num(&o["base_rate_members"]) > 0.5);
    // Two values, both sides: 2 × 300 × 2 queries.
    assert_eq!(num(&v["metrics"]["queries_total"]), 1200.0);
    fails_with(
        &aisec_line("attack attribute --dataset digits --column 99"),
        "--column 99",
    );
    fails_with(
        &aisec_line("attack attribute --dataset digits --column 3 --outputs label"),
        "--outputs label",
    );
}

/// A budget that cannot pay for every step ends the ascent and says so: how many steps were
/// taken and why it stopped, in the finding and the JSON (once, 1 of 20 steps ran and the
/// report read like a finished run).
#[test]
fn a_budget_that_runs_out_is_stated() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::train(dir.path(), "mlp", "digits");
    let v = common::json(&common::aisec_line(&format!(
        "attack invert --model {model} --dataset digits --gradients zeroth-order --steps 20 --total-queries 1000 --format json"
    )));
    let o = &v["observations"];
    assert_eq!(o["steps"], 20);
    assert_eq!(o["steps_done"], 2, "{o}");
    assert!(o["stopped"]
        .as_str()
        .unwrap()
        .contains("budget of 1000 queries"));
    assert_eq!(common::num(&v["metrics"]["queries_total"]), 800.0);
    let title = v["findings"][0]["title"].as_str().unwrap();
    assert!(title.contains("stopped after 2 of 20 steps"), "{title}");
}

/// Inversion through output hardening, via the one runner: a top-1 answer still carries the
/// confidence MI-Face climbs (measured: 3 of 3 classes recognisable before and after), and a
/// labels-only answer leaves nothing to climb — reported as a run that could not happen, not
/// as an error and not as a defence that "worked" with figures of 0.
#[test]
fn inversion_is_measured_again_through_output_hardening() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("lr");
    json(&aisec_line(&format!(
        "model train --arch logreg --dataset digits --out {} --format json",
        model.display()
    )));
    let line = |defend: &str| {
        json(&aisec_line(&format!(
            "attack invert --model {} --dataset digits --class 0 --class 1 --class 2 --gradients zeroth-order --steps 50 --defend {defend} --format json",
            model.display()
        )))
    };
    let v = line("top1");
    let d = &v["defended"];
    assert_eq!(d["defense"]["name"], "defense.output-hardening");
    assert!(num(&v["metrics"]["attack_success_rate"]) >= 0.99);
    assert!(num(&d["metrics"]["attack_success_rate"]) >= 0.99, "{d}");
    let v = line("label");
    let d = &v["defended"];
    assert_eq!(d["defense"]["observed"]["attack_ran"], false, "{d}");
    assert!(d["metrics"].as_object().unwrap().is_empty(), "{d}");
    assert!(d["findings"][0]["title"]
        .as_str()
        .unwrap()
        .contains("cannot run"));
    fails_with(
        &aisec_line(&format!(
            "attack invert --model {} --dataset digits --defend dp-sgd",
            model.display()
        )),
        "--defend",
    );
}

/// Attribute inference through the one runner, again behind rounded confidences: the
/// defended run is measured on the same records and states the defence.
#[test]
fn attribute_inference_is_measured_again_through_output_hardening() {
    let v = json(&aisec_line(
        "attack attribute --dataset purchase-synthetic --epochs 30 --column 1 --records 300 --defend round:1 --format json",
    ));
    let d = &v["defended"];
    assert_eq!(d["defense"]["name"], "defense.output-hardening", "{d}");
    assert_eq!(num(&d["metrics"]["queries_total"]), 1200.0);
    let acc = num(&d["metrics"]["attack_success_rate"]);
    assert!((0.0..=1.0).contains(&acc));
    let v = json(&aisec_line(
        "attack attribute --dataset purchase-synthetic --epochs 30 --column 1 --records 300 --defend label --format json",
    ));
    assert_eq!(v["defended"]["defense"]["observed"]["attack_ran"], false);
}
