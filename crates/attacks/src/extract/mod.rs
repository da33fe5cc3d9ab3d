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

pub mod equation;
pub mod jacobian;
pub mod knockoff;

use std::time::Instant;

use aisec_core::rng::Rng;
use aisec_core::Metrics;
use aisec_ml::data::{Dataset, InputRange};
use aisec_ml::model::{Classifier, OutputKind, QueryOutput};
use aisec_ml::native::{Manifest, NativeModel};
use aisec_ml::net::{Architecture, Network};
use aisec_ml::train::{self, TrainConfig};
use aisec_ml::{tensor, MlError};
use serde::{Deserialize, Serialize};

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
}

impl ExtractionTask<'_> {
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

/// Per-feature bounds for random queries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputBox {
    pub lo: Vec<f32>,
    pub hi: Vec<f32>,
}

impl InputBox {
    pub fn of(data: &Dataset) -> InputBox {
        let f = data.features();
        if let Some(InputRange { lo, hi }) = data.input_range {
            return InputBox {
                lo: vec![lo; f],
                hi: vec![hi; f],
            };
        }
        let mut lo = vec![f32::INFINITY; f];
        let mut hi = vec![f32::NEG_INFINITY; f];
        for row in data.x.chunks(f) {
            for (j, v) in row.iter().enumerate() {
                lo[j] = lo[j].min(*v);
                hi[j] = hi[j].max(*v);
            }
        }
        InputBox { lo, hi }
    }

    pub fn sample(&self, n: usize, rng: &mut Rng) -> Vec<f32> {
        let mut out = Vec::with_capacity(n * self.lo.len());
        for _ in 0..n {
            for (lo, hi) in self.lo.iter().zip(&self.hi) {
                out.push(rng.uniform(*lo, *hi));
            }
        }
        out
    }

    pub fn clip(&self, x: &mut [f32]) {
        let f = self.lo.len();
        for row in x.chunks_mut(f) {
            for (j, v) in row.iter_mut().enumerate() {
                *v = v.clamp(self.lo[j], self.hi[j]);
            }
        }
    }
}

/// The victim's answers to a batch of queries.
#[derive(Debug, Clone, Default)]
pub struct Answers {
    /// Rows answered (fewer than asked when a budget ran out).
    pub rows: usize,
    /// A probability row per input: the scores when revealed, top-k mass with the rest
    /// spread evenly, or one-hot labels.
    pub targets: Vec<f32>,
    pub labels: Vec<usize>,
    /// The raw probabilities, when the API reveals full scores.
    pub probabilities: Option<Vec<f32>>,
}

/// The adversary's side of the API: counted, budgeted queries.
pub struct Oracle<'a> {
    victim: &'a dyn Classifier,
    classes: usize,
    features: usize,
    budget: u64,
    pub used: u64,
    /// Set when the attack's or the target's budget stopped a query.
    pub exhausted: bool,
}

impl<'a> Oracle<'a> {
    pub fn new(task: &ExtractionTask<'a>) -> Self {
        Oracle {
            victim: task.victim,
            classes: task.classes(),
            features: task.features(),
            budget: task.budget,
            used: 0,
            exhausted: false,
        }
    }

    pub fn remaining(&self) -> u64 {
        if self.exhausted {
            0
        } else {
            self.budget.saturating_sub(self.used)
        }
    }

    /// Whether the API reveals full scores.
    pub fn reveals_scores(&self) -> bool {
        matches!(
            self.victim.output_kind(),
            OutputKind::Probabilities | OutputKind::Logits
        )
    }

    pub fn output_kind(&self) -> OutputKind {
        self.victim.output_kind()
    }

