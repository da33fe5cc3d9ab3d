//! Training-time attacks: the adversary edits part of the training set (ATLAS AML.T0020
//! Poison Training Data, AML.T0018.000 Poison AI Model, AML.T0059 Erode Dataset Integrity;
//! triggers at inference AML.T0043.004 Insert Backdoor Trigger).
//!
//! Each attack turns a clean training set into a poisoned one and says which examples it
//! touched, so that defences can be scored on finding them. Measuring the result (training
//! the clean and the poisoned model, attack success on triggered inputs) is
//! `aisec_assess::poisoning`'s job.

registered!(ATTACKS: &[&crate::AttackInfo] = badnets, clean_label, label_flip);

use aisec_ml::data::Dataset;
use serde::Serialize;

/// A poisoned training set.
#[derive(Debug, Clone)]
pub struct Poisoned {
    pub train: Dataset,
    /// Indices into `train` of the examples the adversary changed.
    pub poisoned: Vec<usize>,
}

/// Which label a triggered input should get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TargetMap {
    /// Every triggered input goes to `target`.
    AllToOne { target: usize },
    /// A triggered input of class y goes to (y + 1) mod classes.
    AllToAll,
}

impl TargetMap {
    pub fn target_of(self, y: usize, classes: usize) -> usize {
        match self {
            TargetMap::AllToOne { target } => target,
            TargetMap::AllToAll => (y + 1) % classes.max(1),
        }
    }
}

/// How a backdoor marks its inputs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Trigger {
    /// A `size`×`size` square of `value` whose top-left corner is at (`row`, `col`); negative
    /// positions count from the bottom/right edge (BadNets, Gu et al. 2017).
    Patch {
        size: usize,
        row: i64,
        col: i64,
        value: f32,
    },
    /// `x ← (1 − alpha)·x + alpha·pattern` with a fixed random pattern drawn from `seed`
    /// (the blended trigger of Chen et al. 2017).
    Blend { alpha: f32, seed: u64 },
}

impl Trigger {
    /// The BadNets default: a 3×3 square of the maximum value in the bottom-right corner.
    pub fn corner_patch(size: usize, value: f32) -> Self {
        Trigger::Patch {
            size,
            row: -(size as i64),
            col: -(size as i64),
            value,
        }
    }

    /// Stamps the trigger onto one flattened input of shape C×H×W (or H×W).
    pub fn apply(&self, x: &mut [f32], shape: &[usize]) {
        let (c, h, w) = match shape {
            [c, h, w] => (*c, *h, *w),
            [h, w] => (1, *h, *w),
            [n] => (1, 1, *n),
            _ => (1, 1, x.len()),
        };
        match *self {
            Trigger::Patch {
                size,
                row,
                col,
                value,
            } => {
                let place = |p: i64, extent: usize| -> usize {
                    let p = if p < 0 { extent as i64 + p } else { p };
                    p.clamp(0, extent.saturating_sub(size.min(extent)) as i64) as usize
                };
                let (r0, c0) = (place(row, h), place(col, w));
                for ch in 0..c {
                    for r in r0..(r0 + size).min(h) {
                        for cc in c0..(c0 + size).min(w) {
                            x[ch * h * w + r * w + cc] = value;
                        }
                    }
                }
            }
            Trigger::Blend { alpha, seed } => {
                let mut rng = aisec_core::rng::Rng::derive(seed, "blend-trigger");
                for v in x.iter_mut() {
                    let p = rng.uniform(0.0, 1.0);
                    *v = (1.0 - alpha) * *v + alpha * p;
                }
            }
        }
    }

    /// Inputs of `data` whose class is not their target, triggered, with their targets:
    /// what the attack success rate is measured on.
    pub fn triggered_inputs(&self, data: &Dataset, map: TargetMap) -> (Vec<f32>, Vec<usize>) {
        let f = data.features();
        let mut x = Vec::new();
        let mut targets = Vec::new();
        for i in 0..data.len() {
            let target = map.target_of(data.y[i], data.num_classes);
            if target == data.y[i] {
                continue;
            }
            let mut row = data.sample(i).to_vec();
            self.apply(&mut row, &data.sample_shape);
            if let Some(r) = data.input_range {
                row.iter_mut().for_each(|v| *v = v.clamp(r.lo, r.hi));
            }
            x.extend(row);
            targets.push(target);
        }
        debug_assert_eq!(x.len(), targets.len() * f);
        (x, targets)
    }
}
