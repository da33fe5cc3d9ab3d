//! The assessor's view of a membership attack: a ROC curve over the candidates, AUC, the
//! true-positive rate at low false-positive rates (Carlini et al. 2022 argue this is the
//! figure that matters: an attack is a privacy risk when it identifies some members with
//! confidence, not when it is right on average), and the best balanced accuracy.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RocPoint {
    pub fpr: f64,
    pub tpr: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Roc {
    pub members: usize,
    pub non_members: usize,
    pub auc: f64,
    /// Highest TPR among thresholds whose FPR is at most 0.1%; with fewer than 1,000
    /// non-members that means no false positive at all.
    pub tpr_at_0_1pct_fpr: f64,
    pub tpr_at_1pct_fpr: f64,
    /// Best (TPR + TNR) / 2 over thresholds.
    pub balanced_accuracy: f64,
    /// The false positives each low-FPR figure allows: ⌊FPR · non-members⌋.
    pub false_positives_allowed_at_0_1pct: usize,
    pub false_positives_allowed_at_1pct: usize,
    /// The curve, one point per distinct score (thinned to at most 200 for reports).
    pub curve: Vec<RocPoint>,
}

impl Roc {
    /// `scores[i]` is higher when candidate `i` looks like a member; `member[i]` is the truth.
    /// Tied scores move together (no threshold separates them).
    pub fn new(scores: &[f64], member: &[bool]) -> Roc {
        let members = member.iter().filter(|m| **m).count();
        let non_members = member.len() - members;
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        let (p, n) = (members.max(1) as f64, non_members.max(1) as f64);
        let mut curve = vec![RocPoint { fpr: 0.0, tpr: 0.0 }];
        let (mut tp, mut fp) = (0usize, 0usize);
        let mut i = 0;
        while i < order.len() {
            let s = scores[order[i]];
            while i < order.len() && scores[order[i]].total_cmp(&s).is_eq() {
                if member[order[i]] {
                    tp += 1;
                } else {
                    fp += 1;
                }
                i += 1;
            }
            curve.push(RocPoint {
                fpr: fp as f64 / n,
                tpr: tp as f64 / p,
            });
        }
        let auc = curve
            .windows(2)
            .map(|w| (w[1].fpr - w[0].fpr) * (w[1].tpr + w[0].tpr) / 2.0)
            .sum();
        let tpr_at = |limit: f64| {
            curve
                .iter()
                .filter(|c| c.fpr <= limit + 1e-12)
                .map(|c| c.tpr)
                .fold(0.0, f64::max)
        };
        let balanced_accuracy = curve
            .iter()
            .map(|c| (c.tpr + 1.0 - c.fpr) / 2.0)
            .fold(0.5, f64::max);
        Roc {
            members,
            non_members,
            auc,
            tpr_at_0_1pct_fpr: tpr_at(0.001),
            tpr_at_1pct_fpr: tpr_at(0.01),
            balanced_accuracy,
            false_positives_allowed_at_0_1pct: (0.001 * non_members as f64).floor() as usize,
            false_positives_allowed_at_1pct: (0.01 * non_members as f64).floor() as usize,
            curve: thin(curve, 200),
        }
    }
}

/// Keeps the low-FPR end whole (it is what the log–log plot shows) and samples the rest.
fn thin(curve: Vec<RocPoint>, most: usize) -> Vec<RocPoint> {
    if curve.len() <= most {
        return curve;
    }
    let step = curve.len() as f64 / most as f64;
    let mut out: Vec<RocPoint> = (0..most)
        .map(|k| curve[(k as f64 * step) as usize])
        .collect();
    out.extend(curve.iter().filter(|c| c.fpr <= 0.01).copied());
    out.push(*curve.last().expect("not empty"));
    out.sort_by(|a, b| a.fpr.total_cmp(&b.fpr).then(a.tpr.total_cmp(&b.tpr)));
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_and_useless_scores() {
        let member = [true, true, false, false];
        let perfect = Roc::new(&[0.9, 0.8, 0.2, 0.1], &member);
        assert_eq!(perfect.auc, 1.0);
        assert_eq!(perfect.tpr_at_1pct_fpr, 1.0);
        assert_eq!(perfect.balanced_accuracy, 1.0);
        let tied = Roc::new(&[0.5; 4], &member);
        assert_eq!(tied.auc, 0.5);
        assert_eq!(
            tied.tpr_at_1pct_fpr, 0.0,
            "a tie cannot be split to buy TPR"
        );
        let inverted = Roc::new(&[0.1, 0.2, 0.8, 0.9], &member);
        assert_eq!(inverted.auc, 0.0);
    }
}
