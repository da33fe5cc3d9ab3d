//! RMIA, Robust Membership Inference (Zarifzadeh, Liu, Shokri and Shokri 2024, "Low-Cost
//! High-Power Membership Inference Attacks"; the attack of ML Privacy Meter). The likelihood
//! ratio of a candidate x, p(x|θ)/p(x), is compared with that of population records z: x's
//! score is the fraction of z it dominates by a factor γ. p(x) is the average of reference
//! models' confidence; offline (OUT references only) it is corrected as
//! p(x) = ½((1 + a)·p_OUT(x) + (1 − a)), the paper's linear approximation. Strong with a few
//! reference models, which is its point. ATLAS AML.T0024.000 via AML.T0040.

use serde::{Deserialize, Serialize};

use super::shadows::{concat, paired_subsets, ShadowSet};
use super::{target_rows, MembershipAttack, MembershipEntry, MembershipTask, Scored};
use crate::extract::Oracle;
use crate::{Access, AttackError, AttackInfo, Result};
use aisec_ml::data::Dataset;

pub const INFO: AttackInfo = AttackInfo {
    name: "membership.rmia",
    aliases: &["rmia"],
    summary: "RMIA: pairwise likelihood ratios against population records, few reference models (Zarifzadeh et al. 2024)",
    access: Access::ScoreBased,
    atlas: super::ATLAS,
};

