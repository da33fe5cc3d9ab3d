//! Attacks, one module each, with their ATLAS technique IDs, documented defaults and
//! metrics. [`registry`] lists them; the CLI and the assessment discover attacks there.

pub mod evasion;
pub mod extract;
mod outcome;
pub mod poison;
pub mod registry;

pub use outcome::{AttackOutcome, ExampleResult};

use serde::Serialize;

/// What the adversary needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// Gradients of the model (white box).
    WhiteBox,
    /// Scores or probabilities for chosen inputs.
    ScoreBased,
    /// Only the predicted label for chosen inputs.
    DecisionBased,
    /// Write access to part of the training data.
    TrainingData,
}

impl Access {
    /// The kebab-case name, as JSON and `aisec attack list` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::WhiteBox => "white-box",
            Access::ScoreBased => "score-based",
            Access::DecisionBased => "decision-based",
            Access::TrainingData => "training-data",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AttackError {
    #[error(transparent)]
    Model(#[from] aisec_ml::MlError),
    #[error("{attack} needs gradient access, and this target answers queries only (black box); choose a black-box attack")]
    NeedsGradients { attack: &'static str },
    #[error("invalid {attack} configuration: {message}")]
    Config {
        attack: &'static str,
        message: String,
    },
}

pub type Result<T, E = AttackError> = std::result::Result<T, E>;
