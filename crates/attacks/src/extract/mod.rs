//! Functional extraction: an adversary with query access only builds a substitute that
//! answers like the victim, then studies it offline (white-box evasion examples crafted on
//! the substitute and sent to the victim: black-box transfer).
//!
//! Every attack here talks to the victim through [`Oracle`], which counts each query,
//! stops at the attack's budget or at the target's own (a served API's included), and turns
//! whatever the API reveals — probabilities, a top-k, a label — into training targets.
//! [`Judge`] is the assessor's side: fidelity (agreement with the victim) on held-out data
//! and on uniform random inputs, and the substitute's accuracy, all without charging the
//! adversary.
//!
//! ATLAS: AML.T0024.002 Extract AI Model, AML.T0005.001 Train Proxy via Replication,
//! AML.T0048.004 AI Intellectual Property Theft; the transfer step AML.T0043.002 Black-Box
//! Transfer.

mod judge;
mod oracle;
mod substitute;

registered!(ATTACKS: crate::registry::ExtractionEntry = equation, jacobian, knockoff);

pub use judge::{Checkpoint, Judge, Measurement, UNIFORM_INPUTS};
pub use oracle::{targets, Answers, InputBox, Oracle};
pub use substitute::{template, SubstituteSpec};

use aisec_core::Metric;
use std::time::Instant;

use aisec_core::{Details, Metrics};
use aisec_ml::data::Dataset;
use aisec_ml::model::{Classifier, OutputKind};
use aisec_ml::native::{Manifest, NativeModel};
use aisec_ml::net::Network;
use aisec_ml::tensor;
use aisec_ml::train::{self};
use serde::Serialize;

use crate::evasion::{self, EvasionParams, EvasionTask};
use crate::{AttackError, Result};

pub const ATLAS: &[&str] = &["AML.T0024.002", "AML.T0005.001", "AML.T0048.004"];
pub const TRANSFER_ATLAS: &str = "AML.T0043.002";

/// Queries per request: large enough to be efficient, small enough for a served API.
const CHUNK: usize = 500;

/// The extraction game.
pub struct ExtractionTask<'a> {
    pub victim: &'a dyn Classifier,
    /// The adversary's own data (seed set, query pool): its labels are never given to the
    /// substitute; a pool's own labels may serve to group it (Knockoff's adaptive strategy).
    pub public: &'a Dataset,
    /// The assessor's held-out data, for fidelity and accuracy.
    pub holdout: &'a Dataset,
    /// Most queries the attack may spend.
    pub budget: u64,
    pub seed: u64,
    /// The assessor's own copy of the victim, when it has one: fidelity and transfer are
    /// measured on it, so no measurement goes through the API (whose limits and monitors
    /// would otherwise see the assessor's queries).
    pub reference: Option<&'a dyn Classifier>,
}

impl ExtractionTask<'_> {
    /// The model the assessor measures with: its own copy, or else the API.
    pub fn assessor(&self) -> &dyn Classifier {
        self.reference.unwrap_or(self.victim)
    }

    pub fn features(&self) -> usize {
        self.victim.info().features()
    }

    pub fn classes(&self) -> usize {
        self.victim.info().num_classes
    }

    /// The box random queries are drawn from: the valid input range when the data has one,
    /// otherwise each feature's range over the adversary's data.
    pub fn input_box(&self) -> InputBox {
        InputBox::of(self.public)
    }
}

/// What an extraction attack hands back.
pub struct Extracted {
    pub substitute: Network,
    pub curve: Vec<Checkpoint>,
    /// The attack's own record (its module's observations type).
    pub observations: Details,
}

pub trait ExtractionAttack: Send + Sync {
    /// The module's description (its `INFO` const).
    fn info(&self) -> &'static crate::AttackInfo;
    fn name(&self) -> &'static str {
        self.info().name
    }
    fn atlas(&self) -> &'static [&'static str] {
        self.info().atlas
    }
    fn config(&self) -> Details;
    fn extract(
        &self,
        task: &ExtractionTask,
        oracle: &mut Oracle,
        judge: &Judge,
    ) -> Result<Extracted>;
}

