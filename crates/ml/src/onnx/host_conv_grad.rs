//! Convolution on the gradient path, on the host: [`super::host_conv`]'s product recorded in
//! burn's autodiff graph as one operation, whose backward pass is the transposed product
//! (the weights' transpose times the output's gradient, one `gemm` per group of images)
//! added back onto the input's windows (col2im). burn-flex's convolution and its input
//! gradient (a transposed convolution) were most of a gradient pass through the MNIST CNN.
//! Measured one thread, batch 256 (the example `host_conv_speed`, second table), forward and
//! input gradient together are faster here on every layer of the MNIST CNN and ResNet-18 at
//! 32×32: 1.5–1.8× on the CNN's, up to 2.6× strided onto 2×2 planes, level with burn on the
//! wide 3×3 layers on 8×8 and 4×4 planes (which the query path leaves to burn-flex). So every
//! ungrouped convolution through constant weights takes this path.
//!
//! Only the input's gradient is computed ([`super::host_autodiff`]): attacks differentiate
//! with respect to the input, and a model loaded from a file has constant weights. A
//! convolution whose weights or bias are tracked (someone training through it) keeps burn's
//! operator.

use std::sync::Arc;

use burn::prelude::*;

use super::batched_conv::Axis;
use super::host_autodiff::{record, untracked, with_scratch, HostBackward};
use super::host_conv::{convolve, prepared_weights, real_taps, Geometry};

/// What the backward pass needs: the geometry and the weights.
#[derive(Debug, Clone)]
struct Saved {
    geometry: Geometry,
    weights: Arc<Vec<f32>>,
}

impl HostBackward for Saved {
    fn input_dims(&self) -> [usize; 4] {
        self.geometry.input
    }

    fn input_gradient(&self, output_grad: &[f32]) -> Vec<f32> {
        input_gradient(output_grad, &self.geometry, &self.weights)
    }
}

/// `x` convolved with untracked `weight` (one group) plus `bias`, recorded for the input's
/// gradient; `None` when this path does not apply (not burn-flex under autodiff without
/// checkpointing, or weights or bias that a gradient flows through: tracked, or computed
/// from the input), for the caller to use burn's operator.
pub fn conv2d(
    node: Option<usize>,
    x: &Tensor<4>,
    weight: &Tensor<4>,
    bias: Option<&Tensor<1>>,
    rows: Axis,
    cols: Axis,
) -> Option<Tensor<4>> {
    if !x.device().is_autodiff() || !untracked(weight) || !bias.is_none_or(untracked) {
        return None;
    }
    let [n, c_in, h, w] = x.dims();
    let geometry = Geometry {
        input: [n, c_in, h, w],
        c_out: weight.dims()[0],
        rows,
        cols,
        taps: real_taps([h, w], rows, cols),
    };
    let weights = prepared_weights(node, weight.clone().inner(), &geometry.taps);
    let bias = bias.map(|b| crate::tensor::to_vec(b.clone().inner()));
    record(x, |values| {
        let out = convolve(values, &geometry, &weights, bias.as_deref());
        let dims = geometry.output_dims();
        Some((out, dims, Saved { geometry, weights }))
    })
}

