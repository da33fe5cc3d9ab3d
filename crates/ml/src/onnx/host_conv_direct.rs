//! Direct convolution for layers with few input channels, stride 1 and no dilation (a
//! grayscale or RGB model's first layer): each (output channel, input channel, tap) adds one
//! shifted copy of the zero-padded input plane, read as one contiguous run, to the output
//! plane laid out with the padded plane's row length. The windows' matrix of
//! [`super::host_conv`] would repeat each input value once per tap, and its product has only
//! a handful of rows (the MNIST CNN's first layer: 25 taps, 8 output channels) — 3× slower
//! than this for forward and input gradient together (the example `host_conv_speed`).

use super::host_conv::Geometry;

/// Input channels up to which the direct form is used.
const MAX_CHANNELS_IN: usize = 3;

/// Whether `geometry` is one the direct form computes: stride 1, no dilation, every tap
/// kept, few input channels.
pub(super) fn applies(geometry: &Geometry) -> bool {
    let (rows, cols) = (geometry.rows, geometry.cols);
    rows.stride == 1
        && cols.stride == 1
        && rows.dilation == 1
        && cols.dilation == 1
        && geometry.input[1] <= MAX_CHANNELS_IN
        && geometry.taps[0].len() == rows.kernel
        && geometry.taps[1].len() == cols.kernel
        && geometry.output_plane().iter().all(|&len| len > 0)
}

/// The padded plane's shape and the length of the run each tap adds.
struct Layout {
    padded: [usize; 2],
    run: usize,
}

fn layout(geometry: &Geometry) -> Layout {
    let [_, _, h, w] = geometry.input;
    let (rows, cols) = (geometry.rows, geometry.cols);
    let padded = [
        h + rows.pad_before + rows.pad_after,
        w + cols.pad_before + cols.pad_after,
    ];
    let [ho, wo] = geometry.output_plane();
    Layout {
        padded,
        run: (ho - 1) * padded[1] + wo,
    }
}

/// The forward pass (see [`super::host_conv::convolve`]); `weights` `[c_out, c_in·kh·kw]`.
pub(super) fn convolve(
    data: &[f32],
    geometry: &Geometry,
    weights: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
) {
    let [_, c_in, h, w] = geometry.input;
    let c_out = geometry.c_out;
    let [ho, wo] = geometry.output_plane();
    let (kh, kw) = (geometry.rows.kernel, geometry.cols.kernel);
    let Layout {
        padded: [hp, wp],
        run,
    } = layout(geometry);
    let mut padded = vec![0.0f32; c_in * hp * wp];
    let mut acc = vec![0.0f32; run];
    let (top, left) = (geometry.rows.pad_before, geometry.cols.pad_before);
    // Where each tap's run starts in the padded input, channel by channel.
    let offsets: Vec<usize> = (0..c_in * kh * kw)
        .map(|t| (t / (kh * kw)) * hp * wp + (t % (kh * kw) / kw) * wp + t % kw)
        .collect();
    for (img, dst) in data
        .chunks_exact(c_in * h * w)
        .zip(out.chunks_exact_mut(c_out * ho * wo))
    {
        for (plane, target) in img
            .chunks_exact(h * w)
            .zip(padded.chunks_exact_mut(hp * wp))
        {
            for (row, line) in plane.chunks_exact(w).enumerate() {
                let at = (row + top) * wp + left;
                target[at..at + w].copy_from_slice(line);
            }
        }
        for (co, (kernel, plane)) in weights
            .chunks_exact(c_in * kh * kw)
            .zip(dst.chunks_exact_mut(ho * wo))
            .enumerate()
        {
            shifted_sum(
                &mut acc,
                bias.map_or(0.0, |b| b[co]),
                &padded,
                &offsets,
                kernel,
            );
            for (oy, line) in plane.chunks_exact_mut(wo).enumerate() {
                line.copy_from_slice(&acc[oy * wp..oy * wp + wo]);
            }
        }
    }
}

