//! Feature squeezing (Xu, Evans & Qi, "Feature Squeezing: Detecting Adversarial Examples in
//! Deep Neural Networks", NDSS 2018): an input is flagged when the model's probabilities on it
//! and on a squeezed copy differ too much (the largest L1 distance over the squeezers). The
//! squeezers here are bit-depth reduction and a median filter; the threshold is the clean
//! score quantile that gives the chosen false-positive rate on held-out clean data (not
//! training data, on which the model is overconfident).
//!
//! Measured with both a non-adaptive attack (PGD unaware of the detector) and an adaptive one
//! that knows the squeezers: it pushes the input and every squeezed copy to the same target
//! class, differentiating through the squeezers with the straight-through (BPDA)
//! approximation (Athalye, Carlini & Wagner 2018).
//!
//! ATLAS: AML.M0015 Adversarial Input Detection, lifecycle phase Deployment.

use aisec_ml::data::InputRange;
use aisec_ml::model::{Classifier, QueryOutput};
use aisec_ml::MlError;
use serde::{Deserialize, Serialize};

use crate::defense::{Role, Action, AppliesTo, DefenseInfo, Family};

mod adaptive;

pub const INFO: DefenseInfo = DefenseInfo {
    name: "defense.feature-squeezing",
    summary: "Feature squeezing: flag inputs whose prediction moves when bit depth is reduced or a median filter applied (Xu et al. 2018)",
    mitigations: &["AML.M0015"],
    phases: &["Deployment"],
    applies_to: AppliesTo::Inputs,
    action: Action::Filter,
    role: Role::Detector,
    families: &[Family::Evasion],
    measured_by: &["evasion.fgsm", "evasion.pgd", "evasion.apgd-ce"],
    adaptive_attack: Some("L∞ PGD through straight-through (BPDA) squeezers with a detector-score term"),
    forms: &["squeeze"],
};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "size")]
pub enum Squeezer {
    /// Quantise each value to 2^bits levels over the input range.
    BitDepth(u32),
    /// Median over a k×k neighbourhood (edges replicated).
    Median(usize),
}

impl Squeezer {
    /// Squeezes one flattened input of shape C×H×W.
    pub fn apply(self, x: &[f32], shape: [usize; 3], range: InputRange) -> Vec<f32> {
        match self {
            Squeezer::BitDepth(bits) => {
                let levels = ((1u32 << bits) - 1) as f32;
                x.iter()
                    .map(|v| {
                        let t = ((v - range.lo) / (range.hi - range.lo)).clamp(0.0, 1.0);
                        range.lo + (t * levels).round() / levels * (range.hi - range.lo)
                    })
                    .collect()
            }
            Squeezer::Median(k) => {
                let [c, h, w] = shape;
                let mut out = vec![0.0; x.len()];
                let mut window = Vec::with_capacity(k * k);
                for ch in 0..c {
                    for r in 0..h {
                        for col in 0..w {
                            window.clear();
                            for dr in 0..k {
                                for dc in 0..k {
                                    let rr = (r + dr).saturating_sub(k / 2).min(h - 1);
                                    let cc = (col + dc).saturating_sub(k / 2).min(w - 1);
                                    window.push(x[ch * h * w + rr * w + cc]);
                                }
                            }
                            window.sort_by(f32::total_cmp);
                            // For even windows, the lower median (as scipy's median filter).
                            out[ch * h * w + r * w + col] = window[(window.len() - 1) / 2];
                        }
                    }
                }
                out
            }
        }
    }
}

/// The detector: squeezers and the calibrated threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeatureSqueezing {
    pub squeezers: Vec<Squeezer>,
    pub threshold: f32,
    pub target_false_positive_rate: f32,
    #[serde(skip)]
    shape: [usize; 3],
    #[serde(skip)]
    range: InputRange,
}

/// How the detector fares against one set of adversarial examples.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetectionReport {
    /// Share of successful adversarial examples flagged.
    pub detection_recall: f64,
    pub detection_precision: f64,
    /// Share of clean test inputs flagged.
    pub false_positive_rate: f64,
    /// ROC AUC of the score, clean against successful adversarial.
    pub auc: f64,
    pub adversarial_examples: usize,
    pub clean_examples: usize,
    /// ROC curve as (false-positive rate, detection rate) points, threshold descending.
    pub roc: Vec<(f64, f64)>,
}

