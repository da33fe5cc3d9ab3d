//! HopSkipJump (Chen, Jordan & Wainwright, "HopSkipJumpAttack: A Query-Efficient
//! Decision-Based Attack", IEEE S&P 2020): label-only. It starts from any misclassified
//! point, binary-searches to the decision boundary, then repeats: estimate the boundary's
//! normal from the labels of B random probes around the boundary point (B grows as √t),
//! step along it with a geometrically shrinking step until still adversarial, and
//! binary-search back to the boundary towards the original. The perturbation only shrinks.
//!
//! Parameters follow the paper: θ = d^(-3/2) (L2) or d^(-2) (L∞) for the binary search
//! tolerance, probe radius δ = √d·θ·dist (L2) or d·θ·dist (L∞), B₀ = 100 probes at the first
//! iteration. Unbounded by default (a minimum-norm attack); with `--eps`, an example counts
//! only when its final perturbation fits the budget, and otherwise the original is returned.
//!
//! Every query is counted against the target's budget; `--queries-per-input` sets the queries
//! allowed per example (default 5000). The curve of median perturbation against queries is recorded.
//!
//! ATLAS: AML.T0043.001 Craft Adversarial Data: Black-Box Optimization; AML.T0015 Evade AI
//! Model; AML.T0040 AI Model Inference API Access.

use std::sync::Mutex;

use aisec_core::rng::Rng;
use serde::{Deserialize, Serialize};

use super::gradient::{fooled, Direction, Norm};
use super::lockstep::{self, Asker};
use super::{EvasionAttack, EvasionParams, EvasionTask};
use crate::{Access, AttackError, AttackInfo, Result};

pub const INFO: AttackInfo = AttackInfo {
    name: "evasion.hsj",
    aliases: &["hsj", "hopskipjump"],
    summary: "HopSkipJump: decision-based (label-only) boundary walk, L2 or L∞ (Chen et al. 2020)",
    access: Access::DecisionBased,
    atlas: &["AML.T0043.001", "AML.T0015", "AML.T0040"],
};

pub const ENTRY: crate::registry::EvasionEntry = crate::registry::EvasionEntry {
    info: &INFO,
    reads: &["--queries-per-input"],
    build: |p| Ok(Box::new(HopSkipJump::new(HsjConfig::from_params(p)?))),
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HsjConfig {
    pub norm: Norm,
    /// Budget an example must fit to count; `None` for a minimum-norm run.
    #[serde(serialize_with = "aisec_core::serialize_opt_f32_decimal")]
    pub eps: Option<f32>,
    /// Queries per example. Default 5000.
    pub max_queries: u64,
    /// Probes at the first gradient estimate. Default 100.
    pub initial_probes: usize,
}

impl HsjConfig {
    pub fn from_params(p: &EvasionParams) -> Result<Self> {
        let norm = p.norm.unwrap_or(Norm::L2);
        if let Some(eps) = p.eps {
            if !(eps > 0.0 && eps.is_finite()) {
                return Err(AttackError::Config {
                    attack: "evasion.hsj",
                    message: format!("--eps must be a positive number, got {eps}"),
                });
            }
        }
        if p.steps.is_some() || p.step_size.is_some() || p.restarts.is_some() {
            return Err(AttackError::Config { attack: "evasion.hsj", message: "HopSkipJump takes --norm, --eps and --queries-per-input; --steps, --step-size and --restarts do not apply".into() });
        }
        let max_queries = p.queries_per_input.unwrap_or(5000);
        if max_queries < 50 {
            return Err(AttackError::Config {
                attack: "evasion.hsj",
                message: format!("--queries-per-input must be at least 50, got {max_queries}"),
            });
        }
        Ok(HsjConfig {
            norm,
            eps: p.eps,
            max_queries,
            initial_probes: 100,
        })
    }
}

/// Median perturbation (in the attack's norm) after a number of queries per example.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CurvePoint {
    pub queries: u64,
    pub median_distance: f32,
}

