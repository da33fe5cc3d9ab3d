//! PGD adversarial training on digits, measured by re-attacking (fixed seeds).

use aisec_attacks::evasion::{self, EvasionParams, EvasionTask, Norm};
use aisec_attacks::registry::find_evasion;
use aisec_core::Metric;
use aisec_defenses::adv_train::{adversarial_training, AdvTrainConfig};
use aisec_ml::data::BuiltinDataset;
use aisec_ml::native::{Manifest, NativeModel};
use aisec_ml::net::Architecture;

#[test]
fn pgd_trained_cnn_keeps_half_its_accuracy_under_pgd_at_eps_0_1() {
    let (train_set, test) = BuiltinDataset::Digits.split();
    let config = AdvTrainConfig::new(Architecture::Cnn, 0.1, Norm::Linf, 7);
    let (net, report) =
        adversarial_training(Architecture::Cnn, &train_set, &config, |_| {}).unwrap();
    eprintln!("adversarial training took {:.1}s", report.wall_seconds);
    let model = NativeModel::new(net, Manifest::new(Architecture::Cnn, &train_set, 7));
    let pgd = (find_evasion("pgd").unwrap().build)(&EvasionParams {
        eps: Some(0.1),
        norm: Some(Norm::Linf),
        steps: Some(40),
        ..EvasionParams::default()
    })
    .unwrap();
    let task = EvasionTask::on(&model, &test, 1);
    let outcome = evasion::run(pgd.as_ref(), &task).unwrap();
    let clean = outcome.metrics.get(Metric::CleanAccuracy).unwrap();
    let robust = outcome.metrics.get(Metric::RobustAccuracy).unwrap();
    eprintln!("defended: clean {clean:.4}, robust under PGD-40 at 0.1 {robust:.4}");
    assert!(clean >= 0.90, "clean accuracy {clean}");
    assert!(robust >= 0.50, "robust accuracy {robust}");
}
