//! Convolution for inference, on the host: each image's windows laid out as the columns of
//! one matrix (im2col) and multiplied once by the weights with `matrixmultiply`'s sgemm,
//! written straight into the NCHW output. burn-flex's `conv2d` accumulates small-channel
//! convolutions plane by plane (the MNIST CNN's 1→8 and 8→16 channel 5×5 layers ran at
//! 10–13 GFLOP/s) and splits larger ones into many small products; queries need no
//! gradient, so they take this path. Gradient passes keep burn's operator (and
//! [`super::batched_conv`] for small planes), whose backward pass they need.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::{Arc, Mutex};

use burn::prelude::*;
use burn::tensor::TensorData;

use super::proto::NodeProto;
use super::value::Value;

use super::batched_conv::Axis;

/// Whether [`conv2d`] is faster than burn-flex's for this (ungrouped) convolution. Measured
/// one thread, batch 256 (`cargo run --release -p aisec-ml --example host_conv_speed`): few
/// taps per output (the MNIST CNN's 1→8 and 8→16 channel 5×5 layers, 2.3–2.5×; a 3-channel
/// 7×7 stem, 2.2×), pointwise kernels (1.4×) and outputs of a few positions, where burn's
/// per-image tiles are tiny (128→256 channels 3×3 onto 2×2, 2.3×), and the 2×2 and 1×1
/// planes [`super::batched_conv`] takes on the gradient path (2.0–2.3× faster than it here).
/// burn-flex keeps wide stride-1 kernels on larger planes (64→64 and 128→128 channels 3×3
/// on 8×8 and 4×4: 1.0× and 0.75×).
pub fn prefer(c_in: usize, kh: usize, kw: usize, out_positions: usize) -> bool {
    c_in * kh * kw <= 256 || (kh == 1 && kw == 1) || out_positions <= 8
}

/// A node (by address) and the taps kept: rows start..end, columns start..end.
type PreparedKey = (usize, [usize; 4]);

/// A model's convolution weights as the product reads them (taps that read only padding
/// left out), kept between queries: reading a burn tensor back copies it, and ResNet-18's
/// 45 MB of weights copied at every query of a few rows cost as much as the product.
#[derive(Debug, Default)]
pub struct WeightCache {
    /// Top-level Conv nodes (by address: the graph is not moved while the model lives)
    /// whose weights are initializers no node of the graph overwrites.
    constant_nodes: HashSet<usize>,
    prepared: Mutex<HashMap<PreparedKey, Arc<Vec<f32>>>>,
}

impl WeightCache {
    pub fn new(nodes: &[NodeProto], constants: &HashMap<String, Value>) -> Self {
        let produced: HashSet<&str> = nodes
            .iter()
            .flat_map(|n| n.outputs.iter().map(String::as_str))
            .collect();
        let constant_nodes = nodes
            .iter()
            .filter(|n| n.op_type == "Conv")
            .filter(|n| {
                n.inputs.get(1).is_some_and(|w| {
                    constants.contains_key(w.as_str()) && !produced.contains(w.as_str())
                })
            })
            .map(|n| n as *const NodeProto as usize)
            .collect();
        WeightCache {
            constant_nodes,
            prepared: Mutex::new(HashMap::new()),
        }
    }

    /// Makes this cache the one [`conv2d_of`] reads on this thread while `f` runs.
    pub fn active<R>(self: &Arc<Self>, f: impl FnOnce() -> R) -> R {
        let previous = ACTIVE.with(|a| a.replace(Some(self.clone())));
        let out = f();
        ACTIVE.with(|a| a.replace(previous));
        out
    }
}

thread_local! {
    static ACTIVE: std::cell::RefCell<Option<Arc<WeightCache>>> = const { std::cell::RefCell::new(None) };
}

/// [`conv2d`] for a graph's node: its weights from the model's [`WeightCache`] when the
/// node's are constant.
pub fn conv2d_of(
    node: &NodeProto,
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    rows: Axis,
    cols: Axis,
) -> Tensor<4> {
    conv2d_cached(
        Some(node as *const NodeProto as usize),
        x,
        weight,
        bias,
        rows,
        cols,
    )
}

