//! The same attack on the same network, given as ONNX and as aisec's own weights, gives the
//! same numbers (the ONNX graph is evaluated with burn, gradients included).

use std::path::PathBuf;

use aisec_attacks::evasion::{self, EvasionParams, EvasionTask, Norm};
use aisec_attacks::registry::find_evasion;
use aisec_ml::data::BuiltinDataset;
use aisec_ml::model::Classifier;
use aisec_ml::native::NativeModel;
use aisec_ml::onnx::OnnxModel;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../ml/tests/fixtures/onnx")
        .join(name)
}

#[test]
fn pgd_on_onnx_and_native_agree() {
    let onnx = OnnxModel::load(&fixture("digits-cnn.onnx")).unwrap();
    let native = NativeModel::load(&fixture("digits-cnn")).unwrap();
    let (_, test) = BuiltinDataset::Digits.split();
    let params = EvasionParams {
        eps: Some(0.1),
        norm: Some(Norm::Linf),
        steps: Some(20),
        ..EvasionParams::default()
    };
    let attack = (find_evasion("pgd").unwrap().build)(&params).unwrap();
    let run = |model: &dyn Classifier| {
        let task = EvasionTask::on(model, &test, 3);
        evasion::run(attack.as_ref(), &task).unwrap()
    };
    let (a, b) = (run(&onnx), run(&native));
    use aisec_core::Metric;
    for key in [
        Metric::CleanAccuracy,
        Metric::RobustAccuracy,
        Metric::AttackSuccessRate,
        Metric::MeanL2,
    ] {
        let (x, y) = (a.metrics.get(key).unwrap(), b.metrics.get(key).unwrap());
        assert!((x - y).abs() <= 0.01, "{key}: onnx {x} vs native {y}");
    }
    let differing = a
        .examples
        .iter()
        .zip(&b.examples)
        .filter(|(p, q)| p.adversarial_prediction != q.adversarial_prediction)
        .count();
    assert!(differing <= 3, "{differing} examples end differently");
}
