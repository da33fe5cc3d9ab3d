//! Membership-inference runs as reports: the ROC figures as shared metrics, the experiment
//! (split, shadow models, the target's accuracy on members and non-members) as observations,
//! and a finding whose severity follows how far above chance the attack identifies members
//! at a 1% false-positive rate.

use aisec_atlas::KnowledgeBase;
use aisec_attacks::membership::MembershipOutcome;
use aisec_core::{AtlasRef, Finding, Metric, Metrics, Severity};
use aisec_report::{RunKind, RunReport};

use crate::findings::mitigation_refs;

/// Mitigations ATLAS lists against membership inference (AML.T0024.000).
pub const MEMBERSHIP_MITIGATIONS: &[&str] = &["AML.M0002", "AML.M0004", "AML.M0024"];

/// What the assessor knows about the experiment beyond the attack's outcome.
#[derive(Debug, Clone, Default)]
pub struct MembershipContext {
    /// How members, non-members and the adversary's population were drawn.
    pub split: serde_json::Value,
    /// The target's accuracy on its members and on the non-members.
    pub target_accuracy: Option<(f64, f64)>,
    pub seed: u64,
}

/// TPR at 1% FPR over the 1% a coin with that FPR would reach.
pub fn advantage_at_1pct(outcome: &MembershipOutcome) -> f64 {
    outcome.roc.tpr_at_1pct_fpr / 0.01
}

pub fn severity(outcome: &MembershipOutcome) -> Severity {
    match advantage_at_1pct(outcome) {
        a if a >= 10.0 => Severity::High,
        a if a >= 3.0 => Severity::Medium,
        a if a > 1.5 || outcome.roc.auc > 0.6 => Severity::Low,
        _ => Severity::Info,
    }
}

pub fn finding(outcome: &MembershipOutcome, kb: &KnowledgeBase, subject: &str) -> Finding {
    let r = &outcome.roc;
    let title = format!(
        "{} identifies {:.1}% of {subject}'s training records at a 1% false-positive rate ({:.1}× chance; {:.1}% at 0.1%; AUC {:.3}) over {} members and {} non-members",
        outcome.attack,
        100.0 * r.tpr_at_1pct_fpr,
        advantage_at_1pct(outcome),
        100.0 * r.tpr_at_0_1pct_fpr,
        r.auc,
        r.members,
        r.non_members,
    );
    let atlas = aisec_attacks::membership::ATLAS
        .iter()
        .filter_map(|a| AtlasRef::parse(a).ok())
        .collect();
    let mut f = Finding::new(title, severity(outcome), atlas);
    f.mitigations = mitigation_refs(kb, MEMBERSHIP_MITIGATIONS);
    f.evidence.metrics = metrics(outcome);
    f
}

pub fn metrics(outcome: &MembershipOutcome) -> Metrics {
    let r = &outcome.roc;
    let mut m = Metrics::default();
    for (key, value) in [
        (Metric::Auc, r.auc),
        (Metric::TprAt0_1PctFpr, r.tpr_at_0_1pct_fpr),
        (Metric::TprAt1PctFpr, r.tpr_at_1pct_fpr),
        (Metric::BalancedAccuracy, r.balanced_accuracy),
        (Metric::QueriesTotal, outcome.queries as f64),
        (Metric::WallSeconds, outcome.wall_seconds),
    ] {
        // Every value comes from a finished ROC: finite, and fractions within [0, 1].
        let _ = m.insert(key, value);
    }
    m
}

/// The run as the shared report object.
pub fn report(
    outcome: &MembershipOutcome,
    kb: &KnowledgeBase,
    target: &str,
    data: &str,
    context: &MembershipContext,
) -> RunReport {
    let r = &outcome.roc;
    let observations = serde_json::json!({
        "members": r.members,
        "non_members": r.non_members,
        "false_positives_allowed": {"at_0_1pct_fpr": r.false_positives_allowed_at_0_1pct, "at_1pct_fpr": r.false_positives_allowed_at_1pct},
        "roc": r.curve,
        "shadow_models": outcome.shadow_models,
        "shadow_train_size": outcome.shadow_train_size,
        "split": context.split,
        "target_accuracy": context.target_accuracy.map(|(m, n)| serde_json::json!({"members": m, "non_members": n})),
        "attack": outcome.observations,
    });
    RunReport::new(
        RunKind::Attack,
        outcome.attack,
        aisec_attacks::membership::ATLAS,
        target,
        outcome.config.clone(),
        context.seed,
        metrics(outcome),
    )
    .with_data(data)
    .with_observations(Some(observations))
    .with_findings(vec![finding(outcome, kb, "the model")])
}
