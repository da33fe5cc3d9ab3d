use aisec_core::{DefenseRef, Finding, Metrics};
use serde::{Deserialize, Serialize};

/// The machine-readable result of one attack, defence or scan (DESIGN.md, "Machine-readable
/// output"). `defended` holds the same object for the model with the defence applied.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    pub kind: String,
    pub name: String,
    pub atlas: Vec<String>,
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    pub config: serde_json::Value,
    pub seed: u64,
    pub metrics: Metrics,
    /// What the run observed beyond the shared metrics (curves, per-stage counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observations: Option<serde_json::Value>,
    pub findings: Vec<Finding>,
    /// The defence this run was measured behind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defense: Option<DefenseRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defended: Option<Box<RunReport>>,
    /// On a defended run: the adaptive attack that knows the defence, where one exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptive: Option<Box<RunReport>>,
}

/// A named curve for plots: (x, y) points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}
