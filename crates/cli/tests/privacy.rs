//! `aisec privacy`: the accountant as a command (the figures themselves are checked against
//! dp_accounting in crates/defenses/tests/accountant.rs).

mod common;

use common::{aisec_line, fails_with, json, num};

#[test]
fn epsilon_of_the_abadi_mnist_setting() {
    let v = json(&aisec_line(
        "privacy epsilon --batch-size 256 --dataset-size 60000 --epochs 60 \
         --noise-multiplier 1.1 --delta 1e-5 --format json",
    ));
    // ⌈60 · 60000 / 256⌉ steps.
    assert_eq!(v["steps"], 14063);
    let eps = num(&v["epsilon"]);
    assert!((eps - 2.597).abs() < 0.01, "ε = {eps}");
    assert_eq!(v["accountant"], "rdp");
}

#[test]
fn noise_is_the_inverse_of_epsilon() {
    let v = json(&aisec_line(
        "privacy noise --sampling-rate 0.01 --steps 1000 --target-epsilon 2 --format json",
    ));
    let sigma = num(&v["noise_multiplier"]);
    assert!(num(&v["epsilon"]) <= 2.0);
    let back = json(&aisec_line(&format!(
        "privacy epsilon --sampling-rate 0.01 --steps 1000 --noise-multiplier {} --format json",
        sigma * 0.99
    )));
    assert!(num(&back["epsilon"]) > 2.0, "1% less noise must overspend");
}

#[test]
fn bad_settings_name_the_flag() {
    fails_with(
        &aisec_line("privacy epsilon --sampling-rate 2 --steps 3 --noise-multiplier 1"),
        "--sampling-rate",
    );
    fails_with(
        &aisec_line("privacy epsilon --sampling-rate 0.1 --steps 3 --noise-multiplier 0"),
        "--noise-multiplier",
    );
    fails_with(
        &aisec_line("privacy noise --sampling-rate 0.1 --target-epsilon 1"),
        "--steps",
    );
}

#[test]
fn dp_train_saves_a_model_with_the_epsilon_it_spent() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dp");
    let v = json(&aisec_line(&format!(
        "defend dp-train --arch mlp --dataset digits --epsilon 2 --out {} --format json",
        out.display()
    )));
    assert_eq!(v["kind"], "defense");
    assert_eq!(v["name"], "defense.dp-sgd");
    let eps = num(&v["metrics"]["epsilon_dp"]);
    assert!(eps <= 2.0 && eps > 1.9, "ε = {eps}");
    // Private, and still a digits classifier (the non-private mlp reaches about 97%).
    assert!(num(&v["metrics"]["clean_accuracy"]) > 0.8);
    assert_eq!(v["defense"]["mitigations"][0], "AML.M0003");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("model.json")).unwrap()).unwrap();
    assert_eq!(num(&manifest["metrics"]["epsilon_dp"]), eps);
    // The saved model is an ordinary aisec model: it evaluates, and it records its training
    // split, so it can be attacked for membership like one `model train` wrote.
    json(&aisec_line(&format!(
        "model eval --model {} --dataset digits --format json",
        out.display()
    )));
    assert_eq!(manifest["training_split"]["members"], 1438, "{manifest}");
    let attacked = json(&aisec_line(&format!(
        "attack membership --attack loss --model {} --dataset digits --format json",
        out.display()
    )));
    assert!(num(&attacked["metrics"]["auc"]) < 0.6, "{attacked}");
    fails_with(
        &aisec_line(&format!(
            "defend dp-train --arch cnn --dataset digits --epsilon 2 --out {}",
            out.display()
        )),
        "dense networks",
    );
}
