//! Carlini & Wagner L2 ("Towards Evaluating the Robustness of Neural Networks", IEEE S&P
//! 2017): a minimum-norm attack. It minimises ‖x′ − x‖² + c·max(Z_y − max_{k≠y} Z_k + κ, 0)
//! over logits Z with Adam, in tanh space when the input range is bounded (so x′ stays valid
//! without clipping), and binary-searches the constant c per example. Each example keeps its
//! smallest successful perturbation. Targeted: max(max_{k≠t} Z_k − Z_t + κ, 0).
//!
//! ATLAS: AML.T0043.000 Craft Adversarial Data: White-Box Optimization; AML.T0015 Evade AI
//! Model. Needs gradient access.

use aisec_ml::tensor;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::gradient::{fooled, in_batches, GradientOracle};
use super::{EvasionAttack, EvasionParams, EvasionTask};
use crate::{Access, AttackError, AttackInfo, Result};

pub const INFO: AttackInfo = AttackInfo {
    name: "evasion.cw",
    aliases: &["cw", "cw-l2", "carlini-wagner"],
    summary: "Carlini & Wagner L2: minimum-norm optimisation with a binary search over c (Carlini & Wagner 2017)",
    access: Access::WhiteBox,
    atlas: &["AML.T0043.000", "AML.T0015"],
};

