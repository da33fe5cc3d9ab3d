//! The assessor's side: fidelity on held-out and uniform inputs, without charging the
//! adversary.

use aisec_core::rng::Rng;
use aisec_ml::net::Network;
use aisec_ml::tensor;
use aisec_ml::train;
use serde::Serialize;

use super::{ExtractionTask, InputBox};
use crate::Result;

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
