//! White-box evasion against the digits CNN, with fixed seeds: the thresholds of the issue.

use aisec_core::Metric;
use std::sync::{Arc, OnceLock};

use aisec_attacks::evasion::{self, EvasionParams, EvasionTask, Norm};
use aisec_attacks::registry::find_evasion;
use aisec_attacks::AttackError;
use aisec_ml::data::{BuiltinDataset, Dataset};
use aisec_ml::model::{Classifier, OutputKind, Restricted};
use aisec_ml::native::{Manifest, NativeModel};
use aisec_ml::net::Architecture;
use aisec_ml::train::{init_network, train, TrainConfig};

struct Fixture {
    model: Arc<NativeModel>,
    test: Dataset,
}

impl Fixture {
    /// A model of its own for each test, so that query counts are the test's alone.
    fn fresh(&self) -> NativeModel {
        NativeModel::new(self.model.network().clone(), self.model.manifest.clone())
    }
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let (train_set, test) = BuiltinDataset::Digits.split();
        let net = init_network(Architecture::Cnn, &train_set, 7).unwrap();
        let (net, _) = train(
            net,
            &train_set,
            &TrainConfig::for_architecture(Architecture::Cnn, 7),
            None,
            |_| {},
        );
        Fixture {
            model: Arc::new(NativeModel::new(
                net,
                Manifest::new(Architecture::Cnn, &train_set, 7),
            )),
            test,
        }
    })
}

fn attack(
    name: &str,
    params: EvasionParams,
    model: &dyn Classifier,
    target: Option<usize>,
) -> aisec_attacks::AttackOutcome {
    let fx = fixture();
    let attack = (find_evasion(name).unwrap().build)(&params).unwrap();
    let task = EvasionTask {
        model,
        x: &fx.test.x,
        y: &fx.test.y,
        clip: fx.test.input_range,
        target,
        seed: 1,
        stopped: Default::default(),
    };
    let outcome = evasion::run(attack.as_ref(), &task).unwrap();
    eprintln!("{name} {:?}: {:?}", params, outcome.metrics);
    outcome
}

fn linf(eps: f32) -> EvasionParams {
    EvasionParams {
        eps: Some(eps),
        norm: Some(Norm::Linf),
        ..EvasionParams::default()
    }
}

#[test]
fn pgd_40_at_eps_0_2_breaks_the_cnn_and_fgsm_is_weaker() {
    let fx = fixture();
    let pgd = attack(
        "pgd",
        EvasionParams {
            steps: Some(40),
            ..linf(0.2)
        },
        &fx.fresh(),
        None,
    );
    let fgsm_model = fx.fresh();
    let fgsm = attack("fgsm", linf(0.2), &fgsm_model, None);
    assert_eq!(
        fgsm_model.budget().used() as usize,
        fx.test.len(),
        "FGSM takes one gradient per example"
    );
    let m = |o: &aisec_attacks::AttackOutcome, k: Metric| o.metrics.get(k).unwrap();
    assert!(m(&pgd, Metric::CleanAccuracy) >= 0.97);
    assert!(
        m(&pgd, Metric::RobustAccuracy) <= 0.05,
        "PGD-40 robust accuracy {}",
        m(&pgd, Metric::RobustAccuracy)
    );
    assert!(
        m(&fgsm, Metric::RobustAccuracy) > m(&pgd, Metric::RobustAccuracy),
        "FGSM should be weaker than PGD"
    );
    assert!(m(&pgd, Metric::AttackSuccessRate) >= 0.95);
    // Every adversarial input stays in the ε-ball and in [0, 1].
    for (a, o) in pgd.adversarial.iter().zip(&fx.test.x) {
        assert!((a - o).abs() <= 0.2 + 1e-5 && (0.0..=1.0).contains(a));
    }
    assert!(m(&pgd, Metric::MeanLinf) <= 0.2 + 1e-5 && m(&pgd, Metric::MeanLinf) > 0.0);
    // 41 gradient evaluations at most per example (40 steps and the final score).
    assert!(m(&pgd, Metric::QueriesMean) <= 41.0 && m(&pgd, Metric::QueriesMean) >= 1.0);
}

