//! Attacks, one module each, with their ATLAS technique IDs, documented defaults and
//! metrics. [`registry`] lists them; the CLI and the assessment discover attacks there.

/// Declares each attack's module and lists its `ENTRY` under `$list`, in `aisec attack list`
/// order: the one line a new attack adds outside its own module.
macro_rules! registered {
    ($list:ident: $entry:ty = $($module:ident),* $(,)?) => {
        $(pub mod $module;)*

        pub const $list: &[$entry] = &[$($module::ENTRY),*];
    };
}

pub mod evasion;
pub mod extract;
pub mod fault;
pub mod inversion;
pub mod membership;
mod outcome;
pub mod poison;
pub mod registry;
pub mod sidechannel;

pub use outcome::{AttackOutcome, ExampleResult, QueryUse};

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
    /// Write access to the deployed weights' memory (fault injection), the weights known.
    WeightMemory,
    /// Chosen queries and a clock on the answers (a timing side channel).
    ResponseTime,
}

impl Access {
    /// The kebab-case name, as JSON and `aisec attack list` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::WhiteBox => "white-box",
            Access::ScoreBased => "score-based",
            Access::DecisionBased => "decision-based",
            Access::TrainingData => "training-data",
            Access::WeightMemory => "weight-memory",
            Access::ResponseTime => "response-time",
        }
    }
}

/// One attack's description, declared once in its module and read by the trait, the
/// registry, `aisec attack list` and the `--attack` help.
#[derive(Debug, Clone, Serialize)]
pub struct AttackInfo {
    /// Registry name, e.g. `evasion.pgd`.
    pub name: &'static str,
    /// Short names the CLI accepts (`pgd` for `evasion.pgd`).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub aliases: &'static [&'static str],
    pub summary: &'static str,
    pub access: Access,
    /// ATLAS technique IDs the attack exercises.
    pub atlas: &'static [&'static str],
}

/// The two methods every attack implements the same way: its module's `INFO`, and its
/// configuration (`self.$config`) serialised for reports.
macro_rules! described_by {
    ($info:expr, $($config:tt)+) => {
        fn info(&self) -> &'static $crate::AttackInfo {
            &$info
        }

        fn config(&self) -> aisec_core::Details {
            aisec_core::Details::new(self.$($config)+.clone())
        }
    };
}
pub(crate) use described_by;

#[derive(Debug, thiserror::Error)]
pub enum AttackError {
    #[error(transparent)]
    Model(#[from] aisec_ml::MlError),
    #[error("{attack} needs gradient access, and this target answers queries only (black box); choose a black-box attack")]
    NeedsGradients { attack: &'static str },
    /// Not a failure: a `--shard` run has trained and kept its share of the shadow models,
    /// and the attack itself runs once every shard has (`aisec report merge`).
    #[error("shadow-model shard done: {kept} of {total} models are this shard's ({trained} trained now, the rest kept from an earlier try)")]
    ShadowShardDone {
        trained: usize,
        kept: usize,
        total: usize,
    },
    #[error("invalid {attack} configuration: {message}")]
    Config {
        attack: &'static str,
        message: String,
    },
}

pub type Result<T, E = AttackError> = std::result::Result<T, E>;
