//! Knockoff Nets (Orekondy et al. 2019, "Knockoff Nets: Stealing Functionality of Black-Box
//! Models"): query the victim with inputs from a pool the adversary already has, and train
//! a substitute on its answers. The pool is the adversary's public data, synthetic mixtures
//! of it (mixup pairs, an out-of-distribution pool without limit), or uniform noise.
//! `random` draws from the pool uniformly; `adaptive` treats the pool's groups (its own
//! labels, which are the public dataset's, never the victim's) as the arms of a gradient
//! bandit whose reward is the substitute's cross-entropy against the victim's answer — it
//! spends queries where the substitute is still wrong.
//!
//! ATLAS: AML.T0024.002 Extract AI Model, AML.T0005.001 Train Proxy via Replication,
//! AML.T0048.004 AI Intellectual Property Theft.

use aisec_core::rng::Rng;
use aisec_ml::net::Architecture;
use aisec_ml::{tensor, train};
use serde::{Deserialize, Serialize};

use super::{Extracted, ExtractionAttack, ExtractionTask, InputBox, Judge, Oracle, SubstituteSpec};
use crate::{Access, AttackError, AttackInfo, Result};

pub const INFO: AttackInfo = AttackInfo {
    name: "extract.knockoff",
    aliases: &["knockoff", "knockoff-nets"],
    summary: "Knockoff Nets: a substitute trained on the answers to a public or synthetic pool, random or bandit-adaptive (Orekondy et al. 2019)",
    access: Access::DecisionBased,
    atlas: super::ATLAS,
};