    /// Asks about the rows of `x`, as many as the budget allows.
    pub fn ask(&mut self, x: &[f32]) -> Result<Answers> {
        let wanted = x.len() / self.features;
        let n = wanted.min(self.remaining() as usize);
        if n < wanted {
            self.exhausted = true;
        }
        let mut answers = Answers::default();
        let mut probabilities = Vec::new();
        let mut all_scores = true;
        for chunk in x[..n * self.features].chunks(CHUNK * self.features) {
            let rows = chunk.len() / self.features;
            let out = match self.victim.query(chunk) {
                Ok(out) => out,
                Err(MlError::BudgetExhausted { .. }) => {
                    self.exhausted = true;
                    break;
                }
                Err(e) => return Err(e.into()),
            };
            self.used += rows as u64;
            answers.rows += rows;
            answers.labels.extend(out.labels(self.classes));
            match &out {
                QueryOutput::Probabilities(p) => probabilities.extend_from_slice(p),
                QueryOutput::Logits(l) => {
                    probabilities.extend(tensor::softmax_rows(l, self.classes))
                }
                _ => all_scores = false,
            }
            answers.targets.extend(targets(&out, self.classes));
        }
        if all_scores && answers.rows > 0 {
            answers.probabilities = Some(probabilities);
        }
        Ok(answers)
    }
}

/// Training targets from an API answer.
pub fn targets(out: &QueryOutput, classes: usize) -> Vec<f32> {
    match out {
        QueryOutput::Probabilities(p) => p
            .chunks(classes)
            .flat_map(|row| normalised(row, classes))
            .collect(),
        QueryOutput::Logits(l) => tensor::softmax_rows(l, classes),
        QueryOutput::TopK(rows) => rows
            .iter()
            .flat_map(|top| {
                let mut row = vec![0.0f32; classes];
                let mut mass = 0.0;
                for (c, p) in top {
                    if *c < classes {
                        row[*c] = p.max(0.0);
                        mass += p.max(0.0);
                    }
                }
                let rest = classes.saturating_sub(top.len());
                if rest > 0 && mass < 1.0 {
                    let share = (1.0 - mass) / rest as f32;
                    let named: Vec<usize> = top.iter().map(|(c, _)| *c).collect();
                    for (c, v) in row.iter_mut().enumerate() {
                        if !named.contains(&c) {
                            *v = share;
                        }
                    }
                }
                normalised(&row, classes)
            })
            .collect(),
        QueryOutput::Labels(labels) => labels
            .iter()
            .flat_map(|&l| {
                let mut row = vec![0.0f32; classes];
                if l < classes {
                    row[l] = 1.0;
                }
                row
            })
            .collect(),
    }
}

/// A probability row that sums to one (rounded or bent scores need not).
fn normalised(row: &[f32], classes: usize) -> Vec<f32> {
    let clean: Vec<f32> = row
        .iter()
        .map(|v| if v.is_finite() { v.max(0.0) } else { 0.0 })
        .collect();
    let sum: f32 = clean.iter().sum();
    if sum <= 0.0 {
        return vec![1.0 / classes as f32; classes];
    }
    clean.iter().map(|v| v / sum).collect()
}

/// One point of the fidelity-against-queries curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Checkpoint {
    pub queries: u64,
    pub fidelity: f64,
    pub fidelity_uniform: f64,
    pub substitute_accuracy: f64,
}

/// The assessor: the victim's labels on held-out and uniform random inputs, taken once and
/// not charged to the adversary.
pub struct Judge {
    features: usize,
    classes: usize,
    holdout_x: Vec<f32>,
    holdout_y: Vec<usize>,
    victim_holdout: Vec<usize>,
    uniform_x: Vec<f32>,
    victim_uniform: Vec<usize>,
    pub victim_accuracy: f64,
}

/// Uniform random inputs the fidelity is measured on.
pub const UNIFORM_INPUTS: usize = 2000;

impl Judge {
    pub fn new(task: &ExtractionTask) -> Result<Judge> {
        let mut rng = Rng::derive(task.seed, "extraction-judge");
        let uniform_x = InputBox::of(task.public).sample(UNIFORM_INPUTS, &mut rng);
        let victim_holdout = task.victim.evaluate(&task.holdout.x)?;
        let victim_uniform = task.victim.evaluate(&uniform_x)?;
        Ok(Judge {
            features: task.features(),
            classes: task.classes(),
            victim_accuracy: train::accuracy(&victim_holdout, &task.holdout.y),
            holdout_x: task.holdout.x.clone(),
            holdout_y: task.holdout.y.clone(),
            victim_holdout,
            uniform_x,
            victim_uniform,
        })
    }

