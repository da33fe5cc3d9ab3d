//! Square Attack (Andriushchenko, Croce, Flammarion & Hein, "Square Attack: a query-efficient
//! black-box adversarial attack via random search", ECCV 2020): score-based random search.
//! Each step changes one random square window of the perturbation and keeps the change when
//! the margin loss (true class against the best other class, on log-probabilities) drops.
//! The window's share of the image, p, starts at `p_init` and halves on the paper's schedule
//! (after 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 of 10 000 iterations, scaled to
//! the query budget).
//!
//! - L∞: vertical-stripe initialisation; a window gets ±ε per channel.
//! - L2: each window gets a fresh random ±ε-scaled pattern and the whole perturbation is
//!   projected back onto the ε-ball. This is a simplification of the paper's L2 update (which
//!   moves mass between two windows with a concentric-square pattern); it keeps the random
//!   window search but is less query-efficient.
//!
//! Black box: only the model's scores (probabilities, logits or top-k) are used; every query
//! is counted against the target's budget. Images are inputs of shape C×H×W (or H×W); other
//! inputs are treated as 1×1×F.
//!
//! ATLAS: AML.T0043.001 Craft Adversarial Data: Black-Box Optimization; AML.T0015 Evade AI
//! Model; AML.T0040 AI Model Inference API Access.

use aisec_core::rng::Rng;
use aisec_ml::model::QueryOutput;
use serde::{Deserialize, Serialize};

use super::gradient::{project, Norm};
use super::{EvasionAttack, EvasionParams, EvasionTask};
use crate::{Access, AttackError, AttackInfo, Result};

pub const INFO: AttackInfo = AttackInfo {
    name: "evasion.square",
    aliases: &["square"],
    summary: "Square Attack: score-based random search over square windows, L∞ or L2 (Andriushchenko et al. 2020)",
    access: Access::ScoreBased,
    atlas: &["AML.T0043.001", "AML.T0015", "AML.T0040"],
};

pub const ENTRY: crate::registry::EvasionEntry = crate::registry::EvasionEntry {
    info: &INFO,
    reads: &["--queries-per-input"],
    build: |p| Ok(Box::new(Square(SquareConfig::from_params(p)?))),
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SquareConfig {
    /// Default 0.1 (L∞) or 1.0 (L2).
    #[serde(serialize_with = "aisec_core::serialize_f32_decimal")]
    pub eps: f32,
    pub norm: Norm,
    /// Queries per example at most (the iteration budget). Default 5000.
    pub max_queries: u64,
    /// Initial window share of the image. Default 0.3 (the paper's choice for small images).
    #[serde(serialize_with = "aisec_core::serialize_f32_decimal")]
    pub p_init: f32,
}

impl SquareConfig {
    pub fn from_params(p: &EvasionParams) -> Result<Self> {
        let (norm, eps) = p.norm_and_eps("evasion.square")?;
        if p.steps.is_some() || p.step_size.is_some() || p.restarts.is_some() {
            return Err(AttackError::Config { attack: "evasion.square", message: "Square takes --eps, --norm and --queries-per-input; --steps, --step-size and --restarts do not apply".into() });
        }
        let per_example = p.queries_per_input.unwrap_or(5000);
        if per_example == 0 {
            return Err(AttackError::Config {
                attack: "evasion.square",
                message: "--queries-per-input must be at least 1".into(),
            });
        }
        Ok(SquareConfig {
            eps,
            norm,
            max_queries: per_example,
            p_init: 0.3,
        })
    }
}

pub struct Square(pub SquareConfig);

/// The paper's schedule: p halves at these fractions of 10 000 iterations.
fn window_share(p_init: f32, iteration: u64, budget: u64) -> f32 {
    let i = (iteration as f64 * 10_000.0 / budget.max(1) as f64) as u64;
    let halvings = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000]
        .iter()
        .filter(|t| i > **t)
        .count();
    p_init / (1u32 << halvings) as f32
}

/// Margin losses from query answers: log-probability (or logit) of the true class minus the
/// best other class (for a targeted attack, the reverse), and whether the answer already
/// fools the model. With top-k answers the margin is an estimate, so success is read from the
/// answered label, not from the margin's sign.
fn margins(
    out: &QueryOutput,
    labels: &[usize],
    classes: usize,
    target: Option<usize>,
) -> Result<(Vec<f32>, Vec<bool>)> {
    let predicted = out.labels(classes);
    let fooled: Vec<bool> = predicted
        .iter()
        .zip(labels)
        .map(|(p, y)| {
            super::gradient::fooled(
                *p,
                *y,
                match target {
                    Some(t) => super::Direction::Targeted(t),
                    None => super::Direction::Untargeted,
                },
            )
        })
        .collect();
    Ok((margin_values(out, labels, classes, target)?, fooled))
}

