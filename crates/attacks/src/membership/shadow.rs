//! Shadow-model membership inference (Shokri, Stronati, Song and Shmatikov 2017,
//! "Membership Inference Attacks Against Machine Learning Models"). The adversary trains
//! shadow models on its own data, each with known IN and OUT records, and learns from the
//! shadows' answers an attack classifier per class that tells IN from OUT; the target's
//! answers for the candidates are then classified. Features of an answer: the logit-scaled
//! confidence in the true label, the log of the top probability and the entropy (the
//! probability vector sorted, in summary: per-class models on the raw vector need more
//! shadow data than a CPU run has). ATLAS AML.T0024.000 via AML.T0040.

use serde::{Deserialize, Serialize};

use super::shadows::ShadowSet;
use super::{logit_confidence, target_rows, MembershipAttack, MembershipEntry, MembershipTask, Scored};
use crate::extract::Oracle;
use crate::{Access, AttackError, AttackInfo, Result};
use aisec_core::rng::Rng;

pub const INFO: AttackInfo = AttackInfo {
    name: "membership.shadow",
    aliases: &["shadow", "shokri"],
    summary: "Shadow models: a per-class attack classifier learnt from shadow models' IN/OUT answers (Shokri et al. 2017)",
    access: Access::ScoreBased,
    atlas: super::ATLAS,
};