#[test]
fn apgd_is_at_least_as_strong_as_pgd_at_a_small_budget() {
    let fx = fixture();
    let pgd = attack(
        "pgd",
        EvasionParams {
            steps: Some(20),
            ..linf(0.05)
        },
        fx.model.as_ref(),
        None,
    );
    let apgd = attack(
        "apgd",
        EvasionParams {
            steps: Some(20),
            ..linf(0.05)
        },
        fx.model.as_ref(),
        None,
    );
    let r = |o: &aisec_attacks::AttackOutcome| o.metrics.get(Metric::RobustAccuracy).unwrap();
    assert!(
        r(&apgd) <= r(&pgd) + 0.02,
        "APGD {} vs PGD {}",
        r(&apgd),
        r(&pgd)
    );
    assert!(
        r(&apgd) < 0.9,
        "APGD at ε=0.05 should already hurt: {}",
        r(&apgd)
    );
}

#[test]
fn l2_and_targeted_attacks() {
    let fx = fixture();
    let l2 = attack(
        "pgd",
        EvasionParams {
            eps: Some(1.5),
            norm: Some(Norm::L2),
            ..EvasionParams::default()
        },
        fx.model.as_ref(),
        None,
    );
    assert!(l2.metrics.get(Metric::RobustAccuracy).unwrap() < 0.3);
    assert!(l2.examples.iter().all(|e| e.l2 <= 1.5 + 1e-4));
    let targeted = attack(
        "pgd",
        EvasionParams {
            steps: Some(100),
            ..linf(0.3)
        },
        fx.model.as_ref(),
        Some(3),
    );
    let rate = targeted.metrics.get(Metric::AttackSuccessRate).unwrap();
    assert!(rate >= 0.9, "targeted success {rate}");
    assert!(targeted
        .examples
        .iter()
        .filter(|e| e.success)
        .all(|e| e.adversarial_prediction == 3));
}

#[test]
fn white_box_attacks_refuse_black_box_targets_and_respect_budgets() {
    let fx = fixture();
    let black_box = Restricted::new(fx.model.clone(), OutputKind::Probabilities, false);
    let attack_impl = (find_evasion("pgd").unwrap().build)(&linf(0.1)).unwrap();
    let task = EvasionTask::on(&black_box, &fx.test, 1);
    assert!(matches!(
        evasion::run(attack_impl.as_ref(), &task),
        Err(AttackError::NeedsGradients { .. })
    ));

    let (train_set, _) = BuiltinDataset::Digits.split();
    let limited = NativeModel::new(
        fx.model.network().clone(),
        Manifest::new(Architecture::Cnn, &train_set, 7),
    )
    .with_budget(Some(1000));
    // 1000 gradient queries finish some chunks of inputs, not all: the rest are reported
    // as not evaluated, and robust accuracy is not measured.
    let task = EvasionTask::on(&limited, &fx.test, 1);
    let outcome = evasion::run(attack_impl.as_ref(), &task).unwrap();
    let q = &outcome.queries;
    assert!(q.stopped_by_budget && q.spent_total <= 1000, "{q:?}");
    assert!(
        q.inputs_not_evaluated > 0 && q.inputs_not_evaluated < fx.test.len(),
        "{q:?}"
    );
    assert_eq!(outcome.metrics.get(Metric::RobustAccuracy), None);
    let evaluated = outcome.examples.iter().filter(|e| e.evaluated).count();
    assert_eq!(evaluated + q.inputs_not_evaluated, fx.test.len());
}

#[test]
fn same_seed_same_adversarial_examples() {
    let fx = fixture();
    let a = attack("pgd", linf(0.1), fx.model.as_ref(), None);
    let b = attack("pgd", linf(0.1), fx.model.as_ref(), None);
    assert_eq!(a.adversarial, b.adversarial);
}
