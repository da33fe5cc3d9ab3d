//! Attack outcomes as findings.

use aisec_atlas::KnowledgeBase;
use aisec_attacks::evasion::{EvasionObservations, Norm};
use aisec_attacks::{AttackOutcome, QueryUse};
use aisec_core::{AtlasRef, Evidence, Finding, MitigationRef, Severity};
use aisec_core::{Details, Metric};
use aisec_report::{RunKind, RunReport};
use serde::Serialize;

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
pub fn describe_config(config: &impl serde::Serialize) -> String {
    let config = serde_json::to_value(config).unwrap_or_default();
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
    // The rest of what decides the attack's strength, so that the text says all the JSON does.
    if let Some(step) = config["step_size"].as_f64() {
        parts.push(format!("step {}", trim_float(step)));
    }
    if let Some(lr) = config["learning_rate"].as_f64() {
        parts.push(format!("learning rate {}", trim_float(lr)));
    }
    if config["random_start"].as_bool() == Some(false) {
        parts.push("from the clean input".into());
    } else if config["random_start"].as_bool() == Some(true) {
        parts.push("random start".into());
    }
    if let Some(r) = config["restarts"].as_u64() {
        parts.push(format!("{r} restart{}", if r == 1 { "" } else { "s" }));
    }
    if let Some(r) = config["binary_search_steps"].as_u64() {
        parts.push(format!("{r} binary-search rounds"));
    }
    if let Some(o) = config["overshoot"].as_f64() {
        parts.push(format!("overshoot {}", trim_float(o)));
    }
    if let Some(queries) = config["max_queries"].as_u64() {
        parts.push(format!("≤{queries} queries per input"));
    }
    match &config["clip"] {
        serde_json::Value::Array(r) if r.len() == 2 => {
            if let (Some(lo), Some(hi)) = (r[0].as_f64(), r[1].as_f64()) {
                parts.push(format!(
                    "clipped to [{}, {}]",
                    trim_float(lo),
                    trim_float(hi)
                ));
            }
        }
        serde_json::Value::String(s) if s == "none" => {
            parts.push("not clipped (no input range known; --clip LO,HI sets one)".into())
        }
        _ => {}
    }
    parts.join(", ")
}

/// Any flat configuration object as text: "strategy random, pool public, batch 250", numbers as
/// [`trim_float`] writes them, nested values as compact JSON.
pub fn describe_fields(config: &impl serde::Serialize) -> String {
    let config = serde_json::to_value(config).unwrap_or_default();
    let Some(fields) = config.as_object() else {
        return config.to_string();
    };
    fields
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            let value = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n
                    .as_u64()
                    .map(|u| u.to_string())
                    .or_else(|| n.as_i64().map(|i| i.to_string()))
                    .unwrap_or_else(|| trim_float(n.as_f64().unwrap_or(f64::NAN))),
                other => other.to_string(),
            };
            format!("{} {value}", k.replace('_', " "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A configured number as people write it: at most 4 significant digits, no trailing zeros,
/// and scientific notation where fixed notation would hide it (1e-5 is not "0").
pub fn trim_float(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let magnitude = v.abs().log10().floor() as i32;
    if !(-4..6).contains(&magnitude) {
        let s = format!("{v:.3e}");
        let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        return format!("{mantissa}e{exponent}");
    }
    let decimals = (3 - magnitude).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Perturbation sizes at which a minimum-norm run's robust accuracy is stated: common
/// budgets for inputs scaled to [0, 1] (8/255 ≈ 0.03 in L∞).
pub const L2_THRESHOLDS: &[f64] = &[0.5, 1.0, 2.0];
pub const LINF_THRESHOLDS: &[f64] = &[0.01, 0.03, 0.1];

/// A minimum-norm run's robustness at stated perturbation sizes (no ε to judge it at).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NormProfile {
    pub norm: Norm,
    pub robust_accuracy_at: Vec<RobustAt>,
    pub norm_needed: NormNeeded,
}

/// Robust accuracy when only perturbations up to `norm_at_most` count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RobustAt {
    pub norm_at_most: f64,
    pub robust_accuracy: f64,
}

/// Quartiles of the norms the fooled inputs needed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NormNeeded {
    pub q25: Option<f64>,
    pub median: Option<f64>,
    pub q75: Option<f64>,
    pub fooled: usize,
}