/// White-box evasion on the substitute, sent to the victim.
#[derive(Debug, Clone, Serialize)]
pub struct Transfer {
    pub attack: &'static str,
    pub eps: f32,
    /// Held-out inputs the victim classifies correctly.
    pub attacked: usize,
    /// Share of them whose substitute-crafted example fools the substitute.
    pub substitute_success_rate: f64,
    /// Share of them whose substitute-crafted example fools the victim.
    pub attack_success_rate: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExtractionOutcome {
    pub name: String,
    pub atlas: Vec<String>,
    pub config: Details,
    pub seed: u64,
    /// fidelity, fidelity_uniform, substitute_accuracy, clean_accuracy (the victim's),
    /// queries_total, wall_seconds.
    pub metrics: Metrics,
    pub curve: Vec<Checkpoint>,
    pub output_kind: OutputKind,
    pub budget_exhausted: bool,
    /// Why the attack stopped early, when it did: its own budget spent, or the API refusing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    /// How fidelity was measured and what that cost at the API (never the adversary's).
    pub measurement: judge::Measurement,
    pub observations: Details,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer: Option<Transfer>,
    #[serde(skip)]
    pub substitute: Network,
}

impl ExtractionOutcome {
    /// The substitute as a model that can be saved, served or attacked.
    pub fn substitute_model(&self, template: &Dataset, seed: u64) -> NativeModel {
        let manifest = Manifest::new(self.substitute.architecture(), template, seed);
        NativeModel::new(self.substitute.clone(), manifest)
    }
}

/// Runs `attack`, measures the substitute and, when `transfer_eps` is set, the
/// transferability of PGD examples crafted on it.
pub fn run(
    attack: &dyn ExtractionAttack,
    task: &ExtractionTask,
    transfer_eps: Option<f32>,
) -> Result<ExtractionOutcome> {
    if task.public.features() != task.features() || task.holdout.features() != task.features() {
        return Err(AttackError::Config {
            attack: attack.name(),
            message: format!(
                "the data has {} values per input but the model takes {}",
                task.public.features(),
                task.features()
            ),
        });
    }
    if task.budget == 0 {
        return Err(AttackError::Config {
            attack: attack.name(),
            message: "the query budget must be at least 1".into(),
        });
    }
    let started = Instant::now();
    let judge = Judge::new(task)?;
    let mut oracle = Oracle::new(task);
    let extracted = attack.extract(task, &mut oracle, &judge)?;
    let wall = started.elapsed().as_secs_f64();
    let last = judge.measure(&extracted.substitute, oracle.used);
    let mut metrics = Metrics::default();
    let mut put = |k: Metric, v: f64| crate::evasion::put_metric(&mut metrics, k, v);
    put(Metric::Fidelity, last.fidelity);
    put(Metric::FidelityUniform, last.fidelity_uniform);
    put(Metric::SubstituteAccuracy, last.substitute_accuracy);
    put(Metric::CleanAccuracy, judge.victim_accuracy);
    put(Metric::QueriesTotal, oracle.used as f64);
    put(Metric::WallSeconds, wall);
    // One point per query count: rounds that spent nothing (a spent budget) measure the
    // same substitute again, and the final measurement is the one the metrics report.
    let mut curve: Vec<Checkpoint> = Vec::new();
    for point in extracted.curve.into_iter().chain([last]) {
        match curve.last_mut() {
            Some(previous) if previous.queries == point.queries => *previous = point,
            _ => curve.push(point),
        }
    }
    let transfer = match transfer_eps {
        Some(eps) => match transfer(&extracted.substitute, task, &judge.victim_holdout, eps) {
            Ok(t) => Some(t),
            // The extraction's result stands when the API refuses the transfer check.
            Err(AttackError::Model(aisec_ml::MlError::BudgetExhausted { used, max })) => {
                tracing::warn!(
                    used,
                    max,
                    "the API refused the transfer check; it is left out"
                );
                None
            }
            Err(e) => return Err(e),
        },
        None => None,
    };
    Ok(ExtractionOutcome {
        name: attack.name().to_string(),
        atlas: attack.atlas().iter().map(|s| s.to_string()).collect(),
        config: attack.config(),
        seed: task.seed,
        metrics,
        curve,
        output_kind: task.victim.output_kind(),
        budget_exhausted: oracle.exhausted,
        observations: extracted.observations,
        transfer,
        stop_reason: oracle.stop_reason(task.budget),
        measurement: judge.measurement(),
        substitute: extracted.substitute,
    })
}

/// PGD (L∞, 40 steps) on the substitute for the held-out inputs the victim gets right;
/// success is judged by the victim's answers.
/// `victim_labels` are the victim's answers on the held-out inputs (the judge has them).
fn transfer(
    substitute: &Network,
    task: &ExtractionTask,
    victim_labels: &[usize],
    eps: f32,
) -> Result<Transfer> {
    let features = task.features();
    let correct: Vec<usize> = (0..task.holdout.len())
        .filter(|&i| victim_labels[i] == task.holdout.y[i])
        .collect();
    let data = task.holdout.subset(&correct);
    let model = NativeModel::new(
        substitute.clone(),
        Manifest::new(substitute.architecture(), &data, task.seed),
    );
    let params = EvasionParams {
        eps: Some(eps),
        ..EvasionParams::default()
    };
    let pgd = evasion::pgd::Pgd(evasion::pgd::PgdConfig::from_params(&params)?);
    let outcome = evasion::run(&pgd, &EvasionTask::on(&model, &data, task.seed))?;
    let on_victim = task.assessor().evaluate(&outcome.adversarial)?;
    let on_substitute = tensor::argmax_rows(
        &train::logits(substitute, &outcome.adversarial, features),
        task.classes(),
    );
    let n = data.len().max(1) as f64;
    Ok(Transfer {
        attack: "evasion.pgd",
        eps,
        attacked: data.len(),
        substitute_success_rate: on_substitute
            .iter()
            .zip(&data.y)
            .filter(|(p, y)| p != y)
            .count() as f64
            / n,
        attack_success_rate: on_victim
            .iter()
            .zip(&data.y)
            .filter(|(p, y)| p != y)
            .count() as f64
            / n,
    })
}
