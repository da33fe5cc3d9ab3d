//! Membership inference in the one runner: the attack on the target as it answers, again
//! through a query-path defence (output hardening, whose adaptive label-only run the
//! defended report carries) or against the target retrained with a privacy defence (DP-SGD,
//! L2, early stopping), the adversary's shadow models trained the same way.

use std::sync::Arc;

use aisec_atlas::KnowledgeBase;
use aisec_attacks::membership::{
    self, MembershipEntry, MembershipOutcome, MembershipParams, MembershipTask, Recipe,
};
use aisec_defenses::{DefenseSpec, Family, Role};
use aisec_ml::data::Dataset;
use aisec_ml::model::{Classifier, OutputKind};
use aisec_report::RunReport;

use super::Experiment;
use crate::membership::{self as findings, MembershipContext, MembershipExperiment};
use crate::{AssessError, Result};

/// What the front end prepared: the target as it answers, the candidates and who among them
/// is a member, the adversary's population and how it trains shadow models.
pub struct MembershipSetup<'a> {
    pub entry: &'static MembershipEntry,
    pub params: MembershipParams,
    /// The target behind what the API reveals (`revealing(model, outputs)`).
    pub target: Arc<dyn Classifier>,
    pub candidates: &'a Dataset,
    pub is_member: &'a [bool],
    pub population: &'a Dataset,
    /// The target's training records, where known: a retraining defence retrains on them.
    pub members: Option<&'a Dataset>,
    pub recipe: Recipe,
    pub outputs: OutputKind,
    pub budget: u64,
    pub seed: u64,
    pub kb: &'a KnowledgeBase,
    pub data_description: String,
    pub context: MembershipContext,
    /// Called as shadow models finish: (done, total).
    pub progress: Option<&'a (dyn Fn(usize, usize) + Sync)>,
}

/// A retraining defence retrains the target on its training records, which aisec holds only
/// when it trained the target itself. Checked before anything loads, too.
pub fn retraining_possible(defense: &DefenseSpec, records_known: bool) -> Result<()> {
    if defense.info().role != Role::Retraining || records_known {
        return Ok(());
    }
    Err(AssessError::Config(format!(
        "--defend {}: a retraining defence needs the target's training records, which aisec has only when it trains the target; with --model, use an output defence (top1, topk:K, label, round:D, reverse-sigmoid)",
        defense.info().name
    )))
}

pub struct MembershipInference<'a> {
    pub setup: MembershipSetup<'a>,
    pub outcome: Option<MembershipOutcome>,
}

impl<'a> MembershipInference<'a> {
    pub fn new(setup: MembershipSetup<'a>) -> Self {
        MembershipInference {
            setup,
            outcome: None,
        }
    }

    fn task(&self) -> MembershipTask<'_> {
        let s = &self.setup;
        MembershipTask {
            target: s.target.as_ref(),
            candidates: s.candidates,
            population: s.population,
            recipe: s.recipe.clone(),
            budget: s.budget,
            seed: s.seed,
            progress: s.progress,
        }
    }
}

impl Experiment for MembershipInference<'_> {
    fn family(&self) -> Family {
        Family::Privacy
    }

    fn check(&self, defense: &DefenseSpec) -> Result<()> {
        match defense.info().role {
            Role::QueryPath => Ok(()),
            Role::Retraining => retraining_possible(defense, self.setup.members.is_some()),
            _ => Err(AssessError::Config(format!(
                "--defend {} is not measured by membership inference",
                defense.info().name
            ))),
        }
    }

    fn attack(&mut self) -> Result<RunReport> {
        let attack = (self.setup.entry.build)(&self.setup.params)?;
        let outcome = membership::run(attack.as_ref(), &self.task(), self.setup.is_member)?;
        let s = &self.setup;
        let report = findings::report(
            &outcome,
            s.kb,
            &s.target.info().description,
            &s.data_description,
            &s.context,
        );
        self.outcome = Some(outcome);
        Ok(report)
    }

    fn defended(&mut self, defense: &DefenseSpec) -> Result<RunReport> {
        let s = &self.setup;
        let attack = (s.entry.build)(&s.params)?;
        match (defense.info().role, s.members) {
            (Role::Retraining, Some(members)) => {
                let experiment = MembershipExperiment {
                    members,
                    candidates: s.candidates,
                    is_member: s.is_member,
                    population: s.population,
                    recipe: s.recipe.clone(),
                    outputs: s.outputs,
                    budget: s.budget,
                    seed: s.seed,
                    progress: s.progress,
                };
                findings::run_behind_retraining(
                    attack.as_ref(),
                    &experiment,
                    defense.as_defense(),
                    s.kb,
                    &s.data_description,
                )
            }
            _ => findings::run_behind_guard(
                attack.as_ref(),
                s.target.clone(),
                &self.task(),
                s.is_member,
                defense.as_defense(),
                s.kb,
                &s.data_description,
                &s.context,
            ),
        }
    }
}
