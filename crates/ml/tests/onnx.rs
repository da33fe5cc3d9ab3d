//! ONNX models evaluated with burn: outputs and input gradients against references computed
//! by onnx's reference evaluator (fixtures/onnx/make_fixtures.py), and against the same
//! network loaded from aisec's own weights.

use std::path::PathBuf;

use aisec_ml::data::{npy, BuiltinDataset};
use aisec_ml::model::{Classifier, Differentiable, QueryOutput};
use aisec_ml::native::NativeModel;
use aisec_ml::onnx::OnnxModel;
use aisec_ml::tensor;

mod common;
use common::max_abs_diff;

fn fixture(name: &str) -> PathBuf {
    common::fixture(&format!("onnx/{name}"))
}

/// Gradient of sum(weights ⊙ logits) with respect to the input.
fn weighted_gradient(
    model: &dyn Differentiable,
    x: &[f32],
    rows: usize,
    weights: &[f32],
) -> Vec<f32> {
    let _guard = tensor::autodiff_guard();
    let device = tensor::autodiff_device();
    let input = tensor::matrix(x, rows, &device).require_grad();
    let logits = model.logits(input.clone()).unwrap();
    let w = tensor::matrix(weights, rows, &device);
    let grads = (logits * w).sum().backward();
    tensor::to_vec(input.grad(&grads).unwrap())
}

#[test]
fn digits_cnn_matches_the_reference_evaluator() {
    let model = OnnxModel::load(&fixture("digits-cnn.onnx")).unwrap();
    assert_eq!(model.info().input_shape, vec![1, 8, 8]);
    assert_eq!(model.info().num_classes, 10);
    let x = npy::read(&fixture("digits-cnn.inputs.npy"))
        .unwrap()
        .to_f32();
    let reference = npy::read(&fixture("digits-cnn.probs.npy"))
        .unwrap()
        .to_f32();
    let QueryOutput::Probabilities(probs) = model.query(&x).unwrap() else {
        panic!("probabilities expected")
    };
    let err = max_abs_diff(&probs, &reference);
    assert!(
        err < 1e-5,
        "max difference from the reference evaluator {err}"
    );
}

/// A batch queried from the process's main thread is split across the cores: the answers
/// are the ones a single thread gives, row for row.
#[test]
fn a_query_split_across_threads_answers_as_one_thread_does() {
    let model = std::sync::Arc::new(OnnxModel::load(&fixture("digits-cnn.onnx")).unwrap());
    let one: Vec<f32> = (0..200 * 64)
        .map(|i| ((i * 37) % 101) as f32 / 100.0)
        .collect();
    let answer = |m: &OnnxModel, x: &[f32]| match m.query(x).unwrap() {
        QueryOutput::Probabilities(p) => p,
        _ => panic!("probabilities expected"),
    };
    // Test threads are not the main thread, so this is the single-thread answer.
    let single = answer(&model, &one);
    let (m, x) = (model.clone(), one.clone());
    let split = std::thread::Builder::new()
        .name("main".into())
        .spawn(move || answer(&m, &x))
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(split.len(), single.len());
    assert!(max_abs_diff(&split, &single) < 1e-6);
}

#[test]
fn onnx_and_native_weights_agree_on_outputs_and_gradients() {
    let onnx = OnnxModel::load(&fixture("digits-cnn.onnx")).unwrap();
    let native = NativeModel::load(&fixture("digits-cnn")).unwrap();
    let (_, test) = BuiltinDataset::Digits.split();
    let subset = test.head(64);
    assert_eq!(
        onnx.evaluate(&test.x).unwrap(),
        native.evaluate(&test.x).unwrap()
    );
    let weights: Vec<f32> = (0..64 * 10)
        .map(|i| ((i * 37 % 11) as f32 - 5.0) / 5.0)
        .collect();
    let g_onnx = weighted_gradient(&onnx, &subset.x, 64, &weights);
    let g_native = weighted_gradient(&native, &subset.x, 64, &weights);
    let scale = g_native.iter().map(|v| v.abs()).fold(0.0, f32::max);
    let err = max_abs_diff(&g_onnx, &g_native);
    assert!(
        scale > 1e-3 && err < 1e-4 * scale.max(1.0),
        "gradients differ by {err} (scale {scale})"
    );
}

