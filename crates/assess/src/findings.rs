//! Attack outcomes as findings.

use aisec_atlas::KnowledgeBase;
use aisec_attacks::AttackOutcome;
use aisec_core::Metric;
use aisec_core::{AtlasRef, Evidence, Finding, MitigationRef, Severity};
use aisec_report::{RunKind, RunReport};

/// Mitigations ATLAS lists against evasion: model hardening, adversarial input detection,
/// input restoration.
pub const EVASION_MITIGATIONS: &[&str] = &["AML.M0003", "AML.M0015", "AML.M0010"];

/// Against query-based (black-box) evasion, also: restricting the number of queries and
/// passive obfuscation of the model's outputs.
pub const BLACK_BOX_MITIGATIONS: &[&str] = &["AML.M0004", "AML.M0002"];

/// Severity from how often the attack succeeded.
pub fn severity_of_success(rate: f64) -> Severity {
    match rate {
        r if r >= 0.5 => Severity::High,
        r if r >= 0.2 => Severity::Medium,
        r if r > 0.05 => Severity::Low,
        _ => Severity::Info,
    }
}

/// The mitigations with their lifecycle phases as the knowledge base records them.
pub fn mitigation_refs(kb: &KnowledgeBase, ids: &[&str]) -> Vec<MitigationRef> {
    ids.iter()
        .filter_map(|id| {
            let r = AtlasRef::parse(id).ok()?;
            let phases = kb
                .mitigation(id)
                .map(|m| m.ml_lifecycle.clone())
                .unwrap_or_default();
            Some(MitigationRef { id: r, phases })
        })
        .collect()
}

/// A short description of the attack's budget from its configuration: "L∞ ε=0.1, 40 steps".
pub fn describe_config(config: &serde_json::Value) -> String {
    let mut parts = Vec::new();
    let norm = match config["norm"].as_str() {
        Some("inf") => "L∞",
        Some("2") => "L2",
        _ => "",
    };
    match config["eps"].as_f64() {
        Some(eps) => parts.push(format!("{norm} ε={}", trim_float(eps)).trim().to_string()),
        None if !norm.is_empty() => parts.push(format!("{norm}, unbounded")),
        None => {}
    }
    if let Some(steps) = config["steps"].as_u64() {
        parts.push(format!("{steps} steps"));
    }
    if let Some(queries) = config["max_queries"].as_u64() {
        parts.push(format!("≤{queries} queries per input"));
    }
    parts.join(", ")
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The finding an evasion outcome supports.
pub fn evasion_finding(outcome: &AttackOutcome, kb: &KnowledgeBase, subject: &str) -> Finding {
    let m = |k: Metric| outcome.metrics.get(k).unwrap_or(0.0);
    let success = m(Metric::AttackSuccessRate);
    let short = outcome.name.trim_start_matches("evasion.").to_uppercase();
    let verb = if success > 0.05 {
        "evades"
    } else {
        "does not evade"
    };
    let title = format!(
        "{short} ({}) {verb} {subject}: robust accuracy {:.1}% (clean {:.1}%), success rate {:.1}%",
        describe_config(&outcome.config),
        100.0 * m(Metric::RobustAccuracy),
        100.0 * m(Metric::CleanAccuracy),
        100.0 * success
    );
    let atlas = outcome
        .atlas
        .iter()
        .filter_map(|id| AtlasRef::parse(id).ok())
        .collect();
    let mut finding = Finding::new(title, severity_of_success(success), atlas);
    let mut mitigations: Vec<&str> = EVASION_MITIGATIONS.to_vec();
    if outcome.atlas.iter().any(|id| id == "AML.T0043.001") {
        mitigations.extend(BLACK_BOX_MITIGATIONS);
    }
    finding.mitigations = mitigation_refs(kb, &mitigations);
    let successful: Vec<serde_json::Value> = outcome
        .examples
        .iter()
        .enumerate()
        .filter(|(_, e)| e.success)
        .take(5)
        .map(|(i, e)| serde_json::json!({ "index": i, "label": e.label, "adversarial_prediction": e.adversarial_prediction, "linf": e.linf, "l2": e.l2 }))
        .collect();
    let mut evidence = Evidence {
        metrics: outcome.metrics.clone(),
        ..Evidence::default()
    };
    evidence
        .details
        .insert("attack".into(), serde_json::json!(outcome.name));
    evidence
        .details
        .insert("config".into(), outcome.config.clone());
    evidence
        .details
        .insert("seed".into(), serde_json::json!(outcome.seed));
    evidence
        .details
        .insert("successful_examples".into(), serde_json::json!(successful));
    finding.evidence = evidence;
    finding
}

/// The JSON run object of an evasion attack.
pub fn evasion_report(
    outcome: &AttackOutcome,
    kb: &KnowledgeBase,
    target: &str,
    data: &str,
) -> RunReport {
    RunReport::new(
        RunKind::Attack,
        &outcome.name,
        &outcome.atlas,
        target,
        outcome.config.clone(),
        outcome.seed,
        outcome.metrics.clone(),
    )
    .with_data(data)
    .with_observations(outcome.observations.clone())
    .with_findings(vec![evasion_finding(outcome, kb, "the model")])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_thresholds() {
        assert_eq!(severity_of_success(0.97), Severity::High);
        assert_eq!(severity_of_success(0.3), Severity::Medium);
        assert_eq!(severity_of_success(0.1), Severity::Low);
        assert_eq!(severity_of_success(0.0), Severity::Info);
    }

    #[test]
    fn mitigations_carry_their_phases() {
        let kb = KnowledgeBase::embedded().unwrap();
        let refs = mitigation_refs(&kb, EVASION_MITIGATIONS);
        assert_eq!(refs.len(), 3);
        assert_eq!(
            refs[0].phases,
            vec!["Data Preparation", "ML Model Engineering"]
        );
        assert_eq!(
            describe_config(&serde_json::json!({"eps": 0.1, "norm": "inf", "steps": 40})),
            "L∞ ε=0.1, 40 steps"
        );
    }
}
