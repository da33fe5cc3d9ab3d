//! LOSS / confidence thresholding (Yeom et al. 2018, "Privacy Risk in Machine Learning:
//! Analyzing the Connection to Overfitting"): members have lower loss, so the target's
//! confidence in the true label is the score. The baseline every other attack must beat;
//! it needs scores (probabilities, logits or a top-k). ATLAS AML.T0024.000 via AML.T0040.

use serde::Serialize;

use super::{target_confidences, MembershipAttack, MembershipEntry, MembershipTask, Scored};
use crate::extract::Oracle;
use crate::{Access, AttackInfo, Result};

pub const INFO: AttackInfo = AttackInfo {
    name: "membership.loss",
    aliases: &["loss", "yeom", "confidence"],
    summary: "LOSS: the target's confidence in the true label, thresholded (Yeom et al. 2018)",
    access: Access::ScoreBased,
    atlas: super::ATLAS,
};

pub const ENTRY: MembershipEntry = MembershipEntry {
    info: &INFO,
    reads: &[],
    build: |_| Ok(Box::new(Loss(LossConfig::default()))),
};

#[derive(Debug, Clone, Serialize)]
pub struct Loss(pub LossConfig);

/// LOSS has nothing to set: the statistic is fixed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LossConfig {}

impl MembershipAttack for Loss {
    crate::described_by!(INFO, 0);

    fn score(&self, task: &MembershipTask, oracle: &mut Oracle) -> Result<Scored> {
        // φ is monotone in p_y, and p_y in the loss −log p_y: the same ranking as the loss.
        let scores = target_confidences(INFO.name, oracle, task.candidates)?;
        Ok(Scored {
            scores,
            shadow_models: 0,
            shadow_train_size: 0,
            shadow_accuracy: None,
            observations: aisec_core::Details::new(super::Statistic {
                statistic: "logit-scaled confidence in the true label (same ranking as −loss)",
            }),
        })
    }
}