pub const ENTRY: crate::registry::EvasionEntry = crate::registry::EvasionEntry {
    info: &INFO,
    reads: &["--steps", "--step-size", "--restarts"],
    build: |p| Ok(Box::new(CarliniWagner(CwConfig::from_params(p)?))),
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CwConfig {
    /// Adam steps per value of c. Default 100.
    pub steps: usize,
    /// Binary-search rounds over c. Default 6.
    pub binary_search_steps: usize,
    /// Default 1.0.
    #[serde(serialize_with = "aisec_core::serialize_f32_decimal")]
    pub initial_const: f32,
    /// Adam learning rate. Default 0.05.
    #[serde(serialize_with = "aisec_core::serialize_f32_decimal")]
    pub learning_rate: f32,
    /// Confidence margin κ. Default 0.
    #[serde(serialize_with = "aisec_core::serialize_f32_decimal")]
    pub confidence: f32,
}

impl CwConfig {
    pub fn from_params(p: &EvasionParams) -> Result<Self> {
        let bad = |message: &str| AttackError::Config {
            attack: "evasion.cw",
            message: message.into(),
        };
        if p.eps.is_some() || p.random_start.is_some() {
            return Err(bad("C&W-L2 is a minimum-norm attack: it takes --steps, --step-size (learning rate) and --restarts (binary-search rounds)"));
        }
        if p.norm.is_some_and(|n| n != super::Norm::L2) {
            return Err(bad(
                "C&W here minimises the L2 norm; leave out --norm or use --norm 2",
            ));
        }
        let steps = p.steps.unwrap_or(100);
        let rounds = p.restarts.unwrap_or(6);
        let lr = p.step_size.unwrap_or(0.05);
        if steps == 0 || rounds == 0 || !(lr > 0.0 && lr.is_finite()) {
            return Err(bad(
                "--steps and --restarts must be at least 1 and --step-size positive",
            ));
        }
        Ok(CwConfig {
            steps,
            binary_search_steps: rounds,
            initial_const: 1.0,
            learning_rate: lr,
            confidence: 0.0,
        })
    }
}

pub struct CarliniWagner(pub CwConfig);

impl EvasionAttack for CarliniWagner {
    crate::described_by!(INFO, 0);

    fn budget(&self) -> super::Budget {
        super::Budget { norm: super::Norm::L2, eps: None }
    }

    fn perturb(&self, task: &EvasionTask) -> Result<Vec<f32>> {
        let oracle = GradientOracle::new(task.model, self.name())?;
        let f = oracle.features;
        let k = oracle.classes;
        let cfg = &self.0;
        let direction = task.direction();
        in_batches(task.x, task.y, f, 256, oracle.concurrent(), |x, y, _| {
            let n = y.len();
            // x′ = lo + (hi − lo)·(tanh w + 1)/2 on a bounded range, x′ = w otherwise.
            let to_input = |w: &[f32]| -> Vec<f32> {
                match task.clip {
                    Some(r) => w
                        .iter()
                        .map(|v| r.lo + (r.hi - r.lo) * (v.tanh() + 1.0) / 2.0)
                        .collect(),
                    None => w.to_vec(),
                }
            };
            let w0: Vec<f32> = match task.clip {
                Some(r) => x
                    .iter()
                    .map(|v| {
                        (((v - r.lo) / (r.hi - r.lo)) * 2.0 - 1.0)
                            .clamp(-0.999_999, 0.999_999)
                            .atanh()
                    })
                    .collect(),
                None => x.to_vec(),
            };
            let targets: Vec<usize> = match task.target {
                Some(t) => vec![t; n],
                None => y.to_vec(),
            };
            let mut best = x.to_vec();
            let mut best_l2 = vec![f32::INFINITY; n];
            let mut c = vec![cfg.initial_const; n];
            let (mut lower, mut upper) = (vec![0.0f32; n], vec![f32::INFINITY; n]);
            for _ in 0..cfg.binary_search_steps {
                let mut w = w0.clone();
                let (mut m, mut v) = (vec![0.0f32; w.len()], vec![0.0f32; w.len()]);
                let mut succeeded = vec![false; n];
                for step in 1..=cfg.steps {
                    let adv = to_input(&w);
                    let consts = tensor::matrix(&c, n, &tensor::autodiff_device());
                    let kappa = cfg.confidence;
                    let target_labels = targets.clone();
                    let targeted = task.target.is_some();
                    let (logits, grad_hinge) =
                        oracle.gradient_of(&adv, n, move |z: Tensor<2>| {
                            let device = z.device();
                            let mask = tensor::matrix(
                                &one_hot(&target_labels, k),
                                target_labels.len(),
                                &device,
                            );
                            let own = (z.clone() * mask.clone()).sum_dim(1);
                            let others = (z - mask.mul_scalar(1e9)).max_dim(1);
                            let gap = if targeted { others - own } else { own - others };
                            (gap.add_scalar(kappa).clamp_min(0.0)
                                * consts.reshape([target_labels.len(), 1]))
                            .reshape([target_labels.len()])
                        })?;
                    let predicted = oracle.labels_of(&logits);
                    for i in 0..n {
                        if fooled(predicted[i], y[i], direction) {
                            succeeded[i] = true;
                            let l2 = adv[i * f..(i + 1) * f]
                                .iter()
                                .zip(&x[i * f..(i + 1) * f])
                                .map(|(a, b)| (a - b) * (a - b))
                                .sum::<f32>()
                                .sqrt();
                            if l2 < best_l2[i] {
                                best_l2[i] = l2;
                                best[i * f..(i + 1) * f].copy_from_slice(&adv[i * f..(i + 1) * f]);
                            }
                        }
                    }
                    // d/dw of ‖x′ − x‖² + hinge, through x′(w).
                    let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
                    for j in 0..w.len() {
                        let dx = 2.0 * (adv[j] - x[j]) + grad_hinge[j];
                        let dw = match task.clip {
                            Some(r) => dx * (r.hi - r.lo) / 2.0 * (1.0 - w[j].tanh().powi(2)),
                            None => dx,
                        };
                        m[j] = b1 * m[j] + (1.0 - b1) * dw;
                        v[j] = b2 * v[j] + (1.0 - b2) * dw * dw;
                        let m_hat = m[j] / (1.0 - b1.powi(step as i32));
                        let v_hat = v[j] / (1.0 - b2.powi(step as i32));
                        w[j] -= cfg.learning_rate * m_hat / (v_hat.sqrt() + eps);
                    }
                }
                for i in 0..n {
                    if succeeded[i] {
                        upper[i] = upper[i].min(c[i]);
                        c[i] = (lower[i] + upper[i]) / 2.0;
                    } else {
                        lower[i] = lower[i].max(c[i]);
                        c[i] = if upper[i].is_finite() {
                            (lower[i] + upper[i]) / 2.0
                        } else {
                            c[i] * 10.0
                        };
                    }
                }
            }
            Ok(best)
        })
    }
}

fn one_hot(labels: &[usize], classes: usize) -> Vec<f32> {
    let mut out = vec![0.0; labels.len() * classes];
    for (i, &l) in labels.iter().enumerate() {
        out[i * classes + l] = 1.0;
    }
    out
}
