//! Auto-PGD with the cross-entropy loss (Croce & Hein, "Reliable Evaluation of Adversarial
//! Robustness with an Ensemble of Diverse Parameter-free Attacks", ICML 2020): PGD with
//! momentum (α = 0.75) whose per-example step size starts at 2ε and is halved at checkpoints
//! when the loss stopped increasing often enough (fewer than ρ = 0.75 of the steps since the
//! last checkpoint) or when the best loss did not improve after an unchanged step size; the
//! iterate then restarts from the best point. Checkpoints at p₀ = 0, p₁ = 0.22,
//! pⱼ₊₁ = pⱼ + max(pⱼ − pⱼ₋₁ − 0.03, 0.06) of the iterations. No step size to tune.
//!
//! ATLAS: AML.T0043.000 Craft Adversarial Data: White-Box Optimization; AML.T0015 Evade AI
//! Model. Needs gradient access.

use aisec_core::rng::Rng;
use serde::{Deserialize, Serialize};

use super::gradient::{ascend, fooled, in_batches, project, random_start, GradientOracle, Norm};
use super::{EvasionAttack, EvasionParams, EvasionTask};
use crate::{Access, AttackError, AttackInfo, Result};

const MOMENTUM: f32 = 0.75;
const RHO: f32 = 0.75;

pub const INFO: AttackInfo = AttackInfo {
    name: "evasion.apgd-ce",
    aliases: &["apgd", "apgd-ce"],
    summary: "Auto-PGD on cross-entropy: step-size-free PGD with momentum (Croce & Hein 2020)",
    access: Access::WhiteBox,
    atlas: &["AML.T0043.000", "AML.T0015"],
};