/// `x` `[n, c_in, h, w]` convolved with `weight` `[c_out, c_in, kh, kw]` (one group), plus
/// `bias` `[c_out]`: the same values as burn's `conv2d` up to the order of the sums.
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    rows: Axis,
    cols: Axis,
) -> Tensor<4> {
    conv2d_cached(None, x, weight, bias, rows, cols)
}

fn conv2d_cached(
    node: Option<usize>,
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    rows: Axis,
    cols: Axis,
) -> Tensor<4> {
    let [n, c_in, h, w] = x.dims();
    let taps = real_taps([h, w], rows, cols);
    let c_out = weight.dims()[0];
    let weights = prepared_weights(node, weight, &taps);
    let device = x.device();
    let geometry = Geometry {
        input: [n, c_in, h, w],
        c_out,
        rows,
        cols,
        taps,
    };
    let out = convolve(
        &crate::tensor::to_vec(x),
        &geometry,
        &weights,
        bias.map(crate::tensor::to_vec).as_deref(),
    );
    Tensor::from_data(TensorData::new(out, geometry.output_dims()), &device)
}

/// Taps that read only padding add nothing (a 3×3 kernel on a 1×1 plane has one real tap):
/// they are left out of the product, with their weights.
pub(super) fn real_taps([h, w]: [usize; 2], rows: Axis, cols: Axis) -> [Range<usize>; 2] {
    [
        rows.real_taps(h, rows.output_len(h)),
        cols.real_taps(w, cols.output_len(w)),
    ]
}

/// `weight` laid out for the product, from the active [`WeightCache`] when `node` is one
/// of its constant nodes.
pub(super) fn prepared_weights(
    node: Option<usize>,
    weight: Tensor<4>,
    taps: &[Range<usize>; 2],
) -> Arc<Vec<f32>> {
    let cached = node.and_then(|node| {
        ACTIVE.with(|a| {
            let active = a.borrow();
            let cache = active
                .as_ref()
                .filter(|c| c.constant_nodes.contains(&node))?;
            let key = (
                node,
                [taps[0].start, taps[0].end, taps[1].start, taps[1].end],
            );
            let mut prepared = cache.prepared.lock().unwrap_or_else(|p| p.into_inner());
            Some(
                prepared
                    .entry(key)
                    .or_insert_with(|| Arc::new(prepare(weight.clone(), taps)))
                    .clone(),
            )
        })
    });
    cached.unwrap_or_else(|| Arc::new(prepare(weight, taps)))
}

/// The weights `[c_out, c_in, kh, kw]` as `[c_out, c_in·taps]`, keeping the taps given.
fn prepare(weight: Tensor<4>, [row_taps, col_taps]: &[Range<usize>; 2]) -> Vec<f32> {
    let [_, _, kh, kw] = weight.dims();
    let weights = crate::tensor::to_vec(weight);
    if row_taps.len() == kh && col_taps.len() == kw {
        return weights;
    }
    let mut kept =
        Vec::with_capacity(weights.len() / (kh * kw).max(1) * row_taps.len() * col_taps.len());
    for kernel in weights.chunks_exact(kh * kw) {
        for i in row_taps.clone() {
            kept.extend(col_taps.clone().map(|j| kernel[i * kw + j]));
        }
    }
    kept
}

/// One convolution's shape: the input `[n, c_in, h, w]`, the output channels, each axis and
/// the taps kept.
#[derive(Debug, Clone)]
pub(super) struct Geometry {
    pub input: [usize; 4],
    pub c_out: usize,
    pub rows: Axis,
    pub cols: Axis,
    pub taps: [Range<usize>; 2],
}

impl Geometry {
    pub fn output_plane(&self) -> [usize; 2] {
        let [_, _, h, w] = self.input;
        [self.rows.output_len(h), self.cols.output_len(w)]
    }

    pub fn output_dims(&self) -> [usize; 4] {
        let [ho, wo] = self.output_plane();
        [self.input[0], self.c_out, ho, wo]
    }

    /// Rows of the column matrix: input channels × taps kept.
    pub fn taps_len(&self) -> usize {
        self.input[1] * self.taps[0].len() * self.taps[1].len()
    }

    /// Images multiplied together: enough for the product's kernel to run at speed (a 4×4
    /// plane alone gives it 16 columns).
    pub fn group(&self) -> usize {
        let [ho, wo] = self.output_plane();
        MIN_COLUMNS
            .div_ceil((ho * wo).max(1))
            .clamp(1, self.input[0].max(1))
    }
}

