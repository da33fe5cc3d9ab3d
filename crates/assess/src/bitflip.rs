//! The run object of a bit-flip attack (`aisec attack bitflip`): accuracy against flips for
//! the bit search and for random flips, and the defence measured by attacking again.

use aisec_atlas::KnowledgeBase;
use aisec_attacks::fault::bfa::{BfaOutcome, INFO};
use aisec_core::{AtlasRef, DefenseRef, Details, Evidence, Finding, Metric, Metrics, Severity};
use aisec_defenses::weight_integrity::Verification;
use aisec_report::{RunKind, RunReport};

use crate::findings::mitigation_refs;

pub fn metrics(outcome: &BfaOutcome) -> Metrics {
    let mut metrics = Metrics::default();
    for (metric, value) in [
        (Metric::CleanAccuracy, outcome.quantized_accuracy),
        (Metric::RobustAccuracy, outcome.final_accuracy),
        (Metric::QueriesTotal, outcome.model_evaluations as f64),
        (Metric::WallSeconds, outcome.seconds),
    ] {
        if let Err(e) = metrics.insert(metric, value) {
            tracing::warn!("{e}");
        }
    }
    metrics
}

/// "100 random flips: 97.1% (96.3–97.9%, 5 trials)".
pub fn random_summary(outcome: &BfaOutcome) -> String {
    outcome
        .random
        .iter()
        .map(|r| {
            format!(
                "{} random flips leave {:.1}% ({:.1}–{:.1}%, {} trials)",
                r.flips,
                100.0 * r.accuracy_mean,
                100.0 * r.accuracy_min,
                100.0 * r.accuracy_max,
                r.trials
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn finding(outcome: &BfaOutcome, kb: &KnowledgeBase, target: &str) -> Finding {
    let flips = outcome.steps.len();
    let (title, severity) = match outcome.flips_to_constant_answer {
        Some(0) => (
            format!(
                "Nothing to attack: the 8-bit {target} scores {:.1}%, no better than a constant answer ({:.1}%) on these evaluation inputs",
                100.0 * outcome.quantized_accuracy,
                100.0 * outcome.constant_answer_accuracy
            ),
            Severity::Info,
        ),
        Some(n) => (
            format!(
                "{n} targeted bit flips of {} take the 8-bit {target} from {:.1}% to {:.1}% accuracy (a constant answer scores {:.1}%); {}",
                outcome.bits,
                100.0 * outcome.quantized_accuracy,
                100.0 * outcome.final_accuracy,
                100.0 * outcome.constant_answer_accuracy,
                random_summary(outcome)
            ),
            Severity::High,
        ),
        None => (
            format!(
                "{flips} targeted bit flips of {} take the 8-bit {target} from {:.1}% to {:.1}% accuracy, short of a constant answer ({:.1}%); {}",
                outcome.bits,
                100.0 * outcome.quantized_accuracy,
                100.0 * outcome.final_accuracy,
                100.0 * outcome.constant_answer_accuracy,
                random_summary(outcome)
            ),
            if outcome.quantized_accuracy - outcome.final_accuracy > 0.2 {
                Severity::Medium
            } else {
                Severity::Low
            },
        ),
    };
    let atlas = INFO
        .atlas
        .iter()
        .filter_map(|id| AtlasRef::parse(id).ok())
        .collect();
    let mut finding = Finding::new(title, severity, atlas);
    finding.mitigations = mitigation_refs(
        kb,
        &[
            aisec_defenses::weight_integrity::INFO.mitigations,
            aisec_defenses::weight_clamp::INFO.mitigations,
        ]
        .concat(),
    );
    finding.evidence = Evidence {
        metrics: metrics(outcome),
        ..Evidence::default()
    };
    finding
}

#[derive(Debug, Clone, serde::Serialize)]
struct Observed {
    float_accuracy: f64,
    quantized_accuracy: f64,
    constant_answer_accuracy: f64,
    /// Evaluation inputs the accuracy is measured on.
    eval_inputs: usize,
    bits: usize,
    clamp_group: Option<usize>,
    flips_to_constant_answer: Option<usize>,
    steps: Vec<aisec_attacks::fault::bfa::FlipStep>,
    random: Vec<aisec_attacks::fault::bfa::RandomFlips>,
    #[serde(skip_serializing_if = "Option::is_none")]
    integrity: Option<Integrity>,
}

/// What the weight-integrity check saw after the attack.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Integrity {
    pub verification: Verification,
    /// Seconds one inference batch of `batch_inputs` takes, for the overhead.
    pub batch_seconds: f64,
    pub batch_inputs: usize,
}

pub fn report(
    outcome: &BfaOutcome,
    kb: &KnowledgeBase,
    target: &str,
    data: &str,
    seed: u64,
    integrity: Option<Integrity>,
) -> RunReport {
    RunReport::new(
        RunKind::Attack,
        INFO.name,
        INFO.atlas,
        target,
        Details::new(outcome.config),
        seed,
        metrics(outcome),
    )
    .with_data(data)
    .with_observations(Details::new(Observed {
        float_accuracy: outcome.float_accuracy,
        quantized_accuracy: outcome.quantized_accuracy,
        constant_answer_accuracy: outcome.constant_answer_accuracy,
        eval_inputs: outcome.eval_inputs,
        bits: outcome.bits,
        clamp_group: outcome.clamp_group,
        flips_to_constant_answer: outcome.flips_to_constant_answer,
        steps: outcome.steps.clone(),
        random: outcome.random.clone(),
        integrity,
    }))
    .with_findings(vec![finding(outcome, kb, target)])
}

/// The undefended run with the defence's run (`defended`) and its reference.
pub fn with_defense(
    mut report: RunReport,
    defense: DefenseRef,
    defended: Option<RunReport>,
) -> RunReport {
    report.defense = Some(defense);
    report.defended = defended.map(Box::new);
    report
}