pub const ENTRY: MembershipEntry = MembershipEntry {
    info: &INFO,
    reads: &["--shadows", "--online", "--offline"],
    build: |p| {
        let mut c = RmiaConfig::default();
        c.references = p.shadows.unwrap_or(c.references);
        c.online = p.online.unwrap_or(c.online);
        Ok(Box::new(Rmia(c)))
    },
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RmiaConfig {
    /// Reference models. Default 4.
    pub references: usize,
    /// References trained on halves of candidates and population together (true), or on the
    /// population only (false, the default: the cheap setting the paper recommends).
    pub online: bool,
    /// Offline correction a ∈ [0, 1]. Default 0.3 (the paper's value for its tabular sets).
    pub offline_a: f64,
    /// γ: how much more likely than z a candidate must be. Default 1.
    pub gamma: f64,
    /// Population records z to compare with (each costs a target query). Default 2,500.
    pub population_samples: usize,
    /// Softmax temperature applied to the answers' log-probabilities before taking p(x|θ):
    /// on an overfitted model most probabilities round to 1, and tempering keeps their
    /// differences (ML Privacy Meter exposes the same knob). Default 2.
    pub temperature: f64,
}

impl Default for RmiaConfig {
    fn default() -> Self {
        RmiaConfig {
            references: 4,
            online: false,
            offline_a: 0.3,
            gamma: 1.0,
            population_samples: 2500,
            temperature: 2.0,
        }
    }
}

pub struct Rmia(pub RmiaConfig);

impl MembershipAttack for Rmia {
    crate::described_by!(INFO, 0);

    fn score(&self, task: &MembershipTask, oracle: &mut Oracle) -> Result<Scored> {
        let c = &self.0;
        let bad = |message: String| AttackError::Config {
            attack: INFO.name,
            message,
        };
        if c.references == 0 {
            return Err(bad("--shadows (reference models) must be at least 1".into()));
        }
        let positive = |v: f64| v > 0.0 && v.is_finite();
        if !(0.0..=1.0).contains(&c.offline_a) || !positive(c.gamma) || !positive(c.temperature) {
            return Err(bad(format!("offline_a must lie in [0, 1], gamma and temperature be positive; got {}, {} and {}", c.offline_a, c.gamma, c.temperature)));
        }
        let z_count = c.population_samples.min(task.population.len());
        if z_count == 0 {
            return Err(bad("RMIA needs population records to compare with".into()));
        }
        let z = task.population.head(z_count);
        let size = task.recipe.train_size;
        // Reference models and the data they were trained from.
        let (pool, subsets) = if c.online {
            let pool = concat(task.candidates, task.population);
            let subsets = paired_subsets(pool.len(), size.min(pool.len() / 2), c.references, task.seed);
            (pool, subsets)
        } else {
            let pop = task.population.clone();
            let subsets = paired_subsets(pop.len(), size.min(pop.len()), c.references, task.seed);
            (pop, subsets)
        };
        let trained_on = subsets[0].len();
        let refs = ShadowSet::train(&task.recipe, &pool, subsets, task.seed, task.progress)?;
        let shadow_accuracy = if c.online {
            refs.held_out_accuracy(&pool, true)
        } else {
            refs.held_out_accuracy(task.candidates, false)
        };
        // p(x): the references' mean confidence. Offline, only references that did not
        // train on the record count (z are population records, inside half the offline
        // references), and the mean is corrected for the missing IN half.
        let prior = |data: &Dataset, pool_index: &dyn Fn(usize) -> Option<usize>| -> Vec<f64> {
            let per_ref: Vec<Vec<f64>> = refs
                .networks
                .iter()
                .map(|net| tempered(&task.recipe.answers(net, data), data, c.temperature))
                .collect();
            (0..data.len())
                .map(|i| {
                    let counted: Vec<f64> = (0..per_ref.len())
                        .filter(|&r| c.online || pool_index(i).is_none_or(|j| !refs.inside[r][j]))
                        .map(|r| per_ref[r][i])
                        .collect();
                    let mean = counted.iter().sum::<f64>() / counted.len().max(1) as f64;
                    if c.online {
                        mean
                    } else {
                        0.5 * ((1.0 + c.offline_a) * mean + (1.0 - c.offline_a))
                    }
                })
                .collect()
        };
        // A budget too small for every candidate and every z is shared in proportion, the z
        // asked first, so that a stopped run still compares the candidates it got answered
        // with some population records (answers do not depend on the order of asking).
        let needed = (task.candidates.len() + z.len()) as u64;
        let z_share = if oracle.remaining() < needed {
            let share = (oracle.remaining() as u128 * z.len() as u128 / needed as u128) as usize;
            share.max(1).min(z.len())
        } else {
            z.len()
        };
        let target_z_rows = target_rows(INFO.name, oracle, &z.head(z_share))?;
        let mut z_rows = target_z_rows;
        z_rows.resize(z.len() * z.num_classes, f32::NAN);
        let target_z = tempered(&z_rows, &z, c.temperature);
        let target_x = tempered(&target_rows(INFO.name, oracle, task.candidates)?, task.candidates, c.temperature);
        let ratio = |p: &[f64], prior: &[f64]| -> Vec<f64> {
            p.iter()
                .zip(prior)
                .map(|(p, q)| if p.is_nan() { f64::NAN } else { p.max(1e-45) / q.max(1e-45) })
                .collect()
        };
        let candidates_in_pool = |i: usize| c.online.then_some(i);
        let z_in_pool = |i: usize| Some(if c.online { task.candidates.len() + i } else { i });
        let rx = ratio(&target_x, &prior(task.candidates, &candidates_in_pool));
        let mut rz = ratio(&target_z, &prior(&z, &z_in_pool));
        // Population records a stopped run did not get answered compare with nothing.
        rz.retain(|v| v.is_finite());
        if rz.is_empty() {
            return Err(bad(format!(
                "{}: no population record was answered to compare with",
                oracle.stop_reason(oracle.used).unwrap_or_else(|| "the target stopped answering".into())
            )));
        }
        rz.sort_by(f64::total_cmp);
        let scores = rx
            .iter()
            .map(|r| {
                if r.is_nan() {
                    return f64::NAN;
                }
                // z with r_x / r_z ≥ γ, i.e. r_z ≤ r_x / γ.
                let limit = r / c.gamma;
                let dominated = rz.partition_point(|v| *v <= limit) as f64 / rz.len() as f64;
                // Candidates that dominate the same share of z (all of it, on an overfitted
                // target) are ranked by their own ratio, below the next share's step.
                let step = 1.0 / (rz.len() as f64 + 1.0);
                dominated + 0.5 * step / (1.0 + (-r.ln()).exp())
            })
            .collect();
        Ok(Scored {
            scores,
            shadow_models: c.references,
            shadow_train_size: trained_on,
            shadow_accuracy,
            observations: aisec_core::Details::new(RmiaObservations {
                mode: if c.online { "online" } else { "offline" },
                population_samples: z_count,
            }),
        })
    }
}



/// Which RMIA was run and against how many population records.
#[derive(Debug, Clone, Serialize)]
pub struct RmiaObservations {
    pub mode: &'static str,
    pub population_samples: usize,
}

/// p(y|x) after dividing the log-probabilities by `temperature` and renormalising.
fn tempered(probs: &[f32], data: &Dataset, temperature: f64) -> Vec<f64> {
    probs
        .chunks(data.num_classes)
        .zip(&data.y)
        .map(|(row, &y)| {
            if row[y].is_nan() {
                // Not answered: a stopped run.
                return f64::NAN;
            }
            let logs: Vec<f64> = row
                .iter()
                .map(|p| f64::from(*p).max(1e-45).ln() / temperature)
                .collect();
            let max = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = logs.iter().map(|l| (l - max).exp()).sum();
            (logs[y] - max).exp() / sum
        })
        .collect()
}
