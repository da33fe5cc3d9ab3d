//! The substitute network: its architecture and how it is trained on the answers.

use aisec_ml::data::Dataset;
use aisec_ml::net::{Architecture, Network};
use aisec_ml::train::{self, TrainConfig};
use serde::{Deserialize, Serialize};

use super::ExtractionTask;
use crate::Result;

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
            weight_decay: 0.0,
            noise_sigma: 0.0,
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
