//! Detection figures for a scored, labelled set: precision, recall, F1 and false-positive
//! rate at a threshold, ROC AUC over all thresholds, and the threshold that maximises F1 (the
//! rule a guard's threshold is chosen by, on validation data).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Figures {
    pub rows: usize,
    pub positives: usize,
    pub threshold: f64,
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
    pub true_negatives: usize,
    /// None when nothing was flagged.
    pub precision: Option<f64>,
    /// None when the set has no positives.
    pub recall: Option<f64>,
    pub f1: Option<f64>,
    /// None when the set has no negatives.
    pub false_positive_rate: Option<f64>,
    /// None unless both classes are present.
    pub auc: Option<f64>,
}

fn ratio(a: usize, b: usize) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// A row is flagged when its score is at least `threshold`.
pub fn figures(scores: &[f64], labels: &[u8], threshold: f64) -> Figures {
    let mut c = [[0usize; 2]; 2]; // [label][flagged]
    for (&s, &l) in scores.iter().zip(labels) {
        c[l as usize][usize::from(s >= threshold)] += 1;
    }
    let (tp, fp, fn_, tn) = (c[1][1], c[0][1], c[1][0], c[0][0]);
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    let f1 = match (precision, recall) {
        (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
        (Some(_), Some(_)) => Some(0.0),
        _ => None,
    };
    Figures {
        rows: scores.len(),
        positives: tp + fn_,
        threshold,
        true_positives: tp,
        false_positives: fp,
        false_negatives: fn_,
        true_negatives: tn,
        precision,
        recall,
        f1,
        false_positive_rate: ratio(fp, fp + tn),
        auc: auc(scores, labels),
    }
}

/// ROC AUC by the rank-sum (Mann–Whitney) formula, ties counted half.
pub fn auc(scores: &[f64], labels: &[u8]) -> Option<f64> {
    let pos = labels.iter().filter(|&&l| l == 1).count();
    let neg = labels.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            if labels[k] == 1 {
                rank_sum += mid;
            }
        }
        i = j + 1;
    }
    Some((rank_sum - (pos * (pos + 1)) as f64 / 2.0) / (pos * neg) as f64)
}

/// The threshold (one of the scores) with the highest F1; ties go to the higher threshold,
/// which flags less. Candidates are midpoints between neighbouring distinct scores.
pub fn best_f1_threshold(scores: &[f64], labels: &[u8]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let pos = labels.iter().filter(|&&l| l == 1).count();
    let (mut tp, mut fp) = (0usize, 0usize);
    let (mut best_f1, mut best_t) = (-1.0, 0.5);
    let mut i = 0;
    while i < order.len() {
        let s = scores[order[i]];
        while i < order.len() && scores[order[i]] == s {
            if labels[order[i]] == 1 {
                tp += 1
            } else {
                fp += 1
            }
            i += 1;
        }
        let f1 = if tp == 0 {
            0.0
        } else {
            2.0 * tp as f64 / (2 * tp + fp + (pos - tp)) as f64
        };
        if f1 > best_f1 {
            best_f1 = f1;
            let next = order.get(i).map(|&k| scores[k]).unwrap_or(0.0);
            best_t = (s + next) / 2.0;
        }
    }
    best_t
}

/// A 95% percentile-bootstrap interval for F1 (rows resampled with replacement, `draws`
/// times, from a fixed seed): how much of a difference between two detectors is noise.
pub fn f1_interval(
    scores: &[f64],
    labels: &[u8],
    threshold: f64,
    draws: usize,
    seed: u64,
) -> Option<(f64, f64)> {
    let n = scores.len();
    if n == 0 {
        return None;
    }
    let mut state = seed;
    let mut next = || (crate::context::splitmix(&mut state) % n as u64) as usize;
    let mut f1s: Vec<f64> = (0..draws)
        .map(|_| {
            let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
            for _ in 0..n {
                let k = next();
                match (scores[k] >= threshold, labels[k] == 1) {
                    (true, true) => tp += 1,
                    (true, false) => fp += 1,
                    (false, true) => fn_ += 1,
                    _ => {}
                }
            }
            if tp == 0 {
                0.0
            } else {
                2.0 * tp as f64 / (2 * tp + fp + fn_) as f64
            }
        })
        .collect();
    f1s.sort_by(f64::total_cmp);
    let q = |p: f64| f1s[((draws - 1) as f64 * p).round() as usize];
    Some((q(0.025), q(0.975)))
}

/// Latency quantiles in microseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Latency {
    pub samples: usize,
    pub p50_us: f64,
    pub p99_us: f64,
    pub mean_us: f64,
}

pub fn latency(mut micros: Vec<f64>) -> Option<Latency> {
    if micros.is_empty() {
        return None;
    }
    micros.sort_by(f64::total_cmp);
    let q = |p: f64| micros[((micros.len() - 1) as f64 * p).round() as usize];
    Some(Latency {
        samples: micros.len(),
        p50_us: q(0.5),
        p99_us: q(0.99),
        mean_us: micros.iter().sum::<f64>() / micros.len() as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_auc_and_threshold_on_a_hand_checked_case() {
        let scores = [0.9, 0.8, 0.7, 0.6, 0.2, 0.1];
        let labels = [1, 1, 0, 1, 0, 0];
        let f = figures(&scores, &labels, 0.5);
        assert_eq!(
            (f.true_positives, f.false_positives, f.false_negatives),
            (3, 1, 0)
        );
        assert_eq!(f.precision, Some(0.75));
        assert_eq!(f.recall, Some(1.0));
        assert_eq!(f.false_positive_rate, Some(1.0 / 3.0));
        // 8 of the 9 positive–negative pairs are ordered correctly.
        assert!((f.auc.unwrap() - 8.0 / 9.0).abs() < 1e-12);
        let t = best_f1_threshold(&scores, &labels);
        assert!((0.2..0.6).contains(&t), "{t}");
        // All positives: recall is defined, FPR and AUC are not.
        let only = figures(&[0.9, 0.1], &[1, 1], 0.5);
        assert_eq!(only.recall, Some(0.5));
        assert_eq!(only.false_positive_rate, None);
        assert_eq!(only.auc, None);
    }
}