/// A minimum-norm run (no ε): the share of inputs still answered correctly when only
/// perturbations up to each threshold count, and the quartiles of the norms it needed.
pub fn norm_profile(outcome: &AttackOutcome) -> Option<NormProfile> {
    if outcome.budget.eps.is_some() {
        return None;
    }
    let linf = outcome.budget.norm == Norm::Linf;
    let (thresholds, norm_of): (&[f64], fn(&aisec_attacks::ExampleResult) -> f64) = if linf {
        (LINF_THRESHOLDS, |e| e.linf as f64)
    } else {
        (L2_THRESHOLDS, |e| e.l2 as f64)
    };
    let n = outcome.examples.len().max(1) as f64;
    let robust_accuracy_at = thresholds
        .iter()
        .map(|t| {
            let robust = outcome
                .examples
                .iter()
                .filter(|e| e.clean_prediction == e.label && !(e.success && norm_of(e) <= *t))
                .count();
            RobustAt {
                norm_at_most: *t,
                robust_accuracy: robust as f64 / n,
            }
        })
        .collect();
    let mut needed: Vec<f64> = outcome
        .examples
        .iter()
        .filter(|e| e.success)
        .map(norm_of)
        .collect();
    needed.sort_by(f64::total_cmp);
    let quartile = |q: f64| -> Option<f64> {
        (!needed.is_empty()).then(|| needed[((needed.len() - 1) as f64 * q).round() as usize])
    };
    Some(NormProfile {
        norm: outcome.budget.norm,
        robust_accuracy_at,
        norm_needed: NormNeeded {
            q25: quartile(0.25),
            median: quartile(0.5),
            q75: quartile(0.75),
            fooled: needed.len(),
        },
    })
}

