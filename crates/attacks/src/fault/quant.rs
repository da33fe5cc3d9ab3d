//! Symmetric per-layer 8-bit quantization of a network's weight matrices and kernels (biases
//! stay float, as in Rakin et al.'s setting): q = round(w / s) in [−127, 127] with
//! s = max |w| / 127. Inference uses q·s, which is what an int8 kernel computes up to float
//! rounding. With a clamp (`defense.weight-clamp`), each group of consecutive weights keeps
//! the range [min q, max q] it had when the model was deployed, and inference clamps to it:
//! a flipped high bit that throws a weight outside its group's range is pulled back.

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
    /// Each group's deployed [min, max], when inference clamps to them.
    #[serde(skip)]
    pub ranges: Vec<(i8, i8)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quantized {
    pub layers: Vec<QuantLayer>,
    /// Weights per clamp group, when inference clamps each group to its deployed range.
    pub clamp_group: Option<usize>,
}

impl Quantized {
    /// Quantizes every weight tensor of rank ≥ 2 (dense matrices and convolution kernels).
    pub fn new(weights: &[WeightTensor], clamp_group: Option<usize>) -> Quantized {
        let layers = weights
            .iter()
            .enumerate()
            .filter(|(_, w)| w.shape.len() >= 2 && !w.values.is_empty())
            .map(|(i, w)| {
                let max = w.values.iter().fold(0f32, |m, v| m.max(v.abs()));
                let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
                let q: Vec<i8> = w
                    .values
                    .iter()
                    .map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8)
                    .collect();
                let ranges = match clamp_group {
                    Some(g) => q
                        .chunks(g.max(1))
                        .map(|c| {
                            let lo = c.iter().copied().min().unwrap_or(0);
                            let hi = c.iter().copied().max().unwrap_or(0);
                            (lo, hi)
                        })
                        .collect(),
                    None => Vec::new(),
                };
                QuantLayer {
                    tensor: i,
                    name: w.name.clone(),
                    scale,
                    q,
                    ranges,
                }
            })
            .collect();
        Quantized {
            layers,
            clamp_group,
        }
    }

    /// Bits an attacker could flip.
    pub fn bits(&self) -> usize {
        self.layers.iter().map(|l| l.q.len() * 8).sum()
    }

    /// The value inference uses for weight `index` of `layer` if it held `q`: q itself, or
    /// q clamped to its group's deployed range.
    pub fn effective(&self, layer: usize, index: usize, q: i8) -> i8 {
        let l = &self.layers[layer];
        match self.clamp_group {
            Some(g) => {
                let (lo, hi) = l.ranges[index / g.max(1)];
                q.clamp(lo, hi)
            }
            None => q,
        }
    }

    /// `base` with each quantized layer's values replaced by what inference uses (q·s).
    pub fn dequantize(&self, base: &[WeightTensor]) -> Vec<WeightTensor> {
        let mut out = base.to_vec();
        for (li, l) in self.layers.iter().enumerate() {
            out[l.tensor].values =
                l.q.iter()
                    .enumerate()
                    .map(|(i, q)| self.effective(li, i, *q) as f32 * l.scale)
                    .collect();
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
