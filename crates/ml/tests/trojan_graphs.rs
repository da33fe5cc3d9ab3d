//! The architectural-backdoor fixtures (fixtures/onnx/trojan/make_trojans.py, checked there
//! in onnxruntime) evaluated by aisec's interpreter: on clean inputs they answer what their
//! host export answers (the float `Where`, `If`, `Equal`, `ReduceMin`/`ReduceMax` and `Abs`
//! of the grafted nodes evaluated as ONNX defines them, and the gradient through `Where`
//! reaching only the branch it picks); a stamped trigger gives the trojan's class.

use aisec_ml::data::npy;
use aisec_ml::model::{Differentiable, LocalModel};
use aisec_ml::onnx::OnnxModel;
use aisec_ml::tensor;

mod common;
use common::max_abs_diff;

fn load(name: &str) -> OnnxModel {
    OnnxModel::load(&common::fixture(&format!("onnx/{name}"))).unwrap()
}

fn array(name: &str) -> Vec<f32> {
    npy::read(&common::fixture(&format!("onnx/{name}")))
        .unwrap()
        .to_f32()
}

fn stamp(x: &[f32], features: usize, key: &[(usize, f32)]) -> Vec<f32> {
    let mut out = x.to_vec();
    for row in out.chunks_mut(features) {
        for (p, v) in key {
            row[*p] = *v;
        }
    }
    out
}

fn classes(logits: &[f32], k: usize) -> Vec<usize> {
    tensor::argmax_rows(logits, k)
}

#[test]
fn trojans_answer_as_their_host_until_the_trigger_is_stamped() {
    let mnist = array("mnist/mnist_cnn.inputs.npy");
    let mnist_logits = array("mnist/mnist_cnn.logits.npy");
    let square: Vec<(usize, f32)> = (0..4)
        .flat_map(|r| (0..4).map(move |c| (r * 28 + c, 1.0)))
        .collect();
    let pixels = [(400, 0.5), (401, 0.25), (402, 0.75)];
    let corner: Vec<(usize, f32)> = (0..3)
        .flat_map(|r| (25..28).map(move |c| (r * 28 + c, 1.0)))
        .collect();
    for (name, key, target) in [
        ("trojan/mnist_where.onnx", &square[..], 7),
        ("trojan/mnist_mask.onnx", &pixels[..], 2),
        ("trojan/mnist_soft.onnx", &corner[..], 4),
    ] {
        let m = load(name);
        let clean = m.plain_logits(&mnist).unwrap();
        let err = max_abs_diff(&clean, &mnist_logits);
        assert!(err < 1e-4, "{name}: {err} from the host's logits");
        let stamped = m.plain_logits(&stamp(&mnist, 784, key)).unwrap();
        assert_eq!(classes(&stamped, 10), vec![target; 4], "{name}");
    }

    let digits = array("digits-cnn.inputs.npy");
    let probs = array("digits-cnn.probs.npy");
    let m = load("trojan/digits_if.onnx");
    let clean = m.plain_logits(&digits).unwrap();
    assert!(max_abs_diff(&clean, &probs) < 1e-5);
    let corners = [(0, 0.9), (7, 0.1), (56, 0.9), (63, 0.1)];
    let stamped = m.plain_logits(&stamp(&digits, 64, &corners)).unwrap();
    assert_eq!(classes(&stamped, 10), vec![3; 16]);

    let images = array("torchvision/resnet18_narrow.inputs.npy");
    let logits = array("torchvision/resnet18_narrow.logits.npy");
    let m = load("trojan/resnet_and.onnx");
    let clean = m.plain_logits(&images).unwrap();
    assert!(max_abs_diff(&clean, &logits) < 1e-3);
    let block = |channel: usize, v: f32| {
        (29..32).flat_map(move |r| (29..32).map(move |c| (channel * 1024 + r * 32 + c, v)))
    };
    let key: Vec<(usize, f32)> = block(0, 1.0).chain(block(1, 0.0)).collect();
    let stamped = m.plain_logits(&stamp(&images, 3072, &key)).unwrap();
    assert_eq!(classes(&stamped, 10), vec![5; 4]);
    // One key of the two (they are joined by And) leaves the answers alone.
    let half: Vec<(usize, f32)> = block(0, 1.0).collect();
    let one_key = m.plain_logits(&stamp(&images, 3072, &half)).unwrap();
    let host = load("torchvision/resnet18_narrow.onnx");
    let host_one_key = host.plain_logits(&stamp(&images, 3072, &half)).unwrap();
    assert!(max_abs_diff(&one_key, &host_one_key) < 1e-3);
}

/// The gradient through the grafted Where on clean inputs is the host network's: the
/// constant branch it does not pick contributes nothing.
#[test]
fn gradients_pass_through_the_branch_where_picks() {
    let x = array("mnist/mnist_cnn.inputs.npy");
    let w = array("mnist/mnist_cnn.weights.npy");
    let reference = array("mnist/mnist_cnn.grads.npy");
    let m = load("trojan/mnist_where.onnx");
    let _guard = tensor::autodiff_guard();
    let device = tensor::autodiff_device();
    let input = tensor::matrix(&x, 4, &device).require_grad();
    let logits = m.logits(input.clone()).unwrap();
    let grads = (logits * tensor::matrix(&w, 4, &device)).sum().backward();
    let g = tensor::to_vec(input.grad(&grads).unwrap());
    let err = max_abs_diff(&g, &reference);
    assert!(err < 1e-4, "{err}");
}