fn roc_curve(clean: &[f32], adversarial: &[f32]) -> Vec<(f64, f64)> {
    if clean.is_empty() || adversarial.is_empty() {
        return Vec::new();
    }
    let mut thresholds: Vec<f32> = clean.iter().chain(adversarial).copied().collect();
    thresholds.sort_by(|a, b| b.total_cmp(a));
    thresholds.dedup();
    let mut points = vec![(0.0, 0.0)];
    for t in thresholds {
        let fpr = clean.iter().filter(|s| **s >= t).count() as f64 / clean.len() as f64;
        let tpr = adversarial.iter().filter(|s| **s >= t).count() as f64 / adversarial.len() as f64;
        points.push((fpr, tpr));
    }
    points.push((1.0, 1.0));
    points.dedup();
    points
}

/// Per input, takes `candidate`'s point when its score beats the best so far.
fn keep_lower(
    best: &mut [f32],
    best_score: &mut [f32],
    candidate: &[f32],
    scores: &[f32],
    f: usize,
) {
    for (i, (score, kept)) in scores.iter().zip(best_score.iter_mut()).enumerate() {
        if score < kept {
            *kept = *score;
            best[i * f..(i + 1) * f].copy_from_slice(&candidate[i * f..(i + 1) * f]);
        }
    }
}

/// Adversarial points (flattened) and, per input, the detector score of the kept point.
type PointsAndScores = (Vec<f32>, Vec<f32>);

fn image_shape(shape: &[usize]) -> Result<[usize; 3], MlError> {
    match shape {
        [c, h, w] => Ok([*c, *h, *w]),
        [h, w] => Ok([1, *h, *w]),
        other => Err(MlError::Invalid(format!(
            "feature squeezing squeezes images (C×H×W); the model takes {other:?}"
        ))),
    }
}

fn probabilities(model: &dyn Classifier, x: &[f32]) -> Result<Vec<f32>, MlError> {
    let classes = model.info().num_classes;
    match model
        .scores(x)?
        .restrict(aisec_ml::model::OutputKind::Probabilities, classes)
    {
        QueryOutput::Probabilities(p) => Ok(p),
        _ => Err(MlError::Invalid(
            "feature squeezing needs the model's probabilities".into(),
        )),
    }
}

impl FeatureSqueezing {
    /// Calibrates the threshold on clean inputs so that `false_positive_rate` of them are flagged.
    pub fn calibrate(
        model: &dyn Classifier,
        squeezers: Vec<Squeezer>,
        clean: &[f32],
        range: InputRange,
        false_positive_rate: f32,
    ) -> Result<Self, MlError> {
        let shape = image_shape(&model.info().input_shape)?;
        let mut detector = FeatureSqueezing {
            squeezers,
            threshold: 0.0,
            target_false_positive_rate: false_positive_rate,
            shape,
            range,
        };
        let mut scores = detector.scores(model, clean)?;
        scores.sort_by(f32::total_cmp);
        let index = (((1.0 - false_positive_rate) * scores.len() as f32).ceil() as usize)
            .min(scores.len().saturating_sub(1));
        detector.threshold = *scores.get(index).ok_or_else(|| {
            MlError::Invalid(
                "feature squeezing needs clean inputs to calibrate its threshold on; none were given"
                    .into(),
            )
        })?;
        Ok(detector)
    }

    /// The default squeezer: 3-bit depth. On 8×8 digits a 2×2 median filter changes clean
    /// predictions so often that its clean scores sit near the maximum and it detects nothing
    /// at 5% false positives (measured: detection 0.7%); it stays available as a squeezer.
    pub fn default_squeezers() -> Vec<Squeezer> {
        vec![Squeezer::BitDepth(3)]
    }

