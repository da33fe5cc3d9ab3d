//! Membership-inference runs as reports: the ROC figures as shared metrics, the experiment
//! (split, shadow models, the target's accuracy on members and non-members) as observations,
//! and a finding whose severity follows how far above chance the attack identifies members
//! at a 1% false-positive rate.

use std::sync::Arc;

use aisec_atlas::KnowledgeBase;
use aisec_attacks::membership::{
    self, MembershipAttack, MembershipOutcome, MembershipTask, Recipe, RocPoint, SplitDescription,
};
use aisec_core::{AtlasRef, Details, Finding, Metric, Metrics, Severity};
use aisec_defenses::dp_sgd::PrivacySpent;
use aisec_defenses::Defense;
use aisec_ml::data::Dataset;
use aisec_ml::model::{revealing, Classifier, OutputKind};
use aisec_ml::native::TrainingSplit;
use aisec_ml::native::{Manifest, NativeModel};
use aisec_ml::train;
use aisec_report::{RunKind, RunReport};
use serde::Serialize;

use crate::findings::mitigation_refs;
use crate::{AssessError, Result};

/// Mitigations ATLAS lists against membership inference (AML.T0024.000).
pub const MEMBERSHIP_MITIGATIONS: &[&str] = &["AML.M0002", "AML.M0004", "AML.M0024"];

/// What the assessor knows about the experiment beyond the attack's outcome.
#[derive(Debug, Clone, Default)]
pub struct MembershipContext {
    /// How members, non-members and the adversary's population were drawn.
    pub split: Option<SplitUsed>,
    /// The target's accuracy on its members and on the non-members.
    pub target_accuracy: Option<(f64, f64)>,
    pub seed: u64,
}

/// How the records were divided into members, non-members and the adversary's population.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum SplitUsed {
    /// aisec split the data and trained the target.
    TrainedHere(SplitDescription),
    /// The split recorded in the model's manifest when aisec trained it.
    RecordedWithModel {
        recorded_with_model: TrainingSplit,
        members: usize,
        non_members: usize,
        population: usize,
    },
    /// Members and non-members the user named.
    GivenByUser {
        members: usize,
        non_members: usize,
        population: usize,
        given_by_user: bool,
    },
}

/// What a membership run observed beyond the shared metrics.
#[derive(Debug, Clone, Serialize)]
pub struct MembershipObservations {
    pub members: usize,
    pub non_members: usize,
    pub false_positives_allowed: FalsePositivesAllowed,
    pub roc: Vec<RocPoint>,
    pub shadow_models: usize,
    pub shadow_train_size: usize,
    pub candidates_scored: usize,
    pub candidates: usize,
    pub stopped: Option<String>,
    pub shadow_check: Option<ShadowCheck>,
    pub split: Option<SplitUsed>,
    pub target_accuracy: Option<TargetAccuracy>,
    /// How the adversary trained its models, when the command states it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shadow_recipe: Option<ShadowRecipe>,
    /// The attack's own record.
    pub attack: Details,
}

/// The adversary's training recipe for its shadow or reference models, and where it came from.
#[derive(Debug, Clone, Serialize)]
pub struct ShadowRecipe {
    pub architecture: &'static str,
    pub training: aisec_ml::train::TrainConfig,
    pub records_per_model: usize,
    pub source: String,
}

/// How many non-members may be flagged at each low false-positive rate.
#[derive(Debug, Clone, Serialize)]
pub struct FalsePositivesAllowed {
    pub at_0_1pct_fpr: usize,
    pub at_1pct_fpr: usize,
}

/// Whether the adversary's models imitate the target (held-out accuracies side by side).
#[derive(Debug, Clone, Serialize)]
pub struct ShadowCheck {
    pub shadow_held_out_accuracy: f64,
    pub target_non_member_accuracy: f64,
    pub max_gap: f64,
    pub warning: Option<String>,
}

/// The target's accuracy on its members and on records it never saw.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TargetAccuracy {
    pub members: f64,
    pub non_members: f64,
}

/// What a retraining defence observed: its own record (DP-SGD's ε) and the defended model.
#[derive(Debug, Clone, Serialize)]
pub struct RetrainingObserved {
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub retraining: Option<Details>,
    pub target_accuracy: TargetAccuracy,
    pub shadow_models_trained_with: &'static str,
}

/// Whether the attack could run behind the defence, and what its shadow models saw.
#[derive(Debug, Clone, Serialize)]
pub struct GuardObserved {
    pub attack_ran: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shadow_models_see: Option<&'static str>,
}

