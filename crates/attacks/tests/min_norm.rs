//! Minimum-norm white-box attacks (C&W-L2, DeepFool) against the digits CNN.

use aisec_core::Metric;
use std::path::PathBuf;

use aisec_attacks::evasion::{self, EvasionParams, EvasionTask, Norm};
use aisec_attacks::registry::find_evasion;
use aisec_attacks::AttackOutcome;
use aisec_ml::data::{BuiltinDataset, Dataset};
use aisec_ml::model::Classifier;
use aisec_ml::native::NativeModel;

fn cnn() -> NativeModel {
    NativeModel::load(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ml/tests/fixtures/onnx/digits-cnn"),
    )
    .unwrap()
}

fn run(name: &str, params: EvasionParams, model: &dyn Classifier, data: &Dataset) -> AttackOutcome {
    let attack = (find_evasion(name).unwrap().build)(&params).unwrap();
    let task = EvasionTask::on(model, data, 2);
    let outcome = evasion::run(attack.as_ref(), &task).unwrap();
    eprintln!("{name}: {:?}", outcome.metrics);
    outcome
}

#[test]
fn cw_finds_smaller_perturbations_than_pgd_at_equal_success() {
    let model = cnn();
    let (_, test) = BuiltinDataset::Digits.split();
    let data = test.head(100);
    let cw = run("cw", EvasionParams::default(), &model, &data);
    let cw_success = cw.metrics.get(Metric::AttackSuccessRate).unwrap();
    let cw_median = cw.metrics.get(Metric::MedianL2).unwrap();
    assert!(cw_success >= 0.95, "C&W success {cw_success}");
    // The smallest PGD-L2 budget on a grid that reaches the same success.
    let mut matched = None;
    for eps in [0.25f32, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0] {
        let pgd = run(
            "pgd",
            EvasionParams {
                eps: Some(eps),
                norm: Some(Norm::L2),
                steps: Some(40),
                ..EvasionParams::default()
            },
            &model,
            &data,
        );
        if pgd.metrics.get(Metric::AttackSuccessRate).unwrap() >= cw_success {
            matched = Some(pgd);
            break;
        }
    }
    let pgd = matched.expect("PGD-L2 reaches C&W's success on the grid");
    let pgd_median = pgd.metrics.get(Metric::MedianL2).unwrap();
    assert!(
        cw_median < pgd_median,
        "C&W median L2 {cw_median} vs PGD-L2 {pgd_median}"
    );
}

#[test]
fn deepfool_fools_with_small_l2_steps() {
    let model = cnn();
    let (_, test) = BuiltinDataset::Digits.split();
    let data = test.head(100);
    let df = run("deepfool", EvasionParams::default(), &model, &data);
    assert!(df.metrics.get(Metric::AttackSuccessRate).unwrap() >= 0.9);
    let median = df.metrics.get(Metric::MedianL2).unwrap();
    assert!(median > 0.0 && median < 2.0, "DeepFool median L2 {median}");
    assert!(
        find_evasion("deepfool")
            .map(|e| (e.build)(&EvasionParams {
                eps: Some(0.1),
                ..EvasionParams::default()
            }))
            .unwrap()
            .is_err(),
        "DeepFool takes no budget"
    );
}
