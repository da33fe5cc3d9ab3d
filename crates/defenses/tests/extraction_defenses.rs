//! Output hardening and PRADA measured against the extraction attacks.

use aisec_core::Metric;
use std::path::PathBuf;
use std::sync::Arc;

use aisec_attacks::extract::equation::{EquationConfig, EquationSolving, Solver};
use aisec_attacks::extract::jacobian::{JacobianAugmentation, JacobianConfig};
use aisec_attacks::extract::knockoff::{Knockoff, KnockoffConfig};
use aisec_attacks::extract::{self, ExtractionAttack, ExtractionOutcome, ExtractionTask};
use aisec_defenses::output_hardening::{HardenedOutputs, Hardening};
use aisec_defenses::prada::{Prada, PradaConfig};
use aisec_defenses::query_limit::LOCAL_CLIENT;
use aisec_ml::data::augment::natural_variations;
use aisec_ml::data::{BuiltinDataset, Dataset};
use aisec_ml::model::Classifier;
use aisec_ml::native::NativeModel;
use aisec_ml::net::Architecture;
use aisec_ml::train;

fn cnn() -> Arc<dyn Classifier> {
    Arc::new(
        NativeModel::load(
            &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ml/tests/fixtures/onnx/digits-cnn"),
        )
        .unwrap(),
    )
}

fn digits_logreg() -> (Arc<dyn Classifier>, Dataset, Dataset) {
    let (train_set, test_set) = BuiltinDataset::Digits.split();
    let model = NativeModel::fit(Architecture::Logreg, &train_set, 7).unwrap();
    (Arc::new(model), train_set, test_set)
}

fn extract(
    attack: &dyn ExtractionAttack,
    victim: &dyn Classifier,
    public: &Dataset,
    holdout: &Dataset,
    budget: u64,
) -> ExtractionOutcome {
    victim.budget().reset();
    let task = ExtractionTask {
        victim,
        public,
        holdout,
        budget,
        seed: 7,
        reference: None,
    };
    let outcome = extract::run(attack, &task, None).unwrap();
    eprintln!(
        "{} on {}: {:?}\n  {}",
        outcome.name,
        victim.info().description,
        outcome.metrics,
        outcome.observations
    );
    outcome
}

fn m(o: &ExtractionOutcome, k: Metric) -> f64 {
    o.metrics.get(k).unwrap()
}

#[test]
fn rounding_and_reverse_sigmoid_break_equation_solving_but_not_label_only_retraining() {
    let (victim, train_set, test_set) = digits_logreg();
    let exact = EquationSolving(EquationConfig::default());
    let plain = extract(&exact, victim.as_ref(), &train_set, &test_set, 650);
    assert_eq!(m(&plain, Metric::FidelityUniform), 1.0);
    let all_650 = EquationSolving(EquationConfig {
        queries: Some(650),
        ..EquationConfig::default()
    });
    for mode in [Hardening::Round { decimals: 1 }, Hardening::REVERSE_SIGMOID] {
        let hardened: Arc<dyn Classifier> = Arc::new(HardenedOutputs::new(victim.clone(), mode));
        // The hardened API still gives (nearly) every input its class: rounding can tie.
        let answered = hardened.query(&test_set.x).unwrap().labels(10);
        let agreement = train::accuracy(&answered, &victim.evaluate(&test_set.x).unwrap());
        eprintln!("{mode:?}: top-1 kept on {agreement}");
        assert!(agreement >= 0.99, "{mode:?}: {agreement}");
        for attack in [&exact, &all_650] {
            let broken = extract(attack, hardened.as_ref(), &train_set, &test_set, 650);
            assert!(m(&broken, Metric::FidelityUniform) < 0.85, "{mode:?}");
            assert!(m(&broken, Metric::Fidelity) < 0.35, "{mode:?}");
        }
    }
    // Tramèr et al.'s adaptive retraining needs labels only.
    let labels: Arc<dyn Classifier> =
        Arc::new(HardenedOutputs::new(victim.clone(), Hardening::Label));
    let retrain = |queries: u64, adaptive_rounds: usize| {
        EquationSolving(EquationConfig {
            solver: Solver::Retrain,
            queries: Some(queries),
            adaptive_rounds,
            ..EquationConfig::default()
        })
    };
    let adaptive = extract(
        &retrain(2000, 4),
        labels.as_ref(),
        &train_set,
        &test_set,
        2000,
    );
    let uniform = extract(
        &retrain(2000, 0),
        labels.as_ref(),
        &train_set,
        &test_set,
        2000,
    );
    assert!(m(&adaptive, Metric::FidelityUniform) >= 0.93);
    assert!(m(&adaptive, Metric::FidelityUniform) > m(&uniform, Metric::FidelityUniform));
    // Behind the rounding API, a label-only substitute trained on the adversary's own
    // digits agrees with the victim on natural data too.
    let rounded: Arc<dyn Classifier> = Arc::new(HardenedOutputs::new(
        victim.clone(),
        Hardening::Round { decimals: 1 },
    ));
    let knockoff = Knockoff(KnockoffConfig::default());
    let natural = extract(&knockoff, rounded.as_ref(), &train_set, &test_set, 5000);
    assert!(m(&natural, Metric::Fidelity) >= 0.93);
}

