//! Model inversion as a report: each reconstruction compared with the assessor's data
//! (nearest class mean, nearest record), the share of classes reconstructed recognisably as
//! the attack's success rate, and a finding.

use aisec_atlas::KnowledgeBase;
use aisec_attacks::inversion::mi_face::{self, GradientSource, Inversion, Inverted, MiFaceConfig};
use aisec_attacks::inversion::{self, resemblance, Resemblance};
use aisec_core::{Details, Metric, Metrics, Severity};
use aisec_ml::data::{Dataset, InputRange};
use aisec_report::{RunKind, RunReport};
use serde::Serialize;

use crate::membership::privacy_finding;

/// What an inversion run observed: the reconstructions and how each compares with the
/// assessor's data.
#[derive(Debug, Clone, Serialize)]
pub struct InversionObservations {
    /// The range the reconstructions were kept in.
    pub input_range: InputRange,
    pub gradients: GradientSource,
    pub steps: usize,
    pub steps_done: usize,
    pub stopped: Option<String>,
    pub shape: Vec<usize>,
    pub images: Vec<Inverted>,
    pub resemblance: Vec<Resemblance>,
}

/// The run's report and each reconstruction's comparison with `assessor` (the training
/// split the assessor holds).
#[allow(clippy::too_many_arguments)]
pub fn mi_face_report(
    out: &Inversion,
    config: &MiFaceConfig,
    assessor: &Dataset,
    target: &str,
    range: InputRange,
    seed: u64,
    kb: &KnowledgeBase,
) -> (RunReport, Vec<Resemblance>) {
    let compared: Vec<Resemblance> = out
        .images
        .iter()
        .map(|i| resemblance(&i.image, i.class, i.confidence, assessor))
        .collect();
    let recognisable = compared
        .iter()
        .filter(|r| r.nearest_class_mean == r.class)
        .count();
    let share = recognisable as f64 / compared.len().max(1) as f64;
    let mut metrics = Metrics::default();
    // A share of classes and a query count: finite and in range by construction.
    let _ = metrics.insert(Metric::AttackSuccessRate, share);
    let _ = metrics.insert(Metric::QueriesTotal, out.queries as f64);
    let severity = match share {
        s if s >= 0.8 => Severity::Medium,
        s if s > 0.0 => Severity::Low,
        _ => Severity::Info,
    };
    let mut title = format!(
        "{} reconstructs {recognisable} of {} classes recognisably (each nearer its own class's mean training input than any other's), {} gradients, {} queries",
        mi_face::INFO.name,
        compared.len(),
        match out.gradients {
            GradientSource::ZerothOrder => "estimated from scores",
            _ => "exact (white box)",
        },
        out.queries
    );
    if let Some(why) = &out.stopped {
        title.push_str(&format!(
            " — stopped after {} of {} steps ({why}): the images are where the ascent stood",
            out.steps_done, out.steps
        ));
    }
    let finding = privacy_finding(title, severity, inversion::ATLAS, metrics.clone(), kb);
    let report = RunReport::new(
        RunKind::Attack,
        mi_face::INFO.name,
        inversion::ATLAS,
        target,
        Details::new(config.clone()),
        seed,
        metrics,
    )
    .with_data(format!(
        "{} (training split, the assessor's comparison)",
        assessor.name
    ))
    .with_observations(Details::new(InversionObservations {
        input_range: range,
        gradients: out.gradients,
        steps: out.steps,
        steps_done: out.steps_done,
        stopped: out.stopped.clone(),
        shape: assessor.sample_shape.clone(),
        images: out.images.clone(),
        resemblance: compared.clone(),
    }))
    .with_findings(vec![finding]);
    (report, compared)
}
