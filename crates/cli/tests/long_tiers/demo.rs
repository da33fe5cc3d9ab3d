//! `aisec demo` end to end: the README's main command.

use crate::common::{aisec, num, stderr};

#[test]
fn demo_builds_attacks_defends_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let db = dir.path().join("aisec.db");
    let o = aisec(&[
        "demo",
        "--out",
        out.to_str().unwrap(),
        "--store",
        "--store-db",
        db.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // `aisec demo --store`: the demo's findings are on the matrix `aisec serve` draws.
    let heat = aisec(&[
        "runs",
        "heat",
        "--format",
        "json",
        "--store-db",
        db.to_str().unwrap(),
    ]);
    let heat: serde_json::Value = serde_json::from_slice(&heat.stdout).unwrap();
    for technique in [
        "AML.T0043.000",
        "AML.T0015",
        "AML.T0011.000",
        "AML.T0024.000",
    ] {
        let cell = heat
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["technique"] == technique)
            .unwrap_or_else(|| panic!("{technique} not on the matrix: {heat}"));
        assert!(cell["findings"].as_i64().unwrap() > 0, "{cell}");
    }
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
