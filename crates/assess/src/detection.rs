//! Detection defences measured against an attack's outcome, non-adaptive and adaptive.

use aisec_atlas::KnowledgeBase;
use aisec_attacks::evasion::Norm;
use aisec_attacks::AttackOutcome;
use aisec_core::{AtlasRef, Finding, Metrics, Severity};
use aisec_core::{Details, Metric};
use aisec_defenses::feature_squeezing::{self, DetectionReport, FeatureSqueezing, SqueezeConfig};
use aisec_defenses::Defense;
use aisec_ml::data::{Dataset, InputRange};
use aisec_ml::model::Classifier;
use aisec_report::{RunKind, RunReport};
use serde::Serialize;

use crate::findings::mitigation_refs;
use crate::Result;

fn metrics_of(r: &DetectionReport) -> Metrics {
    let mut m = Metrics::default();
    for (k, v) in [
        (Metric::DetectionRecall, r.detection_recall),
        (Metric::DetectionPrecision, r.detection_precision),
        (Metric::FalsePositiveRate, r.false_positive_rate),
        (Metric::Auc, r.auc),
    ] {
        m.insert(k, v).expect("detection figures are fractions");
    }
    m
}

/// What the detector caught: the plain attack's examples and, where one ran, those of the
/// attack that knows the squeezers.
#[derive(Debug, Clone, Serialize)]
pub struct DetectionObservations {
    pub non_adaptive: DetectionReport,
    pub adaptive: Option<AdaptiveDetection>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AdaptiveDetection {
    pub attack: String,
    pub report: DetectionReport,
    pub metrics: Metrics,
}

/// Feature squeezing against `outcome`'s adversarial examples of `data`. The threshold is
/// calibrated at the configured false-positive rate (4% by default) on the first half of the clean inputs and the false-positive rate is
/// measured on the second half. When the model offers gradients and the attack had an L∞
/// budget, the adaptive attack (which knows the squeezers) is run at the same budget.
pub fn feature_squeezing_report(
    model: &dyn Classifier,
    data: &Dataset,
    outcome: &AttackOutcome,
    config: SqueezeConfig,
    kb: &KnowledgeBase,
    seed: u64,
) -> Result<RunReport> {
    let range = data.input_range.unwrap_or(InputRange { lo: 0.0, hi: 1.0 });
    let f = data.features();
    let half = data.len() / 2;
    let calibration: Vec<f32> = data.x[..half * f].to_vec();
    let held_out: Vec<f32> = data.x[half * f..].to_vec();
    let detector = FeatureSqueezing::calibrate(
        model,
        FeatureSqueezing::default_squeezers(),
        &calibration,
        range,
        config.target_false_positive_rate,
    )?;
    let successful: Vec<f32> = outcome
        .examples
        .iter()
        .enumerate()
        .filter(|(_, e)| e.success)
        .flat_map(|(i, _)| outcome.adversarial[i * f..(i + 1) * f].to_vec())
        .collect();
    let plain = detector.evaluate(model, &held_out, &successful)?;
    let eps = outcome
        .budget
        .eps
        .map(f64::from)
        .filter(|_| outcome.budget.norm == Norm::Linf);
    let adaptive = match (model.gradients(), eps) {
        (Some(_), Some(eps)) => {
            let adv = detector.adaptive_attack(
                model,
                &data.x,
                &data.y,
                eps as f32,
                config.adaptive_steps,
                seed,
            )?;
            let predicted = model.evaluate(&adv)?;
            let fooled: Vec<f32> = predicted
                .iter()
                .zip(&data.y)
                .enumerate()
                .filter(|(_, (p, y))| p != y)
                .flat_map(|(i, _)| adv[i * f..(i + 1) * f].to_vec())
                .collect();
            Some(detector.evaluate(model, &held_out, &fooled)?)
        }
        _ => None,
    };
    let mut findings = Vec::new();
    let technique = |id: &str| AtlasRef::parse(id).expect("a valid ATLAS ID");
    if let Some(a) = &adaptive {
        let severity = if a.detection_recall < 0.5 {
            Severity::High
        } else {
            Severity::Medium
        };
        let mut finding = Finding::new(
            format!(
                "Feature squeezing detects {:.1}% of plain {} examples but only {:.1}% of an adaptive attack that knows the squeezers ({} inputs fooled)",
                100.0 * plain.detection_recall,
                outcome.name,
                100.0 * a.detection_recall,
                a.adversarial_examples
            ),
            severity,
            vec![technique("AML.T0043.000"), technique("AML.T0015")],
        );
        finding.mitigations = mitigation_refs(kb, &["AML.M0003", "AML.M0015"]);
        finding.evidence.metrics = metrics_of(a);
        findings.push(finding);
    }
    Ok(RunReport::new(
        RunKind::Defense,
        feature_squeezing::INFO.name,
        &outcome.atlas,
        format!("{} behind feature squeezing", model.info().description),
        Details::new(detector.clone()),
        seed,
        metrics_of(&plain),
    )
    .with_data(format!(
        "{} ({} calibration, {} held-out clean inputs; {} successful adversarial examples)",
        data.name,
        half,
        data.len() - half,
        plain.adversarial_examples
    ))
    .with_observations(Details::new(DetectionObservations {
        non_adaptive: plain,
        adaptive: adaptive.map(|a| AdaptiveDetection {
            attack: format!(
                "L∞ PGD, {} steps, straight-through squeezers, detector-score term",
                config.adaptive_steps
            ),
            metrics: metrics_of(&a),
            report: a,
        }),
    }))
    .with_findings(findings)
    .with_defense(config.reference()))
}
