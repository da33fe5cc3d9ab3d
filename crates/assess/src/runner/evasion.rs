//! Evasion in the one runner: the attack against the model, then against the model behind a
//! query-path defence (or the detector's rate on its examples), and the adaptive attack that
//! knows the defence — EOT through randomness, HopSkipJump through output hardening.
//! `aisec attack evasion` and the demo call this; they only print.

use std::sync::Arc;

use aisec_atlas::KnowledgeBase;
use aisec_attacks::evasion::{self, Budget, EvasionParams, EvasionTask};
use aisec_attacks::registry::EvasionEntry;
use aisec_attacks::AttackOutcome;
use aisec_defenses::{DefenseSpec, Family, Role};
use aisec_ml::data::stream::StreamedData;
use aisec_ml::data::Dataset;
use aisec_ml::model::Classifier;
use aisec_report::RunReport;

use super::Experiment;
use crate::findings::{evasion_finding, evasion_report};
use crate::{AssessError, Result};

/// One evasion measurement.
pub struct EvasionRequest<'a> {
    pub attack: &'static EvasionEntry,
    pub params: EvasionParams,
    pub model: Arc<dyn Classifier>,
    pub data: &'a Dataset,
    /// Push every example to this class instead of any wrong one.
    pub target_class: Option<usize>,
    pub defense: Option<&'a DefenseSpec>,
    pub seed: u64,
}

/// The runs and the shared report: `report.defended` is the run behind the defence and
/// `report.defended.adaptive` the adaptive one.
pub struct EvasionRun {
    pub report: RunReport,
    pub outcome: AttackOutcome,
    pub defended: Option<AttackOutcome>,
    pub adaptive: Option<AttackOutcome>,
}

fn attack_once(request: &EvasionRequest, model: &dyn Classifier) -> Result<AttackOutcome> {
    // A fresh instance per run: some attacks record observations as they go.
    let attack = (request.attack.build)(&request.params)?;
    let task = EvasionTask {
        model,
        x: &request.data.x,
        y: &request.data.y,
        clip: request.data.input_range,
        target: request.target_class,
        seed: request.seed,
        stopped: Default::default(),
    };
    Ok(evasion::run(attack.as_ref(), &task)?)
}

/// Evasion as the runner drives it; the outcomes stay here for the text report.
pub struct EvasionExperiment<'a> {
    request: &'a EvasionRequest<'a>,
    kb: &'a KnowledgeBase,
    data_desc: String,
    pub outcome: Option<AttackOutcome>,
    pub defended: Option<AttackOutcome>,
    pub adaptive: Option<AttackOutcome>,
    /// The model behind the defence, for the adaptive run.
    guarded: Option<Arc<dyn Classifier>>,
}

impl<'a> EvasionExperiment<'a> {
    pub fn new(request: &'a EvasionRequest<'a>, kb: &'a KnowledgeBase) -> Self {
        let data = request.data;
        EvasionExperiment {
            request,
            kb,
            data_desc: format!("{} ({} examples)", data.name, data.len()),
            outcome: None,
            defended: None,
            adaptive: None,
            guarded: None,
        }
    }

    fn plain_outcome(&self) -> Result<&AttackOutcome> {
        self.outcome
            .as_ref()
            .ok_or_else(|| AssessError::Config("the defended run needs the plain run first".into()))
    }
}