    /// Score of each input: the largest L1 distance between the probabilities on it and on a
    /// squeezed copy.
    pub fn scores(&self, model: &dyn Classifier, x: &[f32]) -> Result<Vec<f32>, MlError> {
        let f = model.info().features();
        let classes = model.info().num_classes;
        let base = probabilities(model, x)?;
        let mut scores = vec![0.0f32; x.len() / f];
        for s in &self.squeezers {
            let squeezed: Vec<f32> = x
                .chunks(f)
                .flat_map(|row| s.apply(row, self.shape, self.range))
                .collect();
            let p = probabilities(model, &squeezed)?;
            for (i, score) in scores.iter_mut().enumerate() {
                let d: f32 = base[i * classes..(i + 1) * classes]
                    .iter()
                    .zip(&p[i * classes..(i + 1) * classes])
                    .map(|(a, b)| (a - b).abs())
                    .sum();
                *score = score.max(d);
            }
        }
        Ok(scores)
    }

    /// Detection figures for `adversarial` (only successful examples count) against clean inputs.
    pub fn evaluate(
        &self,
        model: &dyn Classifier,
        clean: &[f32],
        adversarial: &[f32],
    ) -> Result<DetectionReport, MlError> {
        let clean_scores = self.scores(model, clean)?;
        let adv_scores = if adversarial.is_empty() {
            Vec::new()
        } else {
            self.scores(model, adversarial)?
        };
        let flagged_adv = adv_scores.iter().filter(|s| **s > self.threshold).count();
        let flagged_clean = clean_scores.iter().filter(|s| **s > self.threshold).count();
        let recall = if adv_scores.is_empty() {
            0.0
        } else {
            flagged_adv as f64 / adv_scores.len() as f64
        };
        let fpr = flagged_clean as f64 / clean_scores.len().max(1) as f64;
        let precision = if flagged_adv + flagged_clean == 0 {
            0.0
        } else {
            flagged_adv as f64 / (flagged_adv + flagged_clean) as f64
        };
        // AUC as the probability that an adversarial score beats a clean one (ties count half).
        let mut wins = 0.0f64;
        for a in &adv_scores {
            for c in &clean_scores {
                wins += if a > c {
                    1.0
                } else if a == c {
                    0.5
                } else {
                    0.0
                };
            }
        }
        let auc = if adv_scores.is_empty() || clean_scores.is_empty() {
            0.0
        } else {
            wins / (adv_scores.len() * clean_scores.len()) as f64
        };
        Ok(DetectionReport {
            detection_recall: recall,
            detection_precision: precision,
            false_positive_rate: fpr,
            auc,
            adversarial_examples: adv_scores.len(),
            clean_examples: clean_scores.len(),
            roc: roc_curve(&clean_scores, &adv_scores),
        })
    }
}

/// What `--defend squeeze` configures: the detector's false-positive target on clean
/// held-out inputs; the squeezers are [`FeatureSqueezing::default_squeezers`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SqueezeConfig {
    pub target_false_positive_rate: f32,
    /// PGD steps of the adaptive attack (default 400).
    pub adaptive_steps: usize,
}

impl Default for SqueezeConfig {
    fn default() -> Self {
        SqueezeConfig {
            target_false_positive_rate: 0.04,
            adaptive_steps: 400,
        }
    }
}

/// `squeeze`.
pub fn parse_form(keyword: &str, argument: Option<&str>) -> Option<Result<crate::DefenseSpec, String>> {
    (keyword == "squeeze")
        .then(|| crate::registry::bare(argument, SqueezeConfig::default()))
}

pub const ENTRY: crate::registry::Entry = crate::registry::Entry {
    info: &INFO,
    parse: parse_form,
};

crate::defense::defense_from_config!(SqueezeConfig);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeezers() {
        let r = InputRange { lo: 0.0, hi: 1.0 };
        assert_eq!(
            Squeezer::BitDepth(1).apply(&[0.2, 0.6, 1.0], [1, 1, 3], r),
            vec![0.0, 1.0, 1.0]
        );
        let img = [0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0];
        let med = Squeezer::Median(3).apply(&img, [1, 3, 3], r);
        assert_eq!(med[4], 0.0);
        assert_eq!(med.len(), 9);
    }
}
