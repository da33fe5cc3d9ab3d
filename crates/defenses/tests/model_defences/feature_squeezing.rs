//! Feature squeezing against non-adaptive PGD, and against an attack that knows the squeezers.

use std::path::PathBuf;

use aisec_attacks::evasion::{self, EvasionParams, EvasionTask, Norm};
use aisec_attacks::registry::find_evasion;
use aisec_defenses::feature_squeezing::FeatureSqueezing;
use aisec_ml::data::{BuiltinDataset, InputRange};
use aisec_ml::model::Classifier;
use aisec_ml::native::NativeModel;

#[test]
fn detects_plain_pgd_and_the_adaptive_attack_evades_it() {
    let model = NativeModel::load(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ml/tests/fixtures/onnx/digits-cnn"),
    )
    .unwrap();
    let (_, held_out) = BuiltinDataset::Digits.split();
    let range = InputRange { lo: 0.0, hi: 1.0 };
    // The threshold is calibrated on clean inputs the model never trained on (the first half of
    // the test split; training inputs are scored too confidently) and measured on the rest.
    let calibration = held_out.subset(&(0..180).collect::<Vec<_>>());
    let test = held_out.subset(&(180..held_out.len()).collect::<Vec<_>>());
    let detector = FeatureSqueezing::calibrate(
        &model,
        FeatureSqueezing::default_squeezers(),
        &calibration.x,
        range,
        0.04,
    )
    .unwrap();
    assert_eq!(
        model.budget().used(),
        0,
        "the detector's own runs of the model are not the adversary's queries"
    );

    // ε = 0.1 and 0.2: plain PGD is caught at both; the adaptive attack evades at both.
    for eps in [0.1, 0.2] {
        let pgd = (find_evasion("pgd").unwrap().build)(&EvasionParams {
            eps: Some(eps),
            norm: Some(Norm::Linf),
            steps: Some(40),
            ..EvasionParams::default()
        })
        .unwrap();
        let task = EvasionTask {
            model: &model,
            x: &test.x,
            y: &test.y,
            clip: Some(range),
            target: None,
            seed: 1,
            stopped: Default::default(),
        };
        let outcome = evasion::run(pgd.as_ref(), &task).unwrap();
        let f = test.features();
        let successful: Vec<f32> = outcome
            .examples
            .iter()
            .enumerate()
            .filter(|(_, e)| e.success)
            .flat_map(|(i, _)| outcome.adversarial[i * f..(i + 1) * f].to_vec())
            .collect();
        let plain = detector.evaluate(&model, &test.x, &successful).unwrap();
        eprintln!("threshold {}: non-adaptive {plain:?}", detector.threshold);
        assert!(
            plain.false_positive_rate <= 0.05,
            "false positives on clean held-out inputs {}",
            plain.false_positive_rate
        );
        assert!(
            plain.detection_recall >= 0.8,
            "detection of non-adaptive PGD {}",
            plain.detection_recall
        );

        let adaptive = detector
            .adaptive_attack(&model, &test.x, &test.y, eps, 400, 2)
            .unwrap();
        let predicted = model.evaluate(&adaptive).unwrap();
        let fooled: Vec<f32> = predicted
            .iter()
            .zip(&test.y)
            .enumerate()
            .filter(|(_, (p, y))| p != y)
            .flat_map(|(i, _)| adaptive[i * f..(i + 1) * f].to_vec())
            .collect();
        let adaptive_report = detector.evaluate(&model, &test.x, &fooled).unwrap();
        eprintln!("adaptive: {adaptive_report:?}");
        assert!(
            adaptive_report.adversarial_examples * 3 >= successful.len() / f,
            "the adaptive attack should still fool many inputs"
        );
        assert!(
            adaptive_report.detection_recall < 0.2,
            "detection of the adaptive attack {}",
            adaptive_report.detection_recall
        );
    }
}

#[test]
fn calibrating_on_no_inputs_is_an_error_not_a_zero_threshold() {
    let model = NativeModel::load(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ml/tests/fixtures/onnx/digits-cnn"),
    )
    .unwrap();
    let range = InputRange { lo: 0.0, hi: 1.0 };
    let Err(err) = FeatureSqueezing::calibrate(
        &model,
        FeatureSqueezing::default_squeezers(),
        &[],
        range,
        0.04,
    ) else {
        panic!("a threshold from no inputs");
    };
    assert!(err.to_string().contains("clean inputs"), "{err}");
}
