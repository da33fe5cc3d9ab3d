//! Extraction in the one runner: the substitute trained from the API's answers, again
//! through the query-path defence (output hardening, PRADA), and, where exact equation
//! solving met perturbed scores, the adaptive retraining from the labels the defence keeps.

use aisec_atlas::KnowledgeBase;
use aisec_attacks::extract::equation::Solver;
use aisec_attacks::extract::ExtractionOutcome;
use aisec_attacks::registry::{ExtractionEntry, ExtractionParams};
use aisec_defenses::{AppliesTo, DefenseSpec, Family, Role};
use aisec_report::RunReport;

use super::Experiment;
use crate::extraction::{self, DefendedRun, ExtractionSetup};
use crate::{AssessError, Result};

pub struct ExtractionExperiment<'a> {
    pub entry: &'static ExtractionEntry,
    pub params: ExtractionParams,
    pub setup: ExtractionSetup<'a>,
    pub kb: &'a KnowledgeBase,
    pub data_desc: String,
    pub outcome: Option<ExtractionOutcome>,
    pub defended: Option<DefendedRun>,
}

impl<'a> ExtractionExperiment<'a> {
    pub fn new(
        entry: &'static ExtractionEntry,
        params: ExtractionParams,
        setup: ExtractionSetup<'a>,
        kb: &'a KnowledgeBase,
        data_desc: String,
    ) -> Self {
        ExtractionExperiment {
            entry,
            params,
            setup,
            kb,
            data_desc,
            outcome: None,
            defended: None,
        }
    }

    /// Exact equation solving needs the true scores, so a defence that perturbs the answers
    /// defeats it while retraining from the top labels (which the defence keeps) does not
    /// notice: the attack that knows the defence.
    fn adaptive_params(&self, defense: &DefenseSpec) -> Option<ExtractionParams> {
        let perturbs_outputs = defense.info().role == Role::QueryPath
            && defense.info().applies_to == AppliesTo::Outputs;
        (self.entry.name == "extract.equation"
            && perturbs_outputs
            && self.params.solver != Some(Solver::Retrain))
        .then(|| ExtractionParams {
            solver: Some(Solver::Retrain),
            ..self.params.clone()
        })
    }
}

impl Experiment for ExtractionExperiment<'_> {
    fn family(&self) -> Family {
        Family::Extraction
    }

    fn check(&self, defense: &DefenseSpec) -> Result<()> {
        match defense.info().role {
            Role::QueryPath => Ok(()),
            _ => Err(AssessError::Config(format!(
                "{} does not sit on the query path; extraction is measured through the API",
                defense.info().name
            ))),
        }
    }

    fn attack(&mut self) -> Result<RunReport> {
        let attack = (self.entry.build)(&self.params)?;
        let outcome = extraction::run(attack.as_ref(), &self.setup)?;
        let report = extraction::report(
            &outcome,
            self.kb,
            &self.setup.victim.info().description,
            &self.data_desc,
        );
        self.outcome = Some(outcome);
        Ok(report)
    }

    fn defended(&mut self, defense: &DefenseSpec) -> Result<RunReport> {
        let attack = (self.entry.build)(&self.params)?;
        let run = extraction::run_defended(
            attack.as_ref(),
            &self.setup,
            defense,
            self.kb,
            &self.data_desc,
        )?;
        let report = run.report.clone();
        self.defended = Some(run);
        Ok(report)
    }

    fn adaptive(
        &mut self,
        defense: &DefenseSpec,
        defended: &mut RunReport,
    ) -> Result<Option<RunReport>> {
        let Some(params) = self.adaptive_params(defense) else {
            return Ok(None);
        };
        let attack = (self.entry.build)(&params)?;
        let run = extraction::run_defended(
            attack.as_ref(),
            &self.setup,
            defense,
            self.kb,
            &self.data_desc,
        )?;
        let solver = format!("{:?}", self.params.solver.unwrap_or(Solver::Auto)).to_lowercase();
        for f in &mut defended.findings {
            f.title.push_str(&format!(
                " (measured with solver {solver}; the adaptive run, solver retrain, is reported beside it)"
            ));
        }
        if let Some(d) = self.defended.as_mut() {
            d.report.findings = defended.findings.clone();
            d.report.adaptive = Some(Box::new(run.report.clone()));
        }
        Ok(Some(run.report))
    }
}
