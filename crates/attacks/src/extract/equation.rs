//! Equation solving (Tramèr et al. 2016, "Stealing Machine Learning Models via Prediction
//! APIs"). A softmax regression answers p = softmax(Wx + b), so for every query and class
//! i, log(pᵢ / p₀) = (wᵢ − w₀)·x + (bᵢ − b₀): linear equations in the unknown parameters.
//! With d features, d + 1 queries in general position fix every class's difference
//! exactly — 65 for the 64-pixel digits (650 unknowns, 585 identifiable), 31 for the
//! 30-feature breast-cancer data — and the recovered model agrees with the victim
//! everywhere, not only on natural data. Rounded or bent probabilities break the
//! equations; the retraining variant, which trains a substitute on the answers of random
//! queries and then on queries near its own decision boundary (Tramèr et al.'s adaptive
//! retraining), needs only labels and also reaches non-linear models (small MLPs).
//!
//! ATLAS: AML.T0024.002 Extract AI Model, AML.T0005.001 Train Proxy via Replication,
//! AML.T0048.004 AI Intellectual Property Theft.

use aisec_core::rng::Rng;
use aisec_ml::net::{Architecture, Network};
use aisec_ml::{tensor, train};
use serde::{Deserialize, Serialize};

use super::{Extracted, ExtractionAttack, ExtractionTask, Judge, Oracle, SubstituteSpec};
use crate::{Access, AttackError, AttackInfo, Result};

pub const INFO: AttackInfo = AttackInfo {
    name: "extract.equation",
    aliases: &["equation", "equation-solving"],
    summary: "Equation solving: exact recovery of a softmax regression from d + 1 probability answers, or (adaptive) retraining from labels (Tramèr et al. 2016)",
    access: Access::ScoreBased,
    atlas: super::ATLAS,
};

