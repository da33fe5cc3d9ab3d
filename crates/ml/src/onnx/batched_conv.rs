//! Convolution as one matrix product over the whole batch, for small output planes.
//!
//! burn-flex's `conv2d` multiplies per image: at ResNet-18's late stages on 32×32 inputs
//! (2×2 and 1×1 planes, 256–512 channels) each product has 1–4 rows and the gemm runs its
//! narrowest kernel. Here the k·k shifted windows of the padded NHWC input are concatenated
//! into one `[batch·positions, k·k·c_in]` matrix and multiplied once by the reshaped weights,
//! so the product has batch·positions rows. Built from differentiable operations (slice,
//! select, cat, matmul), its backward pass is burn's own and is just as batched.
//! Taps that read only padding are left out with their weights. Measured (2 cores, batch 200,
//! forward and input gradient; `cargo run --release -p aisec-ml --example conv_speed`): 1×1
//! plane, 512→512 channels, 0.153 s → 0.011 s; 2×2, 256→256, 0.077 s → 0.050 s; 2×2 → 1×1,
//! 256→512, 0.068 s → 0.021 s; from 4×4 planes up burn's convolution is faster and keeps them.

use burn::prelude::*;

/// Input and output planes of at most this many positions take the batched path. Measured
/// (the example above): at 2×2 and below the batched product is 1.5–14× faster; with a 4×4
/// input (even at a 2×2 output, stride 2) gathering the windows costs more than it saves.
const MAX_BATCHED_POSITIONS: usize = 4;

/// Whether [`conv2d`] is the faster way for this convolution.
pub fn prefer(in_positions: usize, out_positions: usize, groups: usize) -> bool {
    let small = 1..=MAX_BATCHED_POSITIONS;
    groups == 1 && small.contains(&in_positions) && small.contains(&out_positions)
}

/// The geometry of one spatial axis.
#[derive(Debug, Clone, Copy)]
pub struct Axis {
    pub kernel: usize,
    pub stride: usize,
    pub dilation: usize,
    pub pad_before: usize,
    pub pad_after: usize,
}

impl Axis {
    /// Output length (ONNX's floor rule); 0 when the kernel does not fit.
    pub fn output_len(&self, input: usize) -> usize {
        let span = self.dilation * (self.kernel - 1) + 1;
        let padded = input + self.pad_before + self.pad_after;
        if padded < span {
            0
        } else {
            (padded - span) / self.stride + 1
        }
    }

    /// The kernel taps that read at least one real (unpadded) position of an axis of
    /// `input` positions producing `out` outputs, as the range from the first to the last.
    pub(crate) fn real_taps(&self, input: usize, out: usize) -> std::ops::Range<usize> {
        let real = |k: usize| {
            (0..out).any(|s| {
                let at = k * self.dilation + s * self.stride;
                at >= self.pad_before && at < self.pad_before + input
            })
        };
        let first = (0..self.kernel).find(|&k| real(k)).unwrap_or(0);
        let last = (0..self.kernel).rev().find(|&k| real(k)).unwrap_or(0);
        first..last + 1
    }
}

