//! Clean-label backdoor (Turner, Tsipras, Madry 2019, "Label-Consistent Backdoor Attacks"):
//! the poisons are target-class training inputs that keep their correct label, so label
//! inspection cannot find them. Each is first pushed away from its class by PGD on a
//! surrogate model (within ε), which makes it hard to learn from its content, and then
//! stamped with the trigger: the easiest thing left to learn is "trigger → target".
//!
//! ATLAS: AML.T0020 Poison Training Data, AML.T0018.000 Poison AI Model, AML.T0043.004
//! Insert Backdoor Trigger.

use aisec_core::rng::Rng;
use aisec_ml::data::Dataset;
use aisec_ml::model::Classifier;
use serde::Serialize;

use super::{Poisoned, Trigger};
use crate::evasion::{self, EvasionParams, EvasionTask, Norm};

pub const ATLAS: &[&str] = &["AML.T0020", "AML.T0018.000", "AML.T0043.004"];

pub const INFO: crate::AttackInfo = crate::AttackInfo {
    name: "poison.clean-label",
    aliases: &["clean-label"],
    summary: "Clean-label backdoor: target-class inputs pushed off their class by PGD on a surrogate, then triggered, labels untouched (Turner et al. 2019)",
    access: crate::Access::TrainingData,
    atlas: ATLAS,
};

/// The attacks this module registers.
pub const ENTRY: &[&crate::AttackInfo] = &[&INFO];

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CleanLabelConfig {
    pub trigger: Trigger,
    pub target: usize,
    /// Fraction of the whole training set poisoned (all drawn from the target class).
    pub rate: f64,
    /// L∞ budget of the adversarial perturbation.
    pub eps: f32,
    pub steps: usize,
}

impl Default for CleanLabelConfig {
    fn default() -> Self {
        CleanLabelConfig {
            trigger: Trigger::corner_patch(3, 1.0),
            target: 0,
            rate: 0.05,
            eps: 0.3,
            steps: 40,
        }
    }
}

/// Poisons target-class examples of `train` with PGD against `surrogate` and the trigger.
pub fn poison(
    train: &Dataset,
    config: &CleanLabelConfig,
    surrogate: &dyn Classifier,
    seed: u64,
) -> Result<Poisoned, String> {
    if config.target >= train.num_classes {
        return Err(format!(
            "--target {} is not a class of {} (0..{})",
            config.target, train.name, train.num_classes
        ));
    }
    if !(0.0..=1.0).contains(&config.rate) {
        return Err(format!("--rate must lie in [0, 1], got {}", config.rate));
    }
    let mut candidates: Vec<usize> = (0..train.len())
        .filter(|&i| train.y[i] == config.target)
        .collect();
    let want = ((config.rate * train.len() as f64).round() as usize).min(candidates.len());
    let mut rng = Rng::derive(seed, "clean-label-choice");
    rng.shuffle(&mut candidates);
    candidates.truncate(want);
    candidates.sort_unstable();
    let chosen = train.subset(&candidates);
    let pgd = (crate::registry::find_evasion("pgd")
        .expect("PGD is registered")
        .build)(&EvasionParams {
        eps: Some(config.eps),
        norm: Some(Norm::Linf),
        steps: Some(config.steps),
        ..EvasionParams::default()
    })
    .map_err(|e| e.to_string())?;
    let task = EvasionTask {
        model: surrogate,
        x: &chosen.x,
        y: &chosen.y,
        clip: train.input_range,
        target: None,
        seed,
        stopped: Default::default(),
    };
    let outcome = evasion::run(pgd.as_ref(), &task).map_err(|e| e.to_string())?;
    let f = train.features();
    let mut out = train.clone();
    for (k, &i) in candidates.iter().enumerate() {
        let mut row = outcome.adversarial[k * f..(k + 1) * f].to_vec();
        config.trigger.apply(&mut row, &train.sample_shape);
        if let Some(r) = train.input_range {
            row.iter_mut().for_each(|v| *v = v.clamp(r.lo, r.hi));
        }
        out.x[i * f..(i + 1) * f].copy_from_slice(&row);
        // The label stays the true one: that is the point.
    }
    Ok(Poisoned {
        train: out,
        poisoned: candidates,
    })
}
