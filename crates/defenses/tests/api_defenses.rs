//! Output hardening and query limits, measured by re-running the black-box attacks.

use std::path::PathBuf;
use std::sync::Arc;

use aisec_attacks::evasion::{self, EvasionParams, EvasionTask, Norm};
use aisec_attacks::registry::find_evasion;
use aisec_defenses::output_hardening::{HardenedOutputs, Hardening};
use aisec_defenses::query_limit::QueryLimit;
use aisec_ml::data::BuiltinDataset;
use aisec_ml::model::{Classifier, OutputKind, Restricted};
use aisec_ml::native::NativeModel;

fn cnn() -> Arc<dyn Classifier> {
    Arc::new(
        NativeModel::load(
            &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ml/tests/fixtures/onnx/digits-cnn"),
        )
        .unwrap(),
    )
}

fn success(name: &str, params: EvasionParams, model: &dyn Classifier) -> f64 {
    let (_, test) = BuiltinDataset::Digits.split();
    let data = test.head(40);
    let attack = (find_evasion(name).unwrap().build)(&params).unwrap();
    let task = EvasionTask {
        model,
        x: &data.x,
        y: &data.y,
        clip: data.input_range,
        target: None,
        seed: 4,
    };
    let outcome = evasion::run(attack.as_ref(), &task).unwrap();
    eprintln!(
        "{name} on {}: {:?}",
        model.info().description,
        outcome.metrics
    );
    outcome.metrics.get("attack_success_rate").unwrap()
}

fn square() -> EvasionParams {
    EvasionParams {
        eps: Some(0.1),
        norm: Some(Norm::Linf),
        steps: Some(1000),
        ..EvasionParams::default()
    }
}

fn hsj() -> EvasionParams {
    EvasionParams {
        eps: Some(1.5),
        norm: Some(Norm::L2),
        steps: Some(2000),
        ..EvasionParams::default()
    }
}

#[test]
fn rounding_costs_score_based_attacks_but_not_decision_based_ones() {
    let model = cnn();
    let rounded = HardenedOutputs::new(model.clone(), Hardening::Round(1));
    let open_square = success("square", square(), model.as_ref());
    let rounded_square = success("square", square(), &rounded);
    assert!(
        rounded_square < open_square,
        "rounding should cost Square: {rounded_square} vs {open_square}"
    );
    // A label-only adversary does not care how probabilities are rounded.
    let labels = Restricted::new(model.clone(), OutputKind::Label, false);
    let top1 = HardenedOutputs::new(model, Hardening::Top1);
    assert_eq!(success("hsj", hsj(), &labels), success("hsj", hsj(), &top1));
}

#[test]
fn a_query_budget_stops_query_hungry_attacks() {
    let model = cnn();
    let open = success("hsj", hsj(), model.as_ref());
    let limited = QueryLimit::new(model, 4000);
    let stopped = success("hsj", hsj(), &limited);
    assert!(limited.used() <= 4000);
    assert!(
        stopped < open,
        "a 4000-query budget for 40 images should stop HopSkipJump early: {stopped} vs {open}"
    );
}