fn margin_values(
    out: &QueryOutput,
    labels: &[usize],
    classes: usize,
    target: Option<usize>,
) -> Result<Vec<f32>> {
    let scores: Vec<f32> = match out {
        QueryOutput::Logits(l) => l.clone(),
        QueryOutput::Probabilities(p) => p.iter().map(|v| v.max(1e-30).ln()).collect(),
        QueryOutput::TopK(rows) => {
            // A class outside the top k can hold at most the probability mass the listed
            // classes leave: scoring it at that bound keeps a signal even with top-1 answers.
            let mut dense = vec![f32::NEG_INFINITY; rows.len() * classes];
            for (i, row) in rows.iter().enumerate() {
                let listed: f32 = row.iter().map(|(_, p)| *p).sum();
                let floor = (1.0 - listed).max(1e-30).ln();
                for c in 0..classes {
                    dense[i * classes + c] = floor;
                }
                for (c, p) in row {
                    dense[i * classes + c] = p.max(1e-30).ln();
                }
            }
            dense
        }
        QueryOutput::Labels(_) => return Err(AttackError::Config {
            attack: "evasion.square",
            message:
                "the target answers labels only; Square needs scores (use a decision-based attack)"
                    .into(),
        }),
    };
    Ok(scores
        .chunks(classes)
        .zip(labels)
        .map(|(row, &y)| {
            let pick = target.unwrap_or(y);
            let best_other = row
                .iter()
                .enumerate()
                .filter(|(c, _)| *c != pick)
                .map(|(_, v)| *v)
                .fold(f32::NEG_INFINITY, f32::max);
            match target {
                None => row[y] - best_other,
                Some(t) => best_other - row[t],
            }
        })
        .collect())
}

/// Inputs per independent part of a run (its own random stream, `seed ^ offset`): parts run
/// on every core against a local model, and a run of up to this many inputs is one part.
const CHUNK: usize = 128;

impl EvasionAttack for Square {
    crate::described_by!(INFO, 0);

    fn budget(&self) -> super::Budget {
        super::Budget { norm: self.0.norm, eps: Some(self.0.eps) }
    }

    fn queries_per_input(&self) -> Option<u64> {
        Some(self.0.max_queries)
    }

    fn perturb(&self, task: &EvasionTask) -> Result<Vec<f32>> {
        let n = task.y.len();
        if n <= CHUNK {
            return self.perturb_part(task);
        }
        let f = task.model.info().features();
        let starts: Vec<usize> = (0..n).step_by(CHUNK).collect();
        // A total budget is spent in input order, one part after another, so that which
        // inputs it covers does not depend on timing.
        let parallel = task.model.concurrent_queries() && task.model.budget().max().is_none();
        let parts = super::for_each_part(starts.len(), parallel, |k| {
            let (start, end) = (starts[k], (starts[k] + CHUNK).min(n));
            let part = EvasionTask {
                model: task.model,
                x: &task.x[start * f..end * f],
                y: &task.y[start..end],
                clip: task.clip,
                target: task.target,
                seed: task.seed ^ start as u64,
                stopped: super::BudgetStop::default(),
            };
            let out = self.perturb_part(&part);
            if part.stopped.is_set() {
                task.stopped.set();
            }
            out
        })?;
        Ok(parts.concat())
    }
}