pub const ENTRY: crate::registry::ExtractionEntry = crate::registry::ExtractionEntry {
    reads: &["--substitute", "--strategy", "--pool"],
    info: &INFO,
    build: |p| {
        let mut c = KnockoffConfig::default();
        c.substitute = p.substitute.unwrap_or(c.substitute);
        c.strategy = p.strategy.unwrap_or(c.strategy);
        c.pool = p.pool.unwrap_or(c.pool);
        Ok(Box::new(Knockoff(c)))
    },
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    Random,
    Adaptive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pool {
    /// The adversary's data as it is (at most its size in queries).
    Public,
    /// Random convex mixtures of two public inputs: off the data distribution, unlimited.
    Mixup,
    /// Uniform random inputs in the data's box.
    Uniform,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnockoffConfig {
    pub strategy: Strategy,
    pub pool: Pool,
    /// Queries per round. Default 250.
    pub batch: usize,
    /// The bandit's step size. Default 0.2.
    #[serde(serialize_with = "aisec_core::serialize_f32_decimal")]
    pub bandit_rate: f32,
    pub substitute: Architecture,
}

impl Default for KnockoffConfig {
    fn default() -> Self {
        KnockoffConfig {
            strategy: Strategy::Random,
            pool: Pool::Public,
            batch: 250,
            bandit_rate: 0.2,
            substitute: Architecture::Mlp,
        }
    }
}

pub struct Knockoff(pub KnockoffConfig);

/// Draws queries from the pool, grouped into arms.
struct PoolSampler<'a> {
    task: &'a ExtractionTask<'a>,
    kind: Pool,
    input_box: InputBox,
    /// Unqueried public indices per arm.
    arms: Vec<Vec<usize>>,
}

impl<'a> PoolSampler<'a> {
    fn new(task: &'a ExtractionTask<'a>, kind: Pool, rng: &mut Rng) -> Self {
        let groups = if kind == Pool::Uniform {
            1
        } else {
            task.public.num_classes.max(1)
        };
        let mut arms = vec![Vec::new(); groups];
        for (i, &y) in task.public.y.iter().enumerate() {
            arms[if groups == 1 { 0 } else { y.min(groups - 1) }].push(i);
        }
        for arm in &mut arms {
            rng.shuffle(arm);
        }
        PoolSampler {
            task,
            kind,
            input_box: task.input_box(),
            arms,
        }
    }

    fn available(&self, arm: usize) -> bool {
        self.kind != Pool::Public || !self.arms[arm].is_empty()
    }

    /// One input from `arm`, or none when the public pool has run dry there.
    fn draw(&mut self, arm: usize, rng: &mut Rng, out: &mut Vec<f32>) -> bool {
        match self.kind {
            Pool::Public => match self.arms[arm].pop() {
                Some(i) => {
                    out.extend_from_slice(self.task.public.sample(i));
                    true
                }
                None => false,
            },
            Pool::Mixup => {
                let members = &self.arms[arm];
                if members.is_empty() {
                    return false;
                }
                let a = self.task.public.sample(members[rng.below(members.len())]);
                let b = self.task.public.sample(rng.below(self.task.public.len()));
                let t = rng.next_f32();
                out.extend(a.iter().zip(b).map(|(a, b)| t * a + (1.0 - t) * b));
                true
            }
            Pool::Uniform => {
                out.extend(self.input_box.sample(1, rng));
                true
            }
        }
    }
}

impl ExtractionAttack for Knockoff {
    crate::described_by!(INFO, 0);

    fn extract(
        &self,
        task: &ExtractionTask,
        oracle: &mut Oracle,
        judge: &Judge,
    ) -> Result<Extracted> {
        let c = &self.0;
        if c.batch == 0 {
            return Err(AttackError::Config {
                attack: "extract.knockoff",
                message: "batch must be at least 1".into(),
            });
        }
        let d = task.features();
        let k = task.classes();
        let mut rng = Rng::derive(task.seed, "extract-knockoff");
        let mut pool = PoolSampler::new(task, c.pool, &mut rng);
        let arms = pool.arms.len();
        let mut preference = vec![0.0f32; arms];
        let mut mean_reward = 0.0f32;
        let mut rewards_seen = 0usize;
        let spec = SubstituteSpec::new(c.substitute);
        let refine = SubstituteSpec {
            steps: spec.steps / 5,
            ..spec
        };
        let mut network = spec.init(task, task.seed)?;
        let mut trained = false;
        let (mut xs, mut targets) = (Vec::new(), Vec::new());
        let mut curve = Vec::new();
        let mut pulls = vec![0usize; arms];
        let checkpoints: Vec<u64> = [8, 4, 2]
            .iter()
            .map(|div| task.budget / div)
            .filter(|q| *q > 0)
            .collect();
        let mut next_checkpoint = 0;
        let mut round = 0u64;
        loop {
            let want = c.batch.min(oracle.remaining() as usize);
            if want == 0 {
                break;
            }
            let adaptive = c.strategy == Strategy::Adaptive && trained;
            let mut batch = Vec::with_capacity(want * d);
            let mut batch_arms = Vec::with_capacity(want);
            while batch_arms.len() < want {
                let open: Vec<usize> = (0..arms).filter(|&a| pool.available(a)).collect();
                if open.is_empty() {
                    break;
                }
                let arm = if adaptive {
                    let weights = softmax(&open.iter().map(|&a| preference[a]).collect::<Vec<_>>());
                    open[pick(&weights, &mut rng)]
                } else {
                    open[rng.below(open.len())]
                };
                if pool.draw(arm, &mut rng, &mut batch) {
                    batch_arms.push(arm);
                    pulls[arm] += 1;
                }
            }
            if batch_arms.is_empty() {
                break;
            }
            let answers = oracle.ask(&batch)?;
            if answers.rows == 0 {
                break;
            }
            batch.truncate(answers.rows * d);
            if adaptive {
                // Reward: how wrong the substitute still is about the victim's answer.
                let probs = tensor::softmax_rows(&train::logits(&network, &batch, d), k);
                for (j, arm) in batch_arms.iter().take(answers.rows).enumerate() {
                    let reward: f32 = answers.targets[j * k..(j + 1) * k]
                        .iter()
                        .zip(&probs[j * k..(j + 1) * k])
                        .map(|(t, q)| -t * q.max(1e-7).ln())
                        .sum();
                    rewards_seen += 1;
                    mean_reward += (reward - mean_reward) / rewards_seen as f32;
                    let weights = softmax(&preference);
                    for (a, h) in preference.iter_mut().enumerate() {
                        let indicator = if a == *arm { 1.0 } else { 0.0 };
                        *h += c.bandit_rate * (reward - mean_reward) * (indicator - weights[a]);
                    }
                }
            }
            xs.extend(batch);
            targets.extend(answers.targets);
            round += 1;
            if c.strategy == Strategy::Adaptive {
                let seed = task.seed.wrapping_add(round);
                network = if trained {
                    refine.fit(network, &xs, &targets, k, seed)
                } else {
                    spec.fit(network, &xs, &targets, k, seed)
                };
                trained = true;
            }
            while next_checkpoint < checkpoints.len() && oracle.used >= checkpoints[next_checkpoint]
            {
                let at = if c.strategy == Strategy::Adaptive {
                    judge.measure(&network, oracle.used)
                } else {
                    let fresh = spec.fit(spec.init(task, task.seed)?, &xs, &targets, k, task.seed);
                    judge.measure(&fresh, oracle.used)
                };
                curve.push(at);
                next_checkpoint += 1;
            }
        }
        if targets.is_empty() {
            return Err(AttackError::Config {
                attack: "extract.knockoff",
                message: "the victim answered no query".into(),
            });
        }
        // The final substitute is trained from scratch on everything, as the paper does.
        let network = spec.fit(spec.init(task, task.seed)?, &xs, &targets, k, task.seed);
        Ok(Extracted {
            substitute: network,
            curve,
            observations: aisec_core::Details::new(KnockoffObservations {
                pool_size: if c.pool == Pool::Public {
                    Some(task.public.len())
                } else {
                    None
                },
                queries_per_arm: pulls,
                substitute: spec,
            }),
        })
    }
}

/// Where the transfer set came from and how the bandit spent its queries.
#[derive(Debug, Clone, Serialize)]
pub struct KnockoffObservations {
    pub pool_size: Option<usize>,
    pub queries_per_arm: Vec<usize>,
    pub substitute: SubstituteSpec,
}

fn softmax(values: &[f32]) -> Vec<f32> {
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = values.iter().map(|v| (v - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
}

fn pick(weights: &[f32], rng: &mut Rng) -> usize {
    let mut u = rng.next_f32();
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i;
        }
        u -= w;
    }
    weights.len() - 1
}
