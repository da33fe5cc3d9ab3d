//! Projected Gradient Descent (Madry et al., "Towards Deep Learning Models Resistant to
//! Adversarial Attacks", ICLR 2018): iterated gradient steps, each projected back onto the
//! ε-ball and the valid input range, from a random start, with restarts. L∞ and L2,
//! untargeted and targeted. Each example keeps the first iterate that fools the model, or
//! else the one with the highest loss.
//!
//! ATLAS: AML.T0043.000 Craft Adversarial Data: White-Box Optimization; AML.T0015 Evade AI
//! Model. Needs gradient access.

use aisec_core::rng::Rng;
use serde::{Deserialize, Serialize};

use super::gradient::{ascend, fooled, in_batches, project, random_start, GradientOracle, Norm};
use super::{EvasionAttack, EvasionParams, EvasionTask};
use crate::{Access, AttackError, AttackInfo, Result};

pub const INFO: AttackInfo = AttackInfo {
    name: "evasion.pgd",
    aliases: &["pgd"],
    summary:
        "Projected Gradient Descent with random start and restarts, L∞ or L2 (Madry et al. 2018)",
    access: Access::WhiteBox,
    atlas: &["AML.T0043.000", "AML.T0015"],
};

pub const ENTRY: crate::registry::EvasionEntry = crate::registry::EvasionEntry {
    info: &INFO,
    reads: &["--steps", "--step-size", "--no-random-start", "--restarts"],
    build: |p| Ok(Box::new(Pgd(PgdConfig::from_params(p)?))),
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PgdConfig {
    /// Perturbation budget. Default 0.1 (L∞) or 1.0 (L2).
    #[serde(serialize_with = "aisec_core::serialize_f32_decimal")]
    pub eps: f32,
    /// Default L∞.
    pub norm: Norm,
    /// Default 40.
    pub steps: usize,
    /// Default 2.5·ε/steps (Madry et al.).
    #[serde(serialize_with = "aisec_core::serialize_f32_decimal")]
    pub step_size: f32,
    /// Default on.
    pub random_start: bool,
    /// Independent runs; an example keeps its best. Default 1.
    pub restarts: usize,
}

impl PgdConfig {
    pub fn from_params(p: &EvasionParams) -> Result<Self> {
        let (norm, eps) = p.norm_and_eps("evasion.pgd")?;
        let steps = p.steps.unwrap_or(40);
        let bad = |message: String| AttackError::Config {
            attack: "evasion.pgd",
            message,
        };
        if steps == 0 {
            return Err(bad("--steps must be at least 1".into()));
        }
        let step_size = p.step_size.unwrap_or(2.5 * eps / steps as f32);
        if !(step_size > 0.0 && step_size.is_finite()) {
            return Err(bad(format!(
                "--step-size must be a positive number, got {step_size}"
            )));
        }
        let restarts = p.restarts.unwrap_or(1);
        if restarts == 0 {
            return Err(bad("--restarts must be at least 1".into()));
        }
        Ok(PgdConfig {
            eps,
            norm,
            steps,
            step_size,
            random_start: p.random_start.unwrap_or(true),
            restarts,
        })
    }
}

pub struct Pgd(pub PgdConfig);

impl EvasionAttack for Pgd {
    crate::described_by!(INFO, 0);

    fn budget(&self) -> super::Budget {
        super::Budget { norm: self.0.norm, eps: Some(self.0.eps) }
    }

    fn perturb(&self, task: &EvasionTask) -> Result<Vec<f32>> {
        let oracle = GradientOracle::new(task.model, self.name())?;
        in_batches(task.x, task.y, oracle.features, 256, oracle.concurrent(), |x, y, offset| {
            pgd_batch(&oracle, &self.0, task, x, y, offset as u64)
        })
    }
}

fn pgd_batch(
    oracle: &GradientOracle,
    cfg: &PgdConfig,
    task: &EvasionTask,
    x: &[f32],
    y: &[usize],
    offset: u64,
) -> Result<Vec<f32>> {
    let f = oracle.features;
    let n = y.len();
    let direction = task.direction();
    let mut rng = Rng::derive(task.seed ^ offset, "pgd");
    let mut best = x.to_vec();
    let mut best_objective = vec![f32::NEG_INFINITY; n];
    let mut done = vec![false; n];
    let sizes = vec![cfg.step_size; n];
    for _ in 0..cfg.restarts {
        let mut adv = if cfg.random_start {
            random_start(x, cfg.eps, cfg.norm, task.clip, f, &mut rng)
        } else {
            x.to_vec()
        };
        for step in 0..=cfg.steps {
            let (objective, grad, logits) = oracle.objective_and_gradient(&adv, y, direction)?;
            let predicted = oracle.labels_of(&logits);
            for i in 0..n {
                if done[i] {
                    continue;
                }
                let is_fooled = fooled(predicted[i], y[i], direction);
                if is_fooled || objective[i] > best_objective[i] {
                    best[i * f..(i + 1) * f].copy_from_slice(&adv[i * f..(i + 1) * f]);
                    best_objective[i] = objective[i];
                    done[i] = is_fooled;
                }
            }
            // The last evaluation only scores the final iterate.
            if step == cfg.steps || done.iter().all(|d| *d) {
                break;
            }
            ascend(&mut adv, &grad, &sizes, f, cfg.norm);
            project(&mut adv, x, cfg.eps, cfg.norm, task.clip, f);
        }
        if done.iter().all(|d| *d) {
            break;
        }
    }
    Ok(best)
}