impl Square {
    fn perturb_part(&self, task: &EvasionTask) -> Result<Vec<f32>> {
        let cfg = &self.0;
        let info = task.model.info();
        let f = info.features();
        let classes = info.num_classes;
        let (c, h, w) = match info.input_shape.as_slice() {
            [c, h, w] => (*c, *h, *w),
            [h, w] => (1, *h, *w),
            _ => (1, 1, f),
        };
        let n = task.y.len();
        let mut rng = Rng::derive(task.seed, "square");
        let x = task.x;
        // Initialisation: vertical stripes of ±ε (L∞), or a random point on the L2 sphere.
        let mut best = x.to_vec();
        for i in 0..n {
            let row = &mut best[i * f..(i + 1) * f];
            match cfg.norm {
                Norm::Linf => {
                    for ch in 0..c {
                        for col in 0..w {
                            let s = if rng.next_f32() < 0.5 {
                                -cfg.eps
                            } else {
                                cfg.eps
                            };
                            for r in 0..h {
                                row[ch * h * w + r * w + col] += s;
                            }
                        }
                    }
                }
                Norm::L2 => {
                    let dir: Vec<f32> = (0..f).map(|_| rng.normal()).collect();
                    let len = dir.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                    for (v, d) in row.iter_mut().zip(dir) {
                        *v += cfg.eps * d / len;
                    }
                }
            }
        }
        project(&mut best, x, cfg.eps, cfg.norm, task.clip, f);
        let Some(first) = super::query_or_stop(task, &best)? else {
            return Ok(x.to_vec());
        };
        let (mut loss, mut done) = margins(&first, task.y, classes, task.target)?;
        let mut active: Vec<usize> = (0..n).filter(|&i| !done[i]).collect();

        for iteration in 1..cfg.max_queries {
            if active.is_empty() {
                break;
            }
            let share = window_share(cfg.p_init, iteration, cfg.max_queries);
            let side = ((share * (h * w) as f32).sqrt().round() as usize).clamp(1, h.min(w).max(1));
            let mut candidates = Vec::with_capacity(active.len() * f);
            for &i in &active {
                let mut cand = best[i * f..(i + 1) * f].to_vec();
                let r0 = rng.below(h - side + 1);
                let c0 = rng.below(w - side + 1);
                for ch in 0..c {
                    let s = if rng.next_f32() < 0.5 {
                        -cfg.eps
                    } else {
                        cfg.eps
                    };
                    for r in r0..r0 + side {
                        for col in c0..c0 + side {
                            let k = ch * h * w + r * w + col;
                            cand[k] = match cfg.norm {
                                Norm::Linf => x[i * f + k] + s,
                                Norm::L2 => cand[k] + s * rng.normal().abs() / side as f32,
                            };
                        }
                    }
                }
                candidates.extend(cand);
            }
            let origins: Vec<f32> = active
                .iter()
                .flat_map(|&i| x[i * f..(i + 1) * f].iter().copied())
                .collect();
            project(&mut candidates, &origins, cfg.eps, cfg.norm, task.clip, f);
            let labels: Vec<usize> = active.iter().map(|&i| task.y[i]).collect();
            let Some(answers) = super::query_or_stop(task, &candidates)? else {
                break;
            };
            let (new_loss, fooled) = margins(&answers, &labels, classes, task.target)?;
            for (j, &i) in active.iter().enumerate() {
                if fooled[j] || new_loss[j] < loss[i] {
                    loss[i] = new_loss[j];
                    done[i] = fooled[j];
                    best[i * f..(i + 1) * f].copy_from_slice(&candidates[j * f..(j + 1) * f]);
                }
            }
            active.retain(|&i| !done[i]);
        }
        Ok(best)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_halves_on_the_paper_steps() {
        assert_eq!(window_share(0.8, 1, 10_000), 0.8);
        assert_eq!(window_share(0.8, 11, 10_000), 0.4);
        assert_eq!(window_share(0.8, 9_000, 10_000), 0.8 / 512.0);
        // Scaled to a 1000-query budget, the first halving comes after iteration 1.
        assert_eq!(window_share(0.8, 2, 1000), 0.4);
    }

    #[test]
    fn margins_from_every_output_kind() {
        let probs = QueryOutput::Probabilities(vec![0.7, 0.2, 0.1, 0.1, 0.3, 0.6]);
        let (m, fooled) = margins(&probs, &[0, 1], 3, None).unwrap();
        assert!(m[0] > 0.0 && m[1] < 0.0);
        assert_eq!(fooled, vec![false, true]);
        let (targeted, hit) = margins(&probs, &[0, 1], 3, Some(2)).unwrap();
        assert!(targeted[0] > 0.0 && targeted[1] < 0.0);
        assert_eq!(hit, vec![false, true]);
        let top = QueryOutput::TopK(vec![vec![(0, 0.7), (1, 0.2)], vec![(2, 0.6), (1, 0.3)]]);
        let (m, fooled) = margins(&top, &[0, 0], 3, None).unwrap();
        assert!(m[0] > 0.0 && m[1] < 0.0);
        assert_eq!(
            fooled,
            vec![false, true],
            "a label outside the top k is already fooled"
        );
        // Top-1 at p = 0.4 still predicts the class although the margin bound is negative.
        let (_, fooled) = margins(&QueryOutput::TopK(vec![vec![(0, 0.4)]]), &[0], 3, None).unwrap();
        assert_eq!(fooled, vec![false]);
        assert!(margins(&QueryOutput::Labels(vec![0]), &[0], 3, None).is_err());
    }
}