/// What a HopSkipJump run reports beyond the shared metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HsjObservations {
    pub median_distance_by_queries: Vec<CurvePoint>,
}

pub struct HopSkipJump {
    pub config: HsjConfig,
    /// Filled by each run: the median distance at query checkpoints.
    pub curve: Mutex<Vec<CurvePoint>>,
}

impl HopSkipJump {
    pub fn new(config: HsjConfig) -> Self {
        HopSkipJump {
            config,
            curve: Mutex::new(Vec::new()),
        }
    }
}

fn distance(a: &[f32], b: &[f32], norm: Norm) -> f32 {
    match norm {
        Norm::L2 => a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y) * (x - y))
            .sum::<f32>()
            .sqrt(),
        Norm::Linf => a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max),
    }
}

/// One example's search, with its own query accounting.
struct Search<'a> {
    task: &'a EvasionTask<'a>,
    asker: &'a Asker<'a>,
    label: usize,
    direction: Direction,
    used: u64,
    limit: u64,
    /// (queries used, distance) after each iteration.
    trace: Vec<(u64, f32)>,
}

impl Search<'_> {
    /// Whether each row fools the model; None when the budget is spent.
    fn adversarial(&mut self, rows: &[f32], count: usize) -> Result<Option<Vec<bool>>> {
        if self.used + count as u64 > self.limit {
            return Ok(None);
        }
        self.used += count as u64;
        let Some(labels) = self.asker.labels(rows)? else {
            self.used = self.limit;
            return Ok(None);
        };
        Ok(Some(
            labels
                .iter()
                .map(|p| fooled(*p, self.label, self.direction))
                .collect(),
        ))
    }

    fn clip(&self, v: &mut [f32]) {
        if let Some(r) = self.task.clip {
            for x in v.iter_mut() {
                *x = x.clamp(r.lo, r.hi);
            }
        }
    }

    /// Binary search on the segment (L2) or the L∞ box from `orig` to adversarial `adv`;
    /// returns the adversarial end within tolerance `theta`.
    fn boundary(
        &mut self,
        orig: &[f32],
        adv: &[f32],
        theta: f32,
        norm: Norm,
    ) -> Result<Option<Vec<f32>>> {
        let blend = |t: f32| -> Vec<f32> {
            match norm {
                Norm::L2 => orig
                    .iter()
                    .zip(adv)
                    .map(|(o, a)| (1.0 - t) * o + t * a)
                    .collect(),
                Norm::Linf => {
                    let radius = t * distance(orig, adv, Norm::Linf);
                    orig.iter()
                        .zip(adv)
                        .map(|(o, a)| a.clamp(o - radius, o + radius))
                        .collect()
                }
            }
        };
        let (mut lo, mut hi) = (0.0f32, 1.0f32);
        let tolerance = match norm {
            Norm::L2 => theta,
            Norm::Linf => theta.max(1e-4),
        };
        while hi - lo > tolerance {
            let mid = (lo + hi) / 2.0;
            match self.adversarial(&blend(mid), 1)? {
                Some(r) if r[0] => hi = mid,
                Some(_) => lo = mid,
                None => break,
            }
        }
        Ok(Some(blend(hi)))
    }
}

impl EvasionAttack for HopSkipJump {
    crate::described_by!(INFO, config);

    fn budget(&self) -> super::Budget {
        super::Budget { norm: self.config.norm, eps: self.config.eps }
    }

    fn queries_per_input(&self) -> Option<u64> {
        Some(self.config.max_queries)
    }

    fn observations(&self) -> Option<aisec_core::Details> {
        let curve = self.curve.lock().unwrap_or_else(|p| p.into_inner());
        Some(aisec_core::Details::new(HsjObservations {
            median_distance_by_queries: curve.clone(),
        }))
    }

