//! Model, attack, defend and demo commands end to end.

mod common;

use std::path::Path;

use common::{aisec, aisec_line, fails_with, json, num, stderr, stdout, train};

#[test]
fn train_eval_and_attack_a_model() {
    let dir = tempfile::tempdir().unwrap();
    let model = train(dir.path(), "mlp", "digits");
    assert!(Path::new(&model).join("model.safetensors").is_file());
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(&model).join("model.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["architecture"], "mlp");
    assert_eq!(manifest["input_shape"], serde_json::json!([1, 8, 8]));
    assert!(manifest["metrics"]["clean_accuracy"].as_f64().unwrap() > 0.9);

    let eval = json(&aisec_line(&format!(
        "model eval --model {model} --dataset digits --format json"
    )));
    assert_eq!(eval["kind"], "model");
    assert_eq!(eval["observations"]["examples"], 359);
    assert_eq!(
        eval["observations"]["confusion_matrix"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
    let text = stdout(&aisec_line(&format!(
        "model eval --model {model} --dataset digits"
    )));
    assert!(text.contains("confusion matrix"), "{text}");

    let adv = dir.path().join("adv.npy");
    let report = json(&aisec_line(&format!("attack evasion --model {} --dataset digits --attack pgd --eps 0.2 --steps 20 --limit 50 --save-adv {} --format json", model, adv.to_str().unwrap())));
    // The shape of DESIGN.md's machine-readable output.
    assert_eq!(report["kind"], "attack");
    assert_eq!(report["name"], "evasion.pgd");
    assert_eq!(
        report["atlas"],
        serde_json::json!(["AML.T0043.000", "AML.T0015"])
    );
    assert_eq!(report["config"]["eps"], 0.2);
    assert_eq!(report["seed"], 7);
    for key in [
        "clean_accuracy",
        "robust_accuracy",
        "attack_success_rate",
        "mean_linf",
        "mean_l2",
        "median_l2",
        "queries_total",
        "queries_mean",
        "wall_seconds",
    ] {
        assert!(
            report["metrics"][key].is_number(),
            "metric {key} missing: {}",
            report["metrics"]
        );
    }
    assert!(report["metrics"]["robust_accuracy"].as_f64().unwrap() < 0.2);
    let finding = &report["findings"][0];
    assert_eq!(finding["severity"], "high");
    assert_eq!(finding["mitigations"][0]["id"], "AML.M0003");
    assert_eq!(
        finding["mitigations"][0]["phases"],
        serde_json::json!(["Data Preparation", "ML Model Engineering"])
    );
    let saved = aisec_ml::data::npy::read(&adv).unwrap();
    assert_eq!(saved.shape, vec![50, 1, 8, 8]);
    assert!(saved.data.iter().all(|v| (0.0..=1.0).contains(v)));

    let text = stdout(&aisec_line(&format!(
        "attack evasion --model {model} --dataset digits --attack fgsm --eps 0.1 --limit 40"
    )));
    assert!(
        text.contains("robust accuracy") && text.contains("AML.T0015"),
        "{text}"
    );
    let targeted = json(&aisec_line(&format!("attack evasion --model {model} --dataset digits --attack apgd --eps 0.3 --targeted 0 --limit 30 --format json")));
    assert!(targeted["metrics"]["attack_success_rate"].as_f64().unwrap() > 0.5);
}

#[test]
fn bad_attack_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let model = train(dir.path(), "logreg", "iris");
    fails_with(
        &aisec_line(&format!(
            "attack evasion --model {model} --dataset iris --attack jsma"
        )),
        "--attack `jsma`",
    );
    fails_with(
        &aisec_line(&format!(
            "attack evasion --model {model} --dataset digits --attack pgd"
        )),
        "shape",
    );
    fails_with(
        &aisec_line("attack evasion --model /nonexistent --dataset iris --attack pgd"),
        "/nonexistent",
    );
    fails_with(
        &aisec_line(&format!(
            "attack evasion --model {model} --dataset iris --attack pgd --eps=-1"
        )),
        "--eps",
    );
    fails_with(
        &aisec_line(&format!(
            "attack evasion --model {model} --dataset iris --attack pgd --targeted 9"
        )),
        "target class 9",
    );
    // A total budget too small for one chunk of PGD: a result that says nothing was
    // evaluated, not an error and not a robustness figure.
    let r = json(&aisec_line(&format!(
        "attack evasion --model {model} --dataset iris --attack pgd --total-queries 10 --format json"
    )));
    assert_eq!(
        r["observations"]["queries"]["inputs_not_evaluated"], 30,
        "{r}"
    );
    assert!(r["metrics"].get("robust_accuracy").is_none(), "{r}");
    fails_with(
        &aisec_line(&format!(
            "attack evasion --model {} --dataset iris --attack pgd --clip 1,0",
            model
        )),
        "--clip",
    );
    fails_with(
        &aisec_line(&format!(
            "model train --arch cnn --dataset iris --out {}",
            dir.path().join("x").to_str().unwrap()
        )),
        "image inputs",
    );
    fails_with(
        &aisec_line(&format!("model eval --model {model} --dataset mnist")),
        "--dataset `mnist`",
    );
    let listed = stdout(&aisec(&["attack", "list"]));
    assert!(
        listed.contains("evasion.apgd-ce") && listed.contains("AML.T0043.000"),
        "{listed}"
    );
}

#[test]
fn user_data_from_npy_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
    let ds = aisec_ml::data::BuiltinDataset::Iris.load();
    aisec_ml::data::npy::write_f32(&x, &[ds.len(), 4], &ds.x).unwrap();
    aisec_ml::data::npy::write_i64(&y, &ds.y.iter().map(|v| *v as i64).collect::<Vec<_>>())
        .unwrap();
    let out = dir.path().join("m");
    let o = aisec_line(&format!(
        "model train --arch mlp --data {} --labels {} --out {} --format json",
        x.to_str().unwrap(),
        y.to_str().unwrap(),
        out.to_str().unwrap()
    ));
    let v = json(&o);
    assert!(
        v["metrics"]["clean_accuracy"].as_f64().unwrap() > 0.85,
        "{v}"
    );
    let r = json(&aisec_line(&format!(
        "attack evasion --model {} --data {} --labels {} --attack pgd --eps 1.0 --format json",
        out.to_str().unwrap(),
        x.to_str().unwrap(),
        y.to_str().unwrap()
    )));
    assert!(r["metrics"]["queries_mean"].as_f64().unwrap() > 0.0);

    let csv = dir.path().join("d.csv");
    let mut text = String::from("a,b,c,d,species\n");
    for i in 0..ds.len() {
        let s = ds.sample(i);
        text.push_str(&format!(
            "{},{},{},{},{}\n",
            s[0], s[1], s[2], s[3], ds.y[i]
        ));
    }
    std::fs::write(&csv, text).unwrap();
    let v = json(&aisec_line(&format!(
        "model train --arch logreg --csv {} --label-column species --out {} --format json",
        csv.to_str().unwrap(),
        dir.path().join("c").to_str().unwrap()
    )));
    assert!(v["metrics"]["clean_accuracy"].is_number());
    fails_with(
        &aisec_line(&format!(
            "model train --arch logreg --data {} --labels {} --out {}",
            x.to_str().unwrap(),
            csv.to_str().unwrap(),
            dir.path().join("z").to_str().unwrap()
        )),
        "d.csv",
    );
}

#[test]
fn adversarial_training_command_writes_a_hardened_model() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hard");
    let v = json(&aisec_line(&format!("defend adv-train --arch mlp --dataset digits --eps 0.1 --steps 3 --epochs 5 --out {} --format json", out.to_str().unwrap())));
    assert_eq!(v["kind"], "defense");
    assert_eq!(
        v["defense"]["mitigations"],
        serde_json::json!(["AML.M0003"])
    );
    assert_eq!(
        v["defense"]["phases"],
        serde_json::json!(["ML Model Engineering"])
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("model.json")).unwrap()).unwrap();
    assert_eq!(manifest["defense"]["name"], "defense.adv-train");
    assert_eq!(manifest["defense"]["settings"]["eps"], 0.1);
}

