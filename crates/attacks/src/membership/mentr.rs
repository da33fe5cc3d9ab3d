//! Modified prediction entropy (Song & Mittal 2021, "Systematic Evaluation of Privacy Risks
//! of Machine Learning Models", §3.2): members get confident, correct answers, so
//! Mentr(p, y) = −(1 − p_y)·log p_y − Σ_{i≠y} p_i·log(1 − p_i) is low for them; the score is
//! −Mentr. Unlike plain entropy it rises again when the model is confidently *wrong*, which a
//! member's answer rarely is. Thresholds per class (the paper's, learnt from shadow models)
//! are left to the ROC over all thresholds. Needs scores. ATLAS AML.T0024.000 via AML.T0040.

use serde::Serialize;

use super::{target_rows, MembershipAttack, MembershipEntry, MembershipTask, Scored};
use crate::extract::Oracle;
use crate::{Access, AttackInfo, Result};

pub const INFO: AttackInfo = AttackInfo {
    name: "membership.mentr",
    aliases: &["mentr", "modified-entropy"],
    summary: "Modified prediction entropy: low for confident, correct answers (Song & Mittal 2021)",
    access: Access::ScoreBased,
    atlas: super::ATLAS,
};

pub const ENTRY: MembershipEntry = MembershipEntry {
    info: &INFO,
    reads: &[],
    build: |_| Ok(Box::new(Mentr(MentrConfig::default()))),
};

#[derive(Debug, Clone, Serialize)]
pub struct Mentr(pub MentrConfig);

/// The statistic is fixed: nothing to set.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MentrConfig {}

/// −Mentr of one answer; NaN for an unanswered row. Probabilities are clamped away from 0
/// and 1 so that a saturated f32 answer stays finite.
pub fn negative_mentr(row: &[f32], label: usize) -> f64 {
    if row.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    let clamp = |v: f32| f64::from(v).clamp(1e-30, 1.0 - 1e-12);
    let py = clamp(row[label]);
    let mut m = -(1.0 - py) * py.ln();
    for (i, &p) in row.iter().enumerate() {
        if i != label {
            let p = clamp(p);
            m -= p * (1.0 - p).ln();
        }
    }
    -m
}

impl MembershipAttack for Mentr {
    crate::described_by!(INFO, 0);

    fn score(&self, task: &MembershipTask, oracle: &mut Oracle) -> Result<Scored> {
        let data = task.candidates;
        let rows = target_rows(INFO.name, oracle, data)?;
        let scores = rows
            .chunks(data.num_classes)
            .zip(&data.y)
            .map(|(row, &y)| negative_mentr(row, y))
            .collect();
        Ok(Scored {
            scores,
            shadow_models: 0,
            shadow_train_size: 0,
            shadow_accuracy: None,
            observations: aisec_core::Details::new(super::Statistic {
                statistic: "−Mentr(p, y), modified prediction entropy; higher for confident, correct answers",
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::negative_mentr;

    #[test]
    fn confident_and_correct_scores_highest_and_confidently_wrong_lowest() {
        let right = negative_mentr(&[0.98, 0.01, 0.01], 0);
        let unsure = negative_mentr(&[0.4, 0.3, 0.3], 0);
        let wrong = negative_mentr(&[0.01, 0.98, 0.01], 0);
        assert!(right > unsure && unsure > wrong, "{right} {unsure} {wrong}");
        // Plain entropy cannot tell the first from the third; Mentr can.
        assert!(negative_mentr(&[1.0, 0.0, 0.0], 0).is_finite());
        assert!(negative_mentr(&[f32::NAN, 0.5, 0.5], 0).is_nan());
    }
}
