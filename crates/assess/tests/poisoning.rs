//! BadNets on digits with the expected results, and the defences measured on it.

use aisec_assess::poisoning::{run, PoisonAttack};
use aisec_attacks::poison::badnets::BadNetsConfig;
use aisec_attacks::poison::label_flip::LabelFlip;
use aisec_defenses::activation_clustering::ClusteringConfig;
use aisec_defenses::spectral::SpectralConfig;
use aisec_defenses::strip::StripConfig;
use aisec_defenses::DefenseSpec;
use aisec_ml::data::BuiltinDataset;
use aisec_ml::net::Architecture;

/// At three seeds: the backdoor hides and works at each, activation clustering finds and
/// removes it at each; the clean accuracy it costs moves with the seed (measured: seed 1
/// 3.6 points, seed 7 under 1), so the bound is on the mean, with a per-seed ceiling.
#[test]
fn badnets_corner_patch_at_five_percent_and_activation_clustering() {
    let (train, test) = BuiltinDataset::Digits.split();
    let attack = PoisonAttack::BadNets(BadNetsConfig::default());
    let mut costs = Vec::new();
    for seed in [1, 2, 7] {
        let o = run(
            Architecture::Cnn,
            &train,
            &test,
            attack,
            Some(DefenseSpec::ActivationClustering(
                ClusteringConfig::default(),
            )),
            seed,
        )
        .unwrap();
        eprintln!("seed {seed}: {}", serde_json::to_string(&o).unwrap());
        assert_eq!(o.poison_count, 72, "5% of 1438");
        let clean = o.clean_model;
        let poisoned = o.poisoned_model;
        assert!(
            (clean.clean_accuracy - poisoned.clean_accuracy).abs() <= 0.02,
            "seed {seed}: the backdoor hides: {} vs {}",
            poisoned.clean_accuracy,
            clean.clean_accuracy
        );
        assert!(poisoned.attack_success_rate.unwrap() >= 0.95, "seed {seed}");
        assert!(
            clean.attack_success_rate.unwrap() <= 0.15,
            "seed {seed}: control"
        );
        let d = o.defended.unwrap();
        assert!(
            d.detection_recall >= 0.9,
            "seed {seed}: {}",
            d.detection_recall
        );
        assert!(d.after.attack_success_rate.unwrap() < 0.2, "seed {seed}");
        costs.push(clean.clean_accuracy - d.after.clean_accuracy);
    }
    let mean = costs.iter().sum::<f64>() / costs.len() as f64;
    let spread = costs.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / costs.len() as f64;
    eprintln!(
        "clean accuracy lost to the defence: mean {:.4}, sd {:.4}, per seed {costs:?}",
        mean,
        spread.sqrt()
    );
    assert!(mean <= 0.03, "mean cost {mean}: {costs:?}");
    assert!(costs.iter().all(|c| *c <= 0.05), "{costs:?}");
}

#[test]
fn spectral_signatures_and_strip_are_measured_not_assumed() {
    let (train, test) = BuiltinDataset::Digits.split();
    let attack = PoisonAttack::BadNets(BadNetsConfig::default());
    // The defender's bound on a class's poisoned share decides what spectral signatures can
    // remove: an all-to-one attack at 5% overall is a third of the target class.
    let low = run(
        Architecture::Cnn,
        &train,
        &test,
        attack,
        Some(DefenseSpec::Spectral(SpectralConfig::default())),
        7,
    )
    .unwrap();
    let high = run(
        Architecture::Cnn,
        &train,
        &test,
        attack,
        Some(DefenseSpec::Spectral(SpectralConfig {
            expected_rate: 0.35,
            ..SpectralConfig::default()
        })),
        7,
    )
    .unwrap();
    let (low, high) = (low.defended.unwrap(), high.defended.unwrap());
    eprintln!("spectral 0.1: {low:?}\nspectral 0.35: {high:?}");
    assert!(high.detection_recall > low.detection_recall);
    assert!(
        low.after.attack_success_rate.unwrap() > 0.5,
        "removing too few leaves the backdoor"
    );

    let strip = run(
        Architecture::Cnn,
        &train,
        &test,
        attack,
        Some(DefenseSpec::Strip(StripConfig::default())),
        7,
    )
    .unwrap();
    let s = strip.defended.unwrap();
    eprintln!("strip: {s:?}");
    assert!(s.false_positive_rate <= 0.1);
    assert!(
        s.detection_recall > s.false_positive_rate * 3.0,
        "STRIP separates triggered inputs"
    );
    assert!(
        s.after.attack_success_rate.unwrap() < strip.poisoned_model.attack_success_rate.unwrap()
    );
}

#[test]
fn label_flipping_costs_accuracy_or_moves_a_class() {
    let (train, test) = BuiltinDataset::Digits.split();
    let random = run(
        Architecture::Logreg,
        &train,
        &test,
        PoisonAttack::LabelFlip(LabelFlip::Random { rate: 0.4 }),
        None,
        3,
    )
    .unwrap();
    eprintln!("random: {random:?}");
    assert!(random.poisoned_model.clean_accuracy < random.clean_model.clean_accuracy);
    let targeted = run(
        Architecture::Logreg,
        &train,
        &test,
        PoisonAttack::LabelFlip(LabelFlip::Targeted {
            from: 3,
            to: 8,
            rate: 0.6,
        }),
        None,
        3,
    )
    .unwrap();
    eprintln!("targeted: {targeted:?}");
    assert!(
        targeted.poisoned_model.attack_success_rate.unwrap()
            > targeted.clean_model.attack_success_rate.unwrap() + 0.3
    );
}

#[test]
fn blended_all_to_all_and_clean_label_backdoors() {
    use aisec_attacks::poison::clean_label::CleanLabelConfig;
    use aisec_attacks::poison::{TargetMap, Trigger};
    let (train, test) = BuiltinDataset::Digits.split();
    let blend = run(
        Architecture::Cnn,
        &train,
        &test,
        PoisonAttack::BadNets(BadNetsConfig {
            trigger: Trigger::Blend {
                alpha: 0.2,
                seed: 1,
            },
            map: TargetMap::AllToOne { target: 0 },
            rate: 0.1,
        }),
        None,
        7,
    )
    .unwrap();
    eprintln!("blend: {blend:?}");
    assert!(blend.poisoned_model.attack_success_rate.unwrap() >= 0.8);
    assert!(blend.clean_model.attack_success_rate.unwrap() <= 0.15);

    let all_to_all = run(
        Architecture::Cnn,
        &train,
        &test,
        PoisonAttack::BadNets(BadNetsConfig {
            map: TargetMap::AllToAll,
            rate: 0.1,
            ..BadNetsConfig::default()
        }),
        None,
        7,
    )
    .unwrap();
    eprintln!("all-to-all: {all_to_all:?}");
    assert!(
        all_to_all.poisoned_model.attack_success_rate.unwrap()
            > all_to_all.clean_model.attack_success_rate.unwrap() + 0.3
    );

    let clean_label = run(
        Architecture::Cnn,
        &train,
        &test,
        PoisonAttack::CleanLabel(CleanLabelConfig::default()),
        None,
        7,
    )
    .unwrap();
    eprintln!("clean-label: {clean_label:?}");
    assert!(
        clean_label.poisoned_model.attack_success_rate.unwrap()
            > clean_label.clean_model.attack_success_rate.unwrap() + 0.1,
        "labels untouched, a (weak) backdoor planted"
    );
    assert!(
        (clean_label.clean_model.clean_accuracy - clean_label.poisoned_model.clean_accuracy).abs()
            <= 0.03
    );
}
