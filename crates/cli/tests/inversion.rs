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
