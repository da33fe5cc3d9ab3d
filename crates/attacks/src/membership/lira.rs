//! LiRA, the Likelihood Ratio Attack (Carlini et al. 2022, "Membership Inference Attacks
//! From First Principles"). The adversary trains shadow models with the target's recipe; for
//! each candidate it fits a Gaussian to the shadows' logit-scaled confidence φ when the
//! candidate was in their training set (IN) and when it was not (OUT), and scores the
//! target's φ by the likelihood ratio. Online: IN and OUT shadows (paired halves of the
//! candidates, topped up from the adversary's population towards the target's training-set
//! size, so each candidate is IN for exactly half). Offline: OUT shadows only, trained
//! on the adversary's population, with a one-sided test. Per-example or global variance.
//! ATLAS AML.T0024.000 via AML.T0040.

use serde::{Deserialize, Serialize};

use super::shadows::{concat, paired_subsets, ShadowSet};
use super::{target_confidences, MembershipAttack, MembershipEntry, MembershipTask, Scored};
use crate::extract::Oracle;
use crate::{Access, AttackError, AttackInfo, Result};

pub const INFO: AttackInfo = AttackInfo {
    name: "membership.lira",
    aliases: &["lira"],
    summary: "LiRA: per-example Gaussian likelihood ratio of the target's confidence against IN/OUT shadow models (Carlini et al. 2022)",
    access: Access::ScoreBased,
    atlas: super::ATLAS,
};

pub const ENTRY: MembershipEntry = MembershipEntry {
    info: &INFO,
    reads: &["--shadows", "--online", "--offline"],
    build: |p| {
        let mut c = LiraConfig::default();
        c.shadows = p.shadows.unwrap_or(c.shadows);
        c.online = p.online.unwrap_or(c.online);
        Ok(Box::new(Lira(c)))
    },
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiraConfig {
    /// Shadow models. Default 16 (the paper's curves level off around 64; 16 is most of the
    /// gain on the CPU).
    pub shadows: usize,
    /// IN and OUT shadows (true) or OUT only (false). Default online.
    pub online: bool,
    /// One variance for all examples instead of one per example; the paper's advice when
    /// shadows are few (per-example variances from a handful of IN/OUT samples are noisy).
    /// Default: per-example from 64 shadows up, global below.
    pub global_variance: Option<bool>,
}

impl Default for LiraConfig {
    fn default() -> Self {
        LiraConfig {
            shadows: 16,
            online: true,
            global_variance: None,
        }
    }
}

pub struct Lira(pub LiraConfig);

impl MembershipAttack for Lira {
    crate::described_by!(INFO, 0);

    fn score(&self, task: &MembershipTask, oracle: &mut Oracle) -> Result<Scored> {
        let c = &self.0;
        if c.shadows < 2 {
            return Err(AttackError::Config {
                attack: INFO.name,
                message: format!("--shadows must be at least 2, got {}", c.shadows),
            });
        }
        let n = task.candidates.len();
        let size = task.recipe.train_size;
        // OUT statistics per candidate; IN too when online.
        let (mut ins, mut outs) = (vec![Vec::new(); n], vec![Vec::new(); n]);
        let (trained_on, shadow_accuracy);
        if c.online {
            // Paired halves of the candidates, topped up with as much of the adversary's
            // population as brings each half to the target's training-set size: every
            // candidate is IN exactly half of the shadows, and each shadow trains on as many
            // records as the target did where the data allow.
            let extra = (2 * size).saturating_sub(n).min(task.population.len());
            let pool = concat(task.candidates, &task.population.head(extra));
            let subsets = paired_subsets(pool.len(), size.min(pool.len() / 2), c.shadows, task.seed);
            trained_on = subsets[0].len();
            let set = ShadowSet::train(&task.recipe, &pool, subsets, task.seed, task.progress)?;
            shadow_accuracy = set.held_out_accuracy(&pool, true);
            for (net, inside) in set.networks.iter().zip(&set.inside) {
                for (i, phi) in task.recipe.confidences(net, task.candidates).into_iter().enumerate() {
                    if inside[i] { ins[i].push(phi) } else { outs[i].push(phi) }
                }
            }
        } else {
            let pop = task.population;
            let subsets = paired_subsets(pop.len(), size.min(pop.len()), c.shadows, task.seed);
            trained_on = subsets[0].len();
            let set = ShadowSet::train(&task.recipe, pop, subsets, task.seed, task.progress)?;
            shadow_accuracy = set.held_out_accuracy(task.candidates, false);
            for net in &set.networks {
                for (i, phi) in task.recipe.confidences(net, task.candidates).into_iter().enumerate() {
                    outs[i].push(phi);
                }
            }
        }
        // The target is asked after the shadows are trained, so that a shard of the shadow
        // training (`--shard`) spends none of its queries.
        let target = target_confidences(INFO.name, oracle, task.candidates)?;
        let global = c.global_variance.unwrap_or(c.shadows < 64);
        let out_fit = Fits::new(&outs, global);
        let scores = if c.online {
            let in_fit = Fits::new(&ins, global);
            (0..n)
                .map(|i| {
                    log_normal(target[i], in_fit.mean[i], in_fit.std[i])
                        - log_normal(target[i], out_fit.mean[i], out_fit.std[i])
                })
                .collect()
        } else {
            // One-sided: how far above the OUT distribution the target's φ lies.
            (0..n)
                .map(|i| (target[i] - out_fit.mean[i]) / out_fit.std[i])
                .collect()
        };
        Ok(Scored {
            scores,
            shadow_models: c.shadows,
            shadow_train_size: trained_on,
            shadow_accuracy,
            observations: aisec_core::Details::new(LiraObservations {
                mode: if c.online { "online" } else { "offline" },
                variance: if global { "global" } else { "per-example" },
                shadow_data: if c.online { "paired halves of the candidates, topped up from the adversary's population towards the target's training-set size" } else { "subsets of the adversary's population" },
            }),
        })
    }
}

/// Which LiRA was run: online or offline, and how the variance was estimated.
#[derive(Debug, Clone, Serialize)]
pub struct LiraObservations {
    pub mode: &'static str,
    pub variance: &'static str,
    pub shadow_data: &'static str,
}

/// Mean and standard deviation of each candidate's shadow statistics.
struct Fits {
    mean: Vec<f64>,
    std: Vec<f64>,
}

impl Fits {
    fn new(samples: &[Vec<f64>], global: bool) -> Fits {
        let mean: Vec<f64> = samples
            .iter()
            .map(|s| if s.is_empty() { 0.0 } else { s.iter().sum::<f64>() / s.len() as f64 })
            .collect();
        let (mut pooled, mut count) = (0.0, 0usize);
        for (s, m) in samples.iter().zip(&mean) {
            pooled += s.iter().map(|v| (v - m).powi(2)).sum::<f64>();
            count += s.len().saturating_sub(1);
        }
        let global_std = (pooled / count.max(1) as f64).sqrt().max(1e-3);
        let std = samples
            .iter()
            .zip(&mean)
            .map(|(s, m)| {
                if global || s.len() < 2 {
                    global_std
                } else {
                    let var = s.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (s.len() - 1) as f64;
                    var.sqrt().max(1e-3)
                }
            })
            .collect();
        Fits { mean, std }
    }
}

fn log_normal(x: f64, mean: f64, std: f64) -> f64 {
    let z = (x - mean) / std;
    -0.5 * z * z - std.ln()
}