    fn perturb(&self, task: &EvasionTask) -> Result<Vec<f32>> {
        let f = task.model.info().features();
        let clean = task.model.evaluate(task.x)?;
        // Each input's search has its own random stream (seed ^ index), so the inputs may run
        // on several threads with the same result; only against a local model without a
        // total budget (which inputs a shared budget serves would depend on timing).
        let parallel = task.model.concurrent_queries() && task.model.budget().max().is_none();
        let results = if parallel {
            // The inputs' searches in lock-step, their one-row questions asked as one batch.
            // Memory in flight per search: a round of probes, at most twice the first.
            let probe_bytes = 2 * self.config.initial_probes.max(1) * f * 4;
            let live = lockstep::live_searches(256 << 20, probe_bytes);
            lockstep::run(task, task.y.len(), live, |i, asker| {
                self.search_one(task, asker, i, clean[i], task.y[i])
            })?
        } else {
            let asker = Asker::Direct(task);
            (0..task.y.len())
                .map(|i| self.search_one(task, &asker, i, clean[i], task.y[i]))
                .collect::<Result<Vec<_>>>()?
        };
        let mut out = task.x.to_vec();
        let mut traces = Vec::with_capacity(results.len());
        for (i, (found, trace)) in results.into_iter().enumerate() {
            if let Some(adversarial) = found {
                out[i * f..(i + 1) * f].copy_from_slice(&adversarial);
            }
            if !trace.is_empty() {
                traces.push(trace);
            }
        }
        *self.curve.lock().unwrap_or_else(|p| p.into_inner()) =
            curve(&traces, self.config.max_queries);
        Ok(out)
    }
}

/// The adversarial input found for one example within ε (None: none found or too far) and
/// its search's trace of (queries used, distance).
type SearchResult = (Option<Vec<f32>>, Vec<(u64, f32)>);

