//! Membership inference: was this record in the model's training set? The adversary queries
//! the model (AML.T0040 AI Model Inference API Access) and learns about the training data
//! (AML.T0024.000 Infer Training Data Membership).
//!
//! Every attack gives each candidate a score (higher: more likely a member) from the target's
//! answers, obtained through the extraction [`Oracle`] (counted, budgeted queries on any
//! target: built-in, ONNX or KServe; probabilities, logits, top-k or labels). The assessor,
//! who knows who the members are, turns the scores into a ROC curve ([`roc`]).
//!
//! Shadow and reference models are trained by the adversary with the target's recipe
//! (architecture and training settings), as LiRA and RMIA assume; [`shadows`] trains them
//! in parallel.

pub mod roc;
pub mod shadows;
mod split;

registered!(ATTACKS: MembershipEntry = loss, shadow, lira, rmia, label_only, mentr);

pub use roc::{Roc, RocPoint};
pub use shadows::{Recipe, ShadowSet, Trainer};
pub use split::{MembershipSplit, SplitDescription};

use aisec_core::Details;
use aisec_ml::data::Dataset;
use aisec_ml::model::Classifier;
use serde::Serialize;

use crate::extract::Oracle;
use crate::{AttackError, AttackInfo, Result};

pub const ATLAS: &[&str] = &["AML.T0024.000", "AML.T0040"];

/// The membership game as the adversary plays it.
pub struct MembershipTask<'a> {
    pub target: &'a dyn Classifier,
    /// The records whose membership is tested: the attack sees inputs and labels, never
    /// who is a member.
    pub candidates: &'a Dataset,
    /// The adversary's own records from the same distribution, none of them the target's
    /// training records: shadow models' data, and RMIA's population.
    pub population: &'a Dataset,
    /// How the adversary trains shadow and reference models.
    pub recipe: Recipe,
    /// Most queries the attack may send to the target.
    pub budget: u64,
    pub seed: u64,
    /// Called as shadow models finish: (done, total).
    pub progress: Option<&'a (dyn Fn(usize, usize) + Sync)>,
}

/// What an attack hands back: a score per candidate, and what it cost.
#[derive(Debug, Clone, Serialize)]
pub struct Scored {
    #[serde(skip)]
    pub scores: Vec<f64>,
    /// Models the adversary trained (shadows, references), with their data.
    pub shadow_models: usize,
    pub shadow_train_size: usize,
    /// The adversary's models' mean accuracy on records they did not train on, to set
    /// beside the target's on its non-members: far apart, the shadows do not imitate it.
    pub shadow_accuracy: Option<f64>,
    /// The attack's own record (its module's observations type).
    pub observations: Details,
}

/// What a threshold attack scores each candidate by.
#[derive(Debug, Clone, Serialize)]
pub struct Statistic {
    pub statistic: &'static str,
}

pub trait MembershipAttack: Send + Sync {
    /// The module's description (its `INFO` const).
    fn info(&self) -> &'static AttackInfo;
    fn name(&self) -> &'static str {
        self.info().name
    }
    fn config(&self) -> Details;
    fn score(&self, task: &MembershipTask, oracle: &mut Oracle) -> Result<Scored>;
}

/// What the command line can set; each attack reads what it uses.
#[derive(Debug, Clone, Default)]
pub struct MembershipParams {
    /// Shadow or reference models (LiRA, RMIA, shadow; label-only's calibration).
    pub shadows: Option<usize>,
    /// LiRA and RMIA: reference models that saw the candidates (true) or not (false).
    pub online: Option<bool>,
    /// Label-only: perturbed copies queried per candidate.
    pub perturbations: Option<usize>,
}

/// A registered membership-inference attack.
#[derive(Clone, Copy)]
pub struct MembershipEntry {
    pub info: &'static AttackInfo,
    /// The flags it reads, for `--help` and for refusing the ones it ignores.
    pub reads: &'static [&'static str],
    pub build: fn(&MembershipParams) -> Result<Box<dyn MembershipAttack>>,
}

impl std::ops::Deref for MembershipEntry {
    type Target = AttackInfo;
    fn deref(&self) -> &AttackInfo {
        self.info
    }
}

pub fn find(name: &str) -> Option<&'static MembershipEntry> {
    let wanted = name.trim().to_ascii_lowercase();
    ATTACKS
        .iter()
        .find(|e| e.name == wanted || e.aliases.contains(&wanted.as_str()))
}

/// The target's answer for each record of `data` as a probability row (a top-k answer gives
/// the classes it names, the rest of the mass spread evenly). Needs scores, and all of them:
/// a budget that runs out part-way is an error, not a smaller experiment.
/// The order in which `n` candidates are put to the target: random (the answers do not
/// depend on it), so that a run stopped early has answers for a random sample of them.
pub(crate) fn query_order(n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    aisec_core::rng::Rng::derive(n as u64, "membership-query-order").shuffle(&mut order);
    order
}