/// The input's gradient from the output's (see `host_conv_grad`), as a sum over shifted runs
/// too: the output gradients, each laid out with the padded row length between zero margins,
/// read back at every tap's offset, times its weight; the padding is cropped off.
pub(super) fn input_gradient(
    output_grad: &[f32],
    geometry: &Geometry,
    weights: &[f32],
    grad: &mut [f32],
) {
    let [_, c_in, h, w] = geometry.input;
    let c_out = geometry.c_out;
    let [ho, wo] = geometry.output_plane();
    let (kh, kw) = (geometry.rows.kernel, geometry.cols.kernel);
    let Layout {
        padded: [hp, wp], ..
    } = layout(geometry);
    // Input position q of the padded plane gets Σ weight(tap) · out_grad[q − shift(tap)],
    // shift = i·wp + j; a margin of the largest shift before (and the plane's length after)
    // keeps every read inside the buffer, reading zeros where no output was.
    let margin = (kh - 1) * wp + (kw - 1);
    let span = margin + hp * wp;
    let mut wide = vec![0.0f32; c_out * span];
    let mut sums = vec![0.0f32; hp * wp];
    let taps = kh * kw;
    let mut offsets = Vec::with_capacity(c_out * taps);
    let mut kernel = Vec::with_capacity(c_out * taps);
    let (top, left) = (geometry.rows.pad_before, geometry.cols.pad_before);
    for (outputs, dst) in output_grad
        .chunks_exact(c_out * ho * wo)
        .zip(grad.chunks_exact_mut(c_in * h * w))
    {
        for (plane, target) in outputs
            .chunks_exact(ho * wo)
            .zip(wide.chunks_exact_mut(span))
        {
            for (oy, line) in plane.chunks_exact(wo).enumerate() {
                let at = margin + oy * wp;
                target[at..at + wo].copy_from_slice(line);
            }
        }
        for (ci, plane) in dst.chunks_exact_mut(h * w).enumerate() {
            offsets.clear();
            kernel.clear();
            for co in 0..c_out {
                for t in 0..taps {
                    offsets.push(co * span + margin - (t / kw) * wp - t % kw);
                    kernel.push(weights[(co * c_in + ci) * taps + t]);
                }
            }
            shifted_sum(&mut sums, 0.0, &wide, &offsets, &kernel);
            for (row, line) in plane.chunks_exact_mut(w).enumerate() {
                let at = (row + top) * wp + left;
                line.copy_from_slice(&sums[at..at + w]);
            }
        }
    }
}

/// `out[p] = start + Σ_k weights[k] · source[offsets[k] + p]` for every `p` of `out`.
fn shifted_sum(out: &mut [f32], start: f32, source: &[f32], offsets: &[usize], weights: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the processor has AVX2 and FMA (checked above).
            unsafe { shifted_sum_fma(out, start, source, offsets, weights) };
            return;
        }
    }
    shifted_sum_plain(out, start, source, offsets, weights);
}

/// Values accumulated per block held in registers across all the terms.
const BLOCK: usize = 64;

#[inline(always)]
fn shifted_sum_plain(
    out: &mut [f32],
    start: f32,
    source: &[f32],
    offsets: &[usize],
    weights: &[f32],
) {
    for (b, block) in out.chunks_mut(BLOCK).enumerate() {
        let base = b * BLOCK;
        if block.len() == BLOCK {
            let mut acc = [start; BLOCK];
            for (&offset, &weight) in offsets.iter().zip(weights) {
                let x: &[f32; BLOCK] = source[offset + base..offset + base + BLOCK]
                    .try_into()
                    .expect("a whole block");
                for (a, v) in acc.iter_mut().zip(x) {
                    *a = v.mul_add(weight, *a);
                }
            }
            block.copy_from_slice(&acc);
        } else {
            block.fill(start);
            for (&offset, &weight) in offsets.iter().zip(weights) {
                let x = &source[offset + base..offset + base + block.len()];
                for (a, v) in block.iter_mut().zip(x) {
                    *a = v.mul_add(weight, *a);
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn shifted_sum_fma(
    out: &mut [f32],
    start: f32,
    source: &[f32],
    offsets: &[usize],
    weights: &[f32],
) {
    shifted_sum_plain(out, start, source, offsets, weights);
}
