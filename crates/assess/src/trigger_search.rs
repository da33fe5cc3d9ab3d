//! The run object of a trigger search (`aisec defend trigger-search`): the dormant key checks
//! the graph holds, the trigger that flips them, and what the stamped trigger does to the
//! model's answers.

use aisec_atlas::KnowledgeBase;
use aisec_core::{AtlasRef, DefenseRef, Details, Evidence, Finding, Metric, Metrics, Severity};
use aisec_defenses::trigger_search::{TriggerSearchOutcome, INFO};
use aisec_report::{RunKind, RunReport};

use crate::findings::mitigation_refs;

/// What a confirmed trigger is evidence of.
pub const ATLAS: &[&str] = &["AML.T0018.001", "AML.T0010.003"];

pub fn metrics(outcome: &TriggerSearchOutcome) -> Metrics {
    let mut metrics = Metrics::default();
    for (metric, value) in [
        (Metric::CleanAccuracy, outcome.clean_accuracy),
        (Metric::AttackSuccessRate, outcome.attack_success_rate),
        (Metric::QueriesTotal, outcome.model_evaluations as f64),
        (Metric::WallSeconds, outcome.seconds),
    ] {
        if let Err(e) = metrics.insert(metric, value) {
            tracing::warn!("{e}");
        }
    }
    metrics
}

/// "[0,14,8] = 0.5, [0,14,9] = 0.25 …" (a position as its index in the input's shape, when
/// the input has more than one axis) for titles, at most `shown` positions.
pub fn describe_key(key: &[(usize, f32)], shape: &[usize], shown: usize) -> String {
    let mut parts: Vec<String> = key
        .iter()
        .take(shown)
        .map(|(p, v)| format!("{} = {v}", position(*p, shape)))
        .collect();
    if key.len() > shown {
        parts.push(format!("… ({} positions)", key.len()));
    }
    parts.join(", ")
}

/// A flat position as `[c,y,x]` in `shape`, or as the number itself for a flat input.
pub fn position(flat: usize, shape: &[usize]) -> String {
    if shape.len() < 2 || flat >= shape.iter().product::<usize>() {
        return flat.to_string();
    }
    let mut rest = flat;
    let mut index = vec![0; shape.len()];
    for (axis, dim) in shape.iter().enumerate().rev() {
        index[axis] = rest % dim;
        rest /= dim;
    }
    format!(
        "[{}]",
        index
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(",")
    )
}

fn finding(outcome: &TriggerSearchOutcome, kb: &KnowledgeBase, target: &str) -> Finding {
    let dormant = outcome
        .comparisons
        .iter()
        .filter(|c| c.status == "dormant")
        .count();
    let (title, severity) = match outcome.target_class {
        Some(class) if outcome.confirmed => (
            format!(
                "Architectural backdoor in {target}: a trigger at input positions {} sends {:.1}% of {} stamped inputs of other classes to class {class} (clean accuracy {:.1}% → {:.1}%), while random values at the same positions change {:.1}% of answers; {dormant} dormant key check(s) of {} switch candidates",
                describe_key(&outcome.trigger, &outcome.input_shape, 8),
                100.0 * outcome.attack_success_rate,
                outcome.other_class_inputs,
                100.0 * outcome.clean_accuracy,
                100.0 * outcome.triggered_accuracy,
                100.0 * outcome.control_flip_rate,
                outcome.comparisons.len()
            ),
            Severity::Critical,
        ),
        Some(class) => (
            format!(
                "{dormant} dormant switch(es) in {target} flip under a found key, not confirmed as a backdoor: {:.1}% of {} stamped inputs of other classes go to class {class} (confirmation needs {} of at least {}), random values at the same positions change {:.1}% of answers, {:.1}% to other classes",
                100.0 * outcome.attack_success_rate,
                outcome.other_class_inputs,
                aisec_core::pct(Some(outcome.config.confirm_at)),
                aisec_defenses::trigger_search::MIN_OTHER_CLASS_INPUTS,
                100.0 * outcome.control_flip_rate,
                100.0 * outcome.control_elsewhere_rate
            ),
            Severity::Medium,
        ),
        None => (
            format!(
                "No dormant key check found in {target}: {} switch candidate(s) (comparisons and steps of input values before any weighted layer, main graph), none of which a value in the data's range flips on otherwise clean inputs; switches inside If/Loop bodies or behind a weighted layer are not searched",
                outcome.comparisons.len()
            ),
            Severity::Info,
        ),
    };
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
    evidence
        .details
        .insert("comparisons".into(), serde_json::json!(outcome.comparisons));
    evidence
        .details
        .insert("trigger".into(), serde_json::json!(outcome.trigger));
    finding.evidence = evidence;
    finding
}

#[derive(Debug, Clone, serde::Serialize)]
struct Observed {
    comparisons: Vec<aisec_defenses::trigger_search::CheckedComparison>,
    trigger: Vec<(usize, f32)>,
    target_class: Option<usize>,
    /// The accuracy on the clean inputs with the trigger stamped on.
    triggered_accuracy: f64,
    other_class_inputs: usize,
    control_flip_rate: f64,
    control_elsewhere_rate: f64,
    confirmed: bool,
    clean_inputs: usize,
    /// The shape of one input: positions are flat indices into it.
    input_shape: Vec<usize>,
}

pub fn report(
    outcome: &TriggerSearchOutcome,
    kb: &KnowledgeBase,
    target: &str,
    data: &str,
    seed: u64,
) -> RunReport {
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
        seed,
        metrics(outcome),
    )
    .with_data(data)
    .with_observations(Details::new(Observed {
        comparisons: outcome.comparisons.clone(),
        trigger: outcome.trigger.clone(),
        target_class: outcome.target_class,
        triggered_accuracy: outcome.triggered_accuracy,
        other_class_inputs: outcome.other_class_inputs,
        control_flip_rate: outcome.control_flip_rate,
        control_elsewhere_rate: outcome.control_elsewhere_rate,
        confirmed: outcome.confirmed,
        clean_inputs: outcome.clean_inputs,
        input_shape: outcome.input_shape.clone(),
    }))
    .with_findings(vec![finding(outcome, kb, target)])
    .with_defense(defense)
}