pub const ENTRY: crate::registry::EvasionEntry = crate::registry::EvasionEntry {
    info: &INFO,
    reads: &["--steps", "--restarts"],
    build: |p| Ok(Box::new(Apgd(ApgdConfig::from_params(p)?))),
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApgdConfig {
    /// Perturbation budget. Default 0.1 (L∞) or 1.0 (L2).
    #[serde(serialize_with = "aisec_core::serialize_f32_decimal")]
    pub eps: f32,
    /// Default L∞.
    pub norm: Norm,
    /// Iterations per restart. Default 100.
    pub steps: usize,
    /// Default 1.
    pub restarts: usize,
}

impl ApgdConfig {
    pub fn from_params(p: &EvasionParams) -> Result<Self> {
        let (norm, eps) = p.norm_and_eps("evasion.apgd-ce")?;
        let bad = |message: String| AttackError::Config {
            attack: "evasion.apgd-ce",
            message,
        };
        let steps = p.steps.unwrap_or(100);
        if steps < 2 {
            return Err(bad("--steps must be at least 2".into()));
        }
        let restarts = p.restarts.unwrap_or(1);
        if restarts == 0 {
            return Err(bad("--restarts must be at least 1".into()));
        }
        if p.step_size.is_some() {
            return Err(bad(
                "APGD sets its own step sizes; leave out --step-size".into()
            ));
        }
        Ok(ApgdConfig {
            eps,
            norm,
            steps,
            restarts,
        })
    }
}

/// Iteration indices at which the step size may be halved.
pub fn checkpoints(steps: usize) -> Vec<usize> {
    let mut p = vec![0.0f64, 0.22];
    while *p.last().unwrap_or(&1.0) < 1.0 {
        let (prev, last) = (p[p.len() - 2], p[p.len() - 1]);
        p.push(last + (last - prev - 0.03).max(0.06));
    }
    let mut w: Vec<usize> = p
        .iter()
        .filter(|v| **v <= 1.0)
        .map(|v| (v * steps as f64).ceil() as usize)
        .filter(|w| *w > 0 && *w < steps)
        .collect();
    w.dedup();
    w
}

pub struct Apgd(pub ApgdConfig);

impl EvasionAttack for Apgd {
    crate::described_by!(INFO, 0);

    fn budget(&self) -> super::Budget {
        super::Budget { norm: self.0.norm, eps: Some(self.0.eps) }
    }

    fn perturb(&self, task: &EvasionTask) -> Result<Vec<f32>> {
        let oracle = GradientOracle::new(task.model, self.name())?;
        in_batches(task.x, task.y, oracle.features, 256, oracle.concurrent(), |x, y, offset| {
            apgd_batch(&oracle, &self.0, task, x, y, offset as u64)
        })
    }
}

fn copy_row(dst: &mut [f32], src: &[f32], i: usize, f: usize) {
    dst[i * f..(i + 1) * f].copy_from_slice(&src[i * f..(i + 1) * f]);
}

fn apgd_batch(
    oracle: &GradientOracle,
    cfg: &ApgdConfig,
    task: &EvasionTask,
    x: &[f32],
    y: &[usize],
    offset: u64,
) -> Result<Vec<f32>> {
    let f = oracle.features;
    let n = y.len();
    let direction = task.direction();
    let marks = checkpoints(cfg.steps);
    let mut rng = Rng::derive(task.seed ^ offset, "apgd");
    // The returned point: the first that fooled the model, else the highest-loss one.
    let mut result = x.to_vec();
    let mut result_objective = vec![f32::NEG_INFINITY; n];
    let mut done = vec![false; n];

    for _ in 0..cfg.restarts {
        let mut current = random_start(x, cfg.eps, cfg.norm, task.clip, f, &mut rng);
        let (mut objective, mut grad, logits) =
            oracle.objective_and_gradient(&current, y, direction)?;
        let record = |point: &[f32],
                      objective: &[f32],
                      logits: &[f32],
                      result: &mut Vec<f32>,
                      result_objective: &mut Vec<f32>,
                      done: &mut Vec<bool>| {
            let predicted = oracle.labels_of(logits);
            for i in 0..n {
                if done[i] {
                    continue;
                }
                let is_fooled = fooled(predicted[i], y[i], direction);
                if is_fooled || objective[i] > result_objective[i] {
                    copy_row(result, point, i, f);
                    result_objective[i] = objective[i];
                    done[i] = is_fooled;
                }
            }
        };
        record(
            &current,
            &objective,
            &logits,
            &mut result,
            &mut result_objective,
            &mut done,
        );

        let mut step = vec![2.0 * cfg.eps; n];
        let mut previous = current.clone();
        let mut best = current.clone();
        let mut best_objective = objective.clone();
        let mut best_grad = grad.clone();
        let mut increases = vec![0usize; n];
        let mut last_objective = objective.clone();
        let mut best_at_last_mark = best_objective.clone();
        let mut reduced_at_last_mark = vec![false; n];
        let mut last_mark = 0usize;

        for k in 0..cfg.steps {
            if done.iter().all(|d| *d) {
                break;
            }
            let mut z = current.clone();
            ascend(&mut z, &grad, &step, f, cfg.norm);
            project(&mut z, x, cfg.eps, cfg.norm, task.clip, f);
            let next: Vec<f32> = if k == 0 {
                z
            } else {
                let mut m: Vec<f32> = (0..current.len())
                    .map(|j| {
                        current[j]
                            + MOMENTUM * (z[j] - current[j])
                            + (1.0 - MOMENTUM) * (current[j] - previous[j])
                    })
                    .collect();
                project(&mut m, x, cfg.eps, cfg.norm, task.clip, f);
                m
            };
            previous = std::mem::replace(&mut current, next);
            let (o, g, logits) = oracle.objective_and_gradient(&current, y, direction)?;
            objective = o;
            grad = g;
            record(
                &current,
                &objective,
                &logits,
                &mut result,
                &mut result_objective,
                &mut done,
            );
            for i in 0..n {
                if objective[i] > last_objective[i] {
                    increases[i] += 1;
                }
                if objective[i] > best_objective[i] {
                    best_objective[i] = objective[i];
                    copy_row(&mut best, &current, i, f);
                    best_grad[i * f..(i + 1) * f].copy_from_slice(&grad[i * f..(i + 1) * f]);
                }
            }
            last_objective.clone_from(&objective);

            if marks.contains(&(k + 1)) {
                let span = (k + 1 - last_mark) as f32;
                for i in 0..n {
                    let oscillating = (increases[i] as f32) < RHO * span;
                    let stalled =
                        !reduced_at_last_mark[i] && best_objective[i] <= best_at_last_mark[i];
                    let reduce = oscillating || stalled;
                    if reduce {
                        step[i] /= 2.0;
                        copy_row(&mut current, &best, i, f);
                        copy_row(&mut previous, &best, i, f);
                        grad[i * f..(i + 1) * f].copy_from_slice(&best_grad[i * f..(i + 1) * f]);
                    }
                    reduced_at_last_mark[i] = reduce;
                    best_at_last_mark[i] = best_objective[i];
                    increases[i] = 0;
                }
                last_mark = k + 1;
            }
        }
        if done.iter().all(|d| *d) {
            break;
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_follow_the_paper() {
        // The same numbers as Python computes the schedule with math.ceil(p * n).
        assert_eq!(checkpoints(100), vec![22, 41, 58, 70, 80, 87, 93, 99]);
    }
}
