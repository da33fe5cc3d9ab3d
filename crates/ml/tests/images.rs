//! Image folders written by Pillow (fixtures/images/make_images.py), CIFAR-style inputs, and
//! preprocessing inside the model.

use aisec_ml::data::images::{load_folder, ImageOptions};
use aisec_ml::data::npy;
use aisec_ml::model::{Classifier, Differentiable, QueryOutput};
use aisec_ml::onnx::OnnxModel;
use aisec_ml::preprocess::{Preprocessed, Preprocessing};
use aisec_ml::tensor;

mod common;
use common::{fixture, max_abs_diff};

#[test]
fn pillow_pngs_read_exactly_in_imagefolder_order() {
    let options = ImageOptions {
        size: None,
        grayscale: true,
    };
    let (classes, ds) = load_folder(&fixture("images/mnist-png"), &options).unwrap();
    assert_eq!(classes, (0..10).map(|d| d.to_string()).collect::<Vec<_>>());
    assert_eq!(ds.sample_shape, vec![1, 28, 28]);
    let labels: Vec<usize> = (0..10).flat_map(|d| [d; 3]).collect();
    assert_eq!(ds.y, labels);
    let expected = npy::read(&fixture("images/mnist-png.expected.npy"))
        .unwrap()
        .to_f32();
    assert_eq!(ds.x, expected);
}

#[test]
fn colour_pngs_and_jpegs_decode_as_pillow_does() {
    let (classes, ds) = load_folder(&fixture("images/mixed"), &ImageOptions::default()).unwrap();
    assert_eq!(classes, ["cat", "dog"]);
    assert_eq!(ds.sample_shape, vec![3, 20, 16]);
    assert_eq!(ds.y, [0, 0, 0, 0, 1, 1, 1, 1]);
    let per = 3 * 20 * 16;
    let pngs = npy::read(&fixture("images/mixed.png.expected.npy"))
        .unwrap()
        .to_f32();
    for (class, first) in [("cat", 0), ("dog", 4)] {
        // RGB, RGBA (alpha dropped) and palette PNGs: exactly Pillow's pixels.
        let ours = &ds.x[first * per..(first + 3) * per];
        let k = if class == "cat" { 0 } else { 3 };
        assert_eq!(ours, &pngs[k * per..(k + 3) * per], "{class} PNGs");
        // JPEG: two decoders, within a few levels of each other.
        let jpg = npy::read(&fixture(&format!("images/mixed.{class}.jpg.expected.npy")))
            .unwrap()
            .to_f32();
        let ours = &ds.x[(first + 3) * per..(first + 4) * per];
        let err = max_abs_diff(ours, &jpg);
        assert!(
            err <= 3.0 / 255.0,
            "{class} JPEG differs from Pillow by {err}"
        );
    }
    let resized = ImageOptions {
        size: Some((32, 24)),
        grayscale: false,
    };
    let (_, big) = load_folder(&fixture("images/mixed"), &resized).unwrap();
    assert_eq!(big.sample_shape, vec![3, 32, 24]);
    assert!(big.x.iter().all(|v| (0.0..=1.0).contains(v)));
}

#[test]
fn bad_folders_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let one = load_folder(dir.path(), &ImageOptions::default()).unwrap_err();
    assert!(
        one.to_string().contains("one sub-folder per class"),
        "{one}"
    );
    for class in ["a", "b"] {
        std::fs::create_dir(dir.path().join(class)).unwrap();
    }
    std::fs::copy(
        fixture("images/mixed/cat/a_rgb.png"),
        dir.path().join("a/x.png"),
    )
    .unwrap();
    let empty = load_folder(dir.path(), &ImageOptions::default()).unwrap_err();
    assert!(
        empty.to_string().contains("no .png, .jpg or .jpeg"),
        "{empty}"
    );
    std::fs::write(dir.path().join("b/broken.jpg"), b"\xff\xd8\xff not really").unwrap();
    let broken = load_folder(dir.path(), &ImageOptions::default()).unwrap_err();
    assert!(broken.to_string().contains("broken.jpg"), "{broken}");
    std::fs::remove_file(dir.path().join("b/broken.jpg")).unwrap();
    std::fs::copy(
        fixture("images/mnist-png/0/0.png"),
        dir.path().join("b/other-size.png"),
    )
    .unwrap();
    let sizes = load_folder(dir.path(), &ImageOptions::default()).unwrap_err();
    assert!(sizes.to_string().contains("--image-size"), "{sizes}");
}