impl Experiment for EvasionExperiment<'_> {
    fn family(&self) -> Family {
        Family::Evasion
    }

    fn check(&self, defense: &DefenseSpec) -> Result<()> {
        match defense.info().role {
            Role::Detector => squeeze_can_be_judged(self.request),
            Role::QueryPath => Ok(()),
            Role::Retraining | Role::DataFilter => Err(AssessError::Config(format!(
                "{} trains a new model: it is measured by `aisec defend` (which retrains and attacks the result), not by --defend on an attack",
                defense.info().name
            ))),
        }
    }

    fn attack(&mut self) -> Result<RunReport> {
        let request = self.request;
        let outcome = attack_once(request, request.model.as_ref())?;
        let report = evasion_report(
            &outcome,
            self.kb,
            &request.model.info().description,
            &self.data_desc,
        );
        self.outcome = Some(outcome);
        Ok(report)
    }

    fn defended(&mut self, defense: &DefenseSpec) -> Result<RunReport> {
        let request = self.request;
        if defense.info().role == Role::Detector {
            let config = defense
                .config::<aisec_defenses::feature_squeezing::SqueezeConfig>()
                .ok_or_else(|| {
                    AssessError::Config(format!(
                        "{} flags inputs, and aisec measures only feature squeezing as an evasion detector",
                        defense.info().name
                    ))
                })?;
            return crate::detection::feature_squeezing_report(
                request.model.as_ref(),
                request.data,
                self.plain_outcome()?,
                *config,
                self.kb,
                request.seed,
            );
        }
        let guarded = defense
            .guard(request.model.clone(), request.seed)
            .ok_or_else(|| {
                AssessError::Config(format!(
                    "{} is not measured by re-running an evasion attack through it",
                    defense.info().name
                ))
            })?;
        let outcome = attack_once(request, guarded.model.as_ref())?;
        let mut report =
            defended_report(&outcome, self.kb, guarded.model.as_ref(), &self.data_desc);
        let mut reference = defense.as_defense().reference();
        reference.observed = guarded.observed();
        report.defense = Some(reference);
        self.guarded = Some(guarded.model.clone());
        self.defended = Some(outcome);
        Ok(report)
    }

    fn adaptive(
        &mut self,
        defense: &DefenseSpec,
        defended: &mut RunReport,
    ) -> Result<Option<RunReport>> {
        let request = self.request;
        if let Some(adaptive_target) = defense.adaptive_guard(request.model.clone(), request.seed) {
            // The adaptive target differs from the plain one only in the gradients it offers
            // (EOT): a query-only attack would meet the same target twice.
            if request.attack.access == aisec_attacks::Access::WhiteBox
                && adaptive_target.model.gradients().is_some()
            {
                let outcome = attack_once(request, adaptive_target.model.as_ref())?;
                let mut adaptive = defended_report(
                    &outcome,
                    self.kb,
                    adaptive_target.model.as_ref(),
                    &self.data_desc,
                );
                adaptive.defense = defended.defense.clone();
                if let (Some(how), Some(f)) = (
                    defense.info().adaptive_attack,
                    adaptive.findings.first_mut(),
                ) {
                    f.title.push_str(&format!(" — adaptive: {how}"));
                }
                self.adaptive = Some(outcome);
                return Ok(Some(adaptive));
            }
        }
        let (Some(guarded), Some(defended_outcome)) =
            (self.guarded.clone(), self.defended.as_ref())
        else {
            return Ok(None);
        };
        let Some(outcome) =
            label_only_adaptive(request, defended_outcome.budget, defense, guarded.as_ref())?
        else {
            return Ok(None);
        };
        let mut adaptive = defended_report(&outcome, self.kb, guarded.as_ref(), &self.data_desc);
        adaptive.defense = defended.defense.clone();
        if let Some(f) = adaptive.findings.first_mut() {
            f.title.push_str(" — adaptive: HopSkipJump needs only the label, which every hardened answer still gives");
        }
        self.adaptive = Some(outcome);
        Ok(Some(adaptive))
    }
}

/// The attack, behind the request's defence and adaptively, through the one runner.
pub fn evasion(request: &EvasionRequest, kb: &KnowledgeBase) -> Result<EvasionRun> {
    let mut experiment = EvasionExperiment::new(request, kb);
    let report = super::run(&mut experiment, request.defense)?;
    let outcome = experiment
        .outcome
        .take()
        .ok_or_else(|| AssessError::Config("the evasion attack did not run".into()))?;
    Ok(EvasionRun {
        report,
        outcome,
        defended: experiment.defended.take(),
        adaptive: experiment.adaptive.take(),
    })
}

/// An evasion run over data read a part at a time ([`StreamedData`]): memory holds one
/// part's inputs and adversarial examples, never the whole set. No defence: a defended run
/// attacks the same inputs again and an adaptive one a third time, which a stream does not
/// replay.
pub struct PartedRequest<'a> {
    pub attack: &'static EvasionEntry,
    pub params: EvasionParams,
    pub model: Arc<dyn Classifier>,
    pub data: &'a StreamedData,
    pub inputs_per_part: usize,
    pub target_class: Option<usize>,
    pub seed: u64,
}

