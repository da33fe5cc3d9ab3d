//! Label-only membership inference (Choquette-Choo, Tramèr, Carlini and Papernot 2021,
//! "Label-Only Membership Inference Attacks"): against an API that returns the label alone,
//! query noisy copies of each candidate; members are classified correctly more often, and
//! more robustly to the noise. Score: correct on the clean input (0 or 1) plus the share of
//! correct answers on the noisy copies. The noise scale is chosen where the attack works best
//! on a shadow model the adversary trains on its own data (the paper's calibration), unless
//! given. ATLAS AML.T0024.000 via AML.T0040.

use serde::{Deserialize, Serialize};

use super::roc::Roc;
use super::shadows::{probabilities, ShadowSet};
use super::{MembershipAttack, MembershipEntry, MembershipTask, Scored};
use crate::extract::{InputBox, Oracle};
use crate::{Access, AttackError, AttackInfo, Result};
use aisec_core::rng::Rng;
use aisec_ml::data::Dataset;
use aisec_ml::tensor;

pub const INFO: AttackInfo = AttackInfo {
    name: "membership.label-only",
    aliases: &["label-only", "labelonly", "choquette-choo"],
    summary: "Label-only: robustness of the predicted label to noise, from labels alone (Choquette-Choo et al. 2021)",
    access: Access::DecisionBased,
    atlas: super::ATLAS,
};