fn probabilities(out: QueryOutput) -> Vec<f32> {
    match out {
        QueryOutput::Probabilities(p) => p,
        other => panic!("expected probabilities, got {other:?}"),
    }
}

/// torchvision's Normalize and a BGR model inside the model under attack: the same answers as
/// the bare model on pre-normalised inputs, and the pixel gradient is the chain rule's.
#[test]
fn preprocessing_inside_the_model_matches_the_chain_rule() {
    let path = fixture("onnx/torchvision/mobilenet_v3_small.onnx");
    let pixels = npy::read(&fixture("onnx/torchvision/mobilenet_v3_small.inputs.npy"))
        .unwrap()
        .to_f32();
    let (mean, std) = ([0.485f32, 0.456, 0.406], [0.229f32, 0.224, 0.225]);
    let plane = 32 * 32;
    let rows = pixels.len() / (3 * plane);
    for reverse in [false, true] {
        let pre = Preprocessing {
            mean: mean.to_vec(),
            std: std.to_vec(),
            reverse_channels: reverse,
        };
        let wrapped = Preprocessed::wrap(Box::new(OnnxModel::load(&path).unwrap()), &pre).unwrap();
        assert!(wrapped.info().description.contains("0.229"));
        let bare = OnnxModel::load(&path).unwrap();
        // What the model sees, by hand.
        let mut seen = vec![0.0; pixels.len()];
        for r in 0..rows {
            for c in 0..3 {
                let from = if reverse { 2 - c } else { c };
                for i in 0..plane {
                    seen[(r * 3 + c) * plane + i] =
                        (pixels[(r * 3 + from) * plane + i] - mean[c]) / std[c];
                }
            }
        }
        let a = probabilities(wrapped.scores(&pixels).unwrap());
        let b = probabilities(bare.scores(&seen).unwrap());
        assert!(max_abs_diff(&a, &b) < 1e-6, "reverse {reverse}");
        // d/dpixel = d/dseen ÷ std of the model channel the pixel lands in.
        let grad = |model: &dyn Differentiable, x: &[f32]| {
            let device = tensor::autodiff_device();
            let input = tensor::matrix(x, rows, &device).require_grad();
            let g = model.logits(input.clone()).unwrap().sum().backward();
            tensor::to_vec(input.grad(&g).unwrap())
        };
        let ours = grad(wrapped.gradients().unwrap(), &pixels);
        let inner = grad(&bare, &seen);
        let mut expected = vec![0.0; pixels.len()];
        for r in 0..rows {
            for c in 0..3 {
                let from = if reverse { 2 - c } else { c };
                for i in 0..plane {
                    expected[(r * 3 + from) * plane + i] = inner[(r * 3 + c) * plane + i] / std[c];
                }
            }
        }
        let scale = expected.iter().map(|v| v.abs()).fold(0.0, f32::max);
        assert!(
            max_abs_diff(&ours, &expected) <= 1e-4 * scale,
            "reverse {reverse}: gradients differ"
        );
    }
    let wrong = Preprocessing {
        mean: vec![0.5, 0.5],
        std: vec![1.0],
        reverse_channels: false,
    };
    let err = Preprocessed::wrap(Box::new(OnnxModel::load(&path).unwrap()), &wrong)
        .err()
        .unwrap();
    assert!(err.to_string().contains("3 channel"), "{err}");
}
