//! Fast Gradient Sign Method (Goodfellow, Shlens & Szegedy, "Explaining and Harnessing
//! Adversarial Examples", ICLR 2015): one step of size ε along the sign of the loss gradient
//! (L∞), or along the normalised gradient (L2).
//!
//! ATLAS: AML.T0043.000 Craft Adversarial Data: White-Box Optimization; AML.T0015 Evade AI
//! Model. Needs gradient access.

use serde::{Deserialize, Serialize};

use super::gradient::{ascend, in_batches, project, GradientOracle, Norm};
use super::{EvasionAttack, EvasionParams, EvasionTask};
use crate::{Access, AttackInfo, Result};

pub const INFO: AttackInfo = AttackInfo {
    name: "evasion.fgsm",
    aliases: &["fgsm"],
    summary: "Fast Gradient Sign Method: one gradient step of size ε (Goodfellow et al. 2015)",
    access: Access::WhiteBox,
    atlas: &["AML.T0043.000", "AML.T0015"],
};

pub const ENTRY: crate::registry::EvasionEntry = crate::registry::EvasionEntry {
    info: &INFO,
    reads: &[],
    build: |p| Ok(Box::new(Fgsm(FgsmConfig::from_params(p)?))),
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FgsmConfig {
    /// Perturbation budget. Default 0.1 (L∞) or 1.0 (L2).
    #[serde(serialize_with = "aisec_core::serialize_f32_decimal")]
    pub eps: f32,
    /// Default L∞.
    pub norm: Norm,
}

impl FgsmConfig {
    pub fn from_params(p: &EvasionParams) -> Result<Self> {
        let (norm, eps) = p.norm_and_eps("evasion.fgsm")?;
        Ok(FgsmConfig { eps, norm })
    }
}

pub struct Fgsm(pub FgsmConfig);

impl EvasionAttack for Fgsm {
    crate::described_by!(INFO, 0);

    fn budget(&self) -> super::Budget {
        super::Budget { norm: self.0.norm, eps: Some(self.0.eps) }
    }

    fn perturb(&self, task: &EvasionTask) -> Result<Vec<f32>> {
        let oracle = GradientOracle::new(task.model, self.name())?;
        let f = oracle.features;
        let cfg = &self.0;
        in_batches(task.x, task.y, f, 256, oracle.concurrent(), |x, y, _| {
            let (_, grad, _) = oracle.objective_and_gradient(x, y, task.direction())?;
            let mut adv = x.to_vec();
            ascend(&mut adv, &grad, &vec![cfg.eps; y.len()], f, cfg.norm);
            project(&mut adv, x, cfg.eps, cfg.norm, task.clip, f);
            Ok(adv)
        })
    }
}