    pub fn measure(&self, substitute: &Network, queries: u64) -> Checkpoint {
        let predict = |x: &[f32]| {
            tensor::argmax_rows(&train::logits(substitute, x, self.features), self.classes)
        };
        let on_holdout = predict(&self.holdout_x);
        let on_uniform = predict(&self.uniform_x);
        Checkpoint {
            queries,
            fidelity: train::accuracy(&on_holdout, &self.victim_holdout),
            fidelity_uniform: train::accuracy(&on_uniform, &self.victim_uniform),
            substitute_accuracy: train::accuracy(&on_holdout, &self.holdout_y),
        }
    }
}

/// What an extraction attack hands back.
pub struct Extracted {
    pub substitute: Network,
    pub curve: Vec<Checkpoint>,
    pub observations: serde_json::Value,
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
    fn config(&self) -> serde_json::Value;
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
    pub config: serde_json::Value,
    pub seed: u64,
    /// fidelity, fidelity_uniform, substitute_accuracy, clean_accuracy (the victim's),
    /// queries_total, wall_seconds.
    pub metrics: Metrics,
    pub curve: Vec<Checkpoint>,
    pub output_kind: OutputKind,
    pub budget_exhausted: bool,
    pub observations: serde_json::Value,
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
    let mut put = |k: &str, v: f64| metrics.insert(k, v).expect("shared metric keys");
    put("fidelity", last.fidelity);
    put("fidelity_uniform", last.fidelity_uniform);
    put("substitute_accuracy", last.substitute_accuracy);
    put("clean_accuracy", judge.victim_accuracy);
    put("queries_total", oracle.used as f64);
    put("wall_seconds", wall);
    let mut curve = extracted.curve;
    if curve.last().map(|c| c.queries) != Some(oracle.used) {
        curve.push(last);
    }
    let transfer = match transfer_eps {
        Some(eps) => Some(transfer(
            &extracted.substitute,
            task,
            &judge.victim_holdout,
            eps,
        )?),
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
    let outcome = evasion::run(
        &pgd,
        &EvasionTask {
            model: &model,
            x: &data.x,
            y: &data.y,
            clip: data.input_range,
            target: None,
            seed: task.seed,
        },
    )?;
    let on_victim = task.victim.evaluate(&outcome.adversarial)?;
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

/// Which network a substitute is, and how it is trained.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SubstituteSpec {
    pub architecture: Architecture,
    /// Gradient steps to aim for, whatever the amount of data (epochs follow from it).
    pub steps: usize,
    pub learning_rate: f64,
}

impl SubstituteSpec {
    pub fn new(architecture: Architecture) -> Self {
        SubstituteSpec {
            architecture,
            steps: 1500,
            learning_rate: match architecture {
                Architecture::Logreg => 1e-2,
                _ => 2e-3,
            },
        }
    }

    /// A fresh substitute for the victim's input shape and classes.
    pub fn init(&self, task: &ExtractionTask, seed: u64) -> Result<Network> {
        let template = template(task);
        Ok(train::init_network(self.architecture, &template, seed)?)
    }

    /// Trains `network` (fresh or continued) on the answers collected so far.
    pub fn fit(
        &self,
        network: Network,
        x: &[f32],
        targets: &[f32],
        classes: usize,
        seed: u64,
    ) -> Network {
        let n = targets.len() / classes.max(1);
        let batch = 64;
        let epochs = (self.steps * batch).div_ceil(n.max(1)).clamp(10, 400);
        let config = TrainConfig {
            epochs,
            batch_size: batch,
            learning_rate: self.learning_rate,
            seed,
        };
        train::train_soft(network, x, targets, classes, &config)
    }
}

/// A one-example dataset with the victim's input shape, classes and range, for building
/// networks and manifests.
pub fn template(task: &ExtractionTask) -> Dataset {
    let info = task.victim.info();
    Dataset::new(
        format!("substitute of {}", info.description),
        vec![0.0; info.features()],
        vec![0],
        info.input_shape.clone(),
        Some(info.num_classes),
        task.public.input_range,
    )
    .expect("one zero input of the model's shape is a valid dataset")
}