/// Attacks each part as [`evasion`] would (part k with seed + k), hands `on_part` the part
/// and its outcome (to write its adversarial examples), and reports the joined outcome.
pub fn evasion_in_parts(
    request: &PartedRequest,
    kb: &KnowledgeBase,
    on_part: &mut dyn FnMut(&Dataset, &AttackOutcome) -> Result<()>,
) -> Result<EvasionRun> {
    let per_part = request.inputs_per_part.max(1);
    let classes = request.model.info().num_classes;
    let mut outcomes = Vec::new();
    for (index, start) in (0..request.data.len()).step_by(per_part).enumerate() {
        let mut part = request.data.part(start, per_part)?;
        part.num_classes = classes;
        let single = EvasionRequest {
            attack: request.attack,
            params: request.params.clone(),
            model: request.model.clone(),
            data: &part,
            target_class: request.target_class,
            defense: None,
            seed: evasion::parts::part_seed(request.seed, index),
        };
        let mut outcome = attack_once(&single, request.model.as_ref())?;
        on_part(&part, &outcome)?;
        outcome.adversarial = Vec::new();
        outcomes.push(outcome);
    }
    let mut outcome = evasion::parts::join(outcomes, per_part, request.target_class)
        .ok_or_else(|| AssessError::Config("no inputs to attack".into()))?;
    outcome.seed = request.seed;
    let data_desc = format!(
        "{} ({} examples, read {} at a time)",
        request.data.name,
        request.data.len(),
        per_part.min(request.data.len())
    );
    let report = evasion_report(&outcome, kb, &request.model.info().description, &data_desc);
    Ok(EvasionRun {
        report,
        outcome,
        defended: None,
        adaptive: None,
    })
}

/// Output hardening (top-k, rounding, a reverse sigmoid) takes the scores away from a
/// score-based attack but leaves the label: the adaptive adversary runs HopSkipJump, which
/// needs only the label, through the same API, with the same norm, ε and per-input query
/// budget. None for other defences and when the attack already is HopSkipJump.
fn label_only_adaptive(
    request: &EvasionRequest,
    budget: Budget,
    defense: &DefenseSpec,
    guarded: &dyn Classifier,
) -> Result<Option<AttackOutcome>> {
    let answers_less = defense.info().role == Role::QueryPath
        && defense.info().applies_to == aisec_defenses::AppliesTo::Outputs;
    if !answers_less || request.attack.name == "evasion.hsj" {
        return Ok(None);
    }
    let Some(hsj) = aisec_attacks::registry::evasion_attacks()
        .iter()
        .find(|e| e.name == "evasion.hsj")
    else {
        return Ok(None);
    };
    // The budget the attack actually ran with (its defaults included).
    let p = &request.params;
    let params = EvasionParams {
        eps: budget.eps.or(p.eps),
        norm: Some(budget.norm),
        steps: None,
        step_size: None,
        random_start: None,
        restarts: None,
        queries_per_input: p.queries_per_input,
    };
    let adaptive = EvasionRequest {
        attack: hsj,
        params,
        model: request.model.clone(),
        data: request.data,
        target_class: request.target_class,
        defense: request.defense,
        seed: request.seed,
    };
    Ok(Some(attack_once(&adaptive, guarded)?))
}

/// Feature squeezing is judged by its adaptive attack (L∞ PGD that knows the squeezers, at
/// the attack's budget); a run that cannot make it would report the detector's rate against
/// an attack that ignores it, so it is refused up front.
fn squeeze_can_be_judged(request: &EvasionRequest) -> Result<()> {
    let budget = (request.attack.build)(&request.params)?.budget();
    let linf_budget = budget.eps.is_some() && budget.norm == aisec_attacks::evasion::Norm::Linf;
    let white_box = request.model.gradients().is_some();
    if linf_budget && white_box {
        return Ok(());
    }
    Err(AssessError::Config(format!(
        "--defend squeeze is judged by its adaptive attack (L∞ PGD that knows the squeezers, at the attack's ε), which needs {}: use --attack fgsm, pgd, apgd-ce or square (or hsj --norm inf --eps E){}",
        match (white_box, linf_budget) {
            (false, _) => "gradient access, and this target answers queries only".to_string(),
            _ => format!("an L∞ budget, and {} has none here", request.attack.name),
        },
        if white_box { "" } else { " against a model aisec can differentiate (a model directory or .onnx)" }
    )))
}

fn defended_report(
    outcome: &AttackOutcome,
    kb: &KnowledgeBase,
    model: &dyn Classifier,
    data_desc: &str,
) -> RunReport {
    let mut report = evasion_report(outcome, kb, &model.info().description, data_desc);
    report.findings = vec![evasion_finding(outcome, kb, "the defended model")];
    report
}