pub const ENTRY: MembershipEntry = MembershipEntry {
    info: &INFO,
    reads: &["--shadows"],
    build: |p| {
        let mut c = ShadowConfig::default();
        c.shadows = p.shadows.unwrap_or(c.shadows);
        Ok(Box::new(ShadowModels(c)))
    },
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowConfig {
    /// Shadow models. Default 8.
    pub shadows: usize,
    /// A class gets its own attack model when the shadows give it this many IN and as many
    /// OUT answers; otherwise the classes share one. Default 20.
    pub min_per_class: usize,
}

impl Default for ShadowConfig {
    fn default() -> Self {
        ShadowConfig {
            shadows: 8,
            min_per_class: 20,
        }
    }
}

pub struct ShadowModels(pub ShadowConfig);

const FEATURES: usize = 3;

fn features(row: &[f32], label: usize) -> [f64; FEATURES] {
    let top = row.iter().copied().fold(0.0f32, f32::max);
    let entropy: f64 = row
        .iter()
        .filter(|p| **p > 0.0)
        .map(|&p| -f64::from(p) * f64::from(p).ln())
        .sum();
    [
        logit_confidence(row, label),
        f64::from(top).max(1e-45).ln(),
        -entropy,
    ]
}

impl MembershipAttack for ShadowModels {
    crate::described_by!(INFO, 0);

    fn score(&self, task: &MembershipTask, oracle: &mut Oracle) -> Result<Scored> {
        let c = &self.0;
        if c.shadows == 0 {
            return Err(AttackError::Config {
                attack: INFO.name,
                message: "--shadows must be at least 1".into(),
            });
        }
        let pop = task.population;
        let half = task.recipe.train_size.min(pop.len() / 2);
        if half == 0 {
            return Err(AttackError::Config {
                attack: INFO.name,
                message: "the adversary's population is too small for shadow models".into(),
            });
        }
        // Each shadow: `half` IN records and `half` other records as OUT.
        let mut rng = Rng::derive(task.seed, "shokri-shadows");
        let mut splits = Vec::with_capacity(c.shadows);
        for _ in 0..c.shadows {
            let mut order: Vec<usize> = (0..pop.len()).collect();
            rng.shuffle(&mut order);
            splits.push((order[..half].to_vec(), order[half..2 * half].to_vec()));
        }
        let set = ShadowSet::train(
            &task.recipe,
            pop,
            splits.iter().map(|s| s.0.clone()).collect(),
            task.seed,
            task.progress,
        )?;
        let classes = pop.num_classes;
        let mut per_class: Vec<(Vec<[f64; FEATURES]>, Vec<bool>)> = vec![Default::default(); classes];
        for (net, (ins, outs)) in set.networks.iter().zip(&splits) {
            let probs = task.recipe.answers(net, pop);
            for (&i, member) in ins.iter().map(|i| (i, true)).chain(outs.iter().map(|i| (i, false))) {
                let y = pop.y[i];
                per_class[y].0.push(features(&probs[i * classes..(i + 1) * classes], y));
                per_class[y].1.push(member);
            }
        }
        let all: (Vec<[f64; FEATURES]>, Vec<bool>) = per_class.iter().fold(Default::default(), |mut acc, (x, m)| {
            acc.0.extend_from_slice(x);
            acc.1.extend_from_slice(m);
            acc
        });
        let shared = Logistic::fit(&all.0, &all.1);
        let mut own_models = 0;
        let models: Vec<Logistic> = per_class
            .iter()
            .map(|(x, m)| {
                let ins = m.iter().filter(|v| **v).count();
                if ins >= c.min_per_class && m.len() - ins >= c.min_per_class {
                    own_models += 1;
                    Logistic::fit(x, m)
                } else {
                    shared.clone()
                }
            })
            .collect();
        let rows = target_rows(INFO.name, oracle, task.candidates)?;
        let scores = rows
            .chunks(classes)
            .zip(&task.candidates.y)
            .map(|(row, &y)| models[y].decision(&features(row, y)))
            .collect();
        Ok(Scored {
            scores,
            shadow_models: c.shadows,
            shadow_train_size: half,
            shadow_accuracy: set.held_out_accuracy(pop, true),
            observations: aisec_core::Details::new(ShadowObservations {
                attack_models: AttackModels {
                    per_class: own_models,
                    shared_by_other_classes: classes - own_models,
                },
                features: [
                    "logit-scaled confidence in the true label",
                    "log top probability",
                    "negative entropy",
                ],
            }),
        })
    }
}

/// The attack models trained on the shadows' answers, and what they read.
#[derive(Debug, Clone, Serialize)]
pub struct ShadowObservations {
    pub attack_models: AttackModels,
    pub features: [&'static str; FEATURES],
}

/// Classes with an attack model of their own, and classes that share the pooled one.
#[derive(Debug, Clone, Serialize)]
pub struct AttackModels {
    pub per_class: usize,
    pub shared_by_other_classes: usize,
}

/// Logistic regression on standardised features, by gradient descent (the features are few).
#[derive(Debug, Clone)]
struct Logistic {
    mean: [f64; FEATURES],
    scale: [f64; FEATURES],
    weight: [f64; FEATURES],
    bias: f64,
}

impl Logistic {
    fn fit(x: &[[f64; FEATURES]], y: &[bool]) -> Logistic {
        let n = x.len().max(1) as f64;
        let mut mean = [0.0; FEATURES];
        let mut scale = [1.0; FEATURES];
        for f in 0..FEATURES {
            mean[f] = x.iter().map(|r| r[f]).sum::<f64>() / n;
            let var = x.iter().map(|r| (r[f] - mean[f]).powi(2)).sum::<f64>() / n;
            scale[f] = var.sqrt().max(1e-9);
        }
        let mut model = Logistic { mean, scale, weight: [0.0; FEATURES], bias: 0.0 };
        for _ in 0..300 {
            let mut grad = [0.0; FEATURES];
            let mut grad_b = 0.0;
            for (row, &label) in x.iter().zip(y) {
                let z = model.standardise(row);
                let p = 1.0 / (1.0 + (-model.linear(&z)).exp());
                let err = p - f64::from(u8::from(label));
                for (g, v) in grad.iter_mut().zip(z) {
                    *g += err * v;
                }
                grad_b += err;
            }
            for (w, g) in model.weight.iter_mut().zip(grad) {
                *w -= 0.5 * (g / n + 1e-3 * *w);
            }
            model.bias -= 0.5 * grad_b / n;
        }
        model
    }

    fn standardise(&self, row: &[f64; FEATURES]) -> [f64; FEATURES] {
        std::array::from_fn(|f| (row[f] - self.mean[f]) / self.scale[f])
    }

    fn linear(&self, z: &[f64; FEATURES]) -> f64 {
        self.bias + (0..FEATURES).map(|f| self.weight[f] * z[f]).sum::<f64>()
    }

    fn decision(&self, row: &[f64; FEATURES]) -> f64 {
        self.linear(&self.standardise(row))
    }
}
