//! burn-flex's `conv2d` against `aisec_ml::onnx::batched_conv` (one matrix product over the
//! batch) on ResNet-18's 3×3 convolutions at a 32×32 input, forward and forward + input
//! gradient, best of three: the measurements behind `batched_conv::prefer`.
//!
//! `cargo run --release -p aisec-ml --example conv_speed`
use aisec_ml::onnx::batched_conv::{self, Axis};
use aisec_ml::tensor;
use burn::prelude::*;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use std::time::Instant;

fn best_of_three(mut f: impl FnMut()) -> f64 {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min)
}

fn main() {
    let _autodiff = tensor::autodiff_guard();
    let device = tensor::autodiff_device();
    let n = 200;
    println!("batch {n}; seconds, best of three");
    println!(
        "{:<28} {:>10} {:>10} {:>12} {:>12}",
        "c_in → c_out, plane, stride", "burn fwd", "batched", "burn f+grad", "batched"
    );
    for (c_in, plane, c_out, stride) in [
        (64, 8, 64, 1),
        (64, 8, 128, 2),
        (128, 4, 128, 1),
        (128, 4, 256, 2),
        (256, 2, 256, 1),
        (256, 2, 512, 2),
        (512, 1, 512, 1),
    ] {
        let normal = burn::tensor::Distribution::Normal(0.0, 1.0);
        let x = Tensor::<4>::random([n, c_in, plane, plane], normal, &device);
        let w = Tensor::<4>::random([c_out, c_in, 3, 3], normal, &device);
        let axis = Axis {
            kernel: 3,
            stride,
            dilation: 1,
            pad_before: 1,
            pad_after: 1,
        };
        let options = ConvOptions::new([stride, stride], [1, 1], [1, 1], 1);
        let run = |batched: bool, x: Tensor<4>| {
            if batched {
                batched_conv::conv2d(x, w.clone(), None, axis, axis)
            } else {
                conv2d(x, w.clone(), None, options.clone())
            }
        };
        let forward =
            |batched: bool| best_of_three(|| drop(run(batched, x.clone().detach()).into_data()));
        let with_grad = |batched: bool| {
            best_of_three(|| {
                let xi = x.clone().detach().require_grad();
                let grads = run(batched, xi.clone()).sum().backward();
                drop(xi.grad(&grads).map(|g| g.into_data()));
            })
        };
        println!(
            "{:<28} {:>10.3} {:>10.3} {:>12.3} {:>12.3}",
            format!("{c_in} → {c_out}, {plane}×{plane}, {stride}"),
            forward(false),
            forward(true),
            with_grad(false),
            with_grad(true)
        );
    }
}