pub fn target_rows(attack: &'static str, oracle: &mut Oracle, data: &Dataset) -> Result<Vec<f32>> {
    if matches!(oracle.output_kind(), aisec_ml::model::OutputKind::Label) {
        return Err(AttackError::Config {
            attack,
            message: "the target answers labels only; use the label-only attack".into(),
        });
    }
    // Asked in a random order (it changes no answer), so that when a budget, a rate limit or
    // a monitor stops the run, the records answered are a random sample of all of them, not
    // the first ones: a run cut short still measures something. Unanswered rows are NaN.
    let n = data.len();
    let features = data.features();
    let order = query_order(n);
    let mut asked = Vec::with_capacity(data.x.len());
    for &i in &order {
        asked.extend_from_slice(&data.x[i * features..(i + 1) * features]);
    }
    let answers = oracle.ask(&asked)?;
    if answers.rows == 0 && n > 0 {
        return Err(AttackError::Config {
            attack,
            message: format!(
                "{} (none of {n} records answered)",
                oracle
                    .stop_reason(oracle.used)
                    .unwrap_or_else(|| "the target stopped answering".into()),
            ),
        });
    }
    let classes = data.num_classes;
    let mut rows = vec![f32::NAN; n * classes];
    for (k, &i) in order.iter().take(answers.rows).enumerate() {
        rows[i * classes..(i + 1) * classes]
            .copy_from_slice(&answers.targets[k * classes..(k + 1) * classes]);
    }
    Ok(rows)
}

/// LiRA's statistic for each record: the logit-scaled confidence in the true label,
/// φ = log p_y − log Σ_{j≠y} p_j (Carlini et al. 2022, §4), from the target's answers.
pub fn target_confidences(
    attack: &'static str,
    oracle: &mut Oracle,
    data: &Dataset,
) -> Result<Vec<f64>> {
    let rows = target_rows(attack, oracle, data)?;
    Ok(rows
        .chunks(data.num_classes)
        .zip(&data.y)
        .map(|(row, &y)| logit_confidence(row, y))
        .collect())
}

/// Each record's probability of its true label.
pub fn true_class(probs: &[f32], data: &Dataset) -> Vec<f64> {
    probs
        .chunks(data.num_classes)
        .zip(&data.y)
        .map(|(row, &y)| f64::from(row[y]))
        .collect()
}

/// φ for one probability row; finite even when a probability is 0 or 1 in f32.
pub fn logit_confidence(row: &[f32], label: usize) -> f64 {
    if row[label].is_nan() {
        return f64::NAN;
    }
    let p = f64::from(row[label]).max(1e-45);
    let rest: f64 = row
        .iter()
        .enumerate()
        .filter(|(j, _)| *j != label)
        .map(|(_, v)| f64::from(*v))
        .sum::<f64>()
        .max(1e-45);
    p.ln() - rest.ln()
}

/// A membership attack, measured.
#[derive(Debug, Clone, Serialize)]
pub struct MembershipOutcome {
    pub attack: &'static str,
    pub config: Details,
    pub roc: Roc,
    /// Queries sent to the target (the budget is the task's).
    pub queries: u64,
    pub shadow_models: usize,
    pub shadow_train_size: usize,
    /// See [`Scored::shadow_accuracy`].
    pub shadow_accuracy: Option<f64>,
    /// Candidates the figures are over: all of them, unless the run was stopped.
    pub candidates_scored: usize,
    pub candidates: usize,
    /// Why the run ended before every candidate was answered (a budget, a refusal).
    pub stopped: Option<String>,
    pub observations: Details,
    pub wall_seconds: f64,
}

/// Runs `attack` on `task` and scores it with the assessor's truth `is_member` (one per
/// candidate).
pub fn run(
    attack: &dyn MembershipAttack,
    task: &MembershipTask,
    is_member: &[bool],
) -> Result<MembershipOutcome> {
    if is_member.len() != task.candidates.len() {
        return Err(AttackError::Config {
            attack: attack.name(),
            message: format!(
                "{} membership labels for {} candidates",
                is_member.len(),
                task.candidates.len()
            ),
        });
    }
    let started = std::time::Instant::now();
    let mut oracle = Oracle::over(task.target, task.budget);
    let scored = attack.score(task, &mut oracle)?;
    // A run cut short scores the random sample of candidates the target answered.
    let answered: Vec<usize> = (0..scored.scores.len())
        .filter(|&i| !scored.scores[i].is_nan())
        .collect();
    let scores: Vec<f64> = answered.iter().map(|&i| scored.scores[i]).collect();
    let members: Vec<bool> = answered.iter().map(|&i| is_member[i]).collect();
    let stopped = (answered.len() < task.candidates.len()).then(|| {
        oracle
            .stop_reason(task.budget)
            .unwrap_or_else(|| "the target stopped answering".into())
    });
    if let Some(why) = &stopped {
        if !members.contains(&true) || !members.contains(&false) {
            return Err(AttackError::Config {
                attack: attack.name(),
                message: format!(
                    "{why}: {} of {} candidates answered, not both members and non-members, so nothing is measured",
                    answered.len(),
                    task.candidates.len()
                ),
            });
        }
    }
    Ok(MembershipOutcome {
        attack: attack.name(),
        config: attack.config(),
        roc: Roc::new(&scores, &members),
        candidates_scored: answered.len(),
        candidates: task.candidates.len(),
        stopped,
        queries: oracle.used,
        shadow_models: scored.shadow_models,
        shadow_train_size: scored.shadow_train_size,
        shadow_accuracy: scored.shadow_accuracy,
        observations: scored.observations,
        wall_seconds: started.elapsed().as_secs_f64(),
    })
}