/// The product itself: `data` `[n, c_in, h, w]` with the weights prepared for the taps kept
/// (`[c_out, taps]`), plus the bias; `[n, c_out, ho, wo]` row-major.
pub(super) fn convolve(
    data: &[f32],
    geometry: &Geometry,
    weights: &[f32],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let [n, c_in, h, w] = geometry.input;
    let c_out = geometry.c_out;
    let [ho, wo] = geometry.output_plane();
    let image = c_in * h * w;
    let (taps, positions) = (geometry.taps_len(), ho * wo);
    let mut out = vec![0.0f32; n * c_out * positions];
    if n == 0 || positions == 0 || c_out == 0 {
        return out;
    }
    if image == 0 {
        // No input channel: the bias alone.
        for (i, v) in out.iter_mut().enumerate() {
            *v = bias.map_or(0.0, |b| b[i / positions % c_out]);
        }
        return out;
    }
    if super::host_conv_direct::applies(geometry) {
        super::host_conv_direct::convolve(data, geometry, weights, bias, &mut out);
        return out;
    }
    let group = geometry.group();
    let width = group * positions;
    super::host_autodiff::with_scratch(taps * width, c_out * width, |columns, product| {
        for (images, dst) in data
            .chunks(group * image)
            .zip(out.chunks_mut(group * c_out * positions))
        {
            let count = images.len() / image;
            for (b, img) in images.chunks_exact(image).enumerate() {
                im2col(img, columns, (width, b * positions), geometry);
            }
            assert!(weights.len() == c_out * taps && columns.len() == taps * width);
            assert!(product.len() == c_out * width);
            // SAFETY: the weights are [c_out, taps], the columns [taps, width] and the product
            // [c_out, width], row-major and of exactly those lengths (asserted above); the three
            // do not overlap (two halves of the scratch buffer and the weights).
            unsafe {
                gemm::gemm(
                    width,
                    c_out,
                    taps,
                    product.as_mut_ptr(),
                    width as isize,
                    1,
                    false,
                    columns.as_ptr(),
                    width as isize,
                    1,
                    weights.as_ptr(),
                    taps as isize,
                    1,
                    0.0f32,
                    1.0f32,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
            // [c_out, image, position] → [image, c_out, position], with the bias.
            for (co, row) in product.chunks_exact(width).enumerate() {
                let add = bias.map_or(0.0, |b| b[co]);
                for b in 0..count {
                    let from = &row[b * positions..(b + 1) * positions];
                    let to =
                        &mut dst[(b * c_out + co) * positions..(b * c_out + co + 1) * positions];
                    for (t, f) in to.iter_mut().zip(from) {
                        *t = f + add;
                    }
                }
            }
        }
    });
    out
}

/// Columns per product below which images are grouped (measured with the example
/// `host_conv_speed`).
const MIN_COLUMNS: usize = 256;

/// The windows of one image as `ho·wo` columns of a `[c_in·kh·kw, stride]` matrix, from
/// column `offset`: row (channel, tap row, tap column), column (output position); positions
/// in the padding read 0.
fn im2col(img: &[f32], columns: &mut [f32], (stride, offset): (usize, usize), geometry: &Geometry) {
    let [_, c_in, h, w] = geometry.input;
    let [ho, wo] = geometry.output_plane();
    let (rows, cols) = (geometry.rows, geometry.cols);
    let [row_taps, col_taps] = &geometry.taps;
    let mut target = columns
        .chunks_exact_mut(stride)
        .map(|row| &mut row[offset..offset + ho * wo]);
    for c in 0..c_in {
        let plane = &img[c * h * w..(c + 1) * h * w];
        for i in row_taps.clone() {
            for j in col_taps.clone() {
                let row = target.next().expect("one row per channel and tap");
                let col_offset = (j * cols.dilation) as isize - cols.pad_before as isize;
                for (oy, out_row) in row.chunks_exact_mut(wo).enumerate() {
                    let iy =
                        (oy * rows.stride + i * rows.dilation) as isize - rows.pad_before as isize;
                    if iy < 0 || iy >= h as isize {
                        out_row.fill(0.0);
                        continue;
                    }
                    let line = &plane[iy as usize * w..(iy as usize + 1) * w];
                    if cols.stride == 1 {
                        // A run of consecutive inputs with zeros where it leaves the row.
                        let first = (-col_offset).clamp(0, wo as isize) as usize;
                        let end =
                            (w as isize - col_offset).clamp(first as isize, wo as isize) as usize;
                        out_row[..first].fill(0.0);
                        let start = (first as isize + col_offset) as usize;
                        out_row[first..end].copy_from_slice(&line[start..start + end - first]);
                        out_row[end..].fill(0.0);
                    } else {
                        for (ox, v) in out_row.iter_mut().enumerate() {
                            let ix = (ox * cols.stride) as isize + col_offset;
                            *v = if ix >= 0 && ix < w as isize {
                                line[ix as usize]
                            } else {
                                0.0
                            };
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

    /// The definition, loop by loop.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        x: &[f32],
        weight: &[f32],
        bias: &[f32],
        [n, c_in, h, w]: [usize; 4],
        [c_out, k]: [usize; 2],
        axis: Axis,
        [ho, wo]: [usize; 2],
    ) -> Vec<f32> {
        let mut out = vec![0.0f32; n * c_out * ho * wo];
        for b in 0..n {
            for co in 0..c_out {
                for oy in 0..ho {
                    for ox in 0..wo {
                        let mut sum = bias[co];
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
                                    sum += x[((b * c_in + ci) * h + iy as usize) * w + ix as usize]
                                        * weight[((co * c_in + ci) * k + i) * k + j];
                                }
                            }
                        }
                        out[((b * c_out + co) * ho + oy) * wo + ox] = sum;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn matches_the_definition() {
        // (c_in, h, w, c_out, kernel, stride, dilation, pad before, pad after)
        let cases = [
            (1, 28, 28, 8, 5, 1, 1, 2, 2),
            (3, 9, 7, 4, 3, 1, 1, 1, 1),
            (2, 5, 5, 3, 5, 1, 1, 0, 0),
            (8, 14, 14, 16, 5, 1, 1, 2, 2),
            (3, 32, 32, 64, 7, 2, 1, 3, 3),
            (64, 8, 8, 128, 1, 2, 1, 0, 0),
            (16, 9, 7, 4, 1, 1, 1, 0, 0),
            (4, 9, 11, 6, 3, 2, 2, 1, 2),
            (2, 5, 6, 3, 3, 3, 1, 0, 1),
            (2, 6, 7, 3, 3, 1, 1, 3, 0),
            (2, 3, 3, 3, 5, 1, 1, 0, 0),
            (5, 1, 1, 7, 3, 1, 1, 1, 1),
            (4, 2, 2, 6, 3, 1, 1, 1, 1),
            (4, 2, 3, 6, 3, 2, 1, 1, 1),
        ];
        let mut rng = aisec_core::rng::Rng::new(5);
        for (case, &(c_in, h, w, c_out, k, stride, dilation, before, after)) in
            cases.iter().enumerate()
        {
            let n = 3;
            let mut draw = |len: usize| -> Vec<f32> { (0..len).map(|_| rng.normal()).collect() };
            let (x, weight, bias) = (
                draw(n * c_in * h * w),
                draw(c_out * c_in * k * k),
                draw(c_out),
            );
            let axis = Axis {
                kernel: k,
                stride,
                dilation,
                pad_before: before,
                pad_after: after,
            };
            let (ho, wo) = (axis.output_len(h), axis.output_len(w));
            let device = crate::tensor::device();
            let ours = conv2d(
                Tensor::from_data(TensorData::new(x.clone(), [n, c_in, h, w]), &device),
                Tensor::from_data(
                    TensorData::new(weight.clone(), [c_out, c_in, k, k]),
                    &device,
                ),
                Some(Tensor::from_data(
                    TensorData::new(bias.clone(), [c_out]),
                    &device,
                )),
                axis,
                axis,
            );
            assert_eq!(ours.dims(), [n, c_out, ho, wo], "case {case}");
            let expected = reference(
                &x,
                &weight,
                &bias,
                [n, c_in, h, w],
                [c_out, k],
                axis,
                [ho, wo],
            );
            let worst = crate::tensor::to_vec(ours)
                .iter()
                .zip(&expected)
                .map(|(a, b)| (a - b).abs() / (1.0 + b.abs()))
                .fold(0.0f32, f32::max);
            assert!(worst < 1e-5, "case {case}: differs by {worst}");
        }
    }
}
