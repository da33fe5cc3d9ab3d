//! Input gradients from burn's autodiff (flex backend) against central finite differences,
//! for every layer type the built-in networks use, at odd sizes.

use aisec_core::rng::Rng;
use aisec_ml::data::Dataset;
use aisec_ml::net::Architecture;
use aisec_ml::tensor::{self, autodiff_device};
use burn::nn::conv::Conv2dConfig;
use burn::nn::pool::MaxPool2dConfig;
use burn::nn::{LinearConfig, PaddingConfig2d, Relu};
use burn::prelude::*;

/// Burn draws initial weights from one process-wide generator: the tests of this file run
/// one at a time, each from its own seed, so that every run checks the same numbers.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial(seed: u64) -> std::sync::MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    autodiff_device().seed(seed);
    guard
}

/// Checks d(sum(w * f(x)))/dx against central differences; `f` maps a flat input to any
/// flat output.
fn check(name: &str, input_len: usize, f: &dyn Fn(Tensor<1>) -> Tensor<1>, seed: u64) {
    let _autodiff = tensor::autodiff_guard();
    let device = autodiff_device();
    let mut rng = Rng::new(seed);
    let x: Vec<f32> = (0..input_len).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let out_len = f(Tensor::<1>::from_floats(x.as_slice(), &device)).dims()[0];
    let w: Vec<f32> = (0..out_len).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let weights = Tensor::<1>::from_floats(w.as_slice(), &device);
    let loss = |values: &[f32]| -> f64 {
        let out = tensor::to_vec(f(Tensor::<1>::from_floats(values, &device)).detach());
        out.iter()
            .zip(&w)
            .map(|(o, w)| (*o as f64) * (*w as f64))
            .sum()
    };

    let xt = Tensor::<1>::from_floats(x.as_slice(), &device).require_grad();
    let objective = (f(xt.clone()) * weights.clone()).sum();
    let grads = objective.backward();
    let analytic = tensor::to_vec(xt.grad(&grads).expect("input gradient"));

    // Central differences at h and h/2: where they disagree, the step crossed a kink of a
    // ReLU or a max-pool switch, and the point says nothing about the gradient.
    let h = 1e-3f32;
    let mut max_err = 0.0f64;
    let mut max_grad = 0.0f64;
    let mut kinks = 0usize;
    let central = |i: usize, step: f32| -> f64 {
        let mut plus = x.clone();
        plus[i] += step;
        let mut minus = x.clone();
        minus[i] -= step;
        (loss(&plus) - loss(&minus)) / (2.0 * step as f64)
    };
    for (i, analytic_i) in analytic.iter().enumerate() {
        let numeric = central(i, h);
        let finer = central(i, h / 2.0);
        // f32 rounding alone moves a central difference by about 1e-3 here.
        if (numeric - finer).abs() > 2e-3 + 1e-2 * numeric.abs() {
            kinks += 1;
            continue;
        }
        max_err = max_err.max((numeric - *analytic_i as f64).abs());
        max_grad = max_grad.max(numeric.abs());
    }
    assert!(
        kinks * 10 <= input_len,
        "{name}: {kinks} of {input_len} coordinates sit on kinks"
    );
    let relative = max_err / max_grad.max(1e-6);
    assert!(
        max_grad > 1e-4,
        "{name}: gradient vanished, the check would prove nothing"
    );
    assert!(relative < 2e-2, "{name}: autograd and finite differences disagree (max error {max_err:.3e}, relative {relative:.3e})");
}

#[test]
fn linear() {
    let _serial = serial(42);
    let device = autodiff_device();
    let layer = LinearConfig::new(7, 5).init(&device);
    check(
        "linear 7→5",
        3 * 7,
        &|x| layer.forward(x.reshape([3, 7])).reshape([15]),
        1,
    );
}

#[test]
fn conv2d_odd_sizes_padding_and_stride() {
    let _serial = serial(42);
    let device = autodiff_device();
    let conv = Conv2dConfig::new([2, 3], [3, 2])
        .with_padding(PaddingConfig2d::Explicit(1, 0, 1, 0))
        .with_stride([2, 1])
        .init(&device);
    let out = conv
        .forward(Tensor::<4>::zeros([1, 2, 5, 7], &device))
        .dims();
    let len: usize = out.iter().product();
    check(
        "conv2d 2→3, 3×2 kernel, on 5×7",
        2 * 5 * 7,
        &|x| conv.forward(x.reshape([1, 2, 5, 7])).reshape([len]),
        2,
    );
}

#[test]
fn max_pool_odd_sizes() {
    let _serial = serial(42);
    let device = autodiff_device();
    for (kernel, stride, seed) in [
        ([2, 2], [2, 2], 3),
        ([3, 3], [2, 2], 4),
        ([2, 3], [1, 2], 5),
    ] {
        let pool = MaxPool2dConfig::new(kernel).with_strides(stride).init();
        let out: usize = pool
            .forward(Tensor::<4>::zeros([1, 2, 5, 7], &device))
            .dims()
            .iter()
            .product();
        check(
            &format!("max-pool {kernel:?}/{stride:?} on 5×7"),
            2 * 5 * 7,
            &|x| pool.forward(x.reshape([1, 2, 5, 7])).reshape([out]),
            seed,
        );
    }
}

#[test]
fn relu_and_cross_entropy() {
    let _serial = serial(42);
    let relu = Relu::new();
    check("relu", 23, &|x| relu.forward(x), 6);
    let device = autodiff_device();
    let labels = tensor::labels(&[2, 0, 4], &device);
    check(
        "cross-entropy over 5 classes",
        15,
        &|x| tensor::per_example_cross_entropy(x.reshape([3, 5]), labels.clone()),
        7,
    );
}

#[test]
fn built_in_networks_end_to_end() {
    let _serial = serial(42);
    for (arch, shape, seed) in [
        (Architecture::Logreg, vec![9], 8),
        (Architecture::Mlp, vec![11], 9),
        (Architecture::Cnn, vec![1, 9, 7], 10),
    ] {
        // A seeded initialisation, so that the check sees the same network every run.
        let features: usize = shape.iter().product();
        let data = Dataset::new(
            "shape",
            vec![0.0; 4 * features],
            vec![0, 1, 2, 3],
            shape.clone(),
            None,
            None,
        )
        .unwrap();
        let net = aisec_ml::train::init_network(arch, &data, seed).unwrap();
        check(
            arch.name(),
            2 * features,
            &|x| net.forward(x.reshape([2, features])).reshape([8]),
            seed,
        );
    }
}
