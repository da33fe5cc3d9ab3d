use aisec_core::Metrics;

use crate::evasion::{Budget, EvasionConfig, EvasionObservations};
use serde::Serialize;

/// What one adversarial example achieved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExampleResult {
    pub label: usize,
    pub clean_prediction: usize,
    pub adversarial_prediction: usize,
    pub success: bool,
    /// False when the query budget stopped the attack before it finished with this input
    /// (and it had not been fooled): its robustness was not measured.
    pub evaluated: bool,
    pub linf: f32,
    pub l2: f32,
}

/// The queries the run was allowed and what it spent. The per-input allowance is the
/// attack's own (Square's and HopSkipJump's `--queries-per-input`); the total is the
/// target's budget for the whole run (`--total-queries`, a defence's limit or a server's).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct QueryUse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_per_input: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_total: Option<u64>,
    pub spent_total: u64,
    /// Whether a budget or a refusal ended the attack before it finished.
    pub stopped_by_budget: bool,
    /// Inputs the attack did not finish with (and had not fooled): counted as not
    /// evaluated, never as robust.
    pub inputs_not_evaluated: usize,
}

/// The result of running an attack on a set of examples.
#[derive(Debug, Clone, Serialize)]
pub struct AttackOutcome {
    pub name: String,
    pub atlas: Vec<String>,
    pub config: EvasionConfig,
    /// The perturbation the run was held to (its norm and ε are in `config` too).
    #[serde(skip)]
    pub budget: Budget,
    /// Attack-specific observations, e.g. HopSkipJump's median distance against queries.
    #[serde(skip_serializing_if = "EvasionObservations::is_empty")]
    pub observations: EvasionObservations,
    pub seed: u64,
    /// The class a targeted run pushes every input to (`--targeted`); absent when untargeted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<usize>,
    pub metrics: Metrics,
    pub queries: QueryUse,
    #[serde(skip)]
    pub adversarial: Vec<f32>,
    #[serde(skip)]
    pub examples: Vec<ExampleResult>,
}
