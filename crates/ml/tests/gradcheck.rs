//! Input gradients from burn's autodiff (flex backend) against central finite differences,
//! for every layer type the built-in networks use, at odd sizes.

use aisec_core::rng::Rng;
use aisec_ml::net::{Architecture, Network};
use aisec_ml::tensor::{self, autodiff_device};
use burn::nn::conv::Conv2dConfig;
use burn::nn::pool::MaxPool2dConfig;
use burn::nn::{LinearConfig, PaddingConfig2d, Relu};
use burn::prelude::*;

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

    let h = 1e-3f32;
    let mut max_err = 0.0f64;
    let mut max_grad = 0.0f64;
    for i in 0..input_len {
        let mut plus = x.clone();
        plus[i] += h;
        let mut minus = x.clone();
        minus[i] -= h;
        let numeric = (loss(&plus) - loss(&minus)) / (2.0 * h as f64);
        max_err = max_err.max((numeric - analytic[i] as f64).abs());
        max_grad = max_grad.max(numeric.abs());
    }
    let relative = max_err / max_grad.max(1e-6);
    assert!(
        max_grad > 1e-4,
        "{name}: gradient vanished, the check would prove nothing"
    );
    assert!(relative < 2e-2, "{name}: autograd and finite differences disagree (max error {max_err:.3e}, relative {relative:.3e})");
}

#[test]
fn linear() {
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
    let device = autodiff_device();
    for (arch, shape, seed) in [
        (Architecture::Logreg, vec![9], 8),
        (Architecture::Mlp, vec![11], 9),
        (Architecture::Cnn, vec![1, 9, 7], 10),
    ] {
        let net = Network::new(arch, &shape, 4, &device).unwrap();
        let features: usize = shape.iter().product();
        check(
            arch.name(),
            2 * features,
            &|x| net.forward(x.reshape([2, features])).reshape([8]),
            seed,
        );
    }
}