/// How far the adversary's models' held-out accuracy may sit from the target's accuracy on
/// its non-members before the report warns that they do not imitate it.
pub const SHADOW_ACCURACY_GAP: f64 = 0.10;

/// The shadows' held-out accuracy, the target's on its non-members, and a warning when they
/// are more than [`SHADOW_ACCURACY_GAP`] apart (the shadows' recipe — architecture,
/// epochs, learning rate, training-set size — does not match the target's).
pub fn shadow_check(
    outcome: &MembershipOutcome,
    context: &MembershipContext,
) -> Option<(f64, f64, Option<String>)> {
    let shadows = outcome.shadow_accuracy?;
    let target = context.target_accuracy?.1;
    let warning = ((shadows - target).abs() > SHADOW_ACCURACY_GAP).then(|| {
        format!(
            "the shadow models' held-out accuracy ({:.1}%) is far from the target's on non-members ({:.1}%): they do not imitate it, and the attack is weaker than one whose shadows do; give the target's recipe (--arch, --epochs, --learning-rate)",
            100.0 * shadows,
            100.0 * target
        )
    });
    Some((shadows, target, warning))
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
    let mut title = format!(
        "{} identifies {:.1}% of {subject}'s training records at a 1% false-positive rate ({:.1}× chance; {:.1}% at 0.1%; AUC {:.3}) over {} members and {} non-members",
        outcome.attack,
        100.0 * r.tpr_at_1pct_fpr,
        advantage_at_1pct(outcome),
        100.0 * r.tpr_at_0_1pct_fpr,
        r.auc,
        r.members,
        r.non_members,
    );
    if let Some(why) = &outcome.stopped {
        title.push_str(&format!(
            " — stopped early ({why}): measured on the {} of {} candidates answered, a random sample",
            outcome.candidates_scored, outcome.candidates
        ));
    }
    privacy_finding(
        title,
        severity(outcome),
        aisec_attacks::membership::ATLAS,
        metrics(outcome),
        kb,
    )
}

/// A finding of a privacy attack (membership, inversion, attribute inference): its title and
/// severity, its ATLAS techniques, the mitigations ATLAS lists against them, its figures.
pub fn privacy_finding(
    title: String,
    severity: Severity,
    atlas: &[&str],
    metrics: Metrics,
    kb: &KnowledgeBase,
) -> Finding {
    let atlas = atlas
        .iter()
        .filter_map(|a| AtlasRef::parse(a).ok())
        .collect();
    let mut f = Finding::new(title, severity, atlas);
    f.mitigations = mitigation_refs(kb, MEMBERSHIP_MITIGATIONS);
    f.evidence.metrics = metrics;
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
    let observations = MembershipObservations {
        members: r.members,
        non_members: r.non_members,
        false_positives_allowed: FalsePositivesAllowed {
            at_0_1pct_fpr: r.false_positives_allowed_at_0_1pct,
            at_1pct_fpr: r.false_positives_allowed_at_1pct,
        },
        roc: r.curve.clone(),
        shadow_models: outcome.shadow_models,
        shadow_train_size: outcome.shadow_train_size,
        candidates_scored: outcome.candidates_scored,
        candidates: outcome.candidates,
        stopped: outcome.stopped.clone(),
        shadow_check: shadow_check(outcome, context).map(|(s, t, w)| ShadowCheck {
            shadow_held_out_accuracy: s,
            target_non_member_accuracy: t,
            max_gap: SHADOW_ACCURACY_GAP,
            warning: w,
        }),
        split: context.split.clone(),
        target_accuracy: context
            .target_accuracy
            .map(|(members, non_members)| TargetAccuracy {
                members,
                non_members,
            }),
        shadow_recipe: None,
        attack: outcome.observations.clone(),
    };
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
    .with_observations(Details::new(observations))
    .with_findings(vec![finding(outcome, kb, "the model")])
}

/// The target's accuracy on its members and on records it never saw: the train–test gap
/// membership inference feeds on.
pub fn target_accuracy(
    model: &dyn Classifier,
    members: &Dataset,
    non_members: &Dataset,
) -> Result<(f64, f64)> {
    let accuracy =
        |d: &Dataset| -> Result<f64> { Ok(train::accuracy(&model.evaluate(&d.x)?, &d.y)) };
    Ok((accuracy(members)?, accuracy(non_members)?))
}

fn non_member_candidates(candidates: &Dataset, is_member: &[bool]) -> Dataset {
    let outsiders: Vec<usize> = (0..candidates.len()).filter(|&i| !is_member[i]).collect();
    candidates.subset(&outsiders)
}

