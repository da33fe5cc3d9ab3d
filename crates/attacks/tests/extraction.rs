//! Functional extraction against models aisec trains, with the figures the issue expects.

use aisec_core::Metric;
use std::path::PathBuf;
use std::sync::Arc;

use aisec_attacks::extract::equation::{EquationConfig, EquationSolving, Solver};
use aisec_attacks::extract::jacobian::{JacobianAugmentation, JacobianConfig};
use aisec_attacks::extract::knockoff::{Knockoff, KnockoffConfig, Pool, Strategy};
use aisec_attacks::extract::{self, ExtractionAttack, ExtractionOutcome, ExtractionTask};
use aisec_ml::data::{BuiltinDataset, Dataset};
use aisec_ml::model::{Classifier, OutputKind, Restricted};
use aisec_ml::native::NativeModel;
use aisec_ml::net::Architecture;

fn cnn() -> Arc<dyn Classifier> {
    // The digits CNN aisec trained with seed 7 (also the ONNX fixture's weights).
    Arc::new(
        NativeModel::load(
            &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ml/tests/fixtures/onnx/digits-cnn"),
        )
        .unwrap(),
    )
}

fn logreg(data: BuiltinDataset) -> (Arc<dyn Classifier>, Dataset, Dataset) {
    let (train_set, test_set) = data.split();
    let model = NativeModel::fit(Architecture::Logreg, &train_set, 7).unwrap();
    (Arc::new(model), train_set, test_set)
}

fn extract(
    attack: &dyn ExtractionAttack,
    victim: &dyn Classifier,
    public: &Dataset,
    holdout: &Dataset,
    budget: u64,
    transfer: Option<f32>,
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
    let outcome = extract::run(attack, &task, transfer).unwrap();
    eprintln!(
        "{} ({:?}, budget {budget}): {:?}\n  curve {:?}\n  transfer {:?}\n  {}",
        outcome.name,
        victim.output_kind(),
        outcome.metrics,
        outcome
            .curve
            .iter()
            .map(|c| (c.queries, c.fidelity, c.fidelity_uniform))
            .collect::<Vec<_>>(),
        outcome.transfer,
        outcome.observations
    );
    assert_eq!(
        victim.budget().used(),
        outcome.metrics.get(Metric::QueriesTotal).unwrap() as u64
    );
    outcome
}

fn m(o: &ExtractionOutcome, k: Metric) -> f64 {
    o.metrics.get(k).unwrap()
}

#[test]
fn equation_solving_recovers_softmax_and_logistic_regression_exactly() {
    let (victim, train_set, test_set) = logreg(BuiltinDataset::Digits);
    let attack = EquationSolving(EquationConfig::default());
    let o = extract(&attack, victim.as_ref(), &train_set, &test_set, 650, None);
    assert!(m(&o, Metric::QueriesTotal) <= 650.0);
    assert_eq!(m(&o, Metric::QueriesTotal), 65.0, "d + 1 queries");
    assert_eq!(m(&o, Metric::FidelityUniform), 1.0);
    assert_eq!(m(&o, Metric::Fidelity), 1.0);

    let (victim, train_set, test_set) = logreg(BuiltinDataset::BreastCancer);
    let o = extract(&attack, victim.as_ref(), &train_set, &test_set, 31, None);
    assert_eq!(m(&o, Metric::QueriesTotal), 31.0);
    assert_eq!(m(&o, Metric::FidelityUniform), 1.0);
    assert_eq!(m(&o, Metric::Fidelity), 1.0);
}

