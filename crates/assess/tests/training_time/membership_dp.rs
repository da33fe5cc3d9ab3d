//! DP-SGD measured by attacking again: LiRA (16 shadow models, trained with DP-SGD like the
//! target) against the overfitted purchase-synthetic MLP, before and after retraining the
//! same members at ε = 4 (δ = 1e-5). The accuracy the defence costs is reported, not hidden.
//!
//! Measured at seed 0 (TPR at 1% FPR, accuracy on non-members): plain 24.7%, 78%;
//! ε = 8: 2.7%, 28% — above the 2% line, so the assertion is made at ε = 4, the largest
//! budget tried that reaches it (README, "Privacy").

use std::sync::Arc;

use aisec_assess::membership::{run_behind_retraining, MembershipExperiment};
use aisec_atlas::KnowledgeBase;
use aisec_attacks::membership::{self, MembershipParams, MembershipSplit, MembershipTask, Recipe};
use aisec_core::Metric;
use aisec_defenses::dp_sgd::DpSgdDefense;
use aisec_ml::data::BuiltinDataset;
use aisec_ml::model::OutputKind;
use aisec_ml::native::{Manifest, NativeModel};
use aisec_ml::net::Architecture;
use aisec_ml::train::TrainConfig;

#[test]
fn dp_sgd_at_epsilon_4_brings_lira_to_within_twice_the_chance_line() {
    let seed = 0;
    let data = BuiltinDataset::PurchaseSynthetic.load();
    let split = MembershipSplit::new(&data, 2500, seed).unwrap();
    let recipe = Recipe::plain(Architecture::Mlp, overfitting(seed), 2500);
    let net = recipe.fit(&split.members, seed).unwrap();
    let plain_target = Arc::new(NativeModel::new(
        net,
        Manifest::new(recipe.architecture, &split.members, seed),
    ));
    let lira =
        |params: &MembershipParams| (membership::find("lira").unwrap().build)(params).unwrap();
    let params = MembershipParams {
        shadows: Some(16),
        ..Default::default()
    };
    let plain = membership::run(
        lira(&params).as_ref(),
        &MembershipTask {
            target: plain_target.as_ref(),
            candidates: &split.candidates,
            population: &split.population,
            recipe: recipe.clone(),
            budget: u64::MAX,
            seed,
            progress: None,
        },
        &split.is_member,
    )
    .unwrap();
    let experiment = MembershipExperiment {
        members: &split.members,
        candidates: &split.candidates,
        is_member: &split.is_member,
        population: &split.population,
        recipe,
        outputs: OutputKind::Probabilities,
        budget: u64::MAX,
        seed,
        progress: None,
    };
    let kb = KnowledgeBase::embedded().unwrap();
    let defended = run_behind_retraining(
        lira(&params).as_ref(),
        &experiment,
        &DpSgdDefense {
            target_epsilon: Some(4.0),
            ..DpSgdDefense::default()
        },
        &kb,
        "purchase-synthetic",
    )
    .unwrap();
    let tpr = defended.metrics.get(Metric::TprAt1PctFpr).unwrap();
    let eps = defended.metrics.get(Metric::EpsilonDp).unwrap();
    let accuracy = defended.metrics.get(Metric::CleanAccuracy).unwrap();
    println!(
        "LiRA TPR at 1% FPR: {:.4} plain, {tpr:.4} behind DP-SGD at ε = {eps:.2}; defended accuracy on non-members {accuracy:.3}",
        plain.roc.tpr_at_1pct_fpr
    );
    assert!(eps <= 4.0 + 1e-9);
    assert!(plain.roc.tpr_at_1pct_fpr > 0.1);
    assert!(tpr <= 0.02, "TPR at 1% FPR {tpr} behind DP-SGD");
    // The cost is real and reported: the private model is well below the plain one.
    assert!(accuracy > 0.1 && accuracy < 0.75, "{accuracy}");
    let observed = defended.defense.unwrap().observed.unwrap();
    let spent = observed
        .get::<aisec_assess::membership::RetrainingObserved>()
        .and_then(|r| r.retraining.as_ref())
        .and_then(|r| r.get::<aisec_defenses::dp_sgd::PrivacySpent>())
        .expect("DP-SGD states what it spent");
    assert_eq!(spent.accountant, "rdp");
    assert!(spent.noise_multiplier > 1.0);
    assert!((spent.epsilon - eps).abs() < 1e-12);
}

/// 30 epochs of Adam at 2e-3, batches of 64: 100% on the members.
fn overfitting(seed: u64) -> TrainConfig {
    TrainConfig {
        epochs: 30,
        batch_size: 64,
        learning_rate: 2e-3,
        seed,
        weight_decay: 0.0,
        noise_sigma: 0.0,
    }
}
