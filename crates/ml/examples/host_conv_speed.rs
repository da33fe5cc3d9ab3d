//! burn-flex's `conv2d` against `aisec_ml::onnx::host_conv` (im2col and one sgemm per image)
//! for inference (no autodiff), on the MNIST CNN's and ResNet-18's convolutions at a 32×32
//! input, best of three: the measurements behind `host_conv::prefer`; then a gradient pass
//! (forward and the input's gradient) through burn's operator against
//! `host_conv_grad`'s, behind `host_conv::prefer_gradient`.
//!
//! `cargo run --release -p aisec-ml --example host_conv_speed` (`N=` sets the batch, default 256)
use aisec_ml::onnx::batched_conv::{self, Axis};
use aisec_ml::onnx::{host_conv, host_conv_grad};
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

const GEOMETRIES: &[(usize, usize, usize, usize, usize)] = &[
    (1, 28, 8, 5, 1),
    (8, 14, 16, 5, 1),
    (3, 32, 64, 7, 2),
    (64, 8, 64, 3, 1),
    (64, 8, 128, 3, 2),
    (64, 8, 128, 1, 2),
    (128, 4, 128, 3, 1),
    (128, 4, 256, 3, 2),
    (256, 2, 256, 3, 1),
    (256, 2, 512, 3, 2),
    (512, 1, 512, 3, 1),
];

fn main() {
    let device = tensor::device();
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    println!("batch {n}; seconds, best of three, one thread");
    println!(
        "{:<34} {:>10} {:>10} {:>10}",
        "c_in → c_out, plane, kernel/stride", "burn", "batched", "host"
    );
    for &(c_in, plane, c_out, kernel, stride) in GEOMETRIES {
        let normal = burn::tensor::Distribution::Normal(0.0, 1.0);
        let x = Tensor::<4>::random([n, c_in, plane, plane], normal, &device);
        let w = Tensor::<4>::random([c_out, c_in, kernel, kernel], normal, &device);
        let pad = kernel / 2;
        let axis = Axis {
            kernel,
            stride,
            dilation: 1,
            pad_before: pad,
            pad_after: pad,
        };
        let options = ConvOptions::new([stride, stride], [pad, pad], [1, 1], 1);
        let burn =
            best_of_three(|| drop(conv2d(x.clone(), w.clone(), None, options.clone()).into_data()));
        let batched = best_of_three(|| {
            drop(batched_conv::conv2d(x.clone(), w.clone(), None, axis, axis).into_data())
        });
        let host = best_of_three(|| {
            drop(host_conv::conv2d(x.clone(), w.clone(), None, axis, axis).into_data())
        });
        println!(
            "{:<34} {:>10.4} {:>10.4} {:>10.4}",
            format!("{c_in} → {c_out}, {plane}×{plane}, {kernel}/{stride}"),
            burn,
            batched,
            host
        );
    }
    gradient(n);
}

/// Forward and input gradient, burn's operator (batched over the images where
/// `batched_conv::prefer` says so, as the gradient path did) against the host's.
fn gradient(n: usize) {
    let device = tensor::autodiff_device();
    println!("\ngradient pass (forward + input gradient), batch {n}");
    println!(
        "{:<34} {:>10} {:>10}",
        "c_in → c_out, plane, kernel/stride", "burn", "host"
    );
    for &(c_in, plane, c_out, kernel, stride) in GEOMETRIES {
        let normal = burn::tensor::Distribution::Normal(0.0, 1.0);
        let x = Tensor::<4>::random([n, c_in, plane, plane], normal, &device);
        let w = Tensor::<4>::random([c_out, c_in, kernel, kernel], normal, &device);
        let pad = kernel / 2;
        let axis = Axis {
            kernel,
            stride,
            dilation: 1,
            pad_before: pad,
            pad_after: pad,
        };
        let out_plane = axis.output_len(plane);
        let probe = Tensor::<4>::random([n, c_out, out_plane, out_plane], normal, &device);
        let options = ConvOptions::new([stride, stride], [pad, pad], [1, 1], 1);
        let pass = |host: bool| {
            let input = x.clone().require_grad();
            let out = if host {
                host_conv_grad::conv2d(None, &input, &w, None, axis, axis).expect("applies")
            } else if batched_conv::prefer(plane * plane, out_plane * out_plane, 1) {
                batched_conv::conv2d(input.clone(), w.clone(), None, axis, axis)
            } else {
                conv2d(input.clone(), w.clone(), None, options.clone())
            };
            let grads = (out * probe.clone()).sum().backward();
            drop(input.grad(&grads).expect("tracked").into_data());
        };
        let burn = best_of_three(|| pass(false));
        let host = best_of_three(|| pass(true));
        println!(
            "{:<34} {:>10.4} {:>10.4}",
            format!("{c_in} → {c_out}, {plane}×{plane}, {kernel}/{stride}"),
            burn,
            host
        );
    }
}
