//! A run object carries each module's declared records at every level (the attack, the run
//! behind the defence, the adaptive run): a reader gets the struct back, never a JSON tree to
//! look figures up in, and the JSON a user reads is that struct's serialisation.

use std::path::PathBuf;
use std::sync::Arc;

use aisec_assess::findings::EvasionRunObservations;
use aisec_assess::runner::evasion::{evasion, EvasionRequest};
use aisec_atlas::KnowledgeBase;
use aisec_attacks::evasion::hsj::HsjObservations;
use aisec_attacks::evasion::square::SquareConfig;
use aisec_attacks::evasion::{EvasionConfig, EvasionParams, Norm};
use aisec_attacks::registry::find_evasion;
use aisec_core::Recorded;
use aisec_defenses::output_hardening::Hardening;
use aisec_defenses::DefenseSpec;
use aisec_ml::data::BuiltinDataset;
use aisec_ml::model::Classifier;
use aisec_ml::native::NativeModel;

fn digits_cnn() -> Arc<dyn Classifier> {
    // The digits CNN aisec trained with seed 7 (also the ONNX fixture's weights).
    Arc::new(
        NativeModel::load(
            &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ml/tests/fixtures/onnx/digits-cnn"),
        )
        .unwrap(),
    )
}

#[test]
fn a_defended_evasion_run_reads_back_typed_at_every_level() {
    let (_, test) = BuiltinDataset::Digits.split();
    let data = test.head(8);
    let defense = DefenseSpec::parse("top1").unwrap();
    let kb = KnowledgeBase::embedded().unwrap();
    let request = EvasionRequest {
        attack: find_evasion("square").unwrap(),
        params: EvasionParams {
            eps: Some(0.1),
            queries_per_input: Some(200),
            ..EvasionParams::default()
        },
        model: digits_cnn(),
        data: &data,
        target_class: None,
        defense: Some(&defense),
        seed: 3,
    };
    let run = evasion(&request, &kb).unwrap();
    let report = &run.report;

    let config = report
        .config
        .get::<EvasionConfig>()
        .expect("an evasion run's config is an EvasionConfig");
    let square = config
        .attack
        .get::<SquareConfig>()
        .expect("Square's own config inside it");
    assert_eq!(
        (square.eps, square.norm, square.max_queries),
        (0.1, Norm::Linf, 200)
    );
    let observations = report
        .observations
        .as_ref()
        .and_then(|o| o.get::<EvasionRunObservations>())
        .expect("an evasion run's observations");
    assert_eq!(observations.queries.allowed_per_input, Some(200));
    assert!(observations.queries.spent_total > 0);

    let defended = report.defended.as_ref().expect("the run behind top1");
    let settings = defended
        .defense
        .as_ref()
        .and_then(|d| d.settings.as_ref())
        .expect("the defence's settings");
    assert_eq!(settings.get::<Hardening>(), Some(&Hardening::Top1));
    assert!(settings.get::<Recorded>().is_none());

    // Behind top-1 the adaptive adversary runs HopSkipJump on the labels, at Square's budget.
    let adaptive = defended.adaptive.as_ref().expect("the adaptive run");
    let adaptive_config = adaptive.config.get::<EvasionConfig>().unwrap();
    assert_eq!(adaptive.name, "evasion.hsj");
    assert_eq!(adaptive_config.attack.to_json()["eps"], 0.1);
    let curve = &adaptive
        .observations
        .as_ref()
        .and_then(|o| o.get::<EvasionRunObservations>())
        .and_then(|o| o.attack.attack.as_ref())
        .and_then(|a| a.get::<HsjObservations>())
        .expect("HopSkipJump's curve")
        .median_distance_by_queries;
    assert!(!curve.is_empty());

    // The JSON is the structs' serialisation, flattened where the struct says so.
    let json = serde_json::to_value(report).unwrap();
    assert_eq!(json["config"], serde_json::to_value(config).unwrap());
    assert_eq!(json["config"]["max_queries"], 200);
    assert_eq!(json["config"]["clip"], serde_json::json!([0.0, 1.0]));
    assert_eq!(json["observations"]["queries"]["allowed_per_input"], 200);
    assert_eq!(json["defended"]["defense"]["settings"]["mode"], "top1");
    assert_eq!(
        json["defended"]["adaptive"]["observations"]["median_distance_by_queries"]
            .as_array()
            .map(Vec::len),
        Some(curve.len())
    );
}
