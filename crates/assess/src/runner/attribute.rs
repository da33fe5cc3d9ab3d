//! Attribute inference in the one runner: a held-out sensitive column of the target's
//! training records inferred from its confidences (Fredrikson et al. 2014's MAP guess, or
//! Yeom et al. 2018's likelihood-only guess), against the base rate and against records the
//! model never saw; again through a defence on the model's answers.

use std::sync::Arc;

use aisec_atlas::KnowledgeBase;
use aisec_attacks::extract::Oracle;
use aisec_attacks::inversion::{self, attribute, attribute::AttributeOutcome};
use aisec_core::{Details, Metric, Metrics, Severity};
use aisec_defenses::{DefenseSpec, Family, Role};
use aisec_ml::data::Dataset;
use aisec_ml::model::{Classifier, OutputKind};
use aisec_report::{RunKind, RunReport};
use serde::Serialize;

use super::Experiment;
use crate::membership::privacy_finding;
use crate::{AssessError, Result};

/// Which column was inferred, whether the prior was used, and over how many records.
#[derive(Debug, Clone, Serialize)]
pub struct AttributeSettings {
    pub column: usize,
    pub use_prior: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records: Option<usize>,
}

pub struct AttributeExperiment<'a> {
    /// The target behind what the API reveals.
    pub target: Arc<dyn Classifier>,
    pub members: &'a Dataset,
    pub non_members: &'a Dataset,
    pub population: &'a Dataset,
    pub column: usize,
    pub use_prior: bool,
    pub seed: u64,
    pub kb: &'a KnowledgeBase,
    pub data_description: String,
    pub outcome: Option<AttributeOutcome>,
}

impl AttributeExperiment<'_> {
    fn infer(&self, target: &dyn Classifier) -> Result<(AttributeOutcome, RunReport)> {
        let mut oracle = Oracle::over(target, u64::MAX);
        let out = attribute::run(
            &mut oracle,
            self.members,
            self.non_members,
            self.population,
            self.column,
            self.use_prior,
        )?;
        let advantage = out.members.accuracy - out.base_rate_members;
        let leak = out.members.balanced_accuracy - out.non_members.balanced_accuracy;
        let mut metrics = Metrics::default();
        let bad = |e: aisec_core::MetricError| AssessError::Config(e.to_string());
        metrics
            .insert(Metric::AttackSuccessRate, out.members.accuracy)
            .map_err(bad)?;
        metrics
            .insert(Metric::BalancedAccuracy, out.members.balanced_accuracy)
            .map_err(bad)?;
        metrics
            .insert(Metric::QueriesTotal, out.queries as f64)
            .map_err(bad)?;
        let severity = match (advantage, leak) {
            (a, _) if a > 0.1 => Severity::High,
            (a, l) if a > 0.02 || l > 0.05 => Severity::Medium,
            (_, l) if l > 0.01 => Severity::Low,
            _ => Severity::Info,
        };
        let finding = privacy_finding(
            format!(
                "{} infers column {} of the model's training records with accuracy {:.1}% (base rate {:.1}%, {:+.1} points) and balanced accuracy {:.3} against {:.3} on records it never saw",
                attribute::INFO.name,
                self.column,
                100.0 * out.members.accuracy,
                100.0 * out.base_rate_members,
                100.0 * advantage,
                out.members.balanced_accuracy,
                out.non_members.balanced_accuracy,
            ),
            severity,
            inversion::ATLAS,
            metrics.clone(),
            self.kb,
        );
        let report = RunReport::new(
            RunKind::Attack,
            attribute::INFO.name,
            inversion::ATLAS,
            target.info().description.clone(),
            Details::new(AttributeSettings {
                column: self.column,
                use_prior: self.use_prior,
                records: Some(self.members.len()),
            }),
            self.seed,
            metrics,
        )
        .with_data(self.data_description.clone())
        .with_observations(Details::new(out.clone()))
        .with_findings(vec![finding]);
        Ok((out, report))
    }
}

impl Experiment for AttributeExperiment<'_> {
    fn family(&self) -> Family {
        Family::Privacy
    }

    fn check(&self, defense: &DefenseSpec) -> Result<()> {
        match defense.info().role {
            Role::QueryPath => Ok(()),
            _ => Err(AssessError::Config(format!(
                "--defend {}: attribute inference is measured again through a defence on the model's answers (top1, topk:K, round:D, reverse-sigmoid)",
                defense.info().name
            ))),
        }
    }

    fn attack(&mut self) -> Result<RunReport> {
        let (out, report) = self.infer(self.target.as_ref())?;
        self.outcome = Some(out);
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
            return Ok(super::not_possible(
                attribute::INFO.name,
                Details::new(AttributeSettings {
                    column: self.column,
                    use_prior: self.use_prior,
                    records: None,
                }),
                &guarded.model.info().description,
                defense,
                "attribute inference compares the model's confidence under each value, and a labels-only answer gives none",
                self.seed,
                self.kb,
            ));
        }
        let mut reference = defense.as_defense().reference();
        let (_, mut report) = self.infer(guarded.model.as_ref())?;
        reference.observed = guarded.observed();
        report.defense = Some(reference);
        Ok(report)
    }
}