/// The input's gradient `[n, c_in, h, w]` from the output's `[n, c_out, ho, wo]`.
fn input_gradient(output_grad: &[f32], geometry: &Geometry, weights: &[f32]) -> Vec<f32> {
    let [n, c_in, h, w] = geometry.input;
    let c_out = geometry.c_out;
    let [ho, wo] = geometry.output_plane();
    let image = c_in * h * w;
    let (taps, positions) = (geometry.taps_len(), ho * wo);
    let mut grad = vec![0.0f32; n * image];
    if image == 0 || positions == 0 || c_out == 0 || taps == 0 {
        return grad;
    }
    if super::host_conv_direct::applies(geometry) {
        super::host_conv_direct::input_gradient(output_grad, geometry, weights, &mut grad);
        return grad;
    }
    let group = geometry.group();
    let width = group * positions;
    with_scratch(c_out * width, taps * width, |gathered, columns| {
        for (outputs, dst) in output_grad
            .chunks(group * c_out * positions)
            .zip(grad.chunks_mut(group * image))
        {
            // [image, c_out, position] → [c_out, image, position]
            for (b, per_image) in outputs.chunks_exact(c_out * positions).enumerate() {
                for (co, plane) in per_image.chunks_exact(positions).enumerate() {
                    let at = co * width + b * positions;
                    gathered[at..at + positions].copy_from_slice(plane);
                }
            }
            assert!(weights.len() == c_out * taps && gathered.len() == c_out * width);
            assert!(columns.len() == taps * width);
            // SAFETY: the weights are [c_out, taps], the gathered gradient [c_out, width] and
            // the columns [taps, width], row-major and of exactly those lengths (asserted
            // above); the three do not overlap. Columns (taps × width) = weightsᵀ · gathered.
            unsafe {
                gemm::gemm(
                    width,
                    taps,
                    c_out,
                    columns.as_mut_ptr(),
                    width as isize,
                    1,
                    false,
                    gathered.as_ptr(),
                    width as isize,
                    1,
                    weights.as_ptr(),
                    1,
                    taps as isize,
                    0.0f32,
                    1.0f32,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
            for (b, img) in dst.chunks_exact_mut(image).enumerate() {
                col2im(columns, (width, b * positions), geometry, img);
            }
        }
    });
    grad
}

/// The inverse of `host_conv`'s im2col: each column's values added onto the input
/// positions its window read (padding positions dropped).
fn col2im(columns: &[f32], (stride, offset): (usize, usize), geometry: &Geometry, img: &mut [f32]) {
    let [_, c_in, h, w] = geometry.input;
    let [ho, wo] = geometry.output_plane();
    let (rows, cols) = (geometry.rows, geometry.cols);
    let [row_taps, col_taps] = &geometry.taps;
    let mut source = columns
        .chunks_exact(stride)
        .map(|row| &row[offset..offset + ho * wo]);
    for c in 0..c_in {
        let plane = &mut img[c * h * w..(c + 1) * h * w];
        for i in row_taps.clone() {
            for j in col_taps.clone() {
                let row = source.next().expect("one row per channel and tap");
                let col_offset = (j * cols.dilation) as isize - cols.pad_before as isize;
                for (oy, values) in row.chunks_exact(wo).enumerate() {
                    let iy =
                        (oy * rows.stride + i * rows.dilation) as isize - rows.pad_before as isize;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    let line = &mut plane[iy as usize * w..(iy as usize + 1) * w];
                    if cols.stride == 1 {
                        let first = (-col_offset).clamp(0, wo as isize) as usize;
                        let end =
                            (w as isize - col_offset).clamp(first as isize, wo as isize) as usize;
                        let start = (first as isize + col_offset) as usize;
                        for (t, v) in line[start..start + end - first]
                            .iter_mut()
                            .zip(&values[first..end])
                        {
                            *t += v;
                        }
                    } else {
                        for (ox, v) in values.iter().enumerate() {
                            let ix = (ox * cols.stride) as isize + col_offset;
                            if ix >= 0 && ix < w as isize {
                                line[ix as usize] += v;
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::module::conv2d as burn_conv2d;
    use burn::tensor::ops::ConvOptions;

    /// Values and input gradients equal burn's convolution's, on geometries of every kind
    /// the host path takes (padding on both sides, strides, dilation, taps that read only
    /// padding, planes smaller than the kernel).
    #[test]
    fn matches_burns_values_and_input_gradient() {
        // (c_in, h, w, c_out, kernel, stride, dilation, pad before, pad after)
        let cases = [
            (1, 28, 28, 8, 5, 1, 1, 2, 2),
            (3, 9, 7, 4, 3, 1, 1, 1, 1),
            (2, 5, 5, 3, 5, 1, 1, 0, 0),
            (8, 14, 14, 16, 5, 1, 1, 2, 2),
            (3, 32, 32, 16, 7, 2, 1, 3, 3),
            (16, 8, 8, 24, 1, 2, 1, 0, 0),
            (4, 9, 11, 6, 3, 2, 2, 1, 2),
            (2, 5, 6, 3, 3, 3, 1, 0, 1),
            (2, 6, 7, 3, 3, 1, 1, 3, 0),
            (5, 1, 1, 7, 3, 1, 1, 1, 1),
            (4, 2, 3, 6, 3, 2, 1, 1, 1),
            (6, 4, 4, 5, 3, 1, 1, 1, 1),
        ];
        let mut rng = aisec_core::rng::Rng::new(11);
        let device = crate::tensor::autodiff_device();
        for (case, &(c_in, h, w, c_out, k, stride, dilation, before, after)) in
            cases.iter().enumerate()
        {
            let n = 3;
            let axis = Axis {
                kernel: k,
                stride,
                dilation,
                pad_before: before,
                pad_after: after,
            };
            let (ho, wo) = (axis.output_len(h), axis.output_len(w));
            let mut draw = |len: usize| -> Vec<f32> { (0..len).map(|_| rng.normal()).collect() };
            let (x, weight, bias, probe) = (
                draw(n * c_in * h * w),
                draw(c_out * c_in * k * k),
                draw(c_out),
                draw(n * c_out * ho * wo),
            );
            let tensor = |v: &Vec<f32>, dims: [usize; 4]| {
                Tensor::<4>::from_data(TensorData::new(v.clone(), dims), &device)
            };
            let weight = tensor(&weight, [c_out, c_in, k, k]);
            let bias = Tensor::<1>::from_data(TensorData::new(bias, [c_out]), &device);
            let probe = tensor(&probe, [n, c_out, ho, wo]);
            // A loss whose gradient differs at every output: Σ out · probe.
            let run = |ours: bool| {
                let input = tensor(&x, [n, c_in, h, w]).require_grad();
                let out = if ours {
                    conv2d(None, &input, &weight, Some(&bias), axis, axis)
                        .expect("the host path applies")
                } else {
                    burn_conv2d(
                        input.clone(),
                        weight.clone(),
                        Some(bias.clone()),
                        ConvOptions::new([stride; 2], [before; 2], [dilation; 2], 1),
                    )
                };
                let grads = (out.clone() * probe.clone()).sum().backward();
                let grad = input.grad(&grads).expect("the input is tracked");
                (
                    crate::tensor::to_vec(out.inner()),
                    crate::tensor::to_vec(grad),
                )
            };
            if before != after {
                // burn's operator pads symmetrically; compare against the definition instead.
                let (values, grad) = run(true);
                let (expected_values, expected_grad) =
                    definition(&x, &weight, &bias, &probe, [n, c_in, h, w], axis);
                assert_close(&values, &expected_values, case, "values");
                assert_close(&grad, &expected_grad, case, "input gradient");
                continue;
            }
            let ((values, grad), (expected_values, expected_grad)) = (run(true), run(false));
            assert_close(&values, &expected_values, case, "values");
            assert_close(&grad, &expected_grad, case, "input gradient");
        }
    }

    /// Values and input gradient by the definition, for asymmetric padding.
    fn definition(
        x: &[f32],
        weight: &Tensor<4>,
        bias: &Tensor<1>,
        probe: &Tensor<4>,
        [n, c_in, h, w]: [usize; 4],
        axis: Axis,
    ) -> (Vec<f32>, Vec<f32>) {
        let [c_out, _, k, _] = weight.dims();
        let (ho, wo) = (axis.output_len(h), axis.output_len(w));
        let weight = crate::tensor::to_vec(weight.clone().inner());
        let bias = crate::tensor::to_vec(bias.clone().inner());
        let probe = crate::tensor::to_vec(probe.clone().inner());
        let mut out = vec![0.0f32; n * c_out * ho * wo];
        let mut grad = vec![0.0f32; x.len()];
        for b in 0..n {
            for (co, &bias) in bias.iter().enumerate() {
                for oy in 0..ho {
                    for ox in 0..wo {
                        let at = ((b * c_out + co) * ho + oy) * wo + ox;
                        let mut sum = bias;
                        for ci in 0..c_in {
                            for i in 0..k {
                                for j in 0..k {
                                    let iy = (oy * axis.stride + i * axis.dilation) as isize
                                        - axis.pad_before as isize;
                                    let ix = (ox * axis.stride + j * axis.dilation) as isize
                                        - axis.pad_before as isize;
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                        continue;
                                    }
                                    let xi = ((b * c_in + ci) * h + iy as usize) * w + ix as usize;
                                    let wi = ((co * c_in + ci) * k + i) * k + j;
                                    sum += x[xi] * weight[wi];
                                    grad[xi] += probe[at] * weight[wi];
                                }
                            }
                        }
                        out[at] = sum;
                    }
                }
            }
        }
        (out, grad)
    }

    fn assert_close(ours: &[f32], expected: &[f32], case: usize, what: &str) {
        assert_eq!(ours.len(), expected.len(), "case {case}: {what} length");
        let worst = ours
            .iter()
            .zip(expected)
            .map(|(a, b)| (a - b).abs() / (1.0 + b.abs()))
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "case {case}: {what} differ by {worst}");
    }

    #[test]
    fn weights_a_gradient_flows_through_keep_burns_operator() {
        let device = crate::tensor::autodiff_device();
        let axis = Axis {
            kernel: 3,
            stride: 1,
            dilation: 1,
            pad_before: 1,
            pad_after: 1,
        };
        let x = Tensor::<4>::ones([1, 2, 5, 5], &device).require_grad();
        let weight = Tensor::<4>::ones([3, 2, 3, 3], &device);
        assert!(conv2d(None, &x, &weight, None, axis, axis).is_some());
        assert!(conv2d(None, &x, &weight.clone().require_grad(), None, axis, axis).is_none());
        let bias = Tensor::<1>::ones([3], &device).require_grad();
        assert!(conv2d(None, &x, &weight, Some(&bias), axis, axis).is_none());
        // Weights computed from the input are not leaves, but the gradient flows through them.
        let from_input = weight.clone() * x.clone().sum().reshape([1, 1, 1, 1]);
        assert!(
            !from_input.is_require_grad(),
            "burn's check alone misses this case"
        );
        assert!(conv2d(None, &x, &from_input, None, axis, axis).is_none());
        let bias_from_input = x.clone().sum().repeat_dim(0, 3);
        assert!(conv2d(None, &x, &weight, Some(&bias_from_input), axis, axis).is_none());
        let plain = Tensor::<4>::ones([1, 2, 5, 5], &crate::tensor::device());
        assert!(
            conv2d(None, &plain, &weight.inner(), None, axis, axis).is_none(),
            "no autodiff: the query path's business"
        );
    }
}