/// What the defended re-run needs besides the attack: the experiment as the plain run saw it.
pub struct MembershipExperiment<'a> {
    /// The target's training records (the defence retrains on them).
    pub members: &'a Dataset,
    pub candidates: &'a Dataset,
    pub is_member: &'a [bool],
    pub population: &'a Dataset,
    pub recipe: Recipe,
    pub outputs: OutputKind,
    pub budget: u64,
    pub seed: u64,
    pub progress: Option<&'a (dyn Fn(usize, usize) + Sync)>,
}

/// The attack again, against the same members retrained with the defence's recipe (DP-SGD,
/// L2, early stopping), the adversary's shadow models trained the same way; the report
/// carries what the defence states about itself (the privacy spent) and the accuracy it cost.
pub fn run_behind_retraining(
    attack: &dyn MembershipAttack,
    experiment: &MembershipExperiment,
    defense: &dyn Defense,
    kb: &KnowledgeBase,
    data: &str,
) -> Result<RunReport> {
    let name = defense.info().name;
    let retraining = defense.privacy_retraining().ok_or_else(|| {
        AssessError::Config(format!(
            "--defend {name} does not retrain the model; it is not measured by membership inference"
        ))
    })?;
    let recipe = retraining
        .recipe(&experiment.recipe)
        .map_err(|e| AssessError::Config(format!("--defend {name}: {e}")))?;
    let arch = recipe.architecture;
    let network = recipe.fit(experiment.members, experiment.seed)?;
    let model: Arc<dyn Classifier> = Arc::new(NativeModel::new(
        network,
        Manifest::new(arch, experiment.members, experiment.seed),
    ));
    let target_accuracy = target_accuracy(
        model.as_ref(),
        experiment.members,
        &non_member_candidates(experiment.candidates, experiment.is_member),
    )?;
    let target = revealing(model.clone(), experiment.outputs);
    let task = MembershipTask {
        target: target.as_ref(),
        candidates: experiment.candidates,
        population: experiment.population,
        recipe: recipe.clone(),
        budget: experiment.budget,
        seed: experiment.seed,
        progress: experiment.progress,
    };
    let outcome = membership::run(attack, &task, experiment.is_member)?;
    let context = MembershipContext {
        split: None,
        target_accuracy: Some(target_accuracy),
        seed: experiment.seed,
    };
    let spent = retraining.observed(&experiment.recipe);
    let epsilon = spent
        .as_ref()
        .and_then(|s| s.get::<PrivacySpent>())
        .map(|s| s.epsilon);
    let mut reference = defense.reference();
    reference.observed = Some(Details::new(RetrainingObserved {
        retraining: spent,
        target_accuracy: TargetAccuracy {
            members: target_accuracy.0,
            non_members: target_accuracy.1,
        },
        shadow_models_trained_with:
            "the defended recipe (the adversary knows the training algorithm)",
    }));
    let subject = match epsilon {
        Some(eps) => format!("the model retrained with DP-SGD (ε = {eps:.2})"),
        None => format!("the model retrained with {name} ({})", defense.settings()),
    };
    let mut report = self::report(&outcome, kb, &target.info().description, data, &context)
        .with_defense(reference)
        .with_findings(vec![finding(&outcome, kb, &subject)]);
    if let Some(eps) = epsilon {
        let _ = report.metrics.insert(Metric::EpsilonDp, eps);
    }
    let _ = report
        .metrics
        .insert(Metric::CleanAccuracy, target_accuracy.1);
    Ok(report)
}

