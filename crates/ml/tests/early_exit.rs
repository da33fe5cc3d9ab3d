//! Early-exit ONNX graphs: a classifier whose Softmax sits inside both branches of an If
//! (torch.jit.script's export) answers the probabilities onnxruntime gives, not those
//! probabilities softmaxed again; one whose Softmax follows the If reads its logits as before.

use aisec_ml::model::{Classifier, QueryOutput};
use aisec_ml::onnx::OnnxModel;

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/onnx/early_exit")
        .join(name)
}

#[test]
fn probabilities_made_inside_the_branches_are_not_softmaxed_twice() {
    let model = OnnxModel::load(&fixture("torchscript_softmax_in_if.onnx")).unwrap();
    assert!(
        model
            .info()
            .description
            .contains("read as log-probabilities"),
        "{}",
        model.info().description
    );
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("torchscript_softmax_in_if.expected.json")).unwrap(),
    )
    .unwrap();
    let inputs = expected["inputs"].as_array().unwrap();
    let reference = expected["onnxruntime_probabilities"].as_array().unwrap();
    for (x, want) in inputs.iter().zip(reference) {
        let x: Vec<f32> = x
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let want: Vec<f32> = want
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let QueryOutput::Probabilities(got) = model
            .query(&x)
            .unwrap()
            .restrict(aisec_ml::model::OutputKind::Probabilities, 10)
        else {
            panic!("no probabilities");
        };
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() < 1e-4,
                "{got:?} against onnxruntime's {want:?}"
            );
        }
    }
    // The Softmax after the If is stripped as before: logits, no note.
    let after = OnnxModel::load(&fixture("digits_early_exit.onnx")).unwrap();
    assert!(!after.info().description.contains("log-probabilities"));
}