#[test]
fn demo_builds_attacks_defends_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let o = aisec(&["demo", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["kind"], "assessment");
    assert!(report["metrics"]["clean_accuracy"].as_f64().unwrap() >= 0.97);
    let run = |name: &str, eps: f64| -> serde_json::Value {
        report["observations"]["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name && r["config"]["eps"] == eps)
            .cloned()
            .unwrap()
    };
    let pgd_02 = run("evasion.pgd", 0.2);
    assert!(
        pgd_02["metrics"]["robust_accuracy"].as_f64().unwrap() <= 0.05,
        "{}",
        pgd_02["metrics"]
    );
    let pgd_01 = run("evasion.pgd", 0.1);
    let defended = &pgd_01["defended"]["metrics"];
    assert!(
        defended["robust_accuracy"].as_f64().unwrap() >= 0.5,
        "{defended}"
    );
    assert!(
        defended["clean_accuracy"].as_f64().unwrap() >= 0.9,
        "{defended}"
    );
    assert!(
        num(&run("evasion.fgsm", 0.2)["metrics"]["robust_accuracy"])
            > num(&pgd_02["metrics"]["robust_accuracy"])
    );
    let findings = report["findings"].as_array().unwrap();
    assert!(findings
        .iter()
        .any(|f| f["severity"] == "high" && f["atlas"][1] == "AML.T0015"));
    assert!(findings.iter().all(|f| f["mitigations"][0]["phases"]
        .as_array()
        .is_some_and(|p| !p.is_empty())));

    // The black-box stage: HopSkipJump's perturbation shrinks with queries.
    let hsj = report["observations"]["hopskipjump_curves"][0]["points"]
        .as_array()
        .unwrap();
    assert!(num(&hsj.last().unwrap()[1]) < num(&hsj.first().unwrap()[1]));
    // The detection stage: plain and adaptive figures.
    let detection = &report["observations"]["detection"];
    assert_eq!(detection["name"], "defense.feature-squeezing");
    assert!(
        detection["metrics"]["detection_recall"].as_f64().unwrap() >= 0.8,
        "{}",
        detection["metrics"]
    );
    assert!(
        num(&detection["observations"]["adaptive"]["metrics"]["detection_recall"])
            < num(&detection["metrics"]["detection_recall"])
    );
    // The poisoning stage: BadNets at 5% and activation clustering.
    let poisoning = &report["observations"]["poisoning"];
    assert_eq!(poisoning["name"], "poison.badnets");
    assert!(
        poisoning["metrics"]["attack_success_rate"]
            .as_f64()
            .unwrap()
            >= 0.95
    );
    assert!(
        poisoning["defended"]["metrics"]["attack_success_rate"]
            .as_f64()
            .unwrap()
            < 0.2
    );
    // The extraction stage: a faithful substitute from at most 5,000 queries; the defences.
    let runs = report["observations"]["extraction"]["runs"]
        .as_array()
        .unwrap();
    let knockoff = &runs[0];
    assert_eq!(knockoff["name"], "extract.knockoff");
    assert!(knockoff["metrics"]["fidelity"].as_f64().unwrap() >= 0.9);
    assert!(knockoff["metrics"]["queries_total"].as_f64().unwrap() <= 5000.0);
    let jacobian = runs
        .iter()
        .find(|r| r["name"] == "extract.jacobian")
        .unwrap();
    assert!(
        jacobian["defended"]["metrics"]["detection_delay_queries"]
            .as_f64()
            .unwrap()
            <= 500.0
    );
    let equation = runs
        .iter()
        .find(|r| r["name"] == "extract.equation")
        .unwrap();
    assert_eq!(equation["metrics"]["fidelity_uniform"], 1.0);
    assert!(
        equation["defended"]["metrics"]["fidelity"]
            .as_f64()
            .unwrap()
            < 0.5
    );
    assert!(!report["observations"]["extraction"]["fidelity_curves"]
        .as_array()
        .unwrap()
        .is_empty());
    // The privacy stage: the published ordering on an overfitted target, DP-SGD's cut, and
    // recognisable inverted digits.
    let privacy = &report["observations"]["privacy"];
    let tpr = |r: &serde_json::Value| num(&r["metrics"]["tpr_at_1pct_fpr"]);
    let by_name = |name: &str| {
        privacy["membership"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap()
    };
    let (loss, lira) = (by_name("membership.loss"), by_name("membership.lira"));
    assert!(
        tpr(&lira) >= 5.0 * tpr(&loss),
        "{} vs {}",
        tpr(&lira),
        tpr(&loss)
    );
    assert_eq!(lira["observations"]["non_members"], 2500);
    let dp8 = &privacy["tradeoff"][1];
    assert_eq!(dp8["defence"], "dp-sgd:8");
    assert!(num(&dp8["epsilon"]) <= 8.0 + 1e-6);
    assert!(num(&dp8["tpr_at_1pct_fpr"]) < tpr(&lira) / 4.0, "{dp8}");
    assert!(num(&privacy["inversion"]["metrics"]["attack_success_rate"]) >= 0.8);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("Membership inference ROC (log–log"));
    assert!(html.contains("DP-SGD: utility and leakage against ε"));
    assert!(html.contains("Backdoor attack success"));
    assert!(html.contains("Fidelity on held-out digits against queries") && html.contains("PRADA"));
    assert!(
        html.contains("<svg") && html.contains("Robust accuracy") && html.contains("AML.M0003")
    );
    assert!(
        !html.contains("<script"),
        "the report is self-contained and static"
    );
    let layer: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("atlas-layer.json")).unwrap())
            .unwrap();
    let ids: Vec<&str> = layer["techniques"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["techniqueID"].as_str())
        .collect();
    assert!(
        ids.contains(&"AML.T0015")
            && ids.contains(&"AML.T0043.000")
            && ids.contains(&"AML.T0024.002"),
        "{ids:?}"
    );
    assert!(
        out.join("models/baseline/model.safetensors").is_file()
            && out.join("models/adv-trained/model.json").is_file()
    );
}
