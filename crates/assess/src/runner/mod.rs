//! The one runner: Build → Attack → Defend → attack again, for every family. A family
//! implements [`Experiment`] — the attack on the target as deployed, the same attack measured
//! behind a defence the way the defence's [`Role`](aisec_defenses::Role) asks, and the
//! adaptive attack that knows the defence — and [`run`] puts the three runs into one
//! [`RunReport`] (`defended`, `defended.adaptive`). Every `aisec attack …` command, the demo's
//! stages and `aisec assess` reach the families through here; the CLI parses and prints.
//!
//! Adding a family is one module implementing the trait; adding an attack to a family is its
//! module plus one line in the family's registry.

pub mod attribute;
pub mod evasion;
pub mod extraction;
pub mod inversion;
pub mod llm;
pub mod membership;
pub mod poisoning;

use aisec_defenses::{DefenseSpec, Family};
use aisec_report::RunReport;

use crate::{AssessError, Result};

pub use evasion::{
    evasion, evasion_in_parts, EvasionExperiment, EvasionRequest, EvasionRun, PartedRequest,
};

/// One family's attack, as the runner drives it.
pub trait Experiment {
    /// The family whose defences it accepts (`--defend` is checked against it first).
    fn family(&self) -> Family;

    /// Refuses, before any work, a defence this experiment cannot measure honestly.
    fn check(&self, _defense: &DefenseSpec) -> Result<()> {
        Ok(())
    }

    /// The attack against the target as deployed.
    fn attack(&mut self) -> Result<RunReport>;

    /// The same attack measured behind `defense`, as its role asks: through the query path,
    /// against the retrained model, on the filtered data, or against the detector.
    fn defended(&mut self, defense: &DefenseSpec) -> Result<RunReport>;

    /// The attack that knows the defence, where the family has one that this defended run
    /// did not already include; it may annotate `defended` (what the adaptive run changes).
    fn adaptive(
        &mut self,
        _defense: &DefenseSpec,
        _defended: &mut RunReport,
    ) -> Result<Option<RunReport>> {
        Ok(None)
    }
}

/// The attack again behind `defense`, and the adaptive attack on it, after
/// [`Experiment::attack`] ran — or after the front end gave the experiment a plain run it
/// already had (the demo measures feature squeezing on its battery's PGD run).
pub fn defend(
    experiment: &mut dyn Experiment,
    defense: &DefenseSpec,
    on_stage: &dyn Fn(Stage),
) -> Result<RunReport> {
    defense
        .check_family(experiment.family())
        .map_err(AssessError::Config)?;
    experiment.check(defense)?;
    on_stage(Stage::Defended);
    let mut defended = experiment.defended(defense)?;
    if defended.adaptive.is_none() {
        on_stage(Stage::Adaptive);
        if let Some(adaptive) = experiment.adaptive(defense, &mut defended)? {
            defended.adaptive = Some(Box::new(adaptive));
        }
    }
    Ok(defended)
}

/// One attack compared across several defences (the demo's trade-off tables): the attack
/// once, then each defence with its adaptive run. The plain report carries the first
/// defence's runs; every defended report is returned in order.
pub fn run_each(
    experiment: &mut dyn Experiment,
    defenses: &[DefenseSpec],
) -> Result<(RunReport, Vec<RunReport>)> {
    for d in defenses {
        d.check_family(experiment.family())
            .map_err(AssessError::Config)?;
        experiment.check(d)?;
    }
    let mut report = experiment.attack()?;
    let mut defended = Vec::new();
    for d in defenses {
        defended.push(defend(experiment, d, &|_| {})?);
    }
    report.defended = defended.first().cloned().map(Box::new);
    Ok((report, defended))
}

/// A run that could not happen behind a defence (an attack that climbs confidences, behind
/// a labels-only answer): no figures, a finding that says why, and the defence's reference
/// with `attack_ran: false` — not a defence that "worked" with figures of 0.
pub(crate) fn not_possible(
    attack: &'static str,
    config: aisec_core::Details,
    target: &str,
    defense: &DefenseSpec,
    why: &str,
    seed: u64,
    kb: &aisec_atlas::KnowledgeBase,
) -> RunReport {
    let mut reference = defense.as_defense().reference();
    reference.observed = Some(aisec_core::Details::new(crate::membership::GuardObserved {
        attack_ran: false,
        why: Some(why.to_string()),
        shadow_models_see: None,
    }));
    let finding = crate::membership::privacy_finding(
        format!("{attack} cannot run behind {}: {why}", defense.info().name),
        aisec_core::Severity::Info,
        aisec_attacks::inversion::ATLAS,
        aisec_core::Metrics::default(),
        kb,
    );
    RunReport::new(
        aisec_report::RunKind::Attack,
        attack,
        aisec_attacks::inversion::ATLAS,
        target,
        config,
        seed,
        aisec_core::Metrics::default(),
    )
    .with_defense(reference)
    .with_findings(vec![finding])
}

/// Which run is starting, for a front end's progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Attack,
    Defended,
    Adaptive,
    Finished,
}

/// The attack, then — with a defence — the defended and the adaptive runs, as one report.
pub fn run(experiment: &mut dyn Experiment, defense: Option<&DefenseSpec>) -> Result<RunReport> {
    run_observed(experiment, defense, &|_| {})
}

/// [`run`], telling `on_stage` as each run starts and when all are done (also on error).
pub fn run_observed(
    experiment: &mut dyn Experiment,
    defense: Option<&DefenseSpec>,
    on_stage: &dyn Fn(Stage),
) -> Result<RunReport> {
    if let Some(d) = defense {
        d.check_family(experiment.family())
            .map_err(AssessError::Config)?;
        experiment.check(d)?;
    }
    let result = (|| {
        on_stage(Stage::Attack);
        let mut report = experiment.attack()?;
        if let Some(d) = defense {
            report.defended = Some(Box::new(defend(experiment, d, on_stage)?));
        }
        Ok(report)
    })();
    on_stage(Stage::Finished);
    result
}
