//! Score-based black-box evasion against the digits CNN, locally and over KServe v2.

use aisec_core::Metric;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aisec_attacks::evasion::{self, EvasionParams, EvasionTask, Norm};
use aisec_attacks::registry::find_evasion;
use aisec_attacks::AttackOutcome;
use aisec_ml::data::{BuiltinDataset, Dataset};
use aisec_ml::kserve::{serve, KServeModel};
use aisec_ml::model::{Classifier, OutputKind, Restricted};
use aisec_ml::native::NativeModel;

fn cnn() -> NativeModel {
    // The digits CNN aisec trained with seed 7 (also the ONNX fixture's weights).
    NativeModel::load(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ml/tests/fixtures/onnx/digits-cnn"),
    )
    .unwrap()
}

fn square(
    model: &dyn Classifier,
    data: &Dataset,
    eps: f32,
    norm: Norm,
    queries: usize,
) -> AttackOutcome {
    let attack = (find_evasion("square").unwrap().build)(&EvasionParams {
        eps: Some(eps),
        norm: Some(norm),
        queries_per_input: Some(queries as u64),
        ..EvasionParams::default()
    })
    .unwrap();
    let task = EvasionTask::on(model, data, 5);
    let outcome = evasion::run(attack.as_ref(), &task).unwrap();
    eprintln!("square {norm:?} eps {eps}: {:?}", outcome.metrics);
    outcome
}

#[test]
fn square_linf_fools_90_percent_within_5000_queries() {
    let model = cnn();
    let (_, test) = BuiltinDataset::Digits.split();
    let outcome = square(&model, &test, 0.2, Norm::Linf, 5000);
    let success = outcome.metrics.get(Metric::AttackSuccessRate).unwrap();
    assert!(success >= 0.9, "Square L∞ ε=0.2 success {success}");
    assert!(outcome.metrics.get(Metric::QueriesMean).unwrap() <= 5000.0);
    for (a, o) in outcome.adversarial.iter().zip(&test.x) {
        assert!((a - o).abs() <= 0.2 + 1e-5 && (0.0..=1.0).contains(a));
    }
}

#[test]
fn square_works_on_top1_probabilities_and_l2() {
    let model: Arc<dyn Classifier> = Arc::new(cnn());
    let (_, test) = BuiltinDataset::Digits.split();
    let subset = test.head(60);
    let top1 = Restricted::new(model.clone(), OutputKind::TopK(1), false);
    let outcome = square(&top1, &subset, 0.2, Norm::Linf, 2000);
    assert!(
        outcome.metrics.get(Metric::AttackSuccessRate).unwrap() >= 0.5,
        "top-1 scores still leak enough: {:?}",
        outcome.metrics
    );
    let l2 = square(model.as_ref(), &subset, 2.0, Norm::L2, 2000);
    assert!(
        l2.metrics.get(Metric::AttackSuccessRate).unwrap() >= 0.5,
        "{:?}",
        l2.metrics
    );
    assert!(l2.examples.iter().all(|e| e.l2 <= 2.0 + 1e-4));
    let labels_only = Restricted::new(model, OutputKind::Label, false);
    let attack = (find_evasion("square").unwrap().build)(&EvasionParams::default()).unwrap();
    let task = EvasionTask::on(&labels_only, &subset, 5);
    assert!(evasion::run(attack.as_ref(), &task)
        .unwrap_err()
        .to_string()
        .contains("labels only"));
}

#[test]
fn square_over_kserve_matches_the_local_attack() {
    let (_, test) = BuiltinDataset::Digits.split();
    let subset = test.head(40);
    let server = serve(Arc::new(cnn()), "digits", "127.0.0.1:0").unwrap();
    let remote = KServeModel::connect(
        &format!("kserve+http://{}/v2/models/digits", server.addr),
        None,
        Duration::from_secs(30),
    )
    .unwrap();
    let over_the_wire = square(&remote, &subset, 0.2, Norm::Linf, 5000);
    let local = square(&cnn(), &subset, 0.2, Norm::Linf, 5000);
    assert!(
        over_the_wire
            .metrics
            .get(Metric::AttackSuccessRate)
            .unwrap()
            >= 0.9,
        "{:?}",
        over_the_wire.metrics
    );
    assert_eq!(
        over_the_wire.metrics.get(Metric::QueriesTotal),
        local.metrics.get(Metric::QueriesTotal),
        "the same seeded search, the same queries"
    );
    assert_eq!(
        remote.budget().used() as f64,
        over_the_wire.metrics.get(Metric::QueriesTotal).unwrap()
    );
}