#[test]
fn every_other_operator_matches_reference_outputs_and_gradients() {
    let model = OnnxModel::load(&fixture("op-zoo.onnx")).unwrap();
    assert_eq!(model.info().input_shape, vec![2, 5, 6]);
    assert_eq!(model.info().num_classes, 3);
    let x = npy::read(&fixture("op-zoo.inputs.npy")).unwrap().to_f32();
    let reference = npy::read(&fixture("op-zoo.outputs.npy")).unwrap().to_f32();
    let logits = {
        let device = tensor::device();
        tensor::to_vec(Differentiable::logits(&model, tensor::matrix(&x, 3, &device)).unwrap())
    };
    let err = max_abs_diff(&logits, &reference);
    assert!(
        err < 1e-4,
        "outputs differ from the reference evaluator by {err}"
    );
    let weights = npy::read(&fixture("op-zoo.weights.npy")).unwrap().to_f32();
    let expected = npy::read(&fixture("op-zoo.grads.npy")).unwrap().to_f32();
    let got = weighted_gradient(&model, &x, 3, &weights);
    let scale = expected.iter().map(|v| v.abs()).fold(0.0, f32::max);
    let err = max_abs_diff(&got, &expected);
    assert!(
        scale > 1e-3 && err < 1e-3 * scale,
        "gradients differ from finite differences by {err} (scale {scale})"
    );
}

/// The activations of PyTorch's classic MNIST example and its variants (LeakyRelu, Elu,
/// LogSoftmax): a model ending in LogSoftmax is attacked through its logits (the input of
/// the LogSoftmax), and LogSoftmax itself evaluates to the reference's log-probabilities.
#[test]
fn leaky_relu_elu_and_log_softmax_match_the_reference() {
    let read = |name: &str| npy::read(&fixture(name)).unwrap().to_f32();
    let x = read("activations.inputs.npy");
    let outputs = |file: &str| {
        let model = OnnxModel::load(&fixture(file)).unwrap();
        assert_eq!(model.info().input_shape, vec![6]);
        assert_eq!(model.info().num_classes, 4);
        let device = tensor::device();
        let out =
            tensor::to_vec(Differentiable::logits(&model, tensor::matrix(&x, 5, &device)).unwrap());
        (model, out)
    };
    let (model, logits) = outputs("activations.onnx");
    let err = max_abs_diff(&logits, &read("activations.logits.npy"));
    assert!(err < 1e-4, "logits differ from the reference by {err}");
    let (_, logprobs) = outputs("activations-tail.onnx");
    let err = max_abs_diff(&logprobs, &read("activations.logprobs.npy"));
    assert!(
        err < 1e-4,
        "log-probabilities differ from the reference by {err}"
    );
    let expected = read("activations.grads.npy");
    let got = weighted_gradient(&model, &x, 5, &read("activations.weights.npy"));
    let scale = expected.iter().map(|v| v.abs()).fold(0.0, f32::max);
    let err = max_abs_diff(&got, &expected);
    assert!(
        scale > 1e-3 && err < 1e-3 * scale,
        "gradients differ from finite differences by {err} (scale {scale})"
    );
}

