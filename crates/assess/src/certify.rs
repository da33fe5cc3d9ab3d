//! The run object of a certification (`aisec defend certify`): the certified accuracy at
//! each radius, every input's certificate, and the empirical check of the certificates.

use aisec_atlas::KnowledgeBase;
use aisec_core::{AtlasRef, DefenseRef, Details, Evidence, Finding, Metric, Metrics, Severity};
use aisec_defenses::certify::{CertifyOutcome, INFO};
use aisec_report::{RunKind, RunReport};

use crate::findings::{mitigation_refs, trim_float};

/// The techniques a certificate bounds.
pub const ATLAS: &[&str] = &["AML.T0015", "AML.T0043"];

pub fn metrics(outcome: &CertifyOutcome) -> Metrics {
    let mut metrics = Metrics::default();
    let n = outcome.certificates.len().max(1) as f64;
    for (metric, value) in [
        (Metric::CleanAccuracy, outcome.base_accuracy),
        (Metric::CertifiedAccuracy, outcome.certified_accuracy()),
        (Metric::AbstainRate, outcome.abstentions as f64 / n),
        (Metric::MeanCertifiedRadius, outcome.mean_correct_radius()),
        (
            Metric::WallSeconds,
            outcome.wall_seconds + outcome.attack_check.as_ref().map_or(0.0, |c| c.seconds),
        ),
    ] {
        if let Err(e) = metrics.insert(metric, value) {
            tracing::warn!("{e}");
        }
    }
    metrics
}

/// "52% at 0, 40% at 0.25, …": the curve at a few radii, for titles.
pub fn curve_summary(outcome: &CertifyOutcome, points: usize) -> String {
    let curve = &outcome.curve;
    let every = curve.len().div_ceil(points.max(1)).max(1);
    curve
        .iter()
        .step_by(every)
        .map(|p| {
            format!(
                "{} at r = {}",
                aisec_core::pct(Some(p.certified_accuracy)),
                trim_float(p.radius)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn finding(outcome: &CertifyOutcome, kb: &KnowledgeBase, target: &str) -> Finding {
    let c = &outcome.config;
    let mut title = format!(
        "Randomized smoothing (σ = {}) certifies {} of {} inputs of {target} correct within an L2 radius (mean radius {:.3}; {}), each with failure probability α = {}; {} abstentions",
        trim_float(c.sigma as f64),
        outcome.certificates.iter().filter(|x| x.holds_at(0.0)).count(),
        outcome.certificates.len(),
        outcome.mean_correct_radius(),
        curve_summary(outcome, 5),
        aisec_defenses::certify::describe_alpha(c.alpha),
        outcome.abstentions
    );
    let mut severity = Severity::Info;
    if let Some(check) = &outcome.attack_check {
        title.push_str(&format!(
            "; PGD with EOT inside the certified radius of {} inputs broke {} certificates",
            check.inputs, check.broken
        ));
        // More breaks than α allows (with slack for a handful of inputs) means the
        // certificates are wrong, which a user relying on them must hear first.
        let allowed = (c.alpha * check.inputs as f64).ceil() as usize;
        if check.broken > allowed {
            severity = Severity::High;
            title.push_str(&format!(
                " — more than the {allowed} that α allows: the certificates do not hold"
            ));
        }
    }
    let atlas = ATLAS
        .iter()
        .filter_map(|id| AtlasRef::parse(id).ok())
        .collect();
    let mut finding = Finding::new(title, severity, atlas);
    finding.mitigations = mitigation_refs(kb, INFO.mitigations);
    let mut evidence = Evidence {
        metrics: metrics(outcome),
        ..Evidence::default()
    };
    evidence.details.insert(
        "certified_accuracy_by_radius".into(),
        serde_json::json!(outcome.curve),
    );
    if let Some(check) = &outcome.attack_check {
        evidence
            .details
            .insert("attack_check".into(), serde_json::json!(check));
    }
    finding.evidence = evidence;
    finding
}

/// What the report observes beyond the metrics.
#[derive(Debug, Clone, serde::Serialize)]
struct Observed {
    certified_accuracy_by_radius: Vec<aisec_defenses::certify::CertifiedAt>,
    largest_certifiable_radius: f64,
    model_evaluations: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    attack_check: Option<aisec_defenses::certify::AttackCheck>,
    certificates: Vec<aisec_defenses::certify::Certificate>,
}

pub fn report(outcome: &CertifyOutcome, kb: &KnowledgeBase, target: &str, data: &str) -> RunReport {
    let defense = DefenseRef {
        name: INFO.name.to_string(),
        mitigations: INFO.mitigations.iter().map(|m| m.to_string()).collect(),
        phases: INFO.phases.iter().map(|p| p.to_string()).collect(),
        settings: Some(Details::new(outcome.config)),
        observed: None,
    };
    RunReport::new(
        RunKind::Defense,
        INFO.name,
        ATLAS,
        target,
        Details::new(outcome.config),
        outcome.seed,
        metrics(outcome),
    )
    .with_data(data)
    .with_observations(Details::new(Observed {
        certified_accuracy_by_radius: outcome.curve.clone(),
        largest_certifiable_radius: outcome.config.largest_radius(),
        model_evaluations: outcome.model_evaluations,
        attack_check: outcome.attack_check.clone(),
        certificates: outcome.certificates.clone(),
    }))
    .with_findings(vec![finding(outcome, kb, target)])
    .with_defense(defense)
}