/// The finding an evasion outcome supports. A run stopped by a budget says so and counts
/// the unfinished inputs as not evaluated; a minimum-norm run states the norms it needed
/// and robust accuracy at stated thresholds instead of a verdict at an unstated ε.
pub fn evasion_finding(outcome: &AttackOutcome, kb: &KnowledgeBase, subject: &str) -> Finding {
    let success = outcome.metrics.get(Metric::AttackSuccessRate);
    let short = outcome.name.trim_start_matches("evasion.").to_uppercase();
    let config = describe_config(&outcome.config);
    let clean = outcome.metrics.pct(Metric::CleanAccuracy);
    let fooled = outcome.examples.iter().filter(|e| e.success).count();
    let q = &outcome.queries;
    let (title, severity) = if q.inputs_not_evaluated > 0 {
        let allowed = q.allowed_total.map_or_else(
            || "target refusing queries".to_string(),
            |a| format!("{a}-query budget"),
        );
        (
            format!(
                "{short} ({config}) against {subject} was stopped by the {allowed} after {} queries: it fooled {fooled} of {} inputs; {} inputs were not attacked to the end and are not evaluated, so robustness is not measured",
                q.spent_total,
                outcome.examples.len(),
                q.inputs_not_evaluated
            ),
            if fooled == 0 {
                Severity::Info
            } else {
                // Without the rate, the count fooled of the inputs attacked is the figure.
                severity_of_success(
                    success.unwrap_or(fooled as f64 / outcome.examples.len().max(1) as f64),
                )
            },
        )
    } else if let Some(profile) = norm_profile(outcome) {
        let norm = profile.norm.label();
        let at: Vec<String> = profile
            .robust_accuracy_at
            .iter()
            .map(|p| {
                format!(
                    "{} at {norm} ≤ {}",
                    aisec_core::pct(Some(p.robust_accuracy)),
                    trim_float(p.norm_at_most)
                )
            })
            .collect();
        let median = profile
            .norm_needed
            .median
            .map_or("n/a".to_string(), |m| format!("{m:.3}"));
        // The inputs the success rate is over: correctly classified ones, or, targeted,
        // those whose label is not already the target class.
        let (goal, eligible) = match outcome.target {
            Some(t) => (
                format!("reaches class {t}"),
                outcome.examples.iter().filter(|e| e.label != t).count(),
            ),
            None => (
                "finds a wrong answer".to_string(),
                outcome
                    .examples
                    .iter()
                    .filter(|e| e.clean_prediction == e.label)
                    .count(),
            ),
        };
        let of_what = match outcome.target {
            Some(t) => format!("inputs of {subject} not labelled {t}"),
            None => format!("correctly classified inputs of {subject}"),
        };
        (
            format!(
                "{short} ({config}) {goal} for {fooled} of {eligible} {of_what} with median {norm} {median} (no ε bound, so no verdict): robust accuracy {} (clean {clean})",
                at.join(", "),
            ),
            Severity::Info,
        )
    } else {
        let verb = match success {
            Some(s) if s > 0.05 => "evades",
            Some(_) => "does not evade",
            None => "was run against",
        };
        let robust = outcome.metrics.pct(Metric::RobustAccuracy);
        (
            format!(
                "{short} ({config}) {verb} {subject}: robust accuracy {robust} (clean {clean}), success rate {}",
                aisec_core::pct(success)
            ),
            success.map_or(Severity::Info, severity_of_success),
        )
    };
    let atlas = outcome
        .atlas
        .iter()
        .filter_map(|id| AtlasRef::parse(id).ok())
        .collect();
    let mut finding = Finding::new(title, severity, atlas);
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
    evidence.details.insert(
        "config".into(),
        serde_json::to_value(&outcome.config).unwrap_or_default(),
    );
    evidence
        .details
        .insert("seed".into(), serde_json::json!(outcome.seed));
    evidence
        .details
        .insert("successful_examples".into(), serde_json::json!(successful));
    evidence
        .details
        .insert("queries".into(), serde_json::json!(outcome.queries));
    if let Some(profile) = norm_profile(outcome) {
        evidence.details.insert(
            "norm_profile".into(),
            serde_json::to_value(profile).unwrap_or_default(),
        );
    }
    finding.evidence = evidence;
    finding
}

