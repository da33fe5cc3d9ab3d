//! Model inversion against the digits softmax regression: white box, every reconstruction
//! nearer its own class's mean training image than any other class's for at least 8 of the
//! 10 classes; from scores alone (zeroth-order estimate through the counted query path), the
//! same check, with the queries it cost.

use std::sync::Arc;

use aisec_attacks::inversion::mi_face::{self, GradientSource, MiFaceConfig};
use aisec_attacks::inversion::resemblance;
use aisec_ml::data::{BuiltinDataset, InputRange};
use aisec_ml::model::{Classifier, OutputKind, Restricted};
use aisec_ml::native::NativeModel;
use aisec_ml::net::Architecture;

fn own_class_nearest(target: &dyn Classifier, config: &MiFaceConfig) -> (usize, u64) {
    let (train, _) = BuiltinDataset::Digits.split();
    let classes: Vec<usize> = (0..10).collect();
    let out = mi_face::invert(
        config,
        target,
        &classes,
        &train.sample_shape,
        InputRange { lo: 0.0, hi: 1.0 },
        u64::MAX,
        3,
    )
    .unwrap();
    let mut hits = 0;
    for inv in &out.images {
        let r = resemblance(&inv.image, inv.class, inv.confidence, &train);
        println!(
            "  class {}: confidence {:.3}, nearest class mean {} (own at {:.2}, nearest other {:.2}), nearest record class {}, centred cosine {:.2}",
            inv.class,
            inv.confidence,
            r.nearest_class_mean,
            r.distance_to_class_means[inv.class],
            r.distance_to_class_means
                .iter()
                .enumerate()
                .filter(|(c, _)| *c != inv.class)
                .map(|(_, d)| *d)
                .fold(f64::INFINITY, f64::min),
            r.nearest_record_class,
            r.centred_cosine_to_own_mean
        );
        hits += usize::from(r.nearest_class_mean == inv.class);
    }
    println!(
        "{hits}/10 own-class nearest, {} queries ({:?})",
        out.queries, out.gradients
    );
    (hits, out.queries)
}

#[test]
fn white_box_reconstructions_look_like_their_class() {
    let (train, _) = BuiltinDataset::Digits.split();
    let model = NativeModel::fit(Architecture::Logreg, &train, 7).unwrap();
    let (hits, queries) = own_class_nearest(&model, &MiFaceConfig::default());
    assert!(hits >= 8, "{hits}/10");
    assert_eq!(queries, 0, "the white box asks the API nothing");
}

#[test]
fn from_scores_alone_with_counted_queries() {
    let (train, _) = BuiltinDataset::Digits.split();
    let model = Arc::new(NativeModel::fit(Architecture::Logreg, &train, 7).unwrap());
    let api = Restricted::new(model, OutputKind::Probabilities, false);
    let config = MiFaceConfig {
        gradients: GradientSource::Auto,
        ..MiFaceConfig::default()
    };
    let (hits, queries) = own_class_nearest(&api, &config);
    // 150 steps × 20 probe pairs × 10 classes.
    assert_eq!(queries, 150 * 40 * 10);
    assert!(hits >= 8, "{hits}/10");
}
