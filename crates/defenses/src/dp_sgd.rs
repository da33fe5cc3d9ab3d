//! DP-SGD as a defence against membership inference (Abadi et al. 2016): the target is
//! retrained on the same members with per-example clipping and Gaussian noise calibrated by
//! the RDP accountant to a target ε (or with a given noise multiplier), and the same
//! membership attack is run again with the same seeds. The adversary trains its shadow and
//! reference models with the same DP-SGD settings (it knows the training algorithm, as LiRA's
//! threat model assumes), so the re-run is the recipe-aware attack, not a naive one.
//!
//! ATLAS has no differential-privacy mitigation; aisec files DP-SGD under AML.M0003 Model
//! Hardening (a change to training that makes the model less sensitive to any one record,
//! applied in ML Model Engineering), the closest of the ATLAS mitigations, and says so in
//! every report.

use std::sync::Arc;

use aisec_attacks::membership::{Recipe, Trainer};
use aisec_ml::data::Dataset;
use aisec_ml::net::{Architecture, Network};
use serde::Serialize;

use crate::defense::DefenseInfo;
use crate::dp::sgd::{self, DpSgdConfig, DpSgdError};
use crate::registry::DefenseSpec;

pub const INFO: DefenseInfo = DefenseInfo {
    name: "defense.dp-sgd",
    summary: "DP-SGD: retrain with per-example clipping and Gaussian noise calibrated to (ε, δ) by the RDP accountant (Abadi et al. 2016)",
    adaptive_attack: Some(
        "the same attack with shadow and reference models trained by DP-SGD with the target's settings",
    ),
    forms: &["dp-sgd", "dp-sgd:EPSILON"],
    ..crate::defense::PRIVACY_RETRAINING
};

/// The defence's settings: a target ε (the noise is calibrated to it) or a fixed σ.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DpSgdDefense {
    /// ε to spend at `training.delta`; `None` when the noise multiplier is given instead.
    pub target_epsilon: Option<f64>,
    pub training: DpSgdConfig,
}

impl Default for DpSgdDefense {
    fn default() -> Self {
        DpSgdDefense {
            target_epsilon: Some(8.0),
            training: DpSgdConfig::default(),
        }
    }
}

impl DpSgdDefense {
    /// The training settings for `records` members: σ calibrated when a target ε is set.
    pub fn config_for(&self, records: usize) -> Result<DpSgdConfig, DpSgdError> {
        match self.target_epsilon {
            Some(eps) => Ok(self.training.clone().calibrated(records, eps)?),
            None => Ok(self.training.clone()),
        }
    }
}

/// `dp-sgd` (ε = 8) or `dp-sgd:EPSILON`.
pub fn parse_form(keyword: &str, argument: Option<&str>) -> Option<Result<DefenseSpec, String>> {
    if keyword != "dp-sgd" {
        return None;
    }
    let config = match argument {
        None => Ok(DpSgdDefense::default()),
        some => crate::registry::number(some, "EPSILON > 0 (the privacy budget at δ = 1e-5)", |e: &f64| {
            e.is_finite() && *e > 0.0
        })
        .map(|eps| DpSgdDefense {
            target_epsilon: Some(eps),
            ..DpSgdDefense::default()
        }),
    };
    Some(config.map(DefenseSpec::new))
}

pub const ENTRY: crate::registry::Entry = crate::registry::Entry {
    info: &INFO,
    parse: parse_form,
};

crate::defense::defense_from_config!(DpSgdDefense, {
    fn privacy_retraining(&self) -> Option<&dyn crate::defense::PrivacyRetraining> {
        Some(self)
    }
});

impl crate::defense::PrivacyRetraining for DpSgdDefense {
    fn recipe(&self, base: &Recipe) -> Result<Recipe, String> {
        if base.architecture == Architecture::Cnn {
            return Err(DpSgdError::Architecture("cnn").to_string());
        }
        let config = self.config_for(base.train_size).map_err(|e| e.to_string())?;
        Ok(Recipe {
            trainer: Some(DpTrainer::shared(config)),
            ..base.clone()
        })
    }

    fn observed(&self, base: &Recipe) -> Option<aisec_core::Details> {
        let config = self.config_for(base.train_size).ok()?;
        let setting = config.setting(base.train_size);
        Some(match crate::dp::epsilon(&setting, config.delta) {
            Ok(spent) => aisec_core::Details::new(PrivacySpent {
                epsilon: spent.epsilon,
                delta: spent.delta,
                noise_multiplier: setting.noise_multiplier,
                sampling_rate: setting.sampling_rate,
                steps: setting.steps,
                max_grad_norm: config.max_grad_norm,
                accountant: "rdp",
                mitigation_note: MITIGATION_NOTE,
            }),
            Err(e) => aisec_core::Details::new(AccountantFailed {
                accountant_error: e.to_string(),
            }),
        })
    }
}

/// Why the report files DP-SGD where it does.
pub const MITIGATION_NOTE: &str =
    "ATLAS names no differential-privacy mitigation; DP-SGD is filed under AML.M0003 Model Hardening";

/// The privacy a DP-SGD training spent, by the RDP accountant, and the setting that spent it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrivacySpent {
    pub epsilon: f64,
    pub delta: f64,
    pub noise_multiplier: f64,
    pub sampling_rate: f64,
    pub steps: u64,
    pub max_grad_norm: f32,
    pub accountant: &'static str,
    pub mitigation_note: &'static str,
}

/// What one DP-SGD training spent and how its batches went (`aisec defend dp-sgd`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DpTrainingSpent {
    pub epsilon: f64,
    pub delta: f64,
    pub rdp_order: f64,
    pub noise_multiplier: f64,
    pub sampling_rate: f64,
    pub steps: u64,
    pub clipped_fraction: f64,
    pub mean_batch_size: f64,
}

/// The accountant could not bound the training's privacy loss.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountantFailed {
    pub accountant_error: String,
}

/// DP-SGD with fixed settings, as the adversary's shadow models are trained.
pub struct DpTrainer(pub DpSgdConfig);

impl Trainer for DpTrainer {
    fn name(&self) -> &'static str {
        INFO.name
    }

    fn train(
        &self,
        architecture: Architecture,
        data: &Dataset,
        seed: u64,
    ) -> aisec_attacks::Result<Network> {
        sgd::train(architecture, data, &self.0, seed)
            .map(|(net, _)| net)
            .map_err(|e| aisec_attacks::AttackError::Config {
                attack: "membership shadow training",
                message: e.to_string(),
            })
    }
}

impl DpTrainer {
    pub fn shared(config: DpSgdConfig) -> Arc<dyn Trainer> {
        Arc::new(DpTrainer(config))
    }
}
