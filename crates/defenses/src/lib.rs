//! Defences, one module each, each named by the ATLAS mitigation it implements and the
//! CRISP-ML(Q) lifecycle phase where it is applied. A defence is measured by re-running the
//! attacks it claims to stop (Build → Attack → Defend → attack again).

pub mod activation_clustering;
pub mod adv_train;
pub mod feature_squeezing;
pub mod linalg;
pub mod output_hardening;
pub mod prada;
pub mod query_limit;
pub mod registry;
pub mod shapiro;
pub mod spectral;
pub mod strip;

use serde::Serialize;

/// How a defence acts on the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DefenseKind {
    /// Produces a new model (training-time).
    RetrainsModel,
    /// Transforms or rejects inputs before the model.
    WrapsInputs,
    /// Reduces what the model's answers reveal.
    WrapsOutputs,
    /// Watches the stream of queries.
    WatchesQueries,
    /// Inspects training data.
    InspectsData,
}