fn hsj(model: &dyn Classifier, data: &Dataset, norm: Norm, queries: usize) -> AttackOutcome {
    let attack = (find_evasion("hsj").unwrap().build)(&EvasionParams {
        norm: Some(norm),
        queries_per_input: Some(queries as u64),
        ..EvasionParams::default()
    })
    .unwrap();
    let task = EvasionTask::on(model, data, 9);
    let outcome = evasion::run(attack.as_ref(), &task).unwrap();
    eprintln!(
        "hsj {norm:?}: {:?} {:?}",
        outcome.metrics, outcome.observations
    );
    outcome
}

#[test]
fn hopskipjump_with_labels_only_and_a_shrinking_perturbation() {
    let model: Arc<dyn Classifier> = Arc::new(cnn());
    let labels_only = Restricted::new(model, OutputKind::Label, false);
    let (_, test) = BuiltinDataset::Digits.split();
    let subset = test.head(30);
    let outcome = hsj(&labels_only, &subset, Norm::L2, 5000);
    let success = outcome.metrics.get(Metric::AttackSuccessRate).unwrap();
    assert!(success >= 0.9, "HopSkipJump success {success}");
    // Its points end a hair past the boundary; asked alone rather than in the batch that
    // judged them, each still gets the answer the report gives.
    let f = subset.x.len() / subset.y.len();
    for (row, example) in outcome.adversarial.chunks(f).zip(&outcome.examples) {
        assert_eq!(
            labels_only.evaluate(row).unwrap()[0],
            example.adversarial_prediction
        );
    }
    assert!(outcome.metrics.get(Metric::QueriesMean).unwrap() <= 5000.0);
    let curve = &outcome
        .observations
        .attack
        .as_ref()
        .and_then(|o| o.get::<aisec_attacks::evasion::hsj::HsjObservations>())
        .expect("HopSkipJump states its curve")
        .median_distance_by_queries;
    let first = curve.first().unwrap().median_distance;
    let last = curve.last().unwrap().median_distance;
    assert!(
        last < 0.7 * first,
        "median L2 should shrink with queries: {curve:?}"
    );
    assert_eq!(curve.last().unwrap().queries, 5000);
}

#[test]
fn hopskipjump_over_kserve_with_labels_only() {
    let (_, test) = BuiltinDataset::Digits.split();
    let subset = test.head(20);
    let server = serve(Arc::new(cnn()), "digits", "127.0.0.1:0").unwrap();
    let remote: Arc<dyn Classifier> = Arc::new(
        KServeModel::connect(
            &format!("kserve+http://{}/v2/models/digits", server.addr),
            None,
            Duration::from_secs(30),
        )
        .unwrap(),
    );
    let labels_only = Restricted::new(remote.clone(), OutputKind::Label, false);
    let over_the_wire = hsj(&labels_only, &subset, Norm::L2, 5000);
    let local = hsj(
        &Restricted::new(Arc::new(cnn()), OutputKind::Label, false),
        &subset,
        Norm::L2,
        5000,
    );
    let success = over_the_wire
        .metrics
        .get(Metric::AttackSuccessRate)
        .unwrap();
    assert!(success >= 0.9, "HopSkipJump over KServe: {success}");
    assert_eq!(
        over_the_wire.metrics.get(Metric::QueriesTotal),
        local.metrics.get(Metric::QueriesTotal),
        "the same seeded search, the same queries"
    );
    assert_eq!(
        remote.budget().used() as f64,
        over_the_wire.metrics.get(Metric::QueriesTotal).unwrap()
    );
}