/// The attack again against the same target behind a defence that wraps its API (output
/// hardening): same candidates, same population, same seeds, so the same shadow models. The
/// adversary trains those on its own data and sees their full outputs; only the target's
/// answers pass through the wrapper. A score-based attack behind a labels-only answer cannot
/// run at all: the report says so and carries no figures (the label-only attack is the one
/// to run there). `task` is the plain run's; its target is replaced by `target` behind the
/// defence.
#[allow(clippy::too_many_arguments)]
pub fn run_behind_guard(
    attack: &dyn MembershipAttack,
    target: Arc<dyn Classifier>,
    task: &MembershipTask,
    is_member: &[bool],
    defense: &dyn Defense,
    kb: &KnowledgeBase,
    data: &str,
    context: &MembershipContext,
) -> Result<RunReport> {
    let name = defense.info().name;
    let guarded = defense.guard(target, task.seed).ok_or_else(|| {
        AssessError::Config(format!(
            "--defend {name} does not wrap the model's API; it is not measured this way"
        ))
    })?;
    let defended = guarded.model;
    let mut reference = defense.reference();
    let blocked = matches!(defended.output_kind(), OutputKind::Label)
        && attack.info().access == aisec_attacks::Access::ScoreBased;
    if blocked {
        reference.observed = Some(Details::new(GuardObserved {
            attack_ran: false,
            why: Some(format!(
                "{} needs scores and {} answers labels only; membership.label-only runs there",
                attack.name(),
                defended.info().description
            )),
            shadow_models_see: None,
        }));
        let f = privacy_finding(
            format!(
                "{} cannot run behind {name}: the API answers labels only (the label-only attack still can)",
                attack.name()
            ),
            Severity::Info,
            aisec_attacks::membership::ATLAS,
            Metrics::default(),
            kb,
        );
        return Ok(RunReport::new(
            RunKind::Attack,
            attack.name(),
            aisec_attacks::membership::ATLAS,
            &defended.info().description,
            attack.config(),
            task.seed,
            Metrics::default(),
        )
        .with_data(data)
        .with_defense(reference)
        .with_findings(vec![f]));
    }
    let defended_task = MembershipTask {
        target: defended.as_ref(),
        candidates: task.candidates,
        population: task.population,
        recipe: task.recipe.clone(),
        budget: task.budget,
        seed: task.seed,
        progress: task.progress,
    };
    let outcome = membership::run(attack, &defended_task, is_member)?;
    let mut adaptive_reference = reference.clone();
    reference.observed = Some(Details::new(GuardObserved {
        attack_ran: true,
        why: None,
        shadow_models_see: Some("their outputs as the API gave them before the defence (the adversary is not told about it)"),
    }));
    let subject = format!("the model behind {}", defense.info().name);
    let mut report = self::report(&outcome, kb, &defended.info().description, data, context)
        .with_defense(reference)
        .with_findings(vec![finding(&outcome, kb, &subject)]);
    // The adaptive adversary knows how the API reshapes its answers and reads its own
    // shadow models the same way. Attacks without shadow models are the same run again.
    if let Some(view) = defense.answer_view() {
        let before = task.recipe.answers.clone();
        let composed: membership::shadows::AnswerView = Arc::new(move |out, classes| {
            let out = match &before {
                Some(first) => first(out, classes),
                None => out,
            };
            view(out, classes)
        });
        let adaptive_task = MembershipTask {
            recipe: Recipe {
                answers: Some(composed),
                ..task.recipe.clone()
            },
            ..defended_task
        };
        let outcome = membership::run(attack, &adaptive_task, is_member)?;
        adaptive_reference.observed = Some(Details::new(GuardObserved {
            attack_ran: true,
            why: None,
            shadow_models_see: Some(
                "their outputs through the same defence (the adaptive adversary)",
            ),
        }));
        let subject = format!(
            "the model behind {} (against the adversary who knows it)",
            defense.info().name
        );
        report.adaptive = Some(Box::new(
            self::report(&outcome, kb, &defended.info().description, data, context)
                .with_defense(adaptive_reference)
                .with_findings(vec![finding(&outcome, kb, &subject)]),
        ));
    }
    Ok(report)
}

/// A target aisec trains for a membership experiment, with the split that says who is a
/// member.
pub struct TrainedTarget {
    pub model: Arc<NativeModel>,
    pub split: membership::MembershipSplit,
    pub context: MembershipContext,
    /// One line: the data, the split and the seed.
    pub description: String,
}

/// Splits `all` (members, as many non-members, the adversary's population) and trains the
/// target on the members with `recipe` — the recipe the adversary's shadow models follow.
pub fn train_target(all: &Dataset, recipe: &Recipe, seed: u64) -> Result<TrainedTarget> {
    let split = membership::MembershipSplit::new(all, recipe.train_size, seed)
        .map_err(|e| AssessError::Config(format!("--train-size: {e}")))?;
    split.members.check_trainable()?;
    let net = recipe.fit(&split.members, seed)?;
    let model = Arc::new(NativeModel::new(
        net,
        Manifest::new(recipe.architecture, &split.members, seed),
    ));
    let target_accuracy = target_accuracy(
        model.as_ref(),
        &split.members,
        &non_member_candidates(&split.candidates, &split.is_member),
    )?;
    let d = &split.description;
    Ok(TrainedTarget {
        description: format!(
            "{}: {} records; target trained by aisec on {} members, {} non-members, {} in the adversary's population (seed {})",
            d.dataset, d.records, d.members, d.non_members, d.population, d.seed
        ),
        context: MembershipContext {
            split: Some(SplitUsed::TrainedHere(d.clone())),
            target_accuracy: Some(target_accuracy),
            seed,
        },
        model,
        split,
    })
}