/// The attack's own observations with the queries it was allowed and spent.
/// What an evasion run's report observes: the attack's own observations and the queries
/// it was allowed and spent.
#[derive(Debug, Clone, Serialize)]
pub struct EvasionRunObservations {
    #[serde(flatten)]
    pub attack: EvasionObservations,
    pub queries: QueryUse,
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
        Details::new(outcome.config.clone()),
        outcome.seed,
        outcome.metrics.clone(),
    )
    .with_data(data)
    .with_observations(Details::new(EvasionRunObservations {
        attack: outcome.observations.clone(),
        queries: outcome.queries.clone(),
    }))
    .with_findings(vec![evasion_finding(outcome, kb, "the model")])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_rate_reads_not_measured_and_judges_nothing() {
        let kb = KnowledgeBase::embedded().unwrap();
        let mut outcome = aisec_attacks::AttackOutcome {
            name: "evasion.fgsm".into(),
            atlas: vec!["AML.T0043.000".into()],
            config: aisec_attacks::evasion::EvasionConfig {
                attack: Details::new(aisec_attacks::evasion::fgsm::FgsmConfig {
                    eps: 0.1,
                    norm: Norm::Linf,
                }),
                clip: None,
            },
            budget: aisec_attacks::evasion::Budget {
                norm: Norm::Linf,
                eps: Some(0.1),
            },
            observations: EvasionObservations::default(),
            seed: 0,
            target: None,
            metrics: aisec_core::Metrics::default(),
            queries: aisec_attacks::QueryUse::default(),
            adversarial: Vec::new(),
            examples: Vec::new(),
        };
        let f = evasion_finding(&outcome, &kb, "the model");
        assert!(f.title.contains("was run against"), "{}", f.title);
        assert!(f.title.contains("clean not measured"), "{}", f.title);
        assert!(f.title.contains("success rate not measured"), "{}", f.title);
        assert!(!f.title.contains("0.0%"), "{}", f.title);
        assert_eq!(f.severity, Severity::Info);
        outcome
            .metrics
            .insert(aisec_core::Metric::AttackSuccessRate, 0.0)
            .unwrap();
        let f = evasion_finding(&outcome, &kb, "the model");
        assert!(f.title.contains("does not evade"), "{}", f.title);
        assert!(f.title.contains("success rate 0.0%"), "{}", f.title);
    }

    #[test]
    fn a_targeted_minimum_norm_run_counts_the_inputs_not_already_of_the_target_class() {
        let kb = KnowledgeBase::embedded().unwrap();
        let example = |label: usize, adversarial: usize| aisec_attacks::ExampleResult {
            label,
            clean_prediction: label,
            adversarial_prediction: adversarial,
            success: adversarial == 3 && label != 3,
            evaluated: true,
            linf: 0.1,
            l2: 0.5,
        };
        let mut outcome = aisec_attacks::AttackOutcome {
            name: "evasion.hsj".into(),
            atlas: vec!["AML.T0043.001".into()],
            config: aisec_attacks::evasion::EvasionConfig {
                attack: Details::new(serde_json::json!({"norm": "l2"})),
                clip: None,
            },
            budget: aisec_attacks::evasion::Budget {
                norm: Norm::L2,
                eps: None,
            },
            observations: EvasionObservations::default(),
            seed: 0,
            target: Some(3),
            metrics: aisec_core::Metrics::default(),
            queries: aisec_attacks::QueryUse::default(),
            adversarial: Vec::new(),
            // Two inputs already of class 3 (not counted), three pushed to it, one not.
            examples: vec![
                example(3, 3),
                example(3, 3),
                example(1, 3),
                example(2, 3),
                example(4, 3),
                example(5, 5),
            ],
        };
        let f = evasion_finding(&outcome, &kb, "the model");
        assert!(
            f.title
                .contains("reaches class 3 for 3 of 4 inputs of the model not labelled 3"),
            "{}",
            f.title
        );
        outcome.target = None;
        let f = evasion_finding(&outcome, &kb, "the model");
        assert!(
            f.title
                .contains("finds a wrong answer for 3 of 6 correctly classified inputs"),
            "{}",
            f.title
        );
    }

    #[test]
    fn configured_numbers_read_as_written_and_the_config_says_everything() {
        for (v, text) in [
            (0.1, "0.1"),
            (0.00625, "0.00625"),
            (8.0 / 255.0, "0.03137"),
            (0.3, "0.3"),
            (1e-5, "1e-5"),
            (1e30, "1e30"),
            (2.5, "2.5"),
            (1234.5678, "1235"),
            (0.0, "0"),
            (-0.25, "-0.25"),
        ] {
            assert_eq!(trim_float(v), text, "{v}");
        }
        let pgd = serde_json::json!({"eps": 0.1, "norm": "inf", "steps": 40, "step_size": 0.00625,
            "random_start": false, "restarts": 3, "clip": [0.0, 1.0]});
        assert_eq!(
            describe_config(&pgd),
            "L∞ ε=0.1, 40 steps, step 0.00625, from the clean input, 3 restarts, clipped to [0, 1]"
        );
        let knockoff = serde_json::json!({"strategy": "random", "batch": 250,
            "bandit_rate": 0.20000000298023224, "substitute": "mlp", "skipped": null});
        assert_eq!(
            describe_fields(&knockoff),
            "strategy random, batch 250, bandit rate 0.2, substitute mlp"
        );
    }

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
