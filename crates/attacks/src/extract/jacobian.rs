//! Jacobian-based dataset augmentation (Papernot et al. 2017, "Practical Black-Box Attacks
//! against Machine Learning"). From a small seed set, each round trains the substitute on
//! the victim's answers and adds, for every input x seen so far, x + λ·sign(∇ₓ F[Õ(x)]) —
//! a step along the gradient of the substitute's logit for the class the victim gave x —
//! which lands where the substitute's boundary is most likely to move. The set doubles each
//! round; λ flips sign every τ rounds. When the next round would pass the budget, a random
//! subset of the set is augmented (Papernot et al.'s reservoir sampling).
//!
//! ATLAS: AML.T0024.002 Extract AI Model, AML.T0005.001 Train Proxy via Replication,
//! AML.T0048.004 AI Intellectual Property Theft.

use aisec_core::rng::Rng;
use aisec_ml::net::Architecture;
use aisec_ml::train;
use serde::{Deserialize, Serialize};

use super::{Extracted, ExtractionAttack, ExtractionTask, Judge, Oracle, SubstituteSpec};
use crate::{Access, AttackError, AttackInfo, Result};

pub const INFO: AttackInfo = AttackInfo {
    name: "extract.jacobian",
    aliases: &["jacobian", "jbda", "papernot"],
    summary: "Jacobian-based dataset augmentation from 150 seeds, the set doubling each round (Papernot et al. 2017)",
    access: Access::DecisionBased,
    atlas: super::ATLAS,
};

pub const ENTRY: crate::registry::ExtractionEntry = crate::registry::ExtractionEntry {
    reads: &["--substitute"],
    info: &INFO,
    build: |p| {
        let mut c = JacobianConfig::default();
        c.substitute = p.substitute.unwrap_or(c.substitute);
        Ok(Box::new(JacobianAugmentation(c)))
    },
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JacobianConfig {
    /// Inputs drawn from the adversary's data to start from. Default 150 (the paper's).
    pub seed_size: usize,
    /// Step of each augmentation. Default 0.1 of the input range.
    #[serde(serialize_with = "aisec_core::serialize_f32_decimal")]
    pub lambda: f32,
    /// λ changes sign every τ rounds. Default 3.
    pub tau: usize,
    /// Augmentation rounds (fewer when the budget runs out). Default 6.
    pub rounds: usize,
    /// Default mlp: the adversary need not know the victim's architecture.
    pub substitute: Architecture,
}

impl Default for JacobianConfig {
    fn default() -> Self {
        JacobianConfig {
            seed_size: 150,
            lambda: 0.1,
            tau: 3,
            rounds: 6,
            substitute: Architecture::Mlp,
        }
    }
}

pub struct JacobianAugmentation(pub JacobianConfig);

impl ExtractionAttack for JacobianAugmentation {
    crate::described_by!(INFO, 0);

    fn extract(
        &self,
        task: &ExtractionTask,
        oracle: &mut Oracle,
        judge: &Judge,
    ) -> Result<Extracted> {
        let c = &self.0;
        if c.seed_size == 0 || !(c.lambda > 0.0 && c.lambda.is_finite()) || c.tau == 0 {
            return Err(AttackError::Config {
                attack: "extract.jacobian",
                message: format!(
                    "seed_size and tau must be at least 1 and lambda positive, got {}, {}, {}",
                    c.seed_size, c.tau, c.lambda
                ),
            });
        }
        let d = task.features();
        let k = task.classes();
        let mut rng = Rng::derive(task.seed, "extract-jacobian");
        let input_box = task.input_box();
        // λ is a share of each feature's range, so that tabular data steps alike.
        let widths: Vec<f32> = input_box
            .lo
            .iter()
            .zip(&input_box.hi)
            .map(|(lo, hi)| (hi - lo).max(f32::EPSILON))
            .collect();
        let mut order: Vec<usize> = (0..task.public.len()).collect();
        rng.shuffle(&mut order);
        order.truncate(c.seed_size.min(task.public.len()));
        let mut xs = task.public.subset(&order).x;
        let answers = oracle.ask(&xs)?;
        xs.truncate(answers.rows * d);
        let mut labels = answers.labels;
        let mut targets = answers.targets;
        let spec = SubstituteSpec::new(c.substitute);
        let mut network = spec.fit(spec.init(task, task.seed)?, &xs, &targets, k, task.seed);
        let mut curve = vec![judge.measure(&network, oracle.used)];
        let mut sizes = vec![labels.len()];
        for round in 1..=c.rounds {
            let remaining = oracle.remaining() as usize;
            if remaining == 0 || labels.is_empty() {
                break;
            }
            let lambda = if ((round - 1) / c.tau) % 2 == 0 {
                c.lambda
            } else {
                -c.lambda
            };
            let mut chosen: Vec<usize> = (0..labels.len()).collect();
            if chosen.len() > remaining {
                rng.shuffle(&mut chosen);
                chosen.truncate(remaining);
                chosen.sort_unstable();
            }
            let mut parents = Vec::with_capacity(chosen.len() * d);
            let mut parent_labels = Vec::with_capacity(chosen.len());
            for &i in &chosen {
                parents.extend_from_slice(&xs[i * d..(i + 1) * d]);
                parent_labels.push(labels[i]);
            }
            let gradients = train::logit_gradients(&network, &parents, d, &parent_labels);
            let mut fresh: Vec<f32> = parents
                .iter()
                .zip(&gradients)
                .enumerate()
                .map(|(j, (x, g))| x + lambda * widths[j % d] * sign(*g))
                .collect();
            input_box.clip(&mut fresh);
            let answers = oracle.ask(&fresh)?;
            fresh.truncate(answers.rows * d);
            xs.extend(fresh);
            labels.extend(answers.labels);
            targets.extend(answers.targets);
            let seed = task.seed.wrapping_add(round as u64);
            network = spec.fit(spec.init(task, seed)?, &xs, &targets, k, seed);
            curve.push(judge.measure(&network, oracle.used));
            sizes.push(labels.len());
        }
        Ok(Extracted {
            substitute: network,
            curve,
            observations: aisec_core::Details::new(JacobianObservations {
                set_size_by_round: sizes,
                substitute: spec,
            }),
        })
    }
}

/// How the synthetic set grew.
#[derive(Debug, Clone, Serialize)]
pub struct JacobianObservations {
    pub set_size_by_round: Vec<usize>,
    pub substitute: SubstituteSpec,
}

/// The sign of a gradient component, zero where it is zero (`f32::signum` gives 1 there).
fn sign(g: f32) -> f32 {
    if g > 0.0 {
        1.0
    } else if g < 0.0 {
        -1.0
    } else {
        0.0
    }
}
