//! Model inversion (MI-Face) in the one runner: class representatives rebuilt from the model,
//! then again through a query-path defence (output hardening: rounded or top-k confidences
//! starve the ascent of the signal it climbs). Retraining defences are not measured here:
//! they need the target's training records.

use std::sync::Arc;

use aisec_atlas::KnowledgeBase;
use aisec_attacks::inversion::mi_face::{self, Inversion, MiFaceConfig};
use aisec_attacks::inversion::Resemblance;
use aisec_defenses::{DefenseSpec, Family, Role};
use aisec_ml::data::{Dataset, InputRange};
use aisec_ml::model::{Classifier, OutputKind};
use aisec_report::RunReport;

use super::Experiment;
use crate::inversion::mi_face_report;
use crate::{AssessError, Result};

pub struct InversionExperiment<'a> {
    pub config: MiFaceConfig,
    pub target: Arc<dyn Classifier>,
    pub classes: Vec<usize>,
    /// The assessor's data: reconstructions are compared with it; the attack never reads it.
    pub assessor: &'a Dataset,
    pub range: InputRange,
    pub budget: u64,
    pub seed: u64,
    pub kb: &'a KnowledgeBase,
    pub outcome: Option<(Inversion, Vec<Resemblance>)>,
    pub defended: Option<(Inversion, Vec<Resemblance>)>,
}

impl InversionExperiment<'_> {
    fn invert(&self, target: &dyn Classifier) -> Result<(Inversion, RunReport, Vec<Resemblance>)> {
        let out = mi_face::invert(
            &self.config,
            target,
            &self.classes,
            &self.assessor.sample_shape,
            self.range,
            self.budget,
            self.seed,
        )?;
        let (report, compared) = mi_face_report(
            &out,
            &self.config,
            self.assessor,
            &target.info().description,
            self.range,
            self.seed,
            self.kb,
        );
        Ok((out, report, compared))
    }
}

impl Experiment for InversionExperiment<'_> {
    fn family(&self) -> Family {
        Family::Privacy
    }

    fn check(&self, defense: &DefenseSpec) -> Result<()> {
        match defense.info().role {
            Role::QueryPath => Ok(()),
            _ => Err(AssessError::Config(format!(
                "--defend {}: inversion is measured again through a defence on the model's answers (top1, topk:K, label, round:D, reverse-sigmoid); a retraining defence needs the target's training records",
                defense.info().name
            ))),
        }
    }

    fn attack(&mut self) -> Result<RunReport> {
        let (out, report, compared) = self.invert(self.target.as_ref())?;
        self.outcome = Some((out, compared));
        Ok(report)
    }

    fn defended(&mut self, defense: &DefenseSpec) -> Result<RunReport> {
        let guarded = defense
            .guard(self.target.clone(), self.seed)
            .ok_or_else(|| {
                AssessError::Config(format!(
                    "{} does not sit on the query path",
                    defense.info().name
                ))
            })?;
        if guarded.model.output_kind() == OutputKind::Label {
            let why = format!(
                "MI-Face climbs a class's confidence, and {} answers labels only",
                guarded.model.info().description
            );
            return Ok(super::not_possible(
                mi_face::INFO.name,
                aisec_core::Details::new(self.config.clone()),
                &guarded.model.info().description,
                defense,
                &why,
                self.seed,
                self.kb,
            ));
        }
        let mut reference = defense.as_defense().reference();
        let (out, mut report, compared) = self.invert(guarded.model.as_ref())?;
        reference.observed = guarded.observed();
        report.defense = Some(reference);
        self.defended = Some((out, compared));
        Ok(report)
    }
}
