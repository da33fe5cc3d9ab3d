//! Max pooling for inference, on the host. burn-flex's `max_pool2d` computes the window
//! maxima and their indices through a generic 3-D kernel at ~7 ns an element, a quarter of a
//! small CNN's query time (perf, HopSkipJump on the MNIST CNN); queries need no indices and no
//! gradient, so they pool here with a plain loop. Gradient passes pool here too, recorded with
//! their own backward pass ([`max_pool2d_recorded`]).

use std::sync::Arc;

use burn::prelude::*;

/// One spatial axis of a pooling window.
#[derive(Debug, Clone, Copy)]
pub struct Axis {
    pub kernel: usize,
    pub stride: usize,
    pub pad_before: usize,
    pub pad_after: usize,
    pub dilation: usize,
}

impl Axis {
    /// ONNX's (and PyTorch's) output length; in ceil mode a last window that would start in
    /// the trailing padding is dropped.
    pub fn output_len(&self, input: usize, ceil_mode: bool) -> usize {
        let span = self.dilation * (self.kernel - 1) + 1;
        let padded = input + self.pad_before + self.pad_after;
        if padded < span {
            return 0;
        }
        let steps = padded - span;
        let mut out = if ceil_mode {
            steps.div_ceil(self.stride) + 1
        } else {
            steps / self.stride + 1
        };
        if ceil_mode && out > 1 && (out - 1) * self.stride >= input + self.pad_before {
            out -= 1;
        }
        out
    }
}

/// Whether the windows do not overlap and lie inside the plane (2×2 stride 2, the CNN
/// case), so that no bound needs checking.
fn tiled(rows: Axis, cols: Axis, [h, w]: [usize; 2], [oh, ow]: [usize; 2]) -> bool {
    rows.kernel == rows.stride
        && cols.kernel == cols.stride
        && rows.dilation == 1
        && cols.dilation == 1
        && rows.pad_before + rows.pad_after + cols.pad_before + cols.pad_after == 0
        && oh * rows.kernel <= h
        && ow * cols.kernel <= w
}

/// Max over each window of `x` `[n, c, h, w]`; padding never wins (it is −∞).
pub fn max_pool2d(x: Tensor<4>, rows: Axis, cols: Axis, ceil_mode: bool) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    let device = x.device();
    let data = crate::tensor::to_vec(x);
    let (oh, ow) = (rows.output_len(h, ceil_mode), cols.output_len(w, ceil_mode));
    let mut out = vec![0.0f32; n * c * oh * ow];
    let tiled = tiled(rows, cols, [h, w], [oh, ow]);
    if tiled && !data.iter().any(|v| v.is_nan()) {
        // Non-overlapping windows inside the input (2×2 stride 2, the CNN case): no bounds
        // to check, and `max` is exact without NaN.
        let (kh, kw) = (rows.kernel, cols.kernel);
        for (plane, target) in data.chunks_exact(h * w).zip(out.chunks_exact_mut(oh * ow)) {
            for (oy, out_row) in target.chunks_exact_mut(ow).enumerate() {
                out_row.fill(f32::NEG_INFINITY);
                for line in plane[oy * kh * w..(oy * kh + kh) * w].chunks_exact(w) {
                    for (o, window) in out_row.iter_mut().zip(line.chunks_exact(kw)) {
                        *o = window.iter().fold(*o, |m, v| m.max(*v));
                    }
                }
            }
        }
        return Tensor::from_data(TensorData::new(out, [n, c, oh, ow]), &device);
    }
    for (plane, target) in data.chunks_exact(h * w).zip(out.chunks_exact_mut(oh * ow)) {
        for oy in 0..oh {
            let y0 = (oy * rows.stride) as isize - rows.pad_before as isize;
            for ox in 0..ow {
                let x0 = (ox * cols.stride) as isize - cols.pad_before as isize;
                let mut best = f32::NEG_INFINITY;
                let mut nan = false;
                for ky in 0..rows.kernel {
                    let y = y0 + (ky * rows.dilation) as isize;
                    if y < 0 || y >= h as isize {
                        continue;
                    }
                    let line = &plane[y as usize * w..(y as usize + 1) * w];
                    for kx in 0..cols.kernel {
                        let xx = x0 + (kx * cols.dilation) as isize;
                        if xx < 0 || xx >= w as isize {
                            continue;
                        }
                        let v = line[xx as usize];
                        nan |= v.is_nan();
                        if v > best {
                            best = v;
                        }
                    }
                }
                target[oy * ow + ox] = if nan { f32::NAN } else { best };
            }
        }
    }
    Tensor::from_data(TensorData::new(out, [n, c, oh, ow]), &device)
}

