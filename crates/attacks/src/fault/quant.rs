//! Symmetric per-layer 8-bit quantization of a network's weight matrices and kernels (biases
//! stay float, as in Rakin et al.'s setting): q = round(w / s) in [−127, 127] with
//! s = range / 127, where the range is the layer's largest |w|, or, with clipping, k standard
//! deviations (weights beyond it saturate). Inference uses q·s, which is what an int8
//! kernel computes up to float rounding.

use aisec_ml::weights::WeightTensor;
use serde::Serialize;

/// One quantized layer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuantLayer {
    /// Index into the network's weight list.
    pub tensor: usize,
    pub name: String,
    pub scale: f32,
    #[serde(skip)]
    pub q: Vec<i8>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quantized {
    pub layers: Vec<QuantLayer>,
    /// Clipping at this many standard deviations, when set.
    pub clip_sigma: Option<f32>,
}

impl Quantized {
    /// Quantizes every weight tensor of rank ≥ 2 (dense matrices and convolution kernels).
    pub fn new(weights: &[WeightTensor], clip_sigma: Option<f32>) -> Quantized {
        let layers = weights
            .iter()
            .enumerate()
            .filter(|(_, w)| w.shape.len() >= 2 && !w.values.is_empty())
            .map(|(i, w)| {
                let max = w.values.iter().fold(0f32, |m, v| m.max(v.abs()));
                let range = match clip_sigma {
                    Some(k) => {
                        let n = w.values.len() as f64;
                        let mean = w.values.iter().map(|v| *v as f64).sum::<f64>() / n;
                        let var = w
                            .values
                            .iter()
                            .map(|v| (*v as f64 - mean).powi(2))
                            .sum::<f64>()
                            / n;
                        ((k as f64 * var.sqrt()) as f32).min(max)
                    }
                    None => max,
                };
                let scale = if range > 0.0 { range / 127.0 } else { 1.0 };
                let q = w
                    .values
                    .iter()
                    .map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8)
                    .collect();
                QuantLayer {
                    tensor: i,
                    name: w.name.clone(),
                    scale,
                    q,
                }
            })
            .collect();
        Quantized { layers, clip_sigma }
    }

    /// Bits an attacker could flip.
    pub fn bits(&self) -> usize {
        self.layers.iter().map(|l| l.q.len() * 8).sum()
    }

    /// `base` with each quantized layer's values replaced by q·s.
    pub fn dequantize(&self, base: &[WeightTensor]) -> Vec<WeightTensor> {
        let mut out = base.to_vec();
        for l in &self.layers {
            out[l.tensor].values = l.q.iter().map(|q| *q as f32 * l.scale).collect();
        }
        out
    }

    /// Flips bit `bit` (0 = least significant, 7 = the sign bit of two's complement) of
    /// weight `index` of layer `layer`; returns (before, after).
    pub fn flip(&mut self, layer: usize, index: usize, bit: u8) -> (i8, i8) {
        let q = &mut self.layers[layer].q[index];
        let before = *q;
        *q = flipped(before, bit);
        (before, *q)
    }
}

pub fn flipped(q: i8, bit: u8) -> i8 {
    ((q as u8) ^ (1u8 << bit)) as i8
}