/// `x` `[n, c_in, h, w]` convolved with `weight` `[c_out, c_in, kh, kw]` (one group), plus
/// `bias` `[c_out]`: the same result as burn's `conv2d` with these strides, dilations and pads.
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    rows: Axis,
    cols: Axis,
) -> Tensor<4> {
    let [n, c_in, h, w] = x.dims();
    let [c_out, _, _, _] = weight.dims();
    let (ho, wo) = (rows.output_len(h), cols.output_len(w));
    let device = x.device();
    // Taps that read only padding add nothing (on a 1×1 plane a 3×3 kernel has one real tap):
    // they are left out of the product, with their weights.
    let (row_taps, col_taps) = (rows.real_taps(h, ho), cols.real_taps(w, wo));
    let padded = pad(x, rows, cols, &device);
    let mut windows = Vec::with_capacity(row_taps.len() * col_taps.len());
    for i in row_taps.clone() {
        let (row0, row_span) = (i * rows.dilation, (ho - 1) * rows.stride + 1);
        for j in col_taps.clone() {
            let (col0, col_span) = (j * cols.dilation, (wo - 1) * cols.stride + 1);
            let window =
                padded
                    .clone()
                    .slice([0..n, 0..c_in, row0..row0 + row_span, col0..col0 + col_span]);
            windows.push(every_stride(
                window,
                rows.stride,
                cols.stride,
                ho,
                wo,
                &device,
            ));
        }
    }
    let taps = windows.len();
    // [n, c_in, taps, ho, wo] → rows (image, position), columns (channel, tap): the order of
    // the weights' own memory, so the full kernel's weights are multiplied without a copy.
    let columns = Tensor::stack::<5>(windows, 2)
        .permute([0, 3, 4, 1, 2])
        .reshape([n * ho * wo, c_in * taps]);
    let [_, _, kh, kw] = weight.dims();
    let weight = if row_taps.len() == kh && col_taps.len() == kw {
        weight
    } else {
        weight.slice([0..c_out, 0..c_in, row_taps, col_taps])
    };
    let mut out = columns.matmul(weight.reshape([c_out, c_in * taps]).transpose());
    if let Some(b) = bias {
        out = out + b.reshape([1, c_out]);
    }
    out.reshape([n, ho, wo, c_out]).permute([0, 3, 1, 2])
}

/// Zeros around the plane of an NCHW tensor.
fn pad(x: Tensor<4>, rows: Axis, cols: Axis, device: &Device) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    let mut x = x;
    if rows.pad_before + rows.pad_after > 0 {
        let mut parts = Vec::with_capacity(3);
        if rows.pad_before > 0 {
            parts.push(Tensor::zeros([n, c, rows.pad_before, w], device));
        }
        parts.push(x);
        if rows.pad_after > 0 {
            parts.push(Tensor::zeros([n, c, rows.pad_after, w], device));
        }
        x = Tensor::cat(parts, 2);
    }
    let h = h + rows.pad_before + rows.pad_after;
    if cols.pad_before + cols.pad_after > 0 {
        let mut parts = Vec::with_capacity(3);
        if cols.pad_before > 0 {
            parts.push(Tensor::zeros([n, c, h, cols.pad_before], device));
        }
        parts.push(x);
        if cols.pad_after > 0 {
            parts.push(Tensor::zeros([n, c, h, cols.pad_after], device));
        }
        x = Tensor::cat(parts, 3);
    }
    x
}