/// Max pooling on the gradient path: the windows' maxima found on the host and recorded
/// with a backward pass of its own ([`super::host_autodiff`]) that adds each output's
/// gradient to its window's first maximum, as burn's does. burn-flex's
/// `max_pool2d_with_indices` was a fifth of a PGD step on the MNIST CNN, and a `gather` of
/// the maxima (burn's scatter as its backward) a sixth after it. None when some window holds
/// only padding, or `x` is not a burn-flex tensor under autodiff (the caller keeps burn's
/// operator).
pub fn max_pool2d_recorded(
    x: Tensor<4>,
    rows: Axis,
    cols: Axis,
    ceil_mode: bool,
) -> Option<Tensor<4>> {
    let [n, c, h, w] = x.dims();
    let (oh, ow) = (rows.output_len(h, ceil_mode), cols.output_len(w, ceil_mode));
    super::host_autodiff::record(&x, |data| {
        let index = Arc::new(window_maxima(data, [h, w], rows, cols, [oh, ow])?);
        let values = index.iter().map(|&i| data[i]).collect();
        let saved = Maxima {
            input: [n, c, h, w],
            index,
        };
        Some((values, [n, c, oh, ow], saved))
    })
}

/// Where each output's value came from, for the backward pass.
#[derive(Debug, Clone)]
struct Maxima {
    input: [usize; 4],
    /// Per output, the position of its window's first maximum in the whole input.
    index: Arc<Vec<usize>>,
}

impl super::host_autodiff::HostBackward for Maxima {
    fn input_dims(&self) -> [usize; 4] {
        self.input
    }

    fn input_gradient(&self, output_grad: &[f32]) -> Vec<f32> {
        let mut grad = vec![0.0f32; self.input.iter().product()];
        for (&at, g) in self.index.iter().zip(output_grad) {
            grad[at] += g;
        }
        grad
    }
}

