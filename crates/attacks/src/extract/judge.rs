//! The assessor's side: fidelity on held-out and uniform inputs, without charging the
//! adversary.

use aisec_core::rng::Rng;
use aisec_ml::net::Network;
use aisec_ml::tensor;
use aisec_ml::train;
use serde::Serialize;

use super::{ExtractionTask, InputBox};
use crate::{AttackError, Result};

/// One point of the fidelity-against-queries curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Checkpoint {
    pub queries: u64,
    pub fidelity: f64,
    pub fidelity_uniform: f64,
    pub substitute_accuracy: f64,
}

/// Where the assessor's answers came from, and how many it asked for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurement {
    /// "reference copy" (the assessor's own copy of the victim) or "target" (the target
    /// itself: through the API when it is remote).
    pub source: &'static str,
    /// Inputs the assessor had the victim label (held-out and uniform), outside the
    /// adversary's budget.
    pub queries: u64,
}

/// The assessor: the victim's labels on held-out and uniform random inputs, taken once and
/// not charged to the adversary.
pub struct Judge {
    measurement: Measurement,
    features: usize,
    classes: usize,
    holdout_x: Vec<f32>,
    holdout_y: Vec<usize>,
    pub(super) victim_holdout: Vec<usize>,
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
        let assessor = task.assessor();
        let needed = task.holdout.len() + UNIFORM_INPUTS;
        let refused = |e: aisec_ml::MlError| {
            match e {
            aisec_ml::MlError::BudgetExhausted { used, max } => AttackError::Config {
                attack: "extraction",
                message: format!(
                    "the API refused the assessor's fidelity measurement ({used} of {max} answers allowed to this client; measuring needs {needed}: {} held-out and {UNIFORM_INPUTS} uniform inputs). These answers are never charged to the adversary's --total-queries, but the server counts them: give the assessor its own copy of the model with --reference, or raise the server's limit",
                    task.holdout.len()
                ),
            },
            other => other.into(),
        }
        };
        let victim_holdout = assessor.evaluate(&task.holdout.x).map_err(refused)?;
        let victim_uniform = assessor.evaluate(&uniform_x).map_err(refused)?;
        Ok(Judge {
            measurement: Measurement {
                source: if task.reference.is_some() {
                    "reference copy"
                } else {
                    "target"
                },
                queries: needed as u64,
            },
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

    pub fn measurement(&self) -> Measurement {
        self.measurement.clone()
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