/// Every `stride`-th row and column of an NCHW window (its first position included).
fn every_stride(
    window: Tensor<4>,
    row_stride: usize,
    col_stride: usize,
    ho: usize,
    wo: usize,
    device: &Device,
) -> Tensor<4> {
    let pick = |stride: usize, count: usize| {
        let idx: Vec<i64> = (0..count).map(|k| (k * stride) as i64).collect();
        Tensor::<1, Int>::from_data(TensorData::new(idx, [count]), device)
    };
    let mut window = window;
    if row_stride > 1 {
        window = window.select(2, pick(row_stride, ho));
    }
    if col_stride > 1 {
        window = window.select(3, pick(col_stride, wo));
    }
    window
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::module;
    use burn::tensor::ops::ConvOptions;

    fn close(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    /// Values and input gradients equal burn's convolution on every geometry ONNX exports
    /// use: strides, dilation, asymmetric pads, 1×1 and 7×7 kernels, planes down to 1×1.
    #[test]
    fn matches_burns_convolution_and_its_gradient() {
        let _autodiff = crate::tensor::autodiff_guard();
        let device = crate::tensor::autodiff_device();
        type Case = (
            usize,
            usize,
            usize,
            [usize; 2],
            [usize; 2],
            [usize; 2],
            Pads,
        );
        type Pads = [(usize, usize); 2];
        let cases: [Case; 8] = [
            // c_in, c_out, plane, kernel, stride, dilation, pads
            (8, 6, 2, [3, 3], [1, 1], [1, 1], [(1, 1), (1, 1)]),
            (8, 6, 1, [3, 3], [1, 1], [1, 1], [(1, 1), (1, 1)]),
            (4, 5, 4, [3, 3], [2, 2], [1, 1], [(1, 1), (1, 1)]),
            (4, 5, 3, [1, 1], [2, 2], [1, 1], [(0, 0), (0, 0)]),
            (3, 4, 9, [7, 7], [2, 2], [1, 1], [(3, 3), (3, 3)]),
            (3, 4, 7, [3, 2], [1, 2], [2, 1], [(2, 0), (1, 2)]),
            (2, 3, 5, [2, 3], [3, 1], [1, 2], [(0, 1), (2, 0)]),
            (3, 2, 1, [3, 3], [1, 1], [1, 1], [(2, 2), (0, 3)]),
        ];
        for (k, (c_in, c_out, plane, kernel, stride, dilation, pads)) in
            cases.into_iter().enumerate()
        {
            let n = 3;
            let seed = |v: usize| ((v * 7919 + k * 104_729) % 1000) as f32 / 500.0 - 1.0;
            let xs: Vec<f32> = (0..n * c_in * plane * plane).map(seed).collect();
            let ws: Vec<f32> = (0..c_out * c_in * kernel[0] * kernel[1])
                .map(|v| seed(v + 17))
                .collect();
            let bs: Vec<f32> = (0..c_out).map(|v| seed(v + 5)).collect();
            let x = || {
                Tensor::<4>::from_data(
                    TensorData::new(xs.clone(), [n, c_in, plane, plane]),
                    &device,
                )
                .require_grad()
            };
            let weight = Tensor::<4>::from_data(
                TensorData::new(ws.clone(), [c_out, c_in, kernel[0], kernel[1]]),
                &device,
            );
            let bias = Tensor::<1>::from_data(TensorData::new(bs.clone(), [c_out]), &device);
            let axis = |d: usize| Axis {
                kernel: kernel[d],
                stride: stride[d],
                dilation: dilation[d],
                pad_before: pads[d].0,
                pad_after: pads[d].1,
            };
            // burn pads symmetrically; asymmetric pads go in as explicit zeros around the input.
            let reference_input = |x: Tensor<4>| pad(x, axis(0), axis(1), &device);
            let x_ref = x();
            let expected = module::conv2d(
                reference_input(x_ref.clone()),
                weight.clone(),
                Some(bias.clone()),
                ConvOptions::new(stride, [0, 0], dilation, 1),
            );
            let x_new = x();
            let got = conv2d(
                x_new.clone(),
                weight.clone(),
                Some(bias.clone()),
                axis(0),
                axis(1),
            );
            assert_eq!(got.dims(), expected.dims(), "case {k}");
            let (e, g) = (
                crate::tensor::to_vec(expected.clone()),
                crate::tensor::to_vec(got.clone()),
            );
            assert!(
                close(&e, &g) < 1e-4,
                "case {k}: values differ by {}",
                close(&e, &g)
            );
            // A loss that weighs every output differently, so a misplaced tap cannot hide.
            let weights: Vec<f32> = (0..e.len()).map(|v| seed(v + 3)).collect();
            let loss_weights = Tensor::<1>::from_data(TensorData::new(weights, [e.len()]), &device);
            let grad_of = |y: Tensor<4>, x: &Tensor<4>| {
                let flat = y.reshape([-1]);
                let grads = (flat * loss_weights.clone()).sum().backward();
                crate::tensor::to_vec(x.grad(&grads).expect("the input has a gradient"))
            };
            let (ge, gg) = (grad_of(expected, &x_ref), grad_of(got, &x_new));
            assert!(
                close(&ge, &gg) < 1e-4,
                "case {k}: gradients differ by {}",
                close(&ge, &gg)
            );
        }
    }

    #[test]
    fn only_small_planes_of_ungrouped_convolutions_take_the_batched_path() {
        assert!(prefer(1, 1, 1) && prefer(4, 4, 1) && prefer(4, 1, 1));
        assert!(!prefer(1, 0, 1), "an empty output stays with burn");
        assert!(!prefer(16, 16, 1), "at 4×4 burn's convolution is faster");
        assert!(
            !prefer(16, 4, 1),
            "so it is from a 4×4 input to a 2×2 output"
        );
        assert!(!prefer(1, 1, 2), "grouped convolutions stay with burn");
    }
}