pub const ENTRY: crate::registry::ExtractionEntry = crate::registry::ExtractionEntry {
    reads: &["--queries", "--substitute", "--solver"],
    info: &INFO,
    build: |p| {
        let mut c = EquationConfig::default();
        c.queries = p.queries.or(c.queries);
        c.substitute = p.substitute.unwrap_or(c.substitute);
        c.solver = p.solver.unwrap_or(c.solver);
        Ok(Box::new(EquationSolving(c)))
    },
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Solver {
    /// Exact when the API reveals scores and the substitute is a softmax regression.
    Auto,
    Exact,
    Retrain,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EquationConfig {
    pub solver: Solver,
    /// The substitute's architecture. Default logreg (the model the equations describe).
    pub substitute: Architecture,
    /// Queries to spend; default d + 1 for the exact solver and the substitute's number of
    /// unknowns k·(d + 1) for retraining, within the budget.
    pub queries: Option<u64>,
    /// Retraining: rounds of queries picked near the substitute's boundary, after half the
    /// queries went to uniform random inputs. 0 is uniform retraining.
    pub adaptive_rounds: usize,
}

impl Default for EquationConfig {
    fn default() -> Self {
        EquationConfig {
            solver: Solver::Auto,
            substitute: Architecture::Logreg,
            queries: None,
            adaptive_rounds: 4,
        }
    }
}

pub struct EquationSolving(pub EquationConfig);

impl ExtractionAttack for EquationSolving {
    crate::described_by!(INFO, 0);

    fn extract(
        &self,
        task: &ExtractionTask,
        oracle: &mut Oracle,
        judge: &Judge,
    ) -> Result<Extracted> {
        let d = task.features();
        let k = task.classes();
        let exact = match self.0.solver {
            Solver::Exact => {
                if !oracle.reveals_scores() {
                    return Err(AttackError::Config {
                        attack: "extract.equation",
                        message: format!("the exact solver needs probabilities and the API answers {:?}; use the retrain solver (or --outputs probs)", oracle.output_kind()),
                    });
                }
                if self.0.substitute != Architecture::Logreg {
                    return Err(AttackError::Config {
                        attack: "extract.equation",
                        message: "the exact solver recovers a softmax regression: use --substitute logreg, or the retrain solver for an MLP".into(),
                    });
                }
                true
            }
            Solver::Retrain => false,
            Solver::Auto => oracle.reveals_scores() && self.0.substitute == Architecture::Logreg,
        };
        let mut rng = Rng::derive(task.seed, "extract-equation");
        let input_box = task.input_box();
        if exact {
            let n = self.0.queries.unwrap_or(d as u64 + 1).min(task.budget) as usize;
            let x = input_box.sample(n, &mut rng);
            let answers = oracle.ask(&x)?;
            let probabilities = answers.probabilities.unwrap_or_default();
            let answered = answers.rows;
            let mut curve = Vec::new();
            let mut substitute = None;
            let mut prefixes: Vec<usize> = [answered / 4, answered / 2, 3 * answered / 4, answered]
                .into_iter()
                .filter(|m| *m > 0)
                .collect();
            prefixes.dedup();
            let mut dropped = 0;
            for m in prefixes {
                let (network, skipped) = solve(&x[..m * d], &probabilities[..m * k], d, k)?;
                curve.push(judge.measure(&network, m as u64));
                dropped = skipped;
                substitute = Some(network);
            }
            let substitute = match substitute {
                Some(s) => s,
                None => {
                    return Err(AttackError::Config {
                        attack: "extract.equation",
                        message: "no query was answered".into(),
                    })
                }
            };
            return Ok(Extracted {
                substitute,
                curve,
                observations: aisec_core::Details::new(EquationObservations::Exact {
                    unknowns: k * (d + 1),
                    identifiable_unknowns: (k - 1) * (d + 1),
                    equations_dropped: dropped,
                    equations: answered * (k - 1),
                }),
            });
        }
        let spec = SubstituteSpec::new(self.0.substitute);
        let n = self
            .0
            .queries
            .unwrap_or((k * (d + 1)) as u64)
            .min(task.budget) as usize;
        let rounds = self.0.adaptive_rounds;
        let uniform = if rounds == 0 { n } else { n.div_ceil(2) };
        let mut xs = input_box.sample(uniform, &mut rng);
        let answers = oracle.ask(&xs)?;
        xs.truncate(answers.rows * d);
        let mut targets = answers.targets;
        let mut network = spec.fit(spec.init(task, task.seed)?, &xs, &targets, k, task.seed);
        let mut curve = vec![judge.measure(&network, oracle.used)];
        let per_round = (n - uniform).div_ceil(rounds.max(1));
        for round in 0..rounds {
            let want = per_round.min(oracle.remaining() as usize);
            if want == 0 {
                break;
            }
            // Candidates the substitute is least sure about lie near its boundary, where the
            // victim's answers say most about where the boundary really is.
            let candidates = input_box.sample(want * 20, &mut rng);
            let logits = train::logits(&network, &candidates, d);
            let mut by_margin: Vec<(f32, usize)> = logits
                .chunks(k)
                .enumerate()
                .map(|(i, row)| (margin(row), i))
                .collect();
            by_margin.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut picked = Vec::with_capacity(want * d);
            for (_, i) in by_margin.iter().take(want) {
                picked.extend_from_slice(&candidates[i * d..(i + 1) * d]);
            }
            let answers = oracle.ask(&picked)?;
            picked.truncate(answers.rows * d);
            xs.extend(picked);
            targets.extend(answers.targets);
            let seed = task.seed.wrapping_add(round as u64 + 1);
            network = spec.fit(spec.init(task, seed)?, &xs, &targets, k, seed);
            curve.push(judge.measure(&network, oracle.used));
        }
        Ok(Extracted {
            substitute: network,
            curve,
            observations: aisec_core::Details::new(EquationObservations::Retrain {
                substitute: spec,
                uniform_queries: uniform,
                adaptive_rounds: rounds,
            }),
        })
    }
}

/// How the equations were solved.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "solver", rename_all = "lowercase")]
pub enum EquationObservations {
    /// Solved exactly from the probabilities (a softmax-linear victim).
    Exact {
        unknowns: usize,
        identifiable_unknowns: usize,
        equations_dropped: usize,
        equations: usize,
    },
    /// A substitute trained on the answers (labels only, or a victim that is not linear).
    Retrain {
        substitute: SubstituteSpec,
        uniform_queries: usize,
        adaptive_rounds: usize,
    },
}

/// Top-1 minus top-2 logit.
fn margin(row: &[f32]) -> f32 {
    let mut best = f32::NEG_INFINITY;
    let mut second = f32::NEG_INFINITY;
    for &v in row {
        if v > best {
            second = best;
            best = v;
        } else if v > second {
            second = v;
        }
    }
    best - second
}

/// Solves the log-ratio equations against class 0 for every other class; returns the
/// recovered softmax regression and how many equations had to be dropped (a zero or
/// non-finite probability gives no equation).
fn solve(x: &[f32], probabilities: &[f32], d: usize, k: usize) -> Result<(Network, usize)> {
    let n = x.len() / d;
    let m = d + 1;
    // weight is [features, classes]; class 0's column and bias stay zero (the softmax is
    // unchanged by a shift shared by all classes).
    let mut weight = vec![0.0f32; d * k];
    let mut bias = vec![0.0f32; k];
    let mut dropped = 0;
    for class in 1..k {
        let mut rows = Vec::new();
        let mut rhs = Vec::new();
        for j in 0..n {
            let p0 = probabilities[j * k] as f64;
            let pi = probabilities[j * k + class] as f64;
            let ratio = (pi / p0).ln();
            if p0 > 0.0 && pi > 0.0 && ratio.is_finite() {
                rows.extend(x[j * d..(j + 1) * d].iter().map(|v| *v as f64));
                rows.push(1.0);
                rhs.push(ratio);
            } else {
                dropped += 1;
            }
        }
        let theta = least_squares(&rows, rhs.len(), m, &rhs);
        for f in 0..d {
            weight[f * k + class] = theta[f] as f32;
        }
        bias[class] = theta[d] as f32;
    }
    let network = Network::logreg_with(&weight, &bias, &tensor::autodiff_device())?;
    Ok((network, dropped))
}

/// Least squares by Householder QR, with a tiny ridge appended as extra rows so that an
/// underdetermined system (too few equations left) still has the small-norm answer.
fn least_squares(a: &[f64], n: usize, m: usize, b: &[f64]) -> Vec<f64> {
    const RIDGE: f64 = 1e-6;
    let rows = n + m;
    let mut mat = vec![0.0; rows * m];
    mat[..n * m].copy_from_slice(&a[..n * m]);
    for i in 0..m {
        mat[(n + i) * m + i] = RIDGE;
    }
    let mut y = vec![0.0; rows];
    y[..n].copy_from_slice(&b[..n]);
    for col in 0..m {
        let norm = (col..rows)
            .map(|r| mat[r * m + col].powi(2))
            .sum::<f64>()
            .sqrt();
        if norm == 0.0 {
            continue;
        }
        let alpha = if mat[col * m + col] > 0.0 {
            -norm
        } else {
            norm
        };
        let mut v: Vec<f64> = (col..rows).map(|r| mat[r * m + col]).collect();
        v[0] -= alpha;
        let vnorm2: f64 = v.iter().map(|t| t * t).sum();
        if vnorm2 == 0.0 {
            continue;
        }
        for c in col..m {
            let dot: f64 = (col..rows).map(|r| v[r - col] * mat[r * m + c]).sum();
            let f = 2.0 * dot / vnorm2;
            for r in col..rows {
                mat[r * m + c] -= f * v[r - col];
            }
        }
        let dot: f64 = (col..rows).map(|r| v[r - col] * y[r]).sum();
        let f = 2.0 * dot / vnorm2;
        for r in col..rows {
            y[r] -= f * v[r - col];
        }
    }
    let mut theta = vec![0.0; m];
    for i in (0..m).rev() {
        let s: f64 = (i + 1..m).map(|j| mat[i * m + j] * theta[j]).sum();
        let diag = mat[i * m + i];
        theta[i] = if diag.abs() > 1e-300 {
            (y[i] - s) / diag
        } else {
            0.0
        };
    }
    theta
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_squares_solves_a_square_system_exactly() {
        // 2x + y = 5, x − y = 1  →  x = 2, y = 1.
        let theta = least_squares(&[2.0, 1.0, 1.0, -1.0], 2, 2, &[5.0, 1.0]);
        assert!(
            (theta[0] - 2.0).abs() < 1e-9 && (theta[1] - 1.0).abs() < 1e-9,
            "{theta:?}"
        );
    }

    #[test]
    fn margins() {
        assert_eq!(margin(&[1.0, 4.0, 3.0]), 1.0);
    }
}
