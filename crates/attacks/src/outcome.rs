use aisec_core::Metrics;
use serde::Serialize;

/// What one adversarial example achieved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExampleResult {
    pub label: usize,
    pub clean_prediction: usize,
    pub adversarial_prediction: usize,
    pub success: bool,
    pub linf: f32,
    pub l2: f32,
}

/// The result of running an attack on a set of examples.
#[derive(Debug, Clone, Serialize)]
pub struct AttackOutcome {
    pub name: String,
    pub atlas: Vec<String>,
    pub config: serde_json::Value,
    /// Attack-specific observations, e.g. HopSkipJump's median distance against queries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observations: Option<serde_json::Value>,
    pub seed: u64,
    pub metrics: Metrics,
    #[serde(skip)]
    pub adversarial: Vec<f32>,
    #[serde(skip)]
    pub examples: Vec<ExampleResult>,
}
