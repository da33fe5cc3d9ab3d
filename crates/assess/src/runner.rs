//! Build → Attack → Defend → attack again, for evasion: the attack against the model, then
//! against the model behind the defence, and, where the defence has one, the adaptive attack
//! that knows it. `aisec attack evasion` and the demo call this; they only print.

use std::sync::Arc;

use aisec_atlas::KnowledgeBase;
use aisec_attacks::evasion::{self, EvasionParams, EvasionTask};
use aisec_attacks::registry::EvasionEntry;
use aisec_attacks::AttackOutcome;
use aisec_defenses::{DefenseSpec, Family};
use aisec_ml::data::Dataset;
use aisec_ml::model::Classifier;
use aisec_report::RunReport;

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

pub fn evasion(request: &EvasionRequest, kb: &KnowledgeBase) -> Result<EvasionRun> {
    if let Some(d) = request.defense {
        d.check_family(Family::Evasion)
            .map_err(AssessError::Config)?;
        squeeze_can_be_judged(request, d)?;
    }
    let data = request.data;
    let data_desc = format!("{} ({} examples)", data.name, data.len());
    let outcome = attack_once(request, request.model.as_ref())?;
    let mut report = evasion_report(&outcome, kb, &request.model.info().description, &data_desc);
    let mut run = EvasionRun {
        report: report.clone(),
        outcome,
        defended: None,
        adaptive: None,
    };
    let Some(defense) = request.defense else {
        return Ok(run);
    };
    if let Some(config) = defense.config::<aisec_defenses::feature_squeezing::SqueezeConfig>() {
        let detection = crate::detection::feature_squeezing_report(
            request.model.as_ref(),
            data,
            &run.outcome,
            *config,
            kb,
            request.seed,
        )?;
        report.defended = Some(Box::new(detection));
        run.report = report;
        return Ok(run);
    }
    let guarded = defense
        .guard(request.model.clone(), request.seed)
        .ok_or_else(|| {
            AssessError::Config(format!(
                "{} is not measured by re-running an evasion attack through it",
                defense.info().name
            ))
        })?;
    let defended_outcome = attack_once(request, guarded.model.as_ref())?;
    let mut defended = defended_report(&defended_outcome, kb, guarded.model.as_ref(), &data_desc);
    let mut reference = defense.as_defense().reference();
    reference.observed = guarded.observed();
    defended.defense = Some(reference.clone());
    if let Some(adaptive_target) = defense.adaptive_guard(request.model.clone(), request.seed) {
        // The adaptive target differs from the plain one only in the gradients it offers
        // (EOT): a query-only attack would meet the same target twice.
        if request.attack.access == aisec_attacks::Access::WhiteBox
            && adaptive_target.model.gradients().is_some()
        {
            let adaptive_outcome = attack_once(request, adaptive_target.model.as_ref())?;
            let mut adaptive = defended_report(
                &adaptive_outcome,
                kb,
                adaptive_target.model.as_ref(),
                &data_desc,
            );
            adaptive.defense = Some(reference);
            if let (Some(how), Some(f)) = (
                defense.info().adaptive_attack,
                adaptive.findings.first_mut(),
            ) {
                f.title.push_str(&format!(" — adaptive: {how}"));
            }
            defended.adaptive = Some(Box::new(adaptive));
            run.adaptive = Some(adaptive_outcome);
        }
    }
    if defended.adaptive.is_none() {
        if let Some(adaptive_outcome) = label_only_adaptive(
            request,
            &defended_outcome.config,
            defense,
            guarded.model.as_ref(),
        )? {
            let mut adaptive =
                defended_report(&adaptive_outcome, kb, guarded.model.as_ref(), &data_desc);
            adaptive.defense = defended.defense.clone();
            if let Some(f) = adaptive.findings.first_mut() {
                f.title.push_str(" — adaptive: HopSkipJump needs only the label, which every hardened answer still gives");
            }
            defended.adaptive = Some(Box::new(adaptive));
            run.adaptive = Some(adaptive_outcome);
        }
    }
    report.defended = Some(Box::new(defended));
    run.report = report;
    run.defended = Some(defended_outcome);
    Ok(run)
}

/// Output hardening (top-k, rounding, a reverse sigmoid) takes the scores away from a
/// score-based attack but leaves the label: the adaptive adversary runs HopSkipJump, which
/// needs only the label, through the same API, with the same norm, ε and per-input query
/// budget. None for other defences and when the attack already is HopSkipJump.
fn label_only_adaptive(
    request: &EvasionRequest,
    attack_config: &serde_json::Value,
    defense: &DefenseSpec,
    guarded: &dyn Classifier,
) -> Result<Option<AttackOutcome>> {
    if defense
        .config::<aisec_defenses::output_hardening::Hardening>()
        .is_none()
        || request.attack.name == "evasion.hsj"
    {
        return Ok(None);
    }
    let Some(hsj) = aisec_attacks::registry::evasion_attacks()
        .iter()
        .find(|e| e.name == "evasion.hsj")
    else {
        return Ok(None);
    };
    // The budget the attack actually ran with (its defaults included), from its config.
    let p = &request.params;
    let eps = attack_config["eps"].as_f64().map(|e| e as f32).or(p.eps);
    let norm = match attack_config["norm"].as_str() {
        Some("inf") => aisec_attacks::evasion::Norm::Linf,
        Some("2") => aisec_attacks::evasion::Norm::L2,
        // The minimum-norm attacks (C&W, DeepFool) record no norm: theirs is L2.
        _ => p.norm.unwrap_or(aisec_attacks::evasion::Norm::L2),
    };
    let params = EvasionParams {
        eps,
        norm: Some(norm),
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
fn squeeze_can_be_judged(request: &EvasionRequest, defense: &DefenseSpec) -> Result<()> {
    if defense
        .config::<aisec_defenses::feature_squeezing::SqueezeConfig>()
        .is_none()
    {
        return Ok(());
    }
    let config = (request.attack.build)(&request.params)?.config();
    let linf_budget = config["eps"].is_number() && config["norm"] == "inf";
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