#[test]
fn unsupported_operators_and_bad_files_are_named() {
    let err = OnnxModel::load(&fixture("unsupported.onnx"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unsupported operator(s) Einsum (unnamed node #0)")
            && err.contains("unsupported.onnx"),
        "{err}"
    );
    // Shapes that do not fit: an error naming the node, on either convolution path.
    for name in ["bad-conv-small.onnx", "bad-conv-large.onnx"] {
        let err = OnnxModel::load(&fixture(name)).unwrap_err().to_string();
        assert!(
            err.contains(name) && err.contains("`conv`") && err.contains("input of 2 channels"),
            "{err}"
        );
    }
    // An operator burn refuses by panicking: an error naming the node, not a crash.
    let err = OnnxModel::load(&fixture("bad-matmul.onnx"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("node `mm` (MatMul)") && err.contains("inner dimension"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.onnx");
    std::fs::write(
        &garbage,
        b"\x80\x04\x95\x10\x00 definitely not protobuf \xff\xff\xff",
    )
    .unwrap();
    let err = OnnxModel::load(&garbage).unwrap_err().to_string();
    assert!(
        err.contains("garbage.onnx") && err.contains("ONNX"),
        "{err}"
    );
    assert!(OnnxModel::load(&dir.path().join("missing.onnx"))
        .unwrap_err()
        .to_string()
        .contains("missing.onnx"));
}

/// torchvision architectures exported by `torch.onnx.export` (fixtures/onnx/torchvision,
/// random weights): aisec's logits and input gradients against PyTorch's on the same weights,
/// and the FGSM step's signs.
#[test]
fn torchvision_exports_match_pytorch() {
    for name in [
        "mobilenet_v3_small",
        "mobilenet_v2",
        "shufflenet_v2",
        "vit_tiny",
        "resnet18_narrow",
        "pads",
        "vit_tiny_dynamo",
        "shufflenet_v2_dynamo",
    ] {
        matches_reference(&format!("torchvision/{name}"), &[3, 32, 32]);
    }
}

/// LSTM and GRU sequence classifiers (fixtures/onnx/recurrent, random weights), the same way.
#[test]
fn recurrent_exports_match_pytorch() {
    for name in ["lstm_last_step", "gru_bidirectional", "lstm_final_state"] {
        matches_reference(&format!("recurrent/{name}"), &[12, 8]);
    }
}

/// Keras models exported by Keras's own `model.export(format="onnx")` (fixtures/onnx/keras,
/// random weights): through tf2onnx (TensorFlow backend, dynamic batch) and through
/// torch.onnx.export (torch backend, whose default signature fixes the batch to 1), against
/// Keras's logits and input gradients. Keras models are channels-last.
#[test]
fn keras_exports_match_keras() {
    for (name, shape) in [
        ("resnet", &[32, 32, 3][..]),
        ("mobilenet_v2", &[32, 32, 3]),
        ("mobilenet_v3_small", &[32, 32, 3]),
        ("vit", &[32, 32, 3]),
        ("upsampling", &[32, 32, 3]),
        ("lstm", &[12, 8]),
        ("gru", &[12, 8]),
    ] {
        for exporter in ["tf", "torch"] {
            let prefix = format!("keras/keras_{exporter}_{name}");
            if fixture(&format!("{prefix}.onnx")).exists() {
                matches_reference(&prefix, shape);
            } else {
                // Keras 3.15's torch export fails on LayerNormalization (make_keras.py).
                assert_eq!(
                    (exporter, name),
                    ("torch", "vit"),
                    "{prefix}.onnx is missing"
                );
            }
        }
    }
}

/// aisec's logits and input gradients on `prefix`.onnx against the exporting framework's own
/// (`prefix`.logits.npy, `prefix`.grads.npy), and the FGSM step's signs.
fn matches_reference(prefix: &str, input_shape: &[usize]) {
    let name = prefix;
    {
        let file = |suffix: &str| fixture(&format!("{prefix}.{suffix}"));
        let model = OnnxModel::load(&file("onnx")).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(model.info().input_shape, input_shape, "{name}");
        let read = |suffix: &str| npy::read(&file(suffix)).unwrap().to_f32();
        let (x, logits, weights, grads) = (
            read("inputs.npy"),
            read("logits.npy"),
            read("weights.npy"),
            read("grads.npy"),
        );
        let rows = logits.len() / 10;
        let ours = {
            let device = tensor::device();
            tensor::to_vec(model.logits(tensor::matrix(&x, rows, &device)).unwrap())
        };
        let scale = logits.iter().map(|v| v.abs()).fold(0.0, f32::max);
        let err = max_abs_diff(&ours, &logits);
        assert!(
            err <= 1e-4 * scale.max(1.0),
            "{name}: logits differ by {err}"
        );
        let g = weighted_gradient(&model, &x, rows, &weights);
        let g_scale = grads.iter().map(|v| v.abs()).fold(0.0, f32::max);
        let g_err = max_abs_diff(&g, &grads);
        assert!(
            g_err <= 1e-3 * g_scale,
            "{name}: gradients differ by {g_err} (largest {g_scale})"
        );
        // FGSM moves by the gradient's sign: count agreement where the sign is defined.
        let defined: Vec<(f32, f32)> = g
            .iter()
            .zip(&grads)
            .filter(|(_, r)| r.abs() > 1e-6 * g_scale)
            .map(|(a, r)| (*a, *r))
            .collect();
        let agree = defined
            .iter()
            .filter(|(a, r)| a.signum() == r.signum())
            .count();
        assert!(
            defined.len() > x.len() / 2,
            "{name}: most gradients are zero"
        );
        let share = agree as f64 / defined.len() as f64;
        eprintln!("{name}: logits within {err}, gradients within {g_err} of {g_scale}, FGSM signs agree on {share}");
        assert!(share >= 0.9999, "{name}: FGSM signs agree on {share}");
    }
}

/// PyTorch's default exporter keeps the weights in NAME.onnx.data beside the model. The file
/// must be there, and a location that leaves the model's folder is refused rather than read.
#[test]
fn external_weights_are_read_only_from_beside_the_model() {
    let original = fixture("torchvision/vit_tiny_dynamo.onnx");
    let bytes = std::fs::read(&original).unwrap();
    let dir = tempfile::tempdir().unwrap();

    let alone = dir.path().join("vit_tiny_dynamo.onnx");
    std::fs::write(&alone, &bytes).unwrap();
    let missing = OnnxModel::load(&alone).unwrap_err().to_string();
    assert!(
        missing.contains("vit_tiny_dynamo.onnx.data"),
        "names the missing weights file: {missing}"
    );

    // Same length, so the protobuf stays well formed.
    let (from, to) = (b"vit_tiny_dynamo.onnx.data", b"../../../../../etc/passwd");
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("the location string");
    let mut crafted = bytes.clone();
    crafted[at..at + from.len()].copy_from_slice(to);
    let escaping = dir.path().join("crafted.onnx");
    std::fs::write(&escaping, &crafted).unwrap();
    let refused = OnnxModel::load(&escaping).unwrap_err().to_string();
    assert!(
        refused.contains("outside the model's folder"),
        "refuses a location outside the folder: {refused}"
    );
}