/// Per output of each `[h, w]` plane of `data`, the position (in `data`) of its window's
/// first maximum (a NaN wins over any number, as max propagates it); None when some window
/// holds only padding.
fn window_maxima(
    data: &[f32],
    [h, w]: [usize; 2],
    rows: Axis,
    cols: Axis,
    [oh, ow]: [usize; 2],
) -> Option<Vec<usize>> {
    let planes = data.len() / (h * w).max(1);
    let mut index = vec![0usize; planes * oh * ow];
    let tiled = tiled(rows, cols, [h, w], [oh, ow]);
    if tiled {
        // Non-overlapping windows inside the plane (2×2 stride 2): no bounds to check.
        let (kh, kw) = (rows.kernel, cols.kernel);
        let wins = |a: f32, b: f32| (b > a) | (b.is_nan() & !a.is_nan());
        for (plane, target) in data
            .chunks_exact(h * w)
            .zip(index.chunks_exact_mut(oh * ow))
        {
            if kh == 2 && kw == 2 {
                // The common 2×2 window as two pairs and a final between their winners.
                for (oy, out_row) in target.chunks_exact_mut(ow).enumerate() {
                    let (top, bottom) = (2 * oy * w, (2 * oy + 1) * w);
                    for (ox, slot) in out_row.iter_mut().enumerate() {
                        let (t, b) = (top + 2 * ox, bottom + 2 * ox);
                        let t = if wins(plane[t], plane[t + 1]) {
                            t + 1
                        } else {
                            t
                        };
                        let b = if wins(plane[b], plane[b + 1]) {
                            b + 1
                        } else {
                            b
                        };
                        *slot = if wins(plane[t], plane[b]) { b } else { t };
                    }
                }
                continue;
            }
            for (oy, out_row) in target.chunks_exact_mut(ow).enumerate() {
                for (ox, slot) in out_row.iter_mut().enumerate() {
                    let first = oy * kh * w + ox * kw;
                    let (mut at, mut best) = (first, plane[first]);
                    for ky in 0..kh {
                        let line = first + ky * w;
                        for (kx, &v) in plane[line..line + kw].iter().enumerate() {
                            // Without branches: which element wins is data, not a pattern.
                            let take = (v > best) | (v.is_nan() & !best.is_nan());
                            at = if take { line + kx } else { at };
                            best = if take { v } else { best };
                        }
                    }
                    *slot = at;
                }
            }
        }
    } else {
        for (plane, target) in data
            .chunks_exact(h * w)
            .zip(index.chunks_exact_mut(oh * ow))
        {
            for oy in 0..oh {
                let y0 = (oy * rows.stride) as isize - rows.pad_before as isize;
                for ox in 0..ow {
                    let x0 = (ox * cols.stride) as isize - cols.pad_before as isize;
                    let mut best: Option<(usize, f32)> = None;
                    for ky in 0..rows.kernel {
                        let y = y0 + (ky * rows.dilation) as isize;
                        if y < 0 || y >= h as isize {
                            continue;
                        }
                        for kx in 0..cols.kernel {
                            let xx = x0 + (kx * cols.dilation) as isize;
                            if xx < 0 || xx >= w as isize {
                                continue;
                            }
                            let at = y as usize * w + xx as usize;
                            let v = plane[at];
                            // The first maximum wins; a NaN wins over any number (max propagates it).
                            let better = match best {
                                None => true,
                                Some((_, b)) => !b.is_nan() && (v > b || v.is_nan()),
                            };
                            if better {
                                best = Some((at, v));
                            }
                        }
                    }
                    target[oy * ow + ox] = best?.0;
                }
            }
        }
    }
    // Plane-local positions → positions in `data`.
    if oh * ow > 0 {
        for (plane, target) in index.chunks_exact_mut(oh * ow).enumerate() {
            for at in target {
                *at += plane * h * w;
            }
        }
    }
    Some(index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::module::max_pool2d as burn_pool;
    use burn::tensor::ops::MaxPoolOptions;

    #[test]
    fn matches_burns_max_pool_on_every_geometry() {
        let device = crate::tensor::device();
        let (n, c, h, w) = (2, 3, 9, 8);
        let values: Vec<f32> = (0..n * c * h * w)
            .map(|i| ((i * 7919 + 13) % 101) as f32 / 10.0 - 5.0)
            .collect();
        let x = Tensor::<4>::from_data(TensorData::new(values, [n, c, h, w]), &device);
        for (kernel, stride, pad, dilation, ceil) in [
            (2, 2, 0, 1, false),
            (3, 2, 1, 1, false),
            (3, 2, 1, 1, true),
            (2, 2, 0, 1, true),
            (3, 1, 1, 2, false),
            (5, 3, 2, 1, true),
            (3, 3, 0, 1, false),
        ] {
            let axis = Axis {
                kernel,
                stride,
                pad_before: pad,
                pad_after: pad,
                dilation,
            };
            let ours = crate::tensor::to_vec(max_pool2d(x.clone(), axis, axis, ceil));
            let mut options = MaxPoolOptions::new([kernel, kernel]).with_stride([stride, stride]);
            options.padding = [(pad, pad), (pad, pad)];
            options.dilation = [dilation, dilation];
            options.ceil_mode = ceil;
            let theirs = crate::tensor::to_vec(burn_pool(x.clone(), options.clone()));
            assert_eq!(
                ours, theirs,
                "k{kernel} s{stride} p{pad} d{dilation} ceil {ceil}"
            );
            // On the gradient path: the same values and the same input gradient.
            let _autodiff = crate::tensor::autodiff_guard();
            let tracked = Tensor::<4>::from_data(x.to_data(), &crate::tensor::autodiff_device())
                .require_grad();
            let weights = Tensor::<4>::from_data(
                TensorData::new(
                    (0..theirs.len())
                        .map(|i| (i % 7) as f32 - 3.0)
                        .collect::<Vec<f32>>(),
                    burn_pool(x.clone(), options.clone()).dims(),
                ),
                &crate::tensor::autodiff_device(),
            );
            let pooled = max_pool2d_recorded(tracked.clone(), axis, axis, ceil).unwrap();
            let grads = (pooled.clone() * weights.clone()).sum().backward();
            let ours_grad = crate::tensor::to_vec(tracked.grad(&grads).unwrap());
            let tracked2 = Tensor::<4>::from_data(x.to_data(), &crate::tensor::autodiff_device())
                .require_grad();
            let grads2 = (burn_pool(tracked2.clone(), options) * weights)
                .sum()
                .backward();
            let theirs_grad = crate::tensor::to_vec(tracked2.grad(&grads2).unwrap());
            assert_eq!(crate::tensor::to_vec(pooled), theirs, "k{kernel} s{stride}");
            assert_eq!(
                ours_grad, theirs_grad,
                "gradient k{kernel} s{stride} p{pad}"
            );
        }
    }
}