impl HopSkipJump {
    fn search_one(
        &self,
        task: &EvasionTask,
        asker: &Asker,
        i: usize,
        clean: usize,
        label: usize,
    ) -> Result<SearchResult> {
        let cfg = &self.config;
        let f = task.model.info().features();
        let d = f as f32;
        let theta = match cfg.norm {
            Norm::L2 => d.powf(-1.5),
            Norm::Linf => d.powi(-2),
        };
        let orig = &task.x[i * f..(i + 1) * f];
        let direction = task.direction();
        if fooled(clean, label, direction) {
            return Ok((None, Vec::new()));
        }
        let mut rng = Rng::derive(task.seed ^ i as u64, "hsj");
        let mut s = Search {
            task,
            asker,
            label,
            direction,
            used: 0,
            limit: cfg.max_queries,
            trace: Vec::new(),
        };
        // A misclassified starting point: uniform noise in the valid range.
        let (lo, hi) = task.clip.map_or((-1.0, 1.0), |r| (r.lo, r.hi));
        let mut start = None;
        for _ in 0..100 {
            let candidate: Vec<f32> = (0..f).map(|_| rng.uniform(lo, hi)).collect();
            match s.adversarial(&candidate, 1)? {
                Some(r) if r[0] => {
                    start = Some(candidate);
                    break;
                }
                Some(_) => {}
                None => break,
            }
        }
        let Some(start) = start else {
            return Ok((None, s.trace));
        };
        let Some(mut current) = s.boundary(orig, &start, theta, cfg.norm)? else {
            return Ok((None, s.trace));
        };
        s.trace.push((s.used, distance(&current, orig, cfg.norm)));
        let mut t = 1usize;
        loop {
            let dist = distance(&current, orig, cfg.norm);
            let probes = ((cfg.initial_probes as f32) * (t as f32).sqrt()) as usize;
            let remaining = s.limit.saturating_sub(s.used) as usize;
            let probes = probes.min(remaining.saturating_sub(10));
            if probes < 2 {
                break;
            }
            let delta = match cfg.norm {
                Norm::L2 => d.sqrt() * theta * dist,
                Norm::Linf => d * theta * dist,
            }
            .max(1e-6);
            // Gradient-direction estimate from label-only probes around the boundary.
            let mut directions = Vec::with_capacity(probes * f);
            let mut rows = Vec::with_capacity(probes * f);
            for _ in 0..probes {
                let u: Vec<f32> = match cfg.norm {
                    Norm::L2 => (0..f).map(|_| rng.normal()).collect(),
                    Norm::Linf => (0..f).map(|_| rng.uniform(-1.0, 1.0)).collect(),
                };
                let len = u.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                let mut probe: Vec<f32> = current
                    .iter()
                    .zip(&u)
                    .map(|(c, v)| c + delta * v / len)
                    .collect();
                s.clip(&mut probe);
                let actual: Vec<f32> = probe
                    .iter()
                    .zip(&current)
                    .map(|(p, c)| (p - c) / delta)
                    .collect();
                directions.extend(actual);
                rows.extend(probe);
            }
            let Some(signs) = s.adversarial(&rows, probes)? else {
                break;
            };
            let mean_sign = signs
                .iter()
                .map(|b| if *b { 1.0 } else { -1.0 })
                .sum::<f32>()
                / probes as f32;
            let mut grad = vec![0.0f32; f];
            for (b, dir) in signs.iter().zip(directions.chunks(f)) {
                // Baseline-corrected estimate, as in the paper (reduces variance).
                let phi = if *b { 1.0 } else { -1.0 }
                    - if mean_sign.abs() < 1.0 {
                        mean_sign
                    } else {
                        0.0
                    };
                for (g, v) in grad.iter_mut().zip(dir) {
                    *g += phi * v;
                }
            }
            let update: Vec<f32> = match cfg.norm {
                Norm::L2 => {
                    let len = grad.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                    grad.iter().map(|g| g / len).collect()
                }
                Norm::Linf => grad
                    .iter()
                    .map(|g| g.signum() * (*g != 0.0) as i32 as f32)
                    .collect(),
            };
            // Geometric step search: start at dist/√t, halve until still adversarial.
            let mut step = dist / (t as f32).sqrt();
            let mut next = None;
            while step > 1e-6 {
                let mut candidate: Vec<f32> = current
                    .iter()
                    .zip(&update)
                    .map(|(c, u)| c + step * u)
                    .collect();
                s.clip(&mut candidate);
                match s.adversarial(&candidate, 1)? {
                    Some(r) if r[0] => {
                        next = Some(candidate);
                        break;
                    }
                    Some(_) => step /= 2.0,
                    None => break,
                }
            }
            let Some(stepped) = next else { break };
            let Some(projected) = s.boundary(orig, &stepped, theta, cfg.norm)? else {
                break;
            };
            if distance(&projected, orig, cfg.norm) < dist {
                current = projected;
            }
            s.trace.push((s.used, distance(&current, orig, cfg.norm)));
            t += 1;
        }
        let final_distance = distance(&current, orig, cfg.norm);
        let within = cfg.eps.is_none_or(|eps| final_distance <= eps + 1e-6);
        Ok((within.then_some(current), s.trace))
    }
}

/// Median distance over examples at query checkpoints (each example's last value at or
/// before the checkpoint).
fn curve(traces: &[Vec<(u64, f32)>], max_queries: u64) -> Vec<CurvePoint> {
    let checkpoints: Vec<u64> = [100, 250, 500, 1000, 2000, 5000, 10_000, 20_000]
        .into_iter()
        .filter(|q| *q <= max_queries)
        .collect();
    checkpoints
        .into_iter()
        .filter_map(|q| {
            let mut values: Vec<f32> = traces
                .iter()
                .filter_map(|t| t.iter().rev().find(|(used, _)| *used <= q).map(|(_, d)| *d))
                .collect();
            if values.is_empty() {
                return None;
            }
            values.sort_by(f32::total_cmp);
            Some(CurvePoint {
                queries: q,
                median_distance: values[values.len() / 2],
            })
        })
        .collect()
}
