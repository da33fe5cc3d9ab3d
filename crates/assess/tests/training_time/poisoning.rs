//! BadNets on digits with the expected results, and the defences measured on it.

use aisec_assess::poisoning::{PoisonAttack, PoisonOutcome};
use aisec_attacks::poison::badnets::BadNetsConfig;
use aisec_attacks::poison::label_flip::LabelFlip;
use aisec_defenses::activation_clustering::ClusteringConfig;
use aisec_defenses::spectral::SpectralConfig;
use aisec_defenses::strip::StripConfig;
use aisec_defenses::DefenseSpec;
use aisec_ml::data::BuiltinDataset;
use aisec_ml::net::Architecture;

/// The poisoning run through the one runner, its figures.
fn run(
    arch: Architecture,
    train: &aisec_ml::data::Dataset,
    test: &aisec_ml::data::Dataset,
    attack: PoisonAttack,
    defense: Option<DefenseSpec>,
    seed: u64,
) -> aisec_assess::Result<PoisonOutcome> {
    let kb = aisec_atlas::KnowledgeBase::embedded()?;
    aisec_assess::poisoning::run(arch, train, test, attack, defense, seed, &kb).map(|(o, _)| o)
}

/// At three seeds. The backdoor hides and works at each. Activation clustering does not remove
/// it at each: measured, it flags every poison at seeds 1 and 7 (success after 0%) but only
/// 71% at seed 2, where the backdoor keeps 56% success — the seed decides whether the poisoned
/// class splits cleanly. The test holds the defence to what it does: at least two seeds of
/// three, the mean recall, and the clean accuracy it costs (seed 1: 2.8 points).
#[test]
fn badnets_corner_patch_at_five_percent_and_activation_clustering() {
    let (train, test) = BuiltinDataset::Digits.split();
    let attack = PoisonAttack::BadNets(BadNetsConfig::default());
    let (mut recalls, mut after, mut costs) = (Vec::new(), Vec::new(), Vec::new());
    for seed in [1, 2, 7] {
        let o = run(
            Architecture::Cnn,
            &train,
            &test,
            attack,
            Some(DefenseSpec::new(ClusteringConfig::default())),
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
        recalls.push(d.detection_recall);
        after.push(d.after.attack_success_rate.unwrap());
        costs.push(clean.clean_accuracy - d.after.clean_accuracy);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let sd = |v: &[f64]| {
        let m = mean(v);
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
    };
    eprintln!(
        "activation clustering at seeds 1, 2, 7: recall {recalls:?} (mean {:.3}, sd {:.3}); success after {after:?} (mean {:.3}); clean accuracy lost {costs:?} (mean {:.4}, sd {:.4})",
        mean(&recalls),
        sd(&recalls),
        mean(&after),
        mean(&costs),
        sd(&costs)
    );
    assert!(
        recalls.iter().filter(|r| **r >= 0.9).count() >= 2,
        "{recalls:?}"
    );
    assert!(mean(&recalls) >= 0.8, "{recalls:?}");
    assert!(after.iter().filter(|a| **a < 0.2).count() >= 2, "{after:?}");
    assert!(mean(&costs) <= 0.03, "{costs:?}");
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
        Some(DefenseSpec::new(SpectralConfig::default())),
        7,
    )
    .unwrap();
    let high = run(
        Architecture::Cnn,
        &train,
        &test,
        attack,
        Some(DefenseSpec::new(SpectralConfig {
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
        Some(DefenseSpec::new(StripConfig::default())),
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
