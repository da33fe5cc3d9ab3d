//! The headline evasion figure at three seeds: a digits CNN trained at seed s and attacked by
//! PGD-40 (L∞, ε = 0.2) at seed s. Mean and spread are printed; each seed is asserted.

use aisec_attacks::evasion::{self, EvasionParams, EvasionTask, Norm};
use aisec_attacks::registry::find_evasion;
use aisec_core::Metric;
use aisec_ml::data::BuiltinDataset;
use aisec_ml::native::{Manifest, NativeModel};
use aisec_ml::net::Architecture;
use aisec_ml::train::{init_network, train, TrainConfig};

#[test]
fn pgd_breaks_the_digits_cnn_at_three_seeds() {
    let (train_set, test) = BuiltinDataset::Digits.split();
    let params = EvasionParams {
        eps: Some(0.2),
        norm: Some(Norm::Linf),
        steps: Some(40),
        ..EvasionParams::default()
    };
    let mut clean = Vec::new();
    let mut robust = Vec::new();
    for seed in [1u64, 2, 3] {
        let net = init_network(Architecture::Cnn, &train_set, seed).unwrap();
        let config = TrainConfig::for_architecture(Architecture::Cnn, seed);
        let (net, _) = train(net, &train_set, &config, None, |_| {});
        let model = NativeModel::new(net, Manifest::new(Architecture::Cnn, &train_set, seed));
        let attack = (find_evasion("pgd").unwrap().build)(&params).unwrap();
        let outcome = evasion::run(attack.as_ref(), &EvasionTask::on(&model, &test, seed)).unwrap();
        clean.push(outcome.metrics.get(Metric::CleanAccuracy).unwrap());
        robust.push(outcome.metrics.get(Metric::RobustAccuracy).unwrap());
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let spread = |v: &[f64]| {
        v.iter().cloned().fold(f64::MIN, f64::max) - v.iter().cloned().fold(f64::MAX, f64::min)
    };
    eprintln!(
        "seeds 1, 2, 3: clean {clean:.3?} (mean {:.3}, spread {:.3}); PGD-40 robust {robust:.3?} (mean {:.3}, spread {:.3})",
        mean(&clean),
        spread(&clean),
        mean(&robust),
        spread(&robust)
    );
    for (c, r) in clean.iter().zip(&robust) {
        assert!(*c >= 0.95, "clean accuracy {c}");
        assert!(*r <= 0.08, "robust accuracy {r}");
    }
    assert!(
        mean(&robust) <= 0.05,
        "mean robust accuracy {}",
        mean(&robust)
    );
}

/// Extraction's headline at three seeds: Knockoff (random, the adversary's own digits as the
/// pool, 2000-query budget) against a digits softmax regression trained at seed s.
#[test]
fn knockoff_copies_the_digits_logreg_at_three_seeds() {
    use aisec_attacks::extract::knockoff::{Knockoff, KnockoffConfig};
    use aisec_attacks::extract::{self, ExtractionTask};
    let (train_set, test) = BuiltinDataset::Digits.split();
    let mut fidelity = Vec::new();
    for seed in [1u64, 2, 3] {
        let victim = NativeModel::fit(Architecture::Logreg, &train_set, seed).unwrap();
        let task = ExtractionTask {
            victim: &victim,
            public: &train_set,
            holdout: &test,
            budget: 2000,
            seed,
            reference: None,
        };
        let outcome = extract::run(&Knockoff(KnockoffConfig::default()), &task, None).unwrap();
        fidelity.push(outcome.metrics.get(Metric::Fidelity).unwrap());
    }
    let mean = fidelity.iter().sum::<f64>() / 3.0;
    eprintln!("Knockoff fidelity at seeds 1, 2, 3: {fidelity:.3?} (mean {mean:.3})");
    for f in &fidelity {
        assert!(*f >= 0.95, "fidelity {f}");
    }
}
