//! DeepFool (Moosavi-Dezfooli, Fawzi & Frossard, "DeepFool: a simple and accurate method to
//! fool deep neural networks", CVPR 2016): a minimum-norm L2 attack. At each step it
//! linearises the classifier around the current point and moves to the nearest linearised
//! boundary among the `candidates` most likely other classes; the total step is finally
//! scaled by (1 + overshoot). Untargeted only.
//!
//! ATLAS: AML.T0043.000 Craft Adversarial Data: White-Box Optimization; AML.T0015 Evade AI
//! Model. Needs gradient access.

use serde::{Deserialize, Serialize};

use super::gradient::{in_batches, GradientOracle};
use super::{EvasionAttack, EvasionParams, EvasionTask};
use crate::{Access, AttackError, AttackInfo, Result};

pub const INFO: AttackInfo = AttackInfo {
    name: "evasion.deepfool",
    aliases: &["deepfool"],
    summary: "DeepFool: minimum-norm L2 steps to the nearest linearised boundary (Moosavi-Dezfooli et al. 2016)",
    access: Access::WhiteBox,
    atlas: &["AML.T0043.000", "AML.T0015"],
};

pub const ENTRY: crate::registry::EvasionEntry = crate::registry::EvasionEntry {
    info: &INFO,
    reads: &["--steps"],
    build: |p| Ok(Box::new(DeepFool(DeepFoolConfig::from_params(p)?))),
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeepFoolConfig {
    /// Default 50.
    pub steps: usize,
    /// Default 0.02.
    #[serde(serialize_with = "aisec_core::serialize_f32_decimal")]
    pub overshoot: f32,
    /// Other classes considered, by current score. Default 10.
    pub candidates: usize,
}

impl DeepFoolConfig {
    pub fn from_params(p: &EvasionParams) -> Result<Self> {
        let bad = |message: &str| AttackError::Config {
            attack: "evasion.deepfool",
            message: message.into(),
        };
        if p.eps.is_some()
            || p.step_size.is_some()
            || p.restarts.is_some()
            || p.random_start.is_some()
        {
            return Err(bad(
                "DeepFool is a minimum-norm attack: it takes --steps only",
            ));
        }
        if p.norm.is_some_and(|n| n != super::Norm::L2) {
            return Err(bad(
                "DeepFool minimises the L2 norm; leave out --norm or use --norm 2",
            ));
        }
        let steps = p.steps.unwrap_or(50);
        if steps == 0 {
            return Err(bad("--steps must be at least 1"));
        }
        Ok(DeepFoolConfig {
            steps,
            overshoot: 0.02,
            candidates: 10,
        })
    }
}

pub struct DeepFool(pub DeepFoolConfig);

impl EvasionAttack for DeepFool {
    crate::described_by!(INFO, 0);

    fn budget(&self) -> super::Budget {
        super::Budget { norm: super::Norm::L2, eps: None }
    }

    fn perturb(&self, task: &EvasionTask) -> Result<Vec<f32>> {
        if task.target.is_some() {
            return Err(AttackError::Config {
                attack: "evasion.deepfool",
                message: "DeepFool is untargeted; use PGD or C&W for a targeted attack".into(),
            });
        }
        let oracle = GradientOracle::new(task.model, self.name())?;
        let f = oracle.features;
        let k = oracle.classes;
        let cfg = &self.0;
        in_batches(task.x, task.y, f, 128, oracle.concurrent(), |x, y, _| {
            let n = y.len();
            let original = oracle.labels_of(&oracle.logit_gradients(x, n, &[0])?.0);
            let mut total = vec![0.0f32; x.len()];
            let mut current = x.to_vec();
            let mut active: Vec<bool> = original.iter().zip(y).map(|(p, t)| p == t).collect();
            for _ in 0..cfg.steps {
                if !active.iter().any(|a| *a) {
                    break;
                }
                let all: Vec<usize> = (0..k).collect();
                let (logits, grads) = oracle.logit_gradients(&current, n, &all)?;
                let predicted = oracle.labels_of(&logits);
                for i in 0..n {
                    if !active[i] {
                        continue;
                    }
                    if predicted[i] != original[i] {
                        active[i] = false;
                        continue;
                    }
                    let row = &logits[i * k..(i + 1) * k];
                    let o = original[i];
                    let mut others: Vec<usize> = (0..k).filter(|c| *c != o).collect();
                    others.sort_by(|a, b| row[*b].total_cmp(&row[*a]));
                    others.truncate(cfg.candidates);
                    // The nearest linearised boundary.
                    let mut best: Option<(f32, Vec<f32>, f32)> = None;
                    for &c in &others {
                        let w: Vec<f32> = (0..f)
                            .map(|j| grads[c][i * f + j] - grads[o][i * f + j])
                            .collect();
                        let norm = w.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                        let gap = (row[c] - row[o]).abs();
                        let distance = gap / norm;
                        if best.as_ref().is_none_or(|(d, _, _)| distance < *d) {
                            best = Some((distance, w, norm));
                        }
                    }
                    if let Some((distance, w, norm)) = best {
                        for j in 0..f {
                            let r = (distance + 1e-4) * w[j] / norm;
                            total[i * f + j] += r;
                            current[i * f + j] =
                                x[i * f + j] + (1.0 + cfg.overshoot) * total[i * f + j];
                        }
                        if let Some(range) = task.clip {
                            for v in &mut current[i * f..(i + 1) * f] {
                                *v = v.clamp(range.lo, range.hi);
                            }
                        }
                    }
                }
            }
            Ok(current)
        })
    }
}