#[test]
fn substitutes_of_the_digits_cnn_from_5000_queries() {
    let victim = cnn();
    let (train_set, test_set) = BuiltinDataset::Digits.split();
    let labels: Arc<dyn Classifier> =
        Arc::new(Restricted::new(victim.clone(), OutputKind::Label, false));

    let knockoff = Knockoff(KnockoffConfig::default());
    let probs = extract(
        &knockoff,
        victim.as_ref(),
        &train_set,
        &test_set,
        5000,
        Some(0.2),
    );
    let label_only = extract(
        &knockoff,
        labels.as_ref(),
        &train_set,
        &test_set,
        5000,
        None,
    );
    // The public pool is the 1,438 training digits: the attack stops when it runs dry.
    assert_eq!(m(&probs, Metric::QueriesTotal), 1438.0);
    assert!(m(&probs, Metric::Fidelity) >= 0.95);
    assert!(m(&label_only, Metric::Fidelity) >= 0.95);
    let transfer = probs.transfer.as_ref().unwrap();
    assert!(transfer.substitute_success_rate >= 0.95);
    // Transfer to the victim is real but far weaker than white-box PGD at this ε.
    assert!(transfer.attack_success_rate > 0.02 && transfer.attack_success_rate < 0.5);

    let adaptive = Knockoff(KnockoffConfig {
        pool: Pool::Mixup,
        strategy: Strategy::Adaptive,
        ..KnockoffConfig::default()
    });
    let mixup = extract(
        &adaptive,
        victim.as_ref(),
        &train_set,
        &test_set,
        5000,
        None,
    );
    assert_eq!(m(&mixup, Metric::QueriesTotal), 5000.0);
    assert!(m(&mixup, Metric::Fidelity) >= 0.95);
    assert!(m(&mixup, Metric::FidelityUniform) > m(&probs, Metric::FidelityUniform));

    let jacobian = JacobianAugmentation(JacobianConfig::default());
    let jac = extract(
        &jacobian,
        victim.as_ref(),
        &train_set,
        &test_set,
        5000,
        Some(0.2),
    );
    let jac_labels = extract(
        &jacobian,
        labels.as_ref(),
        &train_set,
        &test_set,
        5000,
        None,
    );
    assert!(m(&jac, Metric::QueriesTotal) <= 5000.0);
    assert!(m(&jac, Metric::Fidelity) >= 0.9);
    assert!(m(&jac_labels, Metric::Fidelity) >= 0.9);
    // The set doubles each round from 150 seeds.
    let grown = jac
        .observations
        .get::<aisec_attacks::extract::jacobian::JacobianObservations>()
        .expect("Jacobian augmentation states how its set grew");
    assert_eq!(grown.set_size_by_round[1], 300);
    let curve: Vec<u64> = jac.curve.iter().map(|c| c.queries).collect();
    assert_eq!(&curve[..3], &[150, 300, 600]);
}

#[test]
fn extraction_over_kserve_counts_every_query() {
    let victim = cnn();
    let (train_set, test_set) = BuiltinDataset::Digits.split();
    let server = aisec_ml::kserve::serve(victim.clone(), "digits", "127.0.0.1:0").unwrap();
    let url = format!("kserve+http://{}/v2/models/digits", server.addr);
    let remote =
        aisec_ml::kserve::KServeModel::connect(&url, None, std::time::Duration::from_secs(30))
            .unwrap();
    let attack = Knockoff(KnockoffConfig::default());
    let local = extract(&attack, victim.as_ref(), &train_set, &test_set, 600, None);
    let over_http = extract(&attack, &remote, &train_set, &test_set, 600, None);
    assert_eq!(m(&over_http, Metric::QueriesTotal), 600.0);
    assert_eq!(m(&over_http, Metric::Fidelity), m(&local, Metric::Fidelity));
}

#[test]
fn bad_configurations_are_refused() {
    let (victim, train_set, test_set) = logreg(BuiltinDataset::Iris);
    let labels: Arc<dyn Classifier> = Arc::new(Restricted::new(victim, OutputKind::Label, false));
    let exact = EquationSolving(EquationConfig {
        solver: Solver::Exact,
        ..EquationConfig::default()
    });
    let task = ExtractionTask {
        victim: labels.as_ref(),
        public: &train_set,
        holdout: &test_set,
        budget: 100,
        seed: 1,
        reference: None,
    };
    let err = extract::run(&exact, &task, None).err().unwrap().to_string();
    assert!(err.contains("probabilities"), "{err}");
    let zero = ExtractionTask { budget: 0, ..task };
    assert!(extract::run(&exact, &zero, None).is_err());
}

#[test]
fn retraining_extracts_a_small_mlp() {
    let (train_set, test_set) = BuiltinDataset::Digits.split();
    let victim = NativeModel::fit(Architecture::Mlp, &train_set, 7).unwrap();
    // Tramèr et al.'s retraining measures agreement on uniform inputs, where its queries lie;
    // natural digits are a thin slice of that space and agree far less often.
    for queries in [650u64, 5000] {
        let attack = EquationSolving(EquationConfig {
            solver: Solver::Retrain,
            substitute: Architecture::Mlp,
            queries: Some(queries),
            ..EquationConfig::default()
        });
        let o = extract(&attack, &victim, &train_set, &test_set, queries, None);
        assert_eq!(m(&o, Metric::QueriesTotal), queries as f64);
        assert!(m(&o, Metric::FidelityUniform) >= 0.9);
        assert!(m(&o, Metric::Fidelity) < m(&o, Metric::FidelityUniform));
    }
}
