//! Training the built-in architectures on the built-in datasets, with fixed seeds.

use aisec_ml::data::BuiltinDataset;
use aisec_ml::model::Classifier;
use aisec_ml::native::{Manifest, NativeModel};
use aisec_ml::net::Architecture;
use aisec_ml::train::{accuracy, init_network, predict, train, TrainConfig};

fn train_and_test(arch: Architecture, dataset: BuiltinDataset, seed: u64) -> (f64, NativeModel) {
    let (train_set, test_set) = dataset.split();
    let config = TrainConfig::for_architecture(arch, seed);
    let net = init_network(arch, &train_set, seed).unwrap();
    let (net, report) = train(net, &train_set, &config, None, |_| {});
    let acc = accuracy(&predict(&net, &test_set), &test_set.y);
    eprintln!(
        "{} on {}: test accuracy {acc:.4} in {:.1}s",
        arch.name(),
        dataset.name(),
        report.wall_seconds
    );
    let mut manifest = Manifest::new(arch, &train_set, seed);
    manifest.training = Some(report);
    (acc, NativeModel::new(net, manifest))
}

#[test]
fn digits_cnn_reaches_97_percent() {
    let (acc, _) = train_and_test(Architecture::Cnn, BuiltinDataset::Digits, 7);
    assert!(acc >= 0.97, "digits CNN test accuracy {acc}");
}

#[test]
fn tabular_models_learn() {
    let (acc, _) = train_and_test(Architecture::Logreg, BuiltinDataset::BreastCancer, 1);
    assert!(acc >= 0.95, "breast-cancer logreg {acc}");
    let (acc, _) = train_and_test(Architecture::Mlp, BuiltinDataset::Iris, 1);
    assert!(acc >= 0.9, "iris mlp {acc}");
    let (acc, _) = train_and_test(Architecture::Mlp, BuiltinDataset::Digits, 1);
    assert!(acc >= 0.95, "digits mlp {acc}");
}

#[test]
fn save_and_load_round_trip() {
    let (_, model) = train_and_test(Architecture::Logreg, BuiltinDataset::Iris, 3);
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let loaded = NativeModel::load(dir.path()).unwrap();
    let (_, test_set) = BuiltinDataset::Iris.split();
    assert_eq!(
        model.evaluate(&test_set.x).unwrap(),
        loaded.evaluate(&test_set.x).unwrap()
    );
    assert_eq!(loaded.manifest, model.manifest);
    assert!(NativeModel::load(&dir.path().join("missing")).is_err());
    std::fs::write(dir.path().join("model.json"), "{}").unwrap();
    let err = NativeModel::load(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("model.json") && err.contains("manifest"),
        "{err}"
    );
}

#[test]
fn same_seed_same_model() {
    let (a, ma) = train_and_test(Architecture::Mlp, BuiltinDataset::Iris, 11);
    let (b, mb) = train_and_test(Architecture::Mlp, BuiltinDataset::Iris, 11);
    assert_eq!(a, b);
    let (_, test_set) = BuiltinDataset::Iris.split();
    assert_eq!(
        ma.query(&test_set.x).unwrap(),
        mb.query(&test_set.x).unwrap()
    );
}
