//! Poisoning in the one runner: the clean and the poisoned model trained on the data, then
//! the defence as its role asks — a data filter (spectral signatures, activation clustering)
//! flags training records and the model is retrained on the rest; a detector (STRIP) screens
//! triggered inputs at run time.

use aisec_atlas::KnowledgeBase;
use aisec_defenses::{DefenseSpec, Family, Role};
use aisec_ml::data::Dataset;
use aisec_ml::net::Architecture;
use aisec_report::RunReport;

use super::Experiment;
use crate::poisoning::{self, DefenseFigures, PoisonAttack, PoisonOutcome, PoisonedRun};
use crate::{AssessError, Result};

pub struct PoisoningExperiment<'a> {
    arch: Architecture,
    train: &'a Dataset,
    test: &'a Dataset,
    attack: PoisonAttack,
    seed: u64,
    kb: &'a KnowledgeBase,
    poisoned: Option<PoisonedRun>,
    defended: Option<DefenseFigures>,
}

impl<'a> PoisoningExperiment<'a> {
    pub fn new(
        arch: Architecture,
        train: &'a Dataset,
        test: &'a Dataset,
        attack: PoisonAttack,
        seed: u64,
        kb: &'a KnowledgeBase,
    ) -> Self {
        PoisoningExperiment {
            arch,
            train,
            test,
            attack,
            seed,
            kb,
            poisoned: None,
            defended: None,
        }
    }

    /// The figures of every model trained, for the text report.
    pub fn outcome(&self) -> Result<PoisonOutcome> {
        self.poisoned
            .as_ref()
            .map(|p| p.outcome(self.defended.clone()))
            .ok_or_else(|| AssessError::Config("the poisoning attack did not run".into()))
    }
}

impl Experiment for PoisoningExperiment<'_> {
    fn family(&self) -> Family {
        Family::Poisoning
    }

    fn check(&self, defense: &DefenseSpec) -> Result<()> {
        match defense.info().role {
            Role::DataFilter | Role::Detector => Ok(()),
            _ => Err(AssessError::Config(format!(
                "{} is not a defence of training data or triggered inputs: use spectral, activation-clustering or strip",
                defense.info().name
            ))),
        }
    }

    fn attack(&mut self) -> Result<RunReport> {
        let p = poisoning::poison(self.arch, self.train, self.test, self.attack, self.seed)?;
        let report = poisoning::report(&p.outcome(None), self.kb);
        self.poisoned = Some(p);
        Ok(report)
    }

    fn defended(&mut self, defense: &DefenseSpec) -> Result<RunReport> {
        let p = self.poisoned.as_ref().ok_or_else(|| {
            AssessError::Config("the defended run needs the poisoned run first".into())
        })?;
        let figures = poisoning::defend(p, self.test, defense)?;
        let report = poisoning::defended_report(&p.outcome(None), &figures);
        self.defended = Some(figures);
        Ok(report)
    }
}