pub const ENTRY: MembershipEntry = MembershipEntry {
    info: &INFO,
    reads: &["--perturbations"],
    build: |p| {
        let mut c = LabelOnlyConfig::default();
        c.perturbations = p.perturbations.unwrap_or(c.perturbations);
        Ok(Box::new(LabelOnly(c)))
    },
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelOnlyConfig {
    /// Noisy copies queried per candidate (each a query). Default 30.
    pub perturbations: usize,
    /// Gaussian noise as a fraction of each feature's range; default: calibrated on a shadow
    /// model among 0.02, 0.05, 0.1, 0.2, 0.3 and 0.5.
    #[serde(serialize_with = "aisec_core::serialize_opt_f32_decimal")]
    pub noise: Option<f32>,
}

impl Default for LabelOnlyConfig {
    fn default() -> Self {
        LabelOnlyConfig {
            perturbations: 30,
            noise: None,
        }
    }
}

pub struct LabelOnly(pub LabelOnlyConfig);

const GRID: [f32; 6] = [0.02, 0.05, 0.1, 0.2, 0.3, 0.5];

/// Noisy copies of each record, record-major: `copies` rows per record.
fn noisy(data: &Dataset, bounds: &InputBox, noise: f32, copies: usize, rng: &mut Rng) -> Vec<f32> {
    let f = data.features();
    let mut out = Vec::with_capacity(data.len() * copies * f);
    for i in 0..data.len() {
        for _ in 0..copies {
            let start = out.len();
            out.extend(
                data.sample(i)
                    .iter()
                    .enumerate()
                    .map(|(j, v)| v + noise * (bounds.hi[j] - bounds.lo[j]) * rng.normal()),
            );
            bounds.clip(&mut out[start..]);
        }
    }
    out
}

/// Score from the labels of each record (clean) and of its noisy copies.
fn scores(data: &Dataset, clean: &[usize], noisy: &[usize], copies: usize) -> Vec<f64> {
    (0..data.len())
        .map(|i| {
            let y = data.y[i];
            let robust = noisy[i * copies..(i + 1) * copies].iter().filter(|l| **l == y).count();
            f64::from(u8::from(clean[i] == y)) + robust as f64 / copies.max(1) as f64
        })
        .collect()
}

impl MembershipAttack for LabelOnly {
    crate::described_by!(INFO, 0);

    fn score(&self, task: &MembershipTask, oracle: &mut Oracle) -> Result<Scored> {
        let c = &self.0;
        if c.perturbations == 0 {
            return Err(AttackError::Config {
                attack: INFO.name,
                message: "--perturbations must be at least 1".into(),
            });
        }
        let bounds = InputBox::of(task.population);
        let mut rng = Rng::derive(task.seed, "label-only");
        let (noise, calibration, shadow) = match c.noise {
            Some(n) => (n, None, None),
            None => {
                let (n, aucs, shadow) = calibrate(task, &bounds, &mut rng)?;
                (n, Some(aucs), Some(shadow))
            }
        };
        let n = task.candidates.len();
        let p = c.perturbations;
        let f = task.candidates.features();
        let copies = noisy(task.candidates, &bounds, noise, p, &mut rng);
        // Each candidate is asked with its noisy copies, candidates in a random order: a run
        // a budget, a limit or a monitor cuts short has whole answers for a random sample.
        let order = super::query_order(n);
        let mut asked = Vec::with_capacity(n * (1 + p) * f);
        for &i in &order {
            asked.extend_from_slice(task.candidates.sample(i));
            asked.extend_from_slice(&copies[i * p * f..(i + 1) * p * f]);
        }
        let answers = oracle.ask(&asked)?;
        let groups = answers.rows / (1 + p);
        if groups == 0 && n > 0 {
            return Err(AttackError::Config {
                attack: INFO.name,
                message: format!(
                    "{} ({} queries answered; each candidate needs {})",
                    oracle.stop_reason(oracle.used).unwrap_or_else(|| "the target stopped answering".into()),
                    answers.rows,
                    1 + p
                ),
            });
        }
        let (mut clean, mut noisy_labels) = (vec![usize::MAX; n], vec![usize::MAX; n * p]);
        for (g, &i) in order.iter().take(groups).enumerate() {
            let at = g * (1 + p);
            clean[i] = answers.labels[at];
            noisy_labels[i * p..(i + 1) * p].copy_from_slice(&answers.labels[at + 1..at + 1 + p]);
        }
        let answered: Vec<bool> = (0..n).map(|i| clean[i] != usize::MAX).collect();
        let scores = scores(task.candidates, &clean, &noisy_labels, p)
            .into_iter()
            .zip(&answered)
            .map(|(s, a)| if *a { s } else { f64::NAN })
            .collect();
        Ok(Scored {
            scores,
            shadow_models: usize::from(shadow.is_some()),
            shadow_train_size: shadow.map_or(0, |s| s.0),
            shadow_accuracy: shadow.and_then(|s| s.1),
            observations: aisec_core::Details::new(LabelOnlyObservations {
                noise,
                noise_unit: "fraction of each feature's range, Gaussian, clipped to the range",
                calibration_auc_by_noise: calibration,
            }),
        })
    }
}

/// Trains one shadow on half of the adversary's population and picks the noise scale whose
/// attack AUC on it (its IN half against its OUT half, 300 of each) is highest.
/// Returns the noise, the AUC at each scale tried, and the shadow's training-set size and
/// held-out accuracy.
/// The noise the copies were drawn with, and how it was chosen.
#[derive(Debug, Clone, Serialize)]
pub struct LabelOnlyObservations {
    pub noise: f32,
    pub noise_unit: &'static str,
    /// (noise, AUC on the calibration shadow) for each scale tried; null when `--noise` set it.
    pub calibration_auc_by_noise: Option<Vec<(f32, f64)>>,
}

type Calibration = (f32, Vec<(f32, f64)>, (usize, Option<f64>));

fn calibrate(task: &MembershipTask, bounds: &InputBox, rng: &mut Rng) -> Result<Calibration> {
    let pop = task.population;
    let half = task.recipe.train_size.min(pop.len() / 2);
    if half == 0 {
        return Err(AttackError::Config {
            attack: INFO.name,
            message: "the adversary's population is too small to calibrate the noise; pass it".into(),
        });
    }
    let mut order: Vec<usize> = (0..pop.len()).collect();
    rng.shuffle(&mut order);
    let set = ShadowSet::train(&task.recipe, pop, vec![order[..half].to_vec()], task.seed, task.progress)?;
    let shadow = &set.networks[0];
    let probe_n = half.min(300);
    let probe_idx: Vec<usize> = order[..probe_n].iter().chain(&order[half..half + probe_n]).copied().collect();
    let probe = pop.subset(&probe_idx);
    let member: Vec<bool> = (0..probe.len()).map(|i| i < probe_n).collect();
    let labels = |x: &[f32]| {
        let rows = x.len() / probe.features();
        let mut d = probe.clone();
        d.x = x.to_vec();
        d.y = vec![0; rows];
        tensor::argmax_rows(&probabilities(shadow, &d), probe.num_classes)
    };
    let clean = labels(&probe.x);
    const COPIES: usize = 10;
    let mut aucs = Vec::new();
    for noise in GRID {
        let copies = noisy(&probe, bounds, noise, COPIES, rng);
        let s = scores(&probe, &clean, &labels(&copies), COPIES);
        aucs.push((noise, Roc::new(&s, &member).auc));
    }
    let best = aucs.iter().copied().fold((GRID[0], f64::MIN), |b, a| if a.1 > b.1 { a } else { b });
    Ok((best.0, aucs, (half, set.held_out_accuracy(pop, true))))
}