#[test]
fn prada_flags_jacobian_augmentation_and_not_a_benign_stream() {
    let (train_set, test_set) = BuiltinDataset::Digits.split();
    let watched = Arc::new(Prada::new(cnn(), PradaConfig::default()));
    let jacobian = JacobianAugmentation(JacobianConfig::default());
    let jacobian_unblocked = extract(&jacobian, watched.as_ref(), &train_set, &test_set, 5000);
    let o = &jacobian_unblocked;
    let stats = watched.client_stats(LOCAL_CLIENT);
    eprintln!("jacobian: {stats:?}");
    let delay = stats
        .alert_at_query
        .expect("PRADA flags Jacobian augmentation");
    assert!(delay <= 500, "{stats:?}");
    assert!(delay > 150, "the seed set alone is natural data: {stats:?}");
    // Monitoring alone does not stop the attack.
    assert!(m(o, Metric::Fidelity) >= 0.9);

    // 5,000 benign queries: natural variations of the held-out digits.
    watched.reset();
    let benign = natural_variations(&test_set, 5000, 11);
    for chunk in benign.x.chunks(64 * 100) {
        watched.query(chunk).unwrap();
    }
    let stats = watched.client_stats(LOCAL_CLIENT);
    eprintln!("benign: {stats:?}");
    assert_eq!(stats.queries, 5000);
    assert_eq!(stats.alert_at_query, None, "{stats:?}");

    // Knockoff on natural data looks like a benign user: PRADA's known blind spot.
    watched.reset();
    let knockoff = Knockoff(KnockoffConfig::default());
    let o = extract(&knockoff, watched.as_ref(), &train_set, &test_set, 5000);
    let stats = watched.client_stats(LOCAL_CLIENT);
    eprintln!("knockoff: {stats:?}");
    assert_eq!(stats.alert_at_query, None);
    assert!(m(&o, Metric::Fidelity) >= 0.9);

    // In block mode the alert ends the extraction early.
    let blocking = Arc::new(Prada::new(
        cnn(),
        PradaConfig {
            block: true,
            ..PradaConfig::default()
        },
    ));
    let o = extract(&jacobian, blocking.as_ref(), &train_set, &test_set, 5000);
    let stats = blocking.client_stats(LOCAL_CLIENT);
    eprintln!("blocked jacobian: {stats:?} {:?}", o.metrics);
    assert!(o.budget_exhausted);
    assert!(m(&o, Metric::QueriesTotal) <= 600.0);
    assert!(stats.refused > 0);
    // …but not before a usable substitute: the seeds and one round already agree often.
    assert!(m(&o, Metric::Fidelity) < m(&jacobian_unblocked, Metric::Fidelity));
}
